/*
 * The value grammars of the API: sizes (read and written as Ignite's datasize
 * package does), port mappings (Ignite's HOST:VM and Docker's
 * [IP:]HOST:VM[/proto]), DNS-1123 names, OCI references, label keys, IP
 * addresses, and the field-path buffer used in error messages.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api_priv.h"

/* ---- sizes -------------------------------------------------------------- */

#define SIZE_INPUT_MAX 64    /* longest size string considered */
#define SIZE_FRACTION_MAX 18 /* fraction digits kept (after trailing zeros) */

static const struct {
    const char *name;
    unsigned shift;
} size_units[] = {
    {"", 0},     {"b", 0},   {"k", 10},   {"kb", 10},  {"kib", 10}, {"m", 20},   {"mb", 20},
    {"mib", 20}, {"g", 30},  {"gb", 30},  {"gib", 30}, {"t", 40},   {"tb", 40},  {"tib", 40},
    {"p", 50},   {"pb", 50}, {"pib", 50}, {"e", 60},   {"eb", 60},  {"eib", 60},
};

int api_size_parse(const char *s, uint64_t *ret) {
    if (!s || strnlen(s, SIZE_INPUT_MAX + 1) > SIZE_INPUT_MAX)
        return -EINVAL;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    uint64_t whole = 0;
    bool overflow = false;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (whole > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            whole = whole * 10 + d;
    }
    uint64_t frac = 0;
    unsigned frac_digits = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        const char *start = p;
        while (isdigit((unsigned char)*p))
            p++;
        const char *end = p;
        while (end > start && end[-1] == '0')
            end--; /* "4.50" is "4.5" */
        if (end - start > SIZE_FRACTION_MAX)
            return -EINVAL; /* cannot be a whole number of bytes in any unit we know */
        for (const char *q = start; q < end; q++) {
            frac = frac * 10 + (uint64_t)(*q - '0');
            frac_digits++;
        }
    }
    while (*p == ' ')
        p++;
    const char *unit = p;
    size_t ulen = strlen(unit);
    while (ulen > 0 && unit[ulen - 1] == ' ')
        ulen--;
    int shift = -1;
    for (size_t i = 0; i < ARRAY_SIZE(size_units); i++) {
        if (strlen(size_units[i].name) == ulen &&
            strncasecmp(unit, size_units[i].name, ulen) == 0) {
            shift = (int)size_units[i].shift;
            break;
        }
    }
    if (shift < 0)
        return -EINVAL;
    if (overflow)
        return -ERANGE;

    unsigned __int128 mult = (unsigned __int128)1 << shift;
    unsigned __int128 pow10 = 1;
    for (unsigned i = 0; i < frac_digits; i++)
        pow10 *= 10;
    unsigned __int128 frac_bytes = (unsigned __int128)frac * mult;
    if (frac_bytes % pow10 != 0)
        return -EINVAL; /* a fraction of a byte */
    unsigned __int128 total = (unsigned __int128)whole * mult + frac_bytes / pow10;
    if (total > UINT64_MAX)
        return -ERANGE;
    *ret = (uint64_t)total;
    return 0;
}

static const char size_prefixes[] = "KMGTPE";

void api_size_format(uint64_t bytes, char *buf, size_t size) {
    if (bytes == 0) {
        snprintf(buf, size, "0B");
        return;
    }
    for (int i = 5; i >= 0; i--) {
        unsigned shift = 10u * (unsigned)(i + 1);
        if ((bytes & ((1ull << shift) - 1)) == 0) {
            snprintf(buf, size, "%" PRIu64 "%cB", bytes >> shift, size_prefixes[i]);
            return;
        }
    }
    snprintf(buf, size, "%" PRIu64 "B", bytes);
}

/* As Ignite's tables show sizes ("4.0 GB", "512.0 MB"): the largest unit the
 * size reaches, one decimal. (Later releases of the datasize library switch
 * units only strictly above them and print 4 GiB as "4096.0 MB"; the tables
 * of Ignite's documentation show "4.0 GB", which is what users expect.) */
void api_size_format_human(uint64_t bytes, char *buf, size_t size) {
    size_format_human(bytes, buf, size);
}

/* ---- table cells -------------------------------------------------------- */

