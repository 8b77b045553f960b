/*
 * engine vm launch: where a VM's files are and what its monitor runs.
 * <root>/vm/<uid>/ holds what outlives a run (console.log, monitor.log);
 * <root>/run/vm/<uid>/ what lives as long as the monitor (launch.json, the
 * sockets), and launch.json records what the starter decided: the VMM, its
 * binary, the files to boot, the monitor's executable. Written by start
 * (vm_run.c), read by the monitor (monitor.c) and by the check whether a
 * process is the VM's (vm_proc.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

char *vm_run_dir(engine *e, const char *uid) {
    return xasprintf("%s/run/vm/%s", e->root, uid);
}

char *vm_data_dir(engine *e, const char *uid) {
    return xasprintf("%s/vm/%s", e->root, uid);
}

void vm_launch_release(struct vm_launch *l) {
    free(l->binary);
    free(l->kernel);
    free(l->initrd);
    free(l->cmdline);
    free(l->disk);
    free(l->monitor);
    free(l->passt);
    for (size_t i = 0; i < l->n_forwards; i++)
        free((char *)l->forwards[i].bind_address);
    free(l->forwards);
    free(l->netns);
    memset(l, 0, sizeof(*l));
}

/* "dhcp": {"ip", "prefix", "gateway", "dns": [...], "hostname", "domain", "lease"}. */
static int launch_dhcp_write(json_t *n, const struct net_dhcpd_lease *d) {
    char ip[NET_IP_MAX], gw[NET_IP_MAX];
    net_ip_format(d->ip, ip);
    net_ip_format(d->gateway, gw);
    json_t *dns = json_array();
    for (size_t i = 0; dns && i < ARRAY_SIZE(d->dns) && d->dns[i]; i++) {
        char a[NET_IP_MAX];
        net_ip_format(d->dns[i], a);
        if (json_array_append_new(dns, json_string(a)) < 0)
            return -ENOMEM;
    }
    json_t *o =
        dns ? json_pack("{s:s, s:i, s:s, s:o, s:s, s:s, s:I}", "ip", ip, "prefix", (int)d->prefix,
                        "gateway", d->gateway ? gw : "", "dns", dns, "hostname", d->hostname,
                        "domain", d->domain, "lease", (json_int_t)d->lease_s)
            : NULL;
    return o && json_object_set_new(n, "dhcp", o) == 0 ? 0 : -ENOMEM;
}

static int launch_dhcp_read(json_t *o, struct net_dhcpd_lease *d, const char *path,
                            struct error *err) {
    const char *ip = json_string_value(json_object_get(o, "ip"));
    const char *gw = json_string_value(json_object_get(o, "gateway"));
    const char *host = json_string_value(json_object_get(o, "hostname"));
    const char *domain = json_string_value(json_object_get(o, "domain"));
    json_int_t prefix = json_integer_value(json_object_get(o, "prefix"));
    json_t *dns = json_object_get(o, "dns");
    if (!ip || net_ip_parse(ip, &d->ip, NULL) < 0 || prefix < 1 || prefix > 32 ||
        (gw && gw[0] && net_ip_parse(gw, &d->gateway, NULL) < 0) ||
        json_array_size(dns) > ARRAY_SIZE(d->dns))
        return error_set(err, -EINVAL, "'%s': its dhcp is not one hearth writes", path);
    d->prefix = (uint8_t)prefix;
    for (size_t i = 0; i < json_array_size(dns); i++) {
        const char *a = json_string_value(json_array_get(dns, i));
        if (!a || net_ip_parse(a, &d->dns[i], NULL) < 0)
            return error_set(err, -EINVAL, "'%s': its dhcp is not one hearth writes", path);
    }
    snprintf(d->hostname, sizeof(d->hostname), "%s", host ? host : "");
    snprintf(d->domain, sizeof(d->domain), "%s", domain ? domain : "");
    d->lease_s = (uint32_t)json_integer_value(json_object_get(o, "lease"));
    snprintf(d->mac, sizeof(d->mac), "%s", "");
    return 0;
}

/*
 * launch.json's "net": {"mode", "tap", "mac", "passt", "forwards": [[udp,
 * bind, host, vm]], "netns", "dhcp"}.
 */
static int launch_net_write(json_t *j, const struct vm_launch *l) {
    if (l->net == VMM_NET_NONE)
        return 0;
    json_t *n = json_pack("{s:s, s:s}", "mode", vmm_net_name(l->net), "mac", l->mac);
    json_t *fw = json_array();
    if (!n || !fw || json_object_set_new(j, "net", n) < 0) {
        json_decref(fw);
        return -ENOMEM;
    }
    if (json_object_set_new(n, "forwards", fw) < 0 ||
        (l->tap[0] && json_object_set_new(n, "tap", json_string(l->tap)) < 0) ||
        (l->passt && json_object_set_new(n, "passt", json_string(l->passt)) < 0))
        return -ENOMEM;
    for (size_t i = 0; i < l->n_forwards; i++) {
        const struct vmm_forward *f = &l->forwards[i];
        json_t *e =
            json_pack("[b, s?, i, i]", f->udp, f->bind_address, (int)f->host_port, (int)f->vm_port);
        if (!e || json_array_append_new(fw, e) < 0)
            return -ENOMEM;
    }
    if (l->netns && json_object_set_new(n, "netns", json_string(l->netns)) < 0)
        return -ENOMEM;
    return l->dhcp ? launch_dhcp_write(n, &l->lease) : 0;
}

