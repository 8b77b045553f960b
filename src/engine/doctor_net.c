/*
 * engine doctor, the networks: what the database says should exist for the
 * bridged VMs that run (a tap, a host file, the port-map elements; the
 * network's bridge, nftables table and dnsmasq) against what the machine
 * has, both ways. With repair, what should not exist goes and what is
 * missing is made again; a running VM whose tap is gone cannot get it back
 * (its VMM opened the old one) and is reported only.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

/* A bridged VM that runs: what it should have. */
struct want {
    char uid[ID_LEN + 1];
    struct store_lease lease;
    uint32_t ip;
    struct net_portmap *maps;
    size_t n_maps;
    bool busy; /* a live operation works on it: what is missing may be on its way */
};

struct wants {
    struct want *v;
    size_t n;
};

static void wants_free(struct wants *w) {
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].maps);
    free(w->v);
}

/* The port maps of VM uid's spec, to its address (a spec doctor cannot read has none). */
static int want_maps(engine *e, struct want *w, struct error *err) {
    _cleanup_object_ struct api_object *vm = NULL;
    int r = store_object_get(e->store, API_KIND_VM, w->uid, &vm, err);
    if (r < 0)
        return r;
    struct error e2;
    error_init(&e2);
    if (vm_net_maps(vm, w->ip, &w->maps, &w->n_maps, &e2) == -ENOMEM)
        return error_oom(err);
    return 0;
}

bool doctor_op_busy(const struct store_op *ops, size_t n, const char *uid) {
    for (size_t i = 0; i < n; i++)
        if (str_starts_with(ops[i].op, "vm.") && ops[i].object_uid &&
            strcmp(ops[i].object_uid, uid) == 0 &&
            proc_is_alive(ops[i].owner_pid, ops[i].owner_start))
            return true;
    return false;
}

static int wants_read(engine *e, struct wants *ret, struct error *err) {
    char **uids = NULL;
    size_t n = 0;
    struct store_op *ops = NULL;
    size_t n_ops = 0;
    int r = store_op_list_open(e->store, &ops, &n_ops, err);
    if (r < 0)
        return r;
    r = store_vm_list_live(e->store, &uids, &n, err);
    if (r < 0) {
        store_ops_free(ops, n_ops);
        return r;
    }
    ret->v = calloc(n + 1, sizeof(*ret->v));
    if (!ret->v)
        r = error_oom(err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct want *w = &ret->v[ret->n];
        struct error e2;
        error_init(&e2);
        if (store_lease_get(e->store, uids[i], &w->lease, &e2) < 0 ||
            net_ip_parse(w->lease.ip, &w->ip, NULL) < 0)
            continue; /* not bridged */
        snprintf(w->uid, sizeof(w->uid), "%s", uids[i]);
        w->busy = doctor_op_busy(ops, n_ops, uids[i]);
        ret->n++;
        r = want_maps(e, w, err);
    }
    for (size_t i = 0; i < n; i++)
        free(uids[i]);
    free(uids);
    store_ops_free(ops, n_ops);
    return r;
}

static const struct want *want_by_tap(const struct wants *w, const char *prefix12) {
    for (size_t i = 0; i < w->n; i++)
        if (strncmp(w->v[i].uid, prefix12, 12) == 0)
            return &w->v[i];
    return NULL;
}

static const struct want *want_by_uid(const struct wants *w, const char *uid) {
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i].uid, uid) == 0)
            return &w->v[i];
    return NULL;
}

static bool network_has_wants(const struct wants *w, const char *network) {
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->v[i].lease.network, network) == 0)
            return true;
    return false;
}

static bool same_key(const struct net_portmap *a, const struct net_portmap *b) {
    return a->udp == b->udp && a->bind == b->bind && a->host_port == b->host_port;
}

#define OOM_UNLESS(f) ((f) ? 0 : error_oom(err))