void api_age_format(int64_t t, int64_t now, char *buf, size_t size) {
    if (t == API_TIME_NONE || t <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    char age[32];
    time_format_ago(t, now, age, sizeof(age));
    snprintf(buf, size, "%s ago", age);
}

static const char *const vm_state_names[] = {
    [API_VM_CREATED] = "Created",   [API_VM_RUNNING] = "Running",   [API_VM_STOPPED] = "Stopped",
    [API_VM_CREATING] = "Creating", [API_VM_STARTING] = "Starting", [API_VM_STOPPING] = "Stopping",
    [API_VM_REMOVING] = "Removing",
};

const char *api_vm_state_name(enum api_vm_state s) {
    return (size_t)s < ARRAY_SIZE(vm_state_names) ? vm_state_names[s] : NULL;
}

int api_vm_state_parse(const char *s, enum api_vm_state *ret) {
    for (size_t i = 0; s && i < ARRAY_SIZE(vm_state_names); i++) {
        if (vm_state_names[i] && strcmp(s, vm_state_names[i]) == 0) {
            *ret = (enum api_vm_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool api_vm_state_is_active(enum api_vm_state s) {
    return s == API_VM_RUNNING || s == API_VM_CREATING || s == API_VM_STARTING ||
           s == API_VM_STOPPING || s == API_VM_REMOVING;
}

void api_vm_status_format(enum api_vm_state state, int64_t started, int64_t now, char *buf,
                          size_t size) {
    if (state == API_VM_RUNNING && started > 0) {
        char age[32];
        time_format_ago(started, now, age, sizeof(age));
        snprintf(buf, size, "Up %s", age);
        return;
    }
    const char *name = api_vm_state_name(state);
    snprintf(buf, size, "%s", name ? name : "-");
}

/* ---- ports -------------------------------------------------------------- */

#define PORT_INPUT_MAX 128

static int port_number(const char *s, size_t len, const char *input, uint64_t *ret,
                       struct error *err) {
    char tmp[16];
    uint64_t v;
    if (len == 0 || len >= sizeof(tmp))
        goto bad;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (parse_u64(tmp, 65535, &v) < 0 || v == 0)
        goto bad;
    *ret = v;
    return 0;
bad:
    return error_set(err, -EINVAL, "port mapping \"%s\": \"%.*s\" is not a port number (1-65535)",
                     input, (int)(len < 32 ? len : 32), s);
}

int api_port_parse(const char *s, struct api_port *ret, struct error *err) {
    if (!s || !*s)
        return error_set(err, -EINVAL, "empty port mapping (expected [IP:]HOST:VM[/tcp|udp])");
    size_t total = strnlen(s, PORT_INPUT_MAX + 1);
    if (total > PORT_INPUT_MAX)
        return error_set(err, -EINVAL, "port mapping is longer than %d characters", PORT_INPUT_MAX);

    const char *proto = NULL;
    size_t len = total;
    const char *slash = strchr(s, '/');
    if (slash) {
        proto = slash + 1;
        len = (size_t)(slash - s);
        if (strcasecmp(proto, "tcp") == 0)
            proto = NULL;
        else if (strcasecmp(proto, "udp") == 0)
            proto = "udp";
        else
            return error_set(err, -EINVAL, "port mapping \"%s\": protocol \"%s\" is not tcp or udp",
                             s, proto);
    }

    /* Split off an address: "[v6]:" or "a.b.c.d:" before HOST:VM. */
    char addr[INET6_ADDRSTRLEN + 1] = "";
    bool has_addr = false;
    const char *rest = s;
    size_t rest_len = len;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close[1] != ':')
            return error_set(err, -EINVAL,
                             "port mapping \"%s\": expected [IPV6]:HOST:VM with the address in "
                             "brackets",
                             s);
        size_t alen = (size_t)(close - s - 1);
        if (alen >= sizeof(addr))
            return error_set(err, -EINVAL, "port mapping \"%s\": bad IPv6 address", s);
        memcpy(addr, s + 1, alen);
        addr[alen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, addr, &a6) != 1)
            return error_set(err, -EINVAL, "port mapping \"%s\": \"%s\" is not an IPv6 address", s,
                             addr);
        has_addr = true;
        rest = close + 2;
        rest_len = len - (size_t)(rest - s);
    } else {
        size_t colons = 0;
        for (size_t i = 0; i < len; i++)
            colons += s[i] == ':';
        if (colons == 2) {
            const char *c = memchr(s, ':', len);
            size_t alen = (size_t)(c - s);
            if (alen == 0 || alen >= sizeof(addr))
                return error_set(err, -EINVAL, "port mapping \"%s\": bad address", s);
            memcpy(addr, s, alen);
            addr[alen] = '\0';
            struct in_addr a4;
            if (inet_pton(AF_INET, addr, &a4) != 1)
                return error_set(err, -EINVAL,
                                 "port mapping \"%s\": \"%s\" is not an IPv4 address (IPv6 "
                                 "addresses go in brackets)",
                                 s, addr);
            has_addr = true;
            rest = c + 1;
            rest_len = len - alen - 1;
        } else if (colons != 1) {
            return error_set(err, -EINVAL, "port mapping \"%s\": expected [IP:]HOST:VM[/tcp|udp]",
                             s);
        }
    }
    const char *colon = memchr(rest, ':', rest_len);
    if (!colon)
        return error_set(err, -EINVAL, "port mapping \"%s\": expected [IP:]HOST:VM[/tcp|udp]", s);
    uint64_t host, vm;
    int r = port_number(rest, (size_t)(colon - rest), s, &host, err);
    if (r < 0)
        return r;
    r = port_number(colon + 1, rest_len - (size_t)(colon - rest) - 1, s, &vm, err);
    if (r < 0)
        return r;

    struct api_port p = {.host_port = host, .vm_port = vm};
    if (proto) {
        p.protocol = xstrdup(proto);
        if (!p.protocol)
            return error_oom(err);
    }
    if (has_addr) {
        p.bind_address = xstrdup(addr);
        if (!p.bind_address) {
            free(p.protocol);
            return error_oom(err);
        }
    }
    *ret = p;
    return 0;
}

void api_port_release(struct api_port *p) {
    if (!p)
        return;
    free(p->protocol);
    free(p->bind_address);
    p->protocol = NULL;
    p->bind_address = NULL;
}

void api_port_format(const struct api_port *p, char *buf, size_t size) {
    const char *addr = p->bind_address ? p->bind_address : "0.0.0.0";
    bool v6 = strchr(addr, ':') != NULL;
    snprintf(buf, size, "%s%s%s:%" PRIu64 "->%" PRIu64 "/%s", v6 ? "[" : "", addr, v6 ? "]" : "",
             p->host_port, p->vm_port, p->protocol ? p->protocol : "tcp");
}

/* ---- names and references ----------------------------------------------- */

static bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c) {
    return isalnum((unsigned char)c) != 0;
}

bool api_name_is_valid(const char *s) {
    if (!s)
        return false;
    size_t len = strnlen(s, API_NAME_MAX + 1);
    if (len == 0 || len > API_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    }
    return is_lower_alnum(s[0]) && is_lower_alnum(s[len - 1]);
}

/* path-component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool ref_path_component_ok(const char *s, size_t len) {
    if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
        return false;
    size_t i = 0;
    while (i < len) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* a separator run, then an alnum must follow (the last char is alnum) */
        size_t j = i;
        while (j < len && !is_lower_alnum(s[j]))
            j++;
        size_t n = j - i;
        bool ok =
            (n == 1 && (s[i] == '.' || s[i] == '_')) || (n == 2 && s[i] == '_' && s[i + 1] == '_');
        if (!ok) {
            ok = true;
            for (size_t k = i; k < j; k++)
                ok = ok && s[k] == '-';
        }
        if (!ok)
            return false;
        i = j;
    }
    return true;
}

