/*
 * engine network: the bridged networks as objects of their own, for
 * `hearth network create|ls|rm`. A start records the default network
 * (hearth0 on a free subnet) when there is none (net.c); create records one
 * with a chosen name and subnet first. Removing one takes its machine side
 * down (dnsmasq, the bridge, its directory) before its row, so a crash in
 * between leaves a row whose bridge the next start builds again.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

int engine_network_create(engine *e, const char *name, const char *subnet,
                          struct engine_network *ret, struct error *err) {
    if (!name)
        name = VM_NET_DEFAULT_BRIDGE;
    struct net_subnet s;
    int r = subnet ? net_subnet_parse(subnet, &s, err) : net_subnet_pick(&s, err);
    if (r < 0)
        return r;
    char why[128];
    if (subnet && net_subnet_in_use(&s, name, why, sizeof(why)))
        return error_set(err, -EADDRINUSE, "--subnet %s overlaps %s here; pick another", subnet,
                         why);
    if (net_link_exists(name))
        return error_set(err, -EEXIST,
                         "a link named '%s' exists on this host (another root's network?); name "
                         "the network otherwise",
                         name);
    char text[NET_SUBNET_MAX];
    net_subnet_format(&s, text);
    r = store_network_add(e->store, name, text, err);
    if (r < 0)
        return r;
    if (ret) {
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", name);
        snprintf(ret->subnet, sizeof(ret->subnet), "%s", text);
    }
    return 0;
}

int engine_network_list(engine *e, struct engine_network **ret, size_t *ret_n, struct error *err) {
    _cleanup_free_ struct store_network *nets = NULL;
    size_t n = 0;
    int r = store_network_list(e->store, &nets, &n, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct engine_network *v = calloc(n + 1, sizeof(*v));
    if (!v)
        return error_oom(err);
    for (size_t i = 0; i < n; i++) {
        snprintf(v[i].name, sizeof(v[i].name), "%s", nets[i].name);
        snprintf(v[i].subnet, sizeof(v[i].subnet), "%s", nets[i].subnet);
        v[i].created = nets[i].created;
        _cleanup_free_ struct store_lease *l = NULL;
        r = store_lease_list(e->store, nets[i].name, &l, &v[i].leases, err);
        if (r < 0)
            return r;
        v[i].bridge_up = net_link_exists(nets[i].name);
        _cleanup_free_ char *dir = vm_net_dir(e, nets[i].name);
        v[i].dnsmasq_pid = dir ? net_dnsmasq_pid(dir) : 0;
    }
    *ret = steal_ptr(&v);
    *ret_n = n;
    return 0;
}

int engine_network_remove(engine *e, const char *name, struct error *err) {
    struct store_network nw;
    int r = store_network_get(e->store, name, &nw, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct store_lease *l = NULL;
    size_t n = 0;
    r = store_lease_list(e->store, name, &l, &n, err);
    if (r == 0 && n > 0)
        return error_set(err, -EBUSY,
                         "network '%s' has %zu leases; remove its VMs first (hearth rm)", name, n);
    _cleanup_free_ char *dir = vm_net_dir(e, name);
    if (r == 0 && !dir)
        r = error_oom(err);
    int lock = r == 0 ? vm_net_lock(e, name, err) : -1;
    if (lock < 0 && r == 0)
        r = lock;
    if (r == 0)
        r = net_dnsmasq_stop(dir, err);
    if (r == 0 && geteuid() == 0)
        r = net_bridge_delete(name, err);
    if (r == 0)
        r = fs_tree_remove(dir, err);
    if (r == 0)
        r = store_network_remove(e->store, name, err);
    _cleanup_free_ char *lockpath = xasprintf("%s/run/net/%s.lock", e->root, name);
    if (r == 0 && lockpath)
        (void)unlink(lockpath);
    if (lock >= 0)
        close(lock);
    /* The last network of this root: the nftables table goes too, unless another root's VMs
     * map ports through it. */
    struct store_network other;
    struct error e2;
    error_init(&e2);
    if (r == 0 && geteuid() == 0 && store_network_get(e->store, NULL, &other, &e2) == -ENOENT) {
        _cleanup_free_ struct net_portmap *maps = NULL;
        size_t n_maps = 0;
        if (net_nft_list(&maps, &n_maps, &e2) == 0 && n_maps == 0)
            r = net_nft_delete(err);
    }
    return r;
}