/* A network with running VMs: its bridge, nftables table and dnsmasq. */
static int check_bridge(engine *e, const struct store_network *nw, bool repair,
                        struct engine_doctor_report *rep, struct error *err) {
    struct net_subnet s;
    struct error e2;
    error_init(&e2);
    if (net_subnet_parse(nw->subnet, &s, &e2) < 0)
        return 0; /* a corrupt row: check_rows reported it */
    _cleanup_free_ char *dir = vm_net_dir(e, nw->name);
    if (!dir)
        return error_oom(err);
    const char *what = NULL;
    if (!net_link_exists(nw->name))
        what = "its bridge is gone";
    else if (!net_nft_exists())
        what = "the nftables table inet hearth is gone";
    else if (net_dnsmasq_pid(dir) <= 0)
        what = "its dnsmasq does not run";
    if (!what)
        return 0;
    char obj[64];
    snprintf(obj, sizeof(obj), "network '%s'", nw->name);
    struct engine_finding *f =
        doctor_finding_add(rep, "network-down", "rebuild it", obj,
                           "network '%s' has running VMs but %s", nw->name, what);
    if (!f)
        return error_oom(err);
    if (repair) {
        doctor_repair_done(f, vm_net_ensure(e, nw, &s, &e2), &e2);
    }
    return 0;
}

/* Whether name is one of this root's networks (other roots may have bridges of their own). */
static bool is_ours(const struct store_network *nets, size_t n_nets, const char *name) {
    for (size_t i = 0; i < n_nets; i++)
        if (strcmp(nets[i].name, name) == 0)
            return true;
    return false;
}

/* Whether ip is in the subnet of one of this root's networks. */
static bool in_ours(const struct store_network *nets, size_t n_nets, uint32_t ip) {
    for (size_t i = 0; i < n_nets; i++) {
        struct net_subnet s;
        if (net_subnet_parse(nets[i].subnet, &s, NULL) == 0 && net_subnet_contains(&s, ip))
            return true;
    }
    return false;
}

static int check_taps(const struct store_network *nets, size_t n_nets, const struct wants *w,
                      bool repair, struct engine_doctor_report *rep, struct error *err) {
    char **taps = NULL;
    size_t n = 0;
    struct error e2;
    error_init(&e2);
    if (net_tap_list(&taps, &n, &e2) < 0)
        return 0; /* no links to read: nothing to compare */
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        char prefix[13], master[IFNAMSIZ] = "";
        if (!net_tap_name_parse(taps[i], prefix) || want_by_tap(w, prefix))
            continue;
        /* A tap on another root's bridge is that root's; one on none is a leftover of ours. */
        if (net_link_master(taps[i], master, &e2) == 0 && master[0] &&
            !is_ours(nets, n_nets, master))
            continue;
        struct engine_finding *f = doctor_finding_add(rep, "stray-tap", "delete it", taps[i],
                                                      "tap '%s' belongs to no running VM", taps[i]);
        r = OOM_UNLESS(f);
        if (f && repair) {
            error_init(&e2);
            doctor_repair_done(f, vm_net_tap_delete(taps[i], &e2), &e2);
        }
    }
    for (size_t i = 0; r == 0 && i < w->n; i++) {
        char tap[IFNAMSIZ];
        net_tap_name_of(w->v[i].uid, tap);
        if (w->v[i].busy || net_link_exists(tap))
            continue;
        char obj[64];
        snprintf(obj, sizeof(obj), "vm \"%s\"", w->v[i].uid);
        r = OOM_UNLESS(doctor_finding_add(rep, "missing-tap", NULL, obj,
                                          "vm %s runs without its tap '%s': restart it",
                                          w->v[i].uid, tap));
    }
    net_names_free(taps, n);
    return r;
}

