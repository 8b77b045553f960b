/*
 * store net: the bridged networks (the network table of
 * migrations/0008_network.sql), the VMs' IP leases (ip_lease, 0002) and
 * the VM's status.ipAddresses that shows them. Each read checks what it
 * reads back, as every store read does (store_check_*).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "store/store_priv.h"

static bool ip_ok(const char *s) {
    struct in_addr a;
    return s && strlen(s) < STORE_IP_MAX && inet_pton(AF_INET, s, &a) == 1;
}

static bool network_name_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= STORE_NETWORK_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= '0' && s[i] <= '9') && !strchr("-_.", s[i]))
            return false;
    return true;
}

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t size) {
    const char *t = (const char *)sqlite3_column_text(st, col);
    snprintf(dst, size, "%s", t ? t : "");
}

/* ---- networks ------------------------------------------------------------------ */

static int network_read(store *s, sqlite3_stmt *st, struct store_network *ret, struct error *err) {
    struct store_network n = {0};
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *subnet = (const char *)sqlite3_column_text(st, 1);
    struct error why;
    error_init(&why);
    if (!network_name_ok(name))
        error_set(&why, -EUCLEAN, "name: \"%s\" is not a bridge name", name ? name : "");
    else if (!subnet || strlen(subnet) >= sizeof(n.subnet) || !strchr(subnet, '/'))
        error_set(&why, -EUCLEAN, "subnet: \"%s\" is not a subnet", subnet ? subnet : "");
    if (why.code < 0)
        return store_corrupt_error(s, "network", name ? name : "", &why, err);
    snprintf(n.name, sizeof(n.name), "%s", name);
    snprintf(n.subnet, sizeof(n.subnet), "%s", subnet);
    n.created = sqlite3_column_int64(st, 2);
    *ret = n;
    return 0;
}

int store_network_get(store *s, const char *name, struct store_network *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       name ? "SELECT name, subnet, created FROM network WHERE name = ?1"
                            : "SELECT name, subnet, created FROM network ORDER BY name LIMIT 1",
                       &st, err);
    if (r < 0)
        return r;
    if (name)
        store_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = network_read(s, st, ret, err);
    else if (rc == SQLITE_DONE)
        r = name ? error_set(err, -ENOENT, "no network '%s'", name)
                 : error_set(err, -ENOENT, "no network");
    r = store_rows_end(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, r, "reading network", err);
    return r;
}

int store_network_list(store *s, struct store_network **ret, size_t *ret_n, struct error *err) {
    *ret = NULL;
    *ret_n = 0;
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT name, subnet, created FROM network ORDER BY name", &st, err);
    if (r < 0)
        return r;
    struct store_network *v = NULL;
    size_t n = 0;
    int rc;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_network *nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv) {
            r = error_oom(err);
            break;
        }
        v = nv;
        r = network_read(s, st, &v[n], err);
        if (r == 0)
            n++;
    }
    r = store_rows_end(s, st, r < 0 ? SQLITE_DONE : rc, r, "reading network", err);
    if (r < 0) {
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_network_add(store *s, const char *name, const char *subnet, struct error *err) {
    if (!network_name_ok(name))
        return error_set(err, -EINVAL,
                         "'%s' is not a bridge name: 1 to 15 of a-z, 0-9, '-', '_' and '.'",
                         name ? name : "");
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "INSERT INTO network (name, subnet, created) VALUES (?1, ?2, ?3)",
                              &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, name);
    store_bind_text(st, 2, subnet);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    r = store_step_done(s, st, "recording the network", err);
    if (r == -EEXIST)
        r = error_set(err, -EEXIST, "network '%s' or one with subnet %s exists", name, subnet);
    return store_tx_end(s, own, r, err);
}

