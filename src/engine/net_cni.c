/*
 * engine net cni: a VM in networkMode cni (docs/architecture.md, "CNI").
 *
 * The VM gets a network namespace of its own (<root>/run/cni/netns/<uid>),
 * the plugins of the first configuration list of --cni-conf-dir put their
 * eth0 in it (ADD, as the CNI spec runs a list, the VM's uid as container
 * id), a tap there (tap0) is joined to eth0 by tc redirects, and the VMM,
 * started by the monitor inside the namespace, opens the tap. The guest has
 * eth0's MAC, and learns the result's address from the monitor's DHCP
 * server on the tap, or from ip= on its command line.
 *
 * - Before the intent: the list read (a default one written when the
 *   directory has none, said once), the plugins' directories, the port maps
 *   checked against the ports the host listens on.
 * - In the intent's transaction: the vm_cni row with the list as read, so
 *   that whatever the act leaves can be undone with what DEL needs.
 * - The act, one journal step and fault point each: the namespace
 *   ("cni-netns"), ADD ("cni-add", its result recorded), the tap and the
 *   redirects ("cni-tap"); the monitor's DHCP server has its own fault point.
 * - The end (the monitor's, a halt's, a rolled-back start's, recovery's, and
 *   rm's and doctor's for a row left behind): DEL with the recorded list and
 *   result, the namespace removed, the row and status.ipAddresses gone. A
 *   DEL that fails keeps the row, for doctor to try again.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define CNI_CONF_DIR_DEFAULT "/etc/cni/net.d"
#define CNI_PATH_DEFAULT "/opt/cni/bin:/usr/lib/cni" /* upstream's, then Debian's */
#define CNI_DHCP_LEASE_S 86400

char *vm_cni_netns_path(engine *e, const char *uid) {
    return xasprintf("%s/run/cni/netns/%s", e->root, uid);
}