static int check_ports(const struct store_network *nets, size_t n_nets, const struct wants *w,
                       bool repair, struct engine_doctor_report *rep, struct error *err) {
    _cleanup_free_ struct net_portmap *have = NULL;
    size_t n = 0;
    struct error e2;
    error_init(&e2);
    if (net_nft_list(&have, &n, &e2) < 0)
        return 0;
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        bool wanted = false;
        for (size_t j = 0; j < w->n && !wanted; j++)
            for (size_t k = 0; k < w->v[j].n_maps && !wanted; k++)
                wanted = same_key(&w->v[j].maps[k], &have[i]) && w->v[j].ip == have[i].vm_ip;
        if (wanted || !in_ours(nets, n_nets, have[i].vm_ip))
            continue; /* (an element to another root's VM is that root's) */
        char ip[NET_IP_MAX], obj[64];
        net_ip_format(have[i].vm_ip, ip);
        snprintf(obj, sizeof(obj), "port %u/%s", have[i].host_port, have[i].udp ? "udp" : "tcp");
        struct engine_finding *f =
            doctor_finding_add(rep, "stray-port-map", "delete it", obj,
                               "port %u/%s leads to %s:%u, which no running VM has",
                               have[i].host_port, have[i].udp ? "udp" : "tcp", ip, have[i].vm_port);
        r = OOM_UNLESS(f);
        if (f && repair) {
            error_init(&e2);
            doctor_repair_done(f, net_nft_del(&have[i], 1, &e2), &e2);
        }
    }
    for (size_t j = 0; r == 0 && j < w->n; j++) {
        for (size_t k = 0; r == 0 && k < w->v[j].n_maps; k++) {
            const struct net_portmap *m = &w->v[j].maps[k];
            bool found = w->v[j].busy;
            for (size_t i = 0; i < n && !found; i++)
                found = same_key(m, &have[i]) && have[i].vm_ip == m->vm_ip;
            if (found)
                continue;
            char obj[64];
            snprintf(obj, sizeof(obj), "vm \"%s\"", w->v[j].uid);
            struct engine_finding *f = doctor_finding_add(
                rep, "missing-port-map", "add it", obj, "vm %s runs without its port map %u/%s",
                w->v[j].uid, m->host_port, m->udp ? "udp" : "tcp");
            r = OOM_UNLESS(f);
            if (f && repair) {
                error_init(&e2);
                doctor_repair_done(f, net_nft_add(m, 1, &e2), &e2);
            }
        }
    }
    return r;
}

static int check_hostfiles(engine *e, const struct store_network *nw, const struct wants *w,
                           bool repair, struct engine_doctor_report *rep, struct error *err) {
    _cleanup_free_ char *dir = vm_net_dir(e, nw->name);
    if (!dir)
        return error_oom(err);
    char **uids = NULL;
    size_t n = 0;
    struct error e2;
    error_init(&e2);
    if (net_hostfile_list(dir, &uids, &n, &e2) < 0)
        n = 0;
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        const struct want *x = want_by_uid(w, uids[i]);
        if (x && strcmp(x->lease.network, nw->name) == 0)
            continue;
        char obj[64];
        snprintf(obj, sizeof(obj), "host file %.16s", uids[i]);
        struct engine_finding *f = doctor_finding_add(
            rep, "stray-host-file", "remove it", obj,
            "network '%s' has a dnsmasq host file for %s, which does not run", nw->name, uids[i]);
        r = OOM_UNLESS(f);
        if (f && repair) {
            error_init(&e2);
            doctor_repair_done(f, net_hostfile_remove(dir, uids[i], &e2), &e2);
        }
    }
    for (size_t j = 0; r == 0 && j < w->n; j++) {
        const struct want *x = &w->v[j];
        bool found = x->busy;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(uids[i], x->uid) == 0;
        if (found || strcmp(x->lease.network, nw->name) != 0)
            continue;
        char obj[64];
        snprintf(obj, sizeof(obj), "vm \"%s\"", x->uid);
        struct engine_finding *f =
            doctor_finding_add(rep, "missing-host-file", "write it", obj,
                               "vm %s runs without its dnsmasq host file", x->uid);
        r = OOM_UNLESS(f);
        if (f && repair) {
            _cleanup_object_ struct api_object *vm = NULL;
            error_init(&e2);
            int k = store_object_get(e->store, API_KIND_VM, x->uid, &vm, &e2);
            if (k == 0)
                k = net_hostfile_write(dir, x->uid, x->lease.mac, x->ip, vm->meta.name, &e2);
            doctor_repair_done(f, k, &e2);
        }
    }
    net_names_free(uids, n);
    return r;
}

