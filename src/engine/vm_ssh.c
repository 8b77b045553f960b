/*
 * engine vm ssh: one command in a running VM over SSH (hearth exec).
 *
 * What to connect to comes from the database: a bridged VM's lease, or in
 * user mode 127.0.0.1 and the host port its start forwarded to the guest's
 * port 22 (vm_ssh.host_port); the host key the server must show is the one
 * create planted (vm_ssh.host_key_fingerprint); the key is the pair --ssh
 * generated in <root>/vm/<uid>/ unless another is given. net's client does
 * the rest (src/net/ssh_client.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define EXEC_DEFAULT_TIMEOUT_S 30 /* Ignite's SSH_DEFAULT_TIMEOUT_SECONDS */

/* Where VM vm (uid) answers SSH: host and port. */
static int ssh_address(engine *e, const struct api_object *vm, const char *uid,
                       const struct store_vm_ssh *ssh, char host[NET_IP_MAX], unsigned *port,
                       struct error *err) {
    enum vm_net_mode mode;
    int r = vm_net_mode_of(vm, &mode, err);
    if (r < 0)
        return r;
    if (mode == VM_NET_NONE)
        return error_set(err, -ENETUNREACH,
                         "vm '%s' has no network (--net none), so ssh cannot reach it; create it "
                         "with --net bridge or --net user",
                         vm->meta.name);
    if (mode == VM_NET_USER) {
        if (!ssh->host_port)
            return error_set(err, -ENOENT,
                             "vm '%s' has no host port forwarded to its ssh port; restart it "
                             "('hearth stop %s', 'hearth start %s')",
                             vm->meta.name, vm->meta.name, vm->meta.name);
        snprintf(host, NET_IP_MAX, "127.0.0.1");
        *port = ssh->host_port;
        return 0;
    }
    struct store_lease lease;
    r = store_lease_get(e->store, uid, &lease, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT, "vm '%s' has no address yet; restart it", vm->meta.name);
    if (r < 0)
        return r;
    snprintf(host, NET_IP_MAX, "%s", lease.ip);
    *port = 22;
    return 0;
}

int engine_vm_exec(engine *e, const char *ref, const char *const *argv, size_t argc,
                   const struct engine_vm_exec_opts *opts, int *ret_status, struct error *err) {
    char uid[ID_LEN + 1];
    _cleanup_object_ struct api_object *vm = NULL;
    int r = engine_resolve_get(e, API_KIND_VM, ref, uid, &vm, err);
    if (r < 0)
        return r;
    const char *name = vm->meta.name;
    if (!vm->u.vm.has_ssh)
        return error_set(err, -ENOTSUP,
                         "vm '%s' was created without ssh; create one with 'hearth run --ssh' (or "
                         "spec.ssh in its document) to use exec",
                         name);
    struct engine_vm_runtime rt;
    r = engine_vm_runtime_get(e, uid, &rt, err);
    if (r < 0)
        return r;
    if (!rt.running)
        return error_set(err, -EINVAL, "vm '%s' is not running; start it with 'hearth start %s'",
                         name, name);
    struct store_vm_ssh ssh;
    r = store_vm_ssh_get(e->store, uid, &ssh, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT,
                         "vm '%s' has no host key that hearth planted (its disk was built by an "
                         "older hearth); create the vm again to use exec",
                         name);
    if (r < 0)
        return r;
    char host[NET_IP_MAX];
    unsigned port = 0;
    r = ssh_address(e, vm, uid, &ssh, host, &port, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *own_key = xasprintf("%s/vm/%s/id_ed25519", e->root, uid);
    if (!own_key)
        return error_oom(err);
    const char *identity = opts->identity ? opts->identity : own_key;
    struct stat st;
    if (stat(identity, &st) < 0)
        return opts->identity
                   ? error_set(err, -errno, "identity '%s': %s", identity, strerror(errno))
                   : error_set(err, -ENOENT,
                               "vm '%s' has no key pair that hearth generated (it was created "
                               "with --ssh=PUBKEY); give the matching private key with -i KEY",
                               name);
    _cleanup_free_ char *command = net_ssh_command_join(argv, argc);
    _cleanup_free_ char *what = xasprintf("vm '%s'", name);
    if (!command || !what)
        return error_oom(err);
    struct net_ssh_target t = {.what = what,
                               .host = host,
                               .port = port,
                               .user = "root",
                               .identity = identity,
                               .fingerprint = ssh.host_key_fingerprint,
                               .timeout_s =
                                   opts->timeout_s > 0 ? opts->timeout_s : EXEC_DEFAULT_TIMEOUT_S};
    struct net_ssh_io io = {.in_fd = opts->in_fd,
                            .out_fd = opts->out_fd,
                            .err_fd = opts->err_fd,
                            .tty = opts->tty,
                            .term = opts->term};
    r = net_ssh_exec(&t, command, &io, ret_status, err);
    if (r < 0)
        *ret_status = 255;
    return r;
}
