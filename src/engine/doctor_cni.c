/*
 * engine doctor, CNI: the attachments of VMs in networkMode cni (vm_cni
 * rows) against what the machine has, both ways.
 *
 * - A row whose VM does not run (and no live operation works on it): an end
 *   whose DEL failed or was cut short; repair runs DEL with the recorded
 *   list and result and removes the namespace (vm_cni_down).
 * - A running VM's attachment: the plugins' CHECK, and the tap in its
 *   namespace; both are reported only (the VMM holds what it opened).
 * - A namespace under <root>/run/cni/netns of no row: removed.
 * - A host-local reservation (a file named by its address, holding the
 *   container id) in the data directories the recorded lists use, and in
 *   the default list's (<root>/cni/networks), whose container id is a VM of
 *   this root that neither runs nor has a row: released (the file goes,
 *   as host-local's DEL removes it). Other runtimes' reservations are not
 *   looked at: their ids are no VM's.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define OOM_UNLESS(f) ((f) ? 0 : error_oom(err))

struct live {
    char **uids;
    size_t n;
    struct store_op *ops;
    size_t n_ops;
};

static bool live_has(const struct live *l, const char *uid) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->uids[i], uid) == 0)
            return true;
    return false;
}

/* A live vm.* operation works on uid: what is missing or left may be on its way. */
static bool live_busy(const struct live *l, const char *uid) {
    return doctor_op_busy(l->ops, l->n_ops, uid);
}

static void live_free(struct live *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->uids[i]);
    free(l->uids);
    store_ops_free(l->ops, l->n_ops);
}

/* A running VM's attachment: the plugins' CHECK and the tap in its namespace. */
static int check_running(engine *e, const struct store_vm_cni *c, struct engine_doctor_report *rep,
                         struct error *err) {
    char obj[64];
    snprintf(obj, sizeof(obj), "vm \"%s\"", c->uid);
    int back = -1;
    struct error e2;
    error_init(&e2);
    bool tap = false;
    if (net_netns_enter(c->netns, &back, &e2) == 0) {
        tap = net_link_exists(VM_CNI_TAP);
        net_netns_leave(back);
    }
    if (!tap && OOM_UNLESS(doctor_finding_add(rep, "missing-tap", "none (restart the vm)", obj,
                                              "vm %s runs without its tap %s in %s", c->uid,
                                              VM_CNI_TAP, c->netns)) < 0)
        return -ENOMEM;
    struct net_cni_conf conf = {0};
    error_init(&e2);
    int k = net_cni_conf_parse(c->conf_file, c->conf_json, &conf, &e2);
    if (k == 0) {
        struct net_cni_args a = {.path = c->cni_path,
                                 .container_id = c->uid,
                                 .netns = c->netns,
                                 .ifname = VM_CNI_IFNAME};
        k = net_cni_check(&conf, &a, c->result, &e2);
    }
    net_cni_conf_release(&conf);
    (void)e;
    if (k < 0 && OOM_UNLESS(doctor_finding_add(rep, "cni-check", "none (restart the vm)", obj,
                                               "vm %s: CHECK of network '%s' failed: %s", c->uid,
                                               c->network, e2.msg)) < 0)
        return -ENOMEM;
    return 0;
}

static int check_rows(engine *e, const struct store_vm_cni *rows, size_t n, const struct live *l,
                      bool repair, struct engine_doctor_report *rep, struct error *err) {
    for (size_t i = 0; i < n; i++) {
        const struct store_vm_cni *c = &rows[i];
        if (live_busy(l, c->uid))
            continue;
        if (live_has(l, c->uid)) {
            int r = c->result ? check_running(e, c, rep, err) : 0;
            if (r < 0)
                return r;
            continue;
        }
        char obj[64];
        snprintf(obj, sizeof(obj), "vm \"%s\"", c->uid);
        struct engine_finding *f = doctor_finding_add(
            rep, "stray-cni", "run DEL and remove its namespace", obj,
            "vm %s does not run, and its attachment to network '%s' (%s) is still set up", c->uid,
            c->network, c->netns);
        if (!f)
            return error_oom(err);
        if (repair) {
            struct error e2;
            error_init(&e2);
            doctor_repair_done(f, vm_cni_down(e, c->uid, false, &e2), &e2);
        }
    }
    return 0;
}

static bool row_has_netns(const struct store_vm_cni *rows, size_t n, const char *path) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].netns, path) == 0)
            return true;
    return false;
}

/* Namespaces under <root>/run/cni/netns of no row. */
static int check_netns(engine *e, const struct store_vm_cni *rows, size_t n, const struct live *l,
                       bool repair, struct engine_doctor_report *rep, struct error *err) {
    _cleanup_free_ char *base = xasprintf("%s/run/cni/netns", e->root);
    if (!base)
        return error_oom(err);
    DIR *dh = opendir(base);
    if (!dh)
        return 0;
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(dh))) {
        if (de->d_name[0] == '.' || live_busy(l, de->d_name))
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", base, de->d_name);
        if (!path) {
            r = error_oom(err);
            break;
        }
        if (row_has_netns(rows, n, path))
            continue;
        struct engine_finding *f = doctor_finding_add(
            rep, "stray-netns", "remove it", path, "network namespace '%s' belongs to no vm", path);
        r = OOM_UNLESS(f);
        if (f && repair) {
            struct error e2;
            error_init(&e2);
            doctor_repair_done(f, net_netns_delete(path, &e2), &e2);
        }
    }
    closedir(dh);
    return r;
}