static int launch_net_read(json_t *j, struct vm_launch *l, const char *path, struct error *err) {
    json_t *n = json_object_get(j, "net");
    if (!n)
        return 0;
    const char *mode = json_string_value(json_object_get(n, "mode"));
    const char *mac = json_string_value(json_object_get(n, "mac"));
    const char *tap = json_string_value(json_object_get(n, "tap"));
    const char *passt = json_string_value(json_object_get(n, "passt"));
    json_t *fw = json_object_get(n, "forwards");
    enum vmm_net net = VMM_NET_NONE;
    for (int i = VMM_NET_TAP; i <= VMM_NET_SLIRP; i++)
        if (mode && strcmp(mode, vmm_net_name((enum vmm_net)i)) == 0)
            net = (enum vmm_net)i;
    if (net == VMM_NET_NONE || !mac || strlen(mac) >= sizeof(l->mac) ||
        (net == VMM_NET_TAP && (!tap || strlen(tap) >= sizeof(l->tap))) ||
        (net == VMM_NET_PASST && !passt) || json_array_size(fw) > VMM_FORWARDS_MAX)
        return error_set(err, -EINVAL, "'%s': its net is not one hearth writes", path);
    l->net = net;
    snprintf(l->mac, sizeof(l->mac), "%s", mac);
    snprintf(l->tap, sizeof(l->tap), "%s", tap ? tap : "");
    l->passt = xstrdup(passt);
    l->forwards = calloc(json_array_size(fw) + 1, sizeof(*l->forwards));
    if (!l->forwards || (passt && !l->passt))
        return error_oom(err);
    for (size_t i = 0; i < json_array_size(fw); i++) {
        json_t *e = json_array_get(fw, i);
        struct vmm_forward *f = &l->forwards[l->n_forwards++];
        const char *bind = json_string_value(json_array_get(e, 1));
        f->udp = json_is_true(json_array_get(e, 0));
        f->bind_address = bind ? xstrdup(bind) : NULL;
        f->host_port = (uint16_t)json_integer_value(json_array_get(e, 2));
        f->vm_port = (uint16_t)json_integer_value(json_array_get(e, 3));
        if (bind && !f->bind_address)
            return error_oom(err);
    }
    const char *netns = json_string_value(json_object_get(n, "netns"));
    if (netns && !(l->netns = xstrdup(netns)))
        return error_oom(err);
    json_t *dhcp = json_object_get(n, "dhcp");
    if (dhcp) {
        int r = launch_dhcp_read(dhcp, &l->lease, path, err);
        if (r < 0)
            return r;
        snprintf(l->lease.mac, sizeof(l->lease.mac), "%s", l->mac);
        l->dhcp = true;
    }
    return 0;
}

int vm_launch_write(const char *path, const struct vm_launch *l, struct error *err) {
    json_t *j =
        json_pack("{s:s, s:b, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "vmm", vmm_kind_name(l->kind),
                  "kvm", l->kvm, "binary", l->binary, "kernel", l->kernel, "cmdline", l->cmdline,
                  "disk", l->disk, "cpus", (json_int_t)l->cpus, "memory", (json_int_t)l->memory,
                  "device", (json_int_t)l->device_id);
    if (j && ((l->initrd && json_object_set_new(j, "initrd", json_string(l->initrd)) < 0) ||
              (l->monitor && json_object_set_new(j, "monitor", json_string(l->monitor)) < 0) ||
              launch_net_write(j, l) < 0)) {
        json_decref(j);
        j = NULL;
    }
    if (!j)
        return error_oom(err);
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    if (!text || !tmp)
        return error_oom(err);
    /* 0600 whatever the umask, as everything under the root. */
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int e2 = w == (ssize_t)len ? 0 : (w < 0 ? errno : EIO);
    if (close(fd) < 0 && e2 == 0)
        e2 = errno;
    if (e2 == 0 && rename(tmp, path) < 0)
        e2 = errno;
    if (e2 != 0) {
        (void)unlink(tmp);
        return error_set(err, -e2, "cannot write '%s': %s", path, strerror(e2));
    }
    return 0;
}

int vm_launch_read(const char *path, struct vm_launch *ret, struct error *err) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return error_set(err, -EINVAL, "cannot read '%s': %s", path, je.text);
    struct vm_launch l = {0};
    const char *vmm = json_string_value(json_object_get(j, "vmm"));
    int r = 0;
    if (!vmm || vmm_kind_parse(vmm, &l.kind) < 0)
        r = error_set(err, -EINVAL, "'%s' names no vmm", path);
    l.kvm = json_is_true(json_object_get(j, "kvm"));
    l.binary = xstrdup(json_string_value(json_object_get(j, "binary")));
    l.kernel = xstrdup(json_string_value(json_object_get(j, "kernel")));
    l.initrd = xstrdup(json_string_value(json_object_get(j, "initrd")));
    l.cmdline = xstrdup(json_string_value(json_object_get(j, "cmdline")));
    l.disk = xstrdup(json_string_value(json_object_get(j, "disk")));
    l.monitor = xstrdup(json_string_value(json_object_get(j, "monitor")));
    l.cpus = (uint64_t)json_integer_value(json_object_get(j, "cpus"));
    l.memory = (uint64_t)json_integer_value(json_object_get(j, "memory"));
    l.device_id = json_integer_value(json_object_get(j, "device"));
    if (r == 0)
        r = launch_net_read(j, &l, path, err);
    json_decref(j);
    if (r == 0 && (!l.binary || !l.kernel || !l.cmdline || !l.disk))
        r = error_set(err, -EINVAL, "'%s' lacks the binary, kernel, command line or disk", path);
    if (r < 0) {
        vm_launch_release(&l);
        return r;
    }
    *ret = l;
    return 0;
}