/* domain := domain-component ('.' domain-component)* [':' port] */
static bool ref_domain_ok(const char *s, size_t len) {
    const char *colon = memchr(s, ':', len);
    size_t host_len = colon ? (size_t)(colon - s) : len;
    if (colon) {
        size_t plen = len - host_len - 1;
        if (plen == 0 || plen > 5)
            return false;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)colon[1 + i]))
                return false;
        }
    }
    if (host_len == 0)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= host_len; i++) {
        if (i < host_len && s[i] != '.')
            continue;
        size_t n = i - start;
        if (n == 0 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
            return false;
        for (size_t k = start; k < i; k++) {
            if (!is_alnum(s[k]) && s[k] != '-')
                return false;
        }
        start = i + 1;
    }
    return true;
}

/* digest := algorithm ':' hex; algorithm := [A-Za-z][A-Za-z0-9]* ([+._-] ...)*; hex{32,} */
static bool ref_digest_ok(const char *s) {
    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return false;
    bool need_alpha = true;
    for (const char *p = s; p < colon; p++) {
        if (need_alpha) {
            if (!isalpha((unsigned char)*p))
                return false;
            need_alpha = false;
        } else if (strchr("+._-", *p)) {
            need_alpha = true;
        } else if (!is_alnum(*p)) {
            return false;
        }
    }
    if (need_alpha)
        return false;
    size_t n = 0;
    for (const char *p = colon + 1; *p; p++, n++) {
        if (!isxdigit((unsigned char)*p))
            return false;
    }
    return n >= 32;
}