/* Leases of networks no row records: nothing could ever serve them. */
static int check_leases(engine *e, const struct store_network *nets, size_t n_nets, bool repair,
                        struct engine_doctor_report *rep, struct error *err) {
    _cleanup_free_ struct store_lease *l = NULL;
    size_t n = 0;
    int r = store_lease_list(e->store, NULL, &l, &n, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        bool known = false;
        for (size_t j = 0; j < n_nets && !known; j++) {
            struct net_subnet s;
            uint32_t ip;
            known = strcmp(nets[j].name, l[i].network) == 0 &&
                    net_subnet_parse(nets[j].subnet, &s, NULL) == 0 &&
                    net_ip_parse(l[i].ip, &ip, NULL) == 0 && net_subnet_contains(&s, ip);
        }
        if (known)
            continue;
        char obj[64];
        snprintf(obj, sizeof(obj), "lease %s", l[i].ip);
        struct engine_finding *f = doctor_finding_add(
            rep, "orphan-lease", "release it", obj,
            "address %s of vm %s is leased in network '%s', which has no such subnet", l[i].ip,
            l[i].vm_uid, l[i].network);
        r = OOM_UNLESS(f);
        if (f && repair) {
            struct error e2;
            error_init(&e2);
            doctor_repair_done(f, store_lease_remove(e->store, l[i].ip, &e2), &e2);
        }
    }
    return r;
}

/* <root>/run/net/<name> of no network: its dnsmasq stopped, the directory removed. */
static int check_net_dirs(engine *e, const struct store_network *nets, size_t n_nets, bool repair,
                          struct engine_doctor_report *rep, struct error *err) {
    _cleanup_free_ char *base = xasprintf("%s/run/net", e->root);
    if (!base)
        return error_oom(err);
    DIR *dh = opendir(base);
    if (!dh)
        return 0;
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        /* NAME, or NAME.lock (the network's lock, vm_net_lock) */
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".lock") == 0)
            len -= 5;
        bool known = false;
        for (size_t j = 0; j < n_nets && !known; j++)
            known = strlen(nets[j].name) == len && strncmp(nets[j].name, de->d_name, len) == 0;
        if (known)
            continue;
        _cleanup_free_ char *dir = xasprintf("%s/%s", base, de->d_name);
        struct engine_finding *f =
            dir ? doctor_finding_add(rep, "stray", "stop its dnsmasq and remove it", dir,
                                     "'%s' belongs to no network", dir)
                : NULL;
        r = OOM_UNLESS(f);
        if (f && repair) {
            struct error e2;
            error_init(&e2);
            int k = net_dnsmasq_stop(dir, &e2);
            if (k == 0)
                k = fs_tree_remove(dir, &e2);
            doctor_repair_done(f, k, &e2);
        }
    }
    closedir(dh);
    return r;
}

int doctor_check_network(engine *e, bool repair, struct engine_doctor_report *rep,
                         struct error *err) {
    _cleanup_free_ struct store_network *nets = NULL;
    size_t n_nets = 0;
    int r = store_network_list(e->store, &nets, &n_nets, err);
    if (r < 0)
        return r;
    struct wants w = {0};
    r = wants_read(e, &w, err);
    for (size_t i = 0; r == 0 && i < n_nets; i++) {
        if (network_has_wants(&w, nets[i].name))
            r = check_bridge(e, &nets[i], repair, rep, err);
        if (r == 0)
            r = check_hostfiles(e, &nets[i], &w, repair, rep, err);
    }
    if (r == 0 && geteuid() == 0)
        r = check_taps(nets, n_nets, &w, repair, rep, err);
    if (r == 0 && geteuid() == 0)
        r = check_ports(nets, n_nets, &w, repair, rep, err);
    if (r == 0)
        r = check_leases(e, nets, n_nets, repair, rep, err);
    if (r == 0)
        r = check_net_dirs(e, nets, n_nets, repair, rep, err);
    wants_free(&w);
    return r;
}