/* The list of dir, or the default one written there when it has none (said in notice). */
static int conf_load(engine *e, const char *dir, struct net_cni_conf *ret, char *notice,
                     size_t notice_size, struct error *err) {
    int r = net_cni_conf_find(dir, ret, err);
    if (r != -ENOENT)
        return r;
    error_init(err);
    struct net_subnet s;
    r = net_subnet_pick(&s, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *data = xasprintf("%s/cni/networks", e->root);
    _cleanup_free_ char *file = NULL;
    if (!data)
        return error_oom(err);
    r = net_cni_conf_default(dir, &s, data, &file, err);
    if (r < 0)
        return error_prefix(err, "no CNI configuration in '%s', and writing one failed", dir);
    char sub[NET_SUBNET_MAX];
    net_subnet_format(&s, sub);
    snprintf(notice, notice_size,
             "no CNI configuration in '%s': wrote %s (bridge hearth-cni0 on %s, host-local, "
             "portmap, firewall)",
             dir, file, sub);
    return net_cni_conf_find(dir, ret, err);
}

int vm_cni_plan(engine *e, const struct api_object *vm, const struct engine_vm_start_opts *opts,
                struct vm_net *n, char *notice, size_t notice_size, struct error *err) {
    const char *dir = opts->cni_conf_dir ? opts->cni_conf_dir : CNI_CONF_DIR_DEFAULT;
    int r = conf_load(e, dir, &n->cni_conf, notice, notice_size, err);
    if (r < 0)
        return error_prefix(err, "vm '%s'", vm->meta.name);
    n->cni_path = xstrdup(opts->cni_bin_dir ? opts->cni_bin_dir : CNI_PATH_DEFAULT);
    n->netns = vm_cni_netns_path(e, vm->meta.uid);
    if (!n->cni_path || !n->netns)
        return error_oom(err);
    /* What an earlier run left (a DEL that failed) goes first: ADD again would clash with it. */
    struct store_vm_cni old;
    r = store_vm_cni_get(e->store, vm->meta.uid, &old, err);
    if (r == -ENOENT) {
        error_init(err);
        return 0;
    }
    if (r < 0)
        return r;
    store_vm_cni_release(&old);
    r = vm_cni_down(e, vm->meta.uid, false, err);
    return r < 0 ? error_prefix(err, "vm '%s': undoing its last cni attachment", vm->meta.name) : 0;
}

int vm_cni_record(engine *e, const struct vm_net *n, const char *uid, struct error *err) {
    struct store_vm_cni c = {.conf_file = n->cni_conf.file,
                             .conf_json = n->cni_conf.json,
                             .network = n->cni_conf.name,
                             .cni_path = n->cni_path,
                             .netns = n->netns};
    snprintf(c.uid, sizeof(c.uid), "%s", uid);
    return store_vm_cni_add(e->store, &c, err);
}

static void cni_args_of(const struct vm_net *n, const char *uid, struct net_cni_args *a) {
    *a = (struct net_cni_args){.path = n->cni_path,
                               .container_id = uid,
                               .netns = n->netns,
                               .ifname = VM_CNI_IFNAME,
                               .maps = n->maps,
                               .n_maps = n->n_maps};
}

/* In the namespace: tap0, joined to eth0 by redirects; the guest's MAC is eth0's. */
static int cni_tap(struct vm_net *n, struct error *err) {
    int back = -1;
    int r = net_netns_enter(n->netns, &back, err);
    if (r < 0)
        return r;
    r = net_tap_create(VM_CNI_TAP, NULL, 0, err);
    if (r == 0 && !n->cni_result.mac[0])
        r = net_link_mac(VM_CNI_IFNAME, n->cni_result.mac, err);
    if (r == 0)
        r = net_tc_redirect(VM_CNI_IFNAME, VM_CNI_TAP, err);
    net_netns_leave(back);
    if (r == 0)
        snprintf(n->mac, sizeof(n->mac), "%s", n->cni_result.mac);
    return r;
}

int vm_cni_up(engine *e, struct vm_net *n, const char *uid, int64_t op, struct error *err) {
    _cleanup_free_ char *dir = xasprintf("%s/run/cni/netns", e->root);
    _cleanup_free_ char *parent = xasprintf("%s/run/cni", e->root);
    if (!dir || !parent)
        return error_oom(err);
    int r = engine_dir_make(parent, err);
    if (r == 0)
        r = engine_dir_make(dir, err);
    if (r == 0)
        r = net_netns_create(n->netns, err);
    if (r == 0)
        r = store_op_step(e->store, op, "cni-netns", err);
    if (r < 0)
        return r;
    fault_point("cni.after-netns");

    struct net_cni_args a;
    cni_args_of(n, uid, &a);
    _cleanup_free_ char *result = NULL;
    r = net_cni_add(&n->cni_conf, &a, &result, err);
    if (r < 0) {
        /* The runner undid what the plugins before the failed one made: so go the rest. */
        struct error e2;
        error_init(&e2);
        if (net_netns_delete(n->netns, &e2) < 0 || store_vm_cni_remove(e->store, uid, &e2) < 0)
            log_warn("vm %s: %s", uid, e2.msg);
        return r;
    }
    if (r == 0)
        r = store_vm_cni_result_set(e->store, uid, result, err);
    if (r == 0)
        r = net_cni_result_parse(result, &n->cni_result, err);
    if (r == 0) {
        n->ip = n->cni_result.ip;
        n->subnet.prefix = n->cni_result.prefix;
        n->subnet.addr = n->ip & net_subnet_mask(&n->subnet);
        char ip[NET_IP_MAX];
        net_ip_format(n->ip, ip);
        r = store_vm_ips_set(e->store, uid, ip, err);
    }
    if (r == 0)
        r = store_op_step(e->store, op, "cni-add", err);
    if (r < 0)
        return r;
    fault_point("cni.after-add");

    r = cni_tap(n, err);
    if (r == 0)
        r = store_op_step(e->store, op, "cni-tap", err);
    if (r < 0)
        return r;
    fault_point("cni.after-tap");
    return 0;
}

int vm_cni_launch(const struct vm_net *n, const char *name, struct vm_launch *l,
                  struct error *err) {
    l->net = VMM_NET_TAP;
    snprintf(l->tap, sizeof(l->tap), "%s", VM_CNI_TAP);
    snprintf(l->mac, sizeof(l->mac), "%s", n->mac);
    if (!(l->netns = xstrdup(n->netns)))
        return error_oom(err);
    struct net_dhcpd_lease *d = &l->lease;
    memset(d, 0, sizeof(*d));
    snprintf(d->mac, sizeof(d->mac), "%s", n->mac);
    d->ip = n->cni_result.ip;
    d->prefix = n->cni_result.prefix;
    d->gateway = n->cni_result.gateway;
    memcpy(d->dns, n->cni_result.dns, sizeof(d->dns));
    snprintf(d->hostname, sizeof(d->hostname), "%s", name);
    snprintf(d->domain, sizeof(d->domain), "%s", n->cni_result.domain);
    d->lease_s = CNI_DHCP_LEASE_S;
    l->dhcp = true;
    return 0;
}

int vm_cni_down(engine *e, const char *uid, bool force, struct error *err) {
    struct store_vm_cni c;
    int r = store_vm_cni_get(e->store, uid, &c, err);
    if (r == -ENOENT) {
        error_init(err);
        return 0;
    }
    if (r < 0)
        return r;
    struct net_cni_conf conf = {0};
    r = net_cni_conf_parse(c.conf_file, c.conf_json, &conf, err);
    /* The maps of the spec as it is now: portmap finds its rules by container id anyway. */
    struct vm_net n = {.cni_path = c.cni_path, .netns = c.netns};
    _cleanup_object_ struct api_object *vm = NULL;
    struct error e2;
    error_init(&e2);
    if (store_object_get(e->store, API_KIND_VM, uid, &vm, &e2) == 0 &&
        vm_net_maps(vm, 0, &n.maps, &n.n_maps, &e2) < 0)
        log_debug("vm %s: its port maps for DEL: %s", uid, e2.msg);
    struct net_cni_args a;
    cni_args_of(&n, uid, &a);
    if (r == 0)
        r = net_cni_del(&conf, &a, c.result, err);
    free(n.maps);
    net_cni_conf_release(&conf);
    if (r < 0)
        error_prefix(err, "vm %s: releasing its cni attachment (network '%s', %s)", uid, c.network,
                     c.conf_file);
    /* After DEL: the bridge plugin finds its masquerade chain through eth0 in the namespace. */
    struct error e3;
    error_init(&e3);
    int k = r == 0 || force ? net_netns_delete(c.netns, &e3) : 0;
    if (k == 0 && (r == 0 || force))
        k = store_vm_cni_remove(e->store, uid, &e3);
    if (k == 0 && (r == 0 || force) && vm)
        k = store_vm_ips_set(e->store, uid, NULL, &e3);
    if (k < 0 && r == 0) {
        *err = e3;
        r = k;
    }
    store_vm_cni_release(&c);
    return r;
}
