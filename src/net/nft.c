/*
 * net nft: table inet hearth through libnftables (loaded on first use,
 * util/lazylib.c). Commands go in as nft syntax, one batch per call, which
 * the kernel applies atomically; listings come back as JSON. Nothing here
 * names another table.
 *
 * Port maps are elements of two maps, `ports` keyed by (protocol, host
 * port) and `bind_ports` keyed by (bind address, protocol, host port), both
 * giving (VM address, VM port) to one `dnat` rule each: a VM adds elements,
 * never rules, so the rules stay the same at one map or at thousands.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <nftables/libnftables.h>
#include <string.h>

#include "net/net.h"

#define TABLE "inet hearth"

/* The chains' rules; net_nft_ensure flushes and writes them again in one batch. */
static const char ruleset[] =
    "add table " TABLE "\n"
    "add set " TABLE " bridges { type ifname; }\n"
    "add set " TABLE " subnets { type ipv4_addr; flags interval; }\n"
    "add map " TABLE " ports { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
    "add map " TABLE " bind_ports { type ipv4_addr . inet_proto . inet_service : "
    "ipv4_addr . inet_service; }\n"
    "add chain " TABLE " prerouting { type nat hook prerouting priority dstnat; }\n"
    "add chain " TABLE " output { type nat hook output priority -100; }\n"
    "add chain " TABLE " postrouting { type nat hook postrouting priority srcnat; }\n"
    "add chain " TABLE " forward { type filter hook forward priority filter; }\n"
    "flush chain " TABLE " prerouting\n"
    "flush chain " TABLE " output\n"
    "flush chain " TABLE " postrouting\n"
    "flush chain " TABLE " forward\n"
    /* Port maps, to the host's own addresses only (not traffic passing through). */
    "add rule " TABLE " prerouting fib daddr type local meta l4proto { tcp, udp } "
    "dnat ip to ip daddr . meta l4proto . th dport map @bind_ports\n"
    "add rule " TABLE " prerouting fib daddr type local meta l4proto { tcp, udp } "
    "dnat ip to meta l4proto . th dport map @ports\n"
    /* The same for connections the host itself makes (localhost included). */
    "add rule " TABLE " output fib daddr type local meta l4proto { tcp, udp } "
    "dnat ip to ip daddr . meta l4proto . th dport map @bind_ports\n"
    "add rule " TABLE " output fib daddr type local meta l4proto { tcp, udp } "
    "dnat ip to meta l4proto . th dport map @ports\n"
    /* Guests reach out as the host; a guest reaching a port map of the host
     * (hairpin) and localhost reaching a guest (route_localnet) are answered
     * through the host too. */
    "add rule " TABLE " postrouting ip saddr @subnets ip daddr != @subnets masquerade\n"
    "add rule " TABLE " postrouting ip saddr @subnets ct status dnat masquerade\n"
    "add rule " TABLE " postrouting ip saddr 127.0.0.0/8 ip daddr @subnets masquerade\n"
    "add rule " TABLE " forward ct state established,related accept\n"
    "add rule " TABLE " forward ct status dnat accept\n"
    "add rule " TABLE " forward iifname @bridges accept\n";

static void ctx_putp(struct nft_ctx **c) {
    lazylib_nft_ctx_put(*c);
}
#define _cleanup_nft_ _cleanup_(ctx_putp)

/* The shared context (util/lazylib.c), JSON output when json. */
static int ctx_get(struct nft_ctx **ret, struct error *err) {
    struct error e;
    error_init(&e);
    struct nft_ctx *c = lazylib_nft_ctx_get(&e);
    if (!c)
        return error_set(err, e.code, "%s", e.msg);
    *ret = c;
    return 0;
}

/* The errno behind libnftables' first error line, as far as its words tell. */
static int errno_of(const char *msg) {
    static const struct {
        const char *text;
        int code;
    } known[] = {{"No such file or directory", -ENOENT},
                 {"File exists", -EEXIST},
                 {"Operation not permitted", -EPERM},
                 {"Device or resource busy", -EBUSY}};
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strstr(msg, known[i].text))
            return known[i].code;
    return -EIO;
}

/* Runs cmd; a failure names what (and libnftables' first error line). */
static int run(struct nft_ctx *c, const char *cmd, const char *what, struct error *err) {
    if (nft_run_cmd_from_buffer(c, cmd) == 0)
        return 0;
    const char *e = nft_ctx_get_error_buffer(c);
    e = e ? e : "";
    if (strncmp(e, "Error: ", 7) == 0)
        e += 7;
    int len = (int)strcspn(e, "\n");
    return error_set(err, errno_of(e), "nftables: %s: %.*s", what, len, e);
}