/* tag := [\w][\w.-]{0,127} */
static bool ref_tag_ok(const char *s) {
    size_t len = strlen(s);
    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool word = is_alnum(c) || c == '_';
        if (!word && (i == 0 || (c != '.' && c != '-')))
            return false;
    }
    return true;
}

#define REF_NAME_MAX 255

bool api_ref_is_valid(const char *s) {
    if (!s)
        return false;
    size_t total = strnlen(s, API_STRING_MAX + 1);
    if (total == 0 || total > API_STRING_MAX)
        return false;
    const char *at = strchr(s, '@');
    size_t name_tag_len = at ? (size_t)(at - s) : total;
    if (at && !ref_digest_ok(at + 1))
        return false;
    /* A tag is after the last ':' that follows the last '/'. */
    const char *last_slash = NULL;
    for (const char *p = s; p < s + name_tag_len; p++) {
        if (*p == '/')
            last_slash = p;
    }
    const char *search = last_slash ? last_slash + 1 : s;
    const char *tag_colon = memchr(search, ':', name_tag_len - (size_t)(search - s));
    size_t name_len = tag_colon ? (size_t)(tag_colon - s) : name_tag_len;
    if (tag_colon) {
        char tag[130];
        size_t tlen = name_tag_len - name_len - 1;
        if (tlen >= sizeof(tag))
            return false;
        memcpy(tag, tag_colon + 1, tlen);
        tag[tlen] = '\0';
        if (!ref_tag_ok(tag))
            return false;
    }
    if (name_len == 0 || name_len > REF_NAME_MAX)
        return false;
    /* components by '/': the first may be a domain when more follow */
    size_t start = 0;
    bool first = true;
    for (size_t i = 0; i <= name_len; i++) {
        if (i < name_len && s[i] != '/')
            continue;
        const char *c = s + start;
        size_t n = i - start;
        bool more = i < name_len;
        bool ok = ref_path_component_ok(c, n) || (first && more && ref_domain_ok(c, n));
        if (!ok)
            return false;
        first = false;
        start = i + 1;
    }
    return true;
}

/* ---- labels and addresses ----------------------------------------------- */

static bool label_name_ok(const char *s, size_t len) {
    if (len == 0 || len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    }
    return true;
}

/* DNS-1123 subdomain: labels of [a-z0-9-] joined by '.', at most 253. */
static bool subdomain_ok(const char *s, size_t len) {
    if (len == 0 || len > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        size_t n = i - start;
        if (n == 0 || n > 63 || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
            return false;
        for (size_t k = start; k < i; k++) {
            if (!is_lower_alnum(s[k]) && s[k] != '-')
                return false;
        }
        start = i + 1;
    }
    return true;
}

bool api_label_key_is_valid(const char *s) {
    if (!s)
        return false;
    size_t len = strnlen(s, 400);
    const char *slash = memchr(s, '/', len);
    if (slash) {
        size_t plen = (size_t)(slash - s);
        return subdomain_ok(s, plen) && label_name_ok(slash + 1, len - plen - 1);
    }
    return label_name_ok(s, len);
}

bool api_label_value_is_valid(const char *s) {
    if (!s)
        return false;
    size_t len = strnlen(s, 64);
    return len == 0 || label_name_ok(s, len);
}

bool api_ip_is_valid(const char *s) {
    if (!s || strnlen(s, INET6_ADDRSTRLEN + 1) > INET6_ADDRSTRLEN)
        return false;
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* ---- field paths -------------------------------------------------------- */

static void path_append(struct api_path *p, const char *s) {
    size_t n = strlen(s);
    size_t room = sizeof(p->buf) - 1 - p->len;
    if (n > room)
        n = room;
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

size_t api_path_push(struct api_path *p, const char *key) {
    size_t old = p->len;
    if (p->len > 0)
        path_append(p, ".");
    path_append(p, key);
    return old;
}

size_t api_path_push_index(struct api_path *p, size_t index) {
    size_t old = p->len;
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "[%zu]", index);
    path_append(p, tmp);
    return old;
}

void api_path_pop(struct api_path *p, size_t old_len) {
    p->len = old_len;
    p->buf[old_len] = '\0';
}

const char *api_path_str(const struct api_path *p) {
    return p->len ? p->buf : "(document)";
}

/* ---- quoting for messages ----------------------------------------------- */

const char *api_quote(const char *s, char *buf, size_t size) {
    if (size < 8) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    if (!s)
        s = "";
    size_t o = 0;
    buf[o++] = '"';
    size_t shown = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (shown == 80 || o + 8 >= size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
        } else {
            buf[o++] = (char)*p;
        }
        shown++;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