/* host-local's data directory of a list (its first ipam's dataDir), else its default. */
static char *data_dir_of(const char *conf_json) {
    json_t *j = json_loads(conf_json, 0, NULL);
    json_t *plugins = json_object_get(j, "plugins");
    const char *dir = NULL;
    for (size_t i = 0; !dir && i < json_array_size(plugins); i++) {
        json_t *ipam = json_object_get(json_array_get(plugins, i), "ipam");
        const char *type = json_string_value(json_object_get(ipam, "type"));
        if (type && strcmp(type, "host-local") == 0) {
            dir = json_string_value(json_object_get(ipam, "dataDir"));
            if (!dir)
                dir = "/var/lib/cni/networks";
        }
    }
    char *r = dir ? xstrdup(dir) : NULL;
    json_decref(j);
    return r;
}

/* The container id a reservation file holds (its first line). */
static bool reservation_id(const char *path, char *id, size_t size) {
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(id, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        id[strcspn(id, "\r\n")] = '\0';
    return ok;
}

/* dir/<network>/<address> of VMs of this root that do not run and have no row. */
static int check_reservations_in(engine *e, const char *dir, const struct store_vm_cni *rows,
                                 size_t n, const struct live *l, bool repair,
                                 struct engine_doctor_report *rep, struct error *err) {
    DIR *top = opendir(dir);
    if (!top)
        return 0;
    int r = 0;
    struct dirent *nd;
    while (r == 0 && (nd = readdir(top))) {
        if (nd->d_name[0] == '.')
            continue;
        _cleanup_free_ char *netdir = xasprintf("%s/%s", dir, nd->d_name);
        DIR *dh = netdir ? opendir(netdir) : NULL;
        if (!dh)
            continue;
        struct dirent *de;
        while (r == 0 && (de = readdir(dh))) {
            uint32_t ip;
            if (net_ip_parse(de->d_name, &ip, NULL) < 0)
                continue; /* lock, last_reserved_ip.0 */
            _cleanup_free_ char *path = xasprintf("%s/%s", netdir, de->d_name);
            char id[128];
            if (!path || !reservation_id(path, id, sizeof(id)) || strlen(id) != ID_LEN)
                continue;
            bool has_row = false;
            for (size_t i = 0; i < n && !has_row; i++)
                has_row = strcmp(rows[i].uid, id) == 0;
            if (has_row || live_has(l, id) || live_busy(l, id))
                continue;
            _cleanup_object_ struct api_object *vm = NULL;
            struct error e2;
            error_init(&e2);
            if (store_object_get(e->store, API_KIND_VM, id, &vm, &e2) < 0)
                continue; /* not a VM of this root */
            struct engine_finding *f = doctor_finding_add(
                rep, "stray-reservation", "release it", path,
                "address %s of network '%s' is reserved for vm '%s', which does not run",
                de->d_name, nd->d_name, vm->meta.name);
            r = OOM_UNLESS(f);
            if (f && repair)
                doctor_repair_done(
                    f,
                    unlink(path) == 0 ? 0 : error_set(&e2, -errno, "%s: %s", path, strerror(errno)),
                    &e2);
        }
        closedir(dh);
    }
    closedir(top);
    return r;
}

static int check_reservations(engine *e, const struct store_vm_cni *rows, size_t n,
                              const struct live *l, bool repair, struct engine_doctor_report *rep,
                              struct error *err) {
    _cleanup_free_ char *own = xasprintf("%s/cni/networks", e->root);
    if (!own)
        return error_oom(err);
    int r = check_reservations_in(e, own, rows, n, l, repair, rep, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        _cleanup_free_ char *dir = data_dir_of(rows[i].conf_json);
        bool seen = !dir || strcmp(dir, own) == 0;
        for (size_t j = 0; !seen && j < i; j++) {
            _cleanup_free_ char *d2 = data_dir_of(rows[j].conf_json);
            seen = d2 && strcmp(d2, dir) == 0;
        }
        if (!seen)
            r = check_reservations_in(e, dir, rows, n, l, repair, rep, err);
    }
    return r;
}

int doctor_check_cni(engine *e, bool repair, struct engine_doctor_report *rep, struct error *err) {
    if (geteuid() != 0)
        return 0; /* cni is root's; another user's root has none */
    struct store_vm_cni *rows = NULL;
    size_t n = 0;
    struct live l = {0};
    int r = store_vm_cni_list(e->store, &rows, &n, err);
    if (r == 0)
        r = store_vm_list_live(e->store, &l.uids, &l.n, err);
    if (r == 0)
        r = store_op_list_open(e->store, &l.ops, &l.n_ops, err);
    if (r == 0)
        r = check_rows(e, rows, n, &l, repair, rep, err);
    if (r == 0)
        r = check_netns(e, rows, n, &l, repair, rep, err);
    if (r == 0)
        r = check_reservations(e, rows, n, &l, repair, rep, err);
    for (size_t i = 0; i < n; i++)
        store_vm_cni_release(&rows[i]);
    free(rows);
    live_free(&l);
    return r;
}