int net_nft_ensure(const char *bridge, const struct net_subnet *s, struct error *err) {
    if (!bridge || !*bridge || strlen(bridge) >= IFNAMSIZ || strpbrk(bridge, "\"\\ \t\n;{}"))
        return error_set(err, -EINVAL, "'%s' is not a bridge name", bridge ? bridge : "");
    _cleanup_nft_ struct nft_ctx *c = NULL;
    int r = ctx_get(&c, err);
    if (r < 0)
        return r;
    char sub[NET_SUBNET_MAX];
    net_subnet_format(s, sub);
    _cleanup_free_ char *cmd = xasprintf("%sadd element " TABLE " bridges { \"%s\" }\n"
                                         "add element " TABLE " subnets { %s }\n",
                                         ruleset, bridge, sub);
    if (!cmd)
        return error_oom(err);
    return run(c, cmd, "cannot set up table inet hearth", err);
}

static const char *proto_name(bool udp) {
    return udp ? "udp" : "tcp";
}

/* "tcp . 8080" or "127.0.0.1 . tcp . 8080": an element's key. */
static int key_add(struct strbuf *sb, const struct net_portmap *m) {
    char ip[NET_IP_MAX];
    net_ip_format(m->bind, ip);
    if (m->bind)
        return strbuf_addf(sb, "%s . %s . %u", ip, proto_name(m->udp), m->host_port);
    return strbuf_addf(sb, "%s . %u", proto_name(m->udp), m->host_port);
}

/* "8080/tcp" or "127.0.0.1:8080/tcp", for messages. */
static void portmap_name(const struct net_portmap *m, char *buf, size_t size) {
    char ip[NET_IP_MAX];
    net_ip_format(m->bind, ip);
    snprintf(buf, size, "%s%s%u/%s", m->bind ? ip : "", m->bind ? ":" : "", m->host_port,
             proto_name(m->udp));
}

static bool same_key(const struct net_portmap *a, const struct net_portmap *b) {
    return a->udp == b->udp && a->bind == b->bind && a->host_port == b->host_port;
}

/*
 * verb ("create" or "delete") the elements m[i] for which pick is NULL or
 * true, in one batch; with data the value too. Nothing picked: nothing run.
 */
static int elements_cmd(const char *verb, const struct net_portmap *m, size_t n, const bool *pick,
                        bool data, char **ret) {
    struct strbuf sb = STRBUF_INIT;
    for (int bind = 0; bind < 2; bind++) {
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            if ((m[i].bind != 0) != (bind != 0) || (pick && !pick[i]))
                continue;
            char ip[NET_IP_MAX];
            net_ip_format(m[i].vm_ip, ip);
            if ((!any && strbuf_addf(&sb, "%s element " TABLE " %s { ", verb,
                                     bind ? "bind_ports" : "ports") < 0) ||
                (any && strbuf_adds(&sb, ", ") < 0) || key_add(&sb, &m[i]) < 0 ||
                (data && strbuf_addf(&sb, " : %s . %u", ip, m[i].vm_port) < 0)) {
                strbuf_release(&sb);
                return -ENOMEM;
            }
            any = true;
        }
        if (any && strbuf_adds(&sb, " }\n") < 0) {
            strbuf_release(&sb);
            return -ENOMEM;
        }
    }
    *ret = sb.len ? strbuf_detach(&sb) : NULL;
    strbuf_release(&sb);
    return 0;
}

static int list_elements(struct nft_ctx *c, struct net_portmap **ret, size_t *ret_n,
                         struct error *err);

static int check_maps(const struct net_portmap *m, size_t n, struct error *err) {
    for (size_t i = 0; i < n; i++) {
        char name[64];
        portmap_name(&m[i], name, sizeof(name));
        if (m[i].host_port == 0 || m[i].vm_port == 0 || m[i].vm_ip == 0)
            return error_set(err, -EINVAL, "port map '%s': ports and the VM's address must be set",
                             name);
        for (size_t j = 0; j < i; j++)
            if (same_key(&m[i], &m[j]))
                return error_set(err, -EADDRINUSE, "host port %s is mapped twice", name);
    }
    return 0;
}

/* The element of list with m's key, or NULL. */
static const struct net_portmap *find_key(const struct net_portmap *list, size_t n,
                                          const struct net_portmap *m) {
    for (size_t i = 0; i < n; i++)
        if (same_key(&list[i], m))
            return &list[i];
    return NULL;
}