int store_network_remove(store *s, const char *name, struct error *err) {
    bool own;
    int r = store_tx_start(s, &own, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st;
    r = store_stmt(s, "SELECT count(*) FROM ip_lease WHERE network = ?1", &st, err);
    int64_t leases = 0;
    if (r == 0) {
        store_bind_text(st, 1, name);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            leases = sqlite3_column_int64(st, 0);
        r = store_rows_end(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, 0, "reading ip_lease", err);
    }
    if (r == 0 && leases > 0)
        r = error_set(err, -EBUSY, "network '%s' has %lld leases: remove its VMs first", name,
                      (long long)leases);
    if (r == 0)
        r = store_stmt(s, "DELETE FROM network WHERE name = ?1", &st, err);
    if (r == 0) {
        store_bind_text(st, 1, name);
        r = store_step_done(s, st, "removing the network", err);
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = error_set(err, -ENOENT, "no network '%s'", name);
    }
    return store_tx_end(s, own, r, err);
}

/* ---- leases -------------------------------------------------------------------- */

#define LEASE_COLS "ip, network, vm_uid, mac"

static int lease_read(store *s, sqlite3_stmt *st, struct store_lease *ret, struct error *err) {
    struct store_lease l = {0};
    const char *ip = (const char *)sqlite3_column_text(st, 0);
    const char *net = (const char *)sqlite3_column_text(st, 1);
    const char *uid = (const char *)sqlite3_column_text(st, 2);
    const char *mac = (const char *)sqlite3_column_text(st, 3);
    struct error why;
    error_init(&why);
    if (!ip_ok(ip))
        error_set(&why, -EUCLEAN, "ip: \"%s\" is not an IPv4 address", ip ? ip : "");
    else if (!network_name_ok(net))
        error_set(&why, -EUCLEAN, "network: \"%s\" is not a network name", net ? net : "");
    else if (uid && store_check_uid(uid, &why) < 0)
        ;
    else if (mac && strlen(mac) >= sizeof(l.mac))
        error_set(&why, -EUCLEAN, "mac: \"%s\" is not a MAC address", mac);
    if (why.code < 0)
        return store_corrupt_error(s, "ip_lease", ip ? ip : "", &why, err);
    snprintf(l.ip, sizeof(l.ip), "%s", ip);
    snprintf(l.network, sizeof(l.network), "%s", net);
    copy_text(st, 2, l.vm_uid, sizeof(l.vm_uid));
    copy_text(st, 3, l.mac, sizeof(l.mac));
    *ret = l;
    return 0;
}

int store_lease_get(store *s, const char *vm_uid, struct store_lease *ret, struct error *err) {
    sqlite3_stmt *st;
    int r =
        store_stmt(s, "SELECT " LEASE_COLS " FROM ip_lease WHERE vm_uid = ?1 LIMIT 1", &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, vm_uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = lease_read(s, st, ret, err);
    else if (rc == SQLITE_DONE)
        r = error_set(err, -ENOENT, "vm %s has no lease", vm_uid);
    return store_rows_end(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, r, "reading ip_lease", err);
}

int store_lease_list(store *s, const char *network, struct store_lease **ret, size_t *ret_n,
                     struct error *err) {
    *ret = NULL;
    *ret_n = 0;
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       network ? "SELECT " LEASE_COLS " FROM ip_lease WHERE network = ?1"
                               : "SELECT " LEASE_COLS " FROM ip_lease ORDER BY network, ip",
                       &st, err);
    if (r < 0)
        return r;
    if (network)
        store_bind_text(st, 1, network);
    struct store_lease *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct store_lease *nv = realloc(v, nc * sizeof(*v));
            if (!nv) {
                r = error_oom(err);
                break;
            }
            v = nv;
            cap = nc;
        }
        r = lease_read(s, st, &v[n], err);
        if (r == 0)
            n++;
    }
    r = store_rows_end(s, st, r < 0 ? SQLITE_DONE : rc, r, "reading ip_lease", err);
    if (r < 0) {
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_lease_add(store *s, const struct store_lease *l, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s,
                              "INSERT INTO ip_lease (ip, network, mac, vm_uid, state, created) "
                              "VALUES (?1, ?2, ?3, ?4, 'active', ?5)",
                              &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, l->ip);
    store_bind_text(st, 2, l->network);
    store_bind_text(st, 3, l->mac[0] ? l->mac : NULL);
    store_bind_text(st, 4, l->vm_uid);
    sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
    r = store_step_done(s, st, "recording the lease", err);
    if (r == -EEXIST)
        r = error_set(err, -EEXIST, "address %s is leased already", l->ip);
    return store_tx_end(s, own, r, err);
}

int store_vm_ips_set(store *s, const char *uid, const char *ip, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "DELETE FROM vm_ip_addresses WHERE uid = ?1", &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    r = store_step_done(s, st, "clearing status.ipAddresses", err);
    if (r == 0 && ip)
        r = store_stmt(s, "INSERT INTO vm_ip_addresses (uid, ord, ip) VALUES (?1, 0, ?2)", &st,
                       err);
    if (r == 0 && ip) {
        store_bind_text(st, 1, uid);
        store_bind_text(st, 2, ip);
        r = store_step_done(s, st, "recording status.ipAddresses", err);
    }
    return store_tx_end(s, own, r, err);
}

int store_lease_remove(store *s, const char *ip, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "DELETE FROM ip_lease WHERE ip = ?1", &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, ip);
    r = store_step_done(s, st, "releasing the lease", err);
    return store_tx_end(s, own, r, err);
}