int net_nft_add(const struct net_portmap *m, size_t n, struct error *err) {
    int r = check_maps(m, n, err);
    if (r < 0 || n == 0)
        return r;
    _cleanup_nft_ struct nft_ctx *c = NULL;
    r = ctx_get(&c, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *cmd = NULL;
    if (elements_cmd("create", m, n, NULL, true, &cmd) < 0)
        return error_oom(err);
    struct error first;
    error_init(&first);
    r = run(c, cmd, "cannot add the port maps", &first);
    if (r == 0)
        return 0;
    /* Which one was there already? (`create` fails the batch with EEXIST.) */
    _cleanup_free_ struct net_portmap *have = NULL;
    size_t nhave = 0;
    if (r == -EEXIST && list_elements(c, &have, &nhave, NULL) == 0) {
        for (size_t i = 0; i < n; i++) {
            const struct net_portmap *h = find_key(have, nhave, &m[i]);
            if (!h)
                continue;
            char name[64], ip[NET_IP_MAX];
            portmap_name(&m[i], name, sizeof(name));
            net_ip_format(h->vm_ip, ip);
            return error_set(err, -EADDRINUSE,
                             "host port %s is already mapped (to %s:%u): choose another host port",
                             name, ip, h->vm_port);
        }
    }
    return error_set(err, r, "%s", first.msg);
}

int net_nft_del(const struct net_portmap *m, size_t n, struct error *err) {
    if (n == 0)
        return 0;
    _cleanup_nft_ struct nft_ctx *c = NULL;
    int r = ctx_get(&c, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *cmd = NULL;
    if (elements_cmd("delete", m, n, NULL, false, &cmd) < 0)
        return error_oom(err);
    r = run(c, cmd, "cannot delete the port maps", err);
    if (r != -ENOENT)
        return r;
    /* Some are gone (or the table is): delete those that are still there. */
    _cleanup_free_ struct net_portmap *have = NULL;
    size_t nhave = 0;
    r = list_elements(c, &have, &nhave, err);
    if (r < 0)
        return r;
    _cleanup_free_ bool *pick = xcalloc(n, sizeof(*pick));
    if (!pick)
        return error_oom(err);
    for (size_t i = 0; i < n; i++)
        pick[i] = find_key(have, nhave, &m[i]) != NULL;
    free(cmd);
    cmd = NULL;
    if (elements_cmd("delete", m, n, pick, false, &cmd) < 0)
        return error_oom(err);
    error_init(err);
    return cmd ? run(c, cmd, "cannot delete the port maps", err) : 0;
}

/* A protocol as JSON shows it: "tcp", "udp" or its number. */
static int json_proto(const json_t *j, bool *udp) {
    const char *s = json_string_value(j);
    if ((s && strcmp(s, "tcp") == 0) || json_integer_value(j) == 6)
        *udp = false;
    else if ((s && strcmp(s, "udp") == 0) || json_integer_value(j) == 17)
        *udp = true;
    else
        return -1;
    return 0;
}

static int json_ip(const json_t *j, uint32_t *ip) {
    const char *s = json_string_value(j);
    return s && net_ip_parse(s, ip, NULL) == 0 ? 0 : -1;
}

static int json_port(const json_t *j, uint16_t *port) {
    json_int_t v = json_integer_value(j);
    if (!json_is_integer(j) || v <= 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* One element [{"concat": [key...]}, {"concat": [ip, port]}] of ports or bind_ports. */
static int elem_parse(const json_t *e, bool bind, struct net_portmap *ret) {
    const json_t *key = json_object_get(json_array_get(e, 0), "concat");
    const json_t *val = json_object_get(json_array_get(e, 1), "concat");
    struct net_portmap m = {0};
    size_t k = bind ? 1 : 0;
    if (json_array_size(key) != k + 2 || json_array_size(val) != 2 ||
        (bind && json_ip(json_array_get(key, 0), &m.bind) < 0) ||
        json_proto(json_array_get(key, k), &m.udp) < 0 ||
        json_port(json_array_get(key, k + 1), &m.host_port) < 0 ||
        json_ip(json_array_get(val, 0), &m.vm_ip) < 0 ||
        json_port(json_array_get(val, 1), &m.vm_port) < 0)
        return -1;
    *ret = m;
    return 0;
}

static int list_parse(const char *text, struct net_portmap **ret, size_t *ret_n,
                      struct error *err) {
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root)
        return error_set(err, -EIO, "nftables: cannot read its listing of table inet hearth: %s",
                         je.text);
    struct net_portmap *v = NULL;
    size_t n = 0, i;
    int r = 0;
    json_t *item;
    json_array_foreach(json_object_get(root, "nftables"), i, item) {
        const json_t *map = json_object_get(item, "map");
        const char *name = json_string_value(json_object_get(map, "name"));
        if (!name || (strcmp(name, "ports") != 0 && strcmp(name, "bind_ports") != 0))
            continue;
        size_t j;
        json_t *e;
        json_array_foreach(json_object_get(map, "elem"), j, e) {
            if (array_grow(&v, n, sizeof(*v)) < 0) {
                r = error_oom(err);
                goto out;
            }
            if (elem_parse(e, strcmp(name, "bind_ports") == 0, &v[n]) < 0) {
                r = error_set(err, -EIO, "nftables: an element of map '%s' is not a port map",
                              name);
                goto out;
            }
            n++;
        }
    }
out:
    json_decref(root);
    if (r < 0) {
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* net_nft_list with the context held. */
static int list_elements(struct nft_ctx *c, struct net_portmap **ret, size_t *ret_n,
                         struct error *err) {
    nft_ctx_output_set_flags(c, NFT_CTX_OUTPUT_JSON);
    int r = run(c, "list table " TABLE, "cannot list table inet hearth", err);
    nft_ctx_output_set_flags(c, 0);
    if (r == -ENOENT) {
        error_init(err);
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (r < 0)
        return r;
    return list_parse(nft_ctx_get_output_buffer(c), ret, ret_n, err);
}

int net_nft_list(struct net_portmap **ret, size_t *ret_n, struct error *err) {
    _cleanup_nft_ struct nft_ctx *c = NULL;
    int r = ctx_get(&c, err);
    if (r < 0)
        return r;
    return list_elements(c, ret, ret_n, err);
}

/* Whether the element of map with key m exists (a missing table or map: no). */
static bool element_there(struct nft_ctx *c, const char *map, const struct net_portmap *m) {
    struct strbuf sb = STRBUF_INIT;
    bool there = strbuf_addf(&sb, "get element " TABLE " %s { ", map) == 0 &&
                 key_add(&sb, m) == 0 && strbuf_adds(&sb, " }") == 0 &&
                 run(c, sb.buf, "", NULL) == 0;
    (void)nft_ctx_get_output_buffer(c); /* (the element as text; the next listing's own buffer) */
    strbuf_release(&sb);
    return there;
}

/* Whether have (a mapped key) takes m's host port: the same protocol and port on a shared address.
 */
static bool takes(const struct net_portmap *have, const struct net_portmap *m) {
    return have->udp == m->udp && have->host_port == m->host_port &&
           (!have->bind || !m->bind || have->bind == m->bind);
}

int net_nft_mapped(const struct net_portmap *m, struct net_portmap *ret, struct error *err) {
    _cleanup_nft_ struct nft_ctx *c = NULL;
    int r = ctx_get(&c, err);
    if (r < 0)
        return r;
    /* The keys that would take it: m's own in ports (every address) and, with a bind
     * address, in bind_ports; without one, any bind_ports element of that port, which
     * only that map's listing tells (it holds the rare maps with an address). */
    struct net_portmap any = *m;
    any.bind = 0;
    bool hit = element_there(c, "ports", &any) || (m->bind && element_there(c, "bind_ports", m));
    _cleanup_free_ struct net_portmap *have = NULL;
    size_t nhave = 0;
    if (!hit && !m->bind) {
        nft_ctx_output_set_flags(c, NFT_CTX_OUTPUT_JSON);
        r = run(c, "list map " TABLE " bind_ports", "cannot list map bind_ports", err);
        nft_ctx_output_set_flags(c, 0);
        if (r == -ENOENT) {
            error_init(err);
            return 0;
        }
        if (r == 0)
            r = list_parse(nft_ctx_get_output_buffer(c), &have, &nhave, err);
        if (r < 0)
            return r;
        for (size_t i = 0; i < nhave && !hit; i++)
            hit = takes(&have[i], m);
    }
    if (!hit)
        return 0;
    /* Taken: which element, from the whole table (only on this path). */
    free(have);
    have = NULL;
    r = list_elements(c, &have, &nhave, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nhave; i++)
        if (takes(&have[i], m)) {
            *ret = have[i];
            return 1;
        }
    return 0; /* gone meanwhile */
}

bool net_nft_exists(void) {
    _cleanup_nft_ struct nft_ctx *c = NULL;
    return ctx_get(&c, NULL) == 0 && run(c, "list table " TABLE, "", NULL) == 0;
}

int net_nft_delete(struct error *err) {
    _cleanup_nft_ struct nft_ctx *c = NULL;
    int r = ctx_get(&c, err);
    if (r < 0)
        return r;
    r = run(c, "delete table " TABLE, "cannot delete table inet hearth", err);
    if (r == -ENOENT) {
        error_init(err);
        return 0;
    }
    return r;
}
