/*
 * engine vm ssh: connections to a running VM over SSH (hearth exec, ssh,
 * cp, and the wait of run --ssh / start --ssh-wait).
 *
 * What to connect to comes from the database: a bridged VM's lease, or in
 * user mode 127.0.0.1 and the host port its start forwarded to the guest's
 * port 22 (vm_ssh.host_port); the host key the server must show is the one
 * create planted (vm_ssh.host_key_fingerprint); the key is the pair --ssh
 * generated in <root>/vm/<uid>/ unless another is given. net's client does
 * the rest (src/net/ssh_client.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define SSH_DEFAULT_TIMEOUT_S 30 /* Ignite's SSH_DEFAULT_TIMEOUT_SECONDS */

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

/* Between two tries: the VM must still run; the caller hears how long it has been. */
static bool ssh_retry(void *ud, int64_t elapsed_ms, const char *last, struct error *err) {
    struct vm_ssh *v = ud;
    if (v->opts->cancel && *v->opts->cancel) {
        error_set(err, -ECANCELED, "cancelled while waiting for the ssh server of vm '%s'",
                  v->name);
        return false;
    }
    struct engine_vm_runtime rt;
    struct error e2;
    error_init(&e2);
    if (engine_vm_runtime_get(v->e, v->uid, &rt, &e2) == 0 && !rt.running) {
        error_set(err, -ECHILD,
                  "vm '%s' stopped (%s) while hearth waited for its ssh server; see 'hearth "
                  "logs %s'",
                  v->name, rt.exit_reason[0] ? rt.exit_reason : "no reason recorded", v->name);
        return false;
    }
    if (v->opts->waiting) {
        char address[NET_IP_MAX + 8];
        snprintf(address, sizeof(address), "%s:%u", v->host, v->t.port);
        v->opts->waiting(v->opts->ud, v->name, address, elapsed_ms, last);
    }
    return true;
}

/* The VM ref resolved and checked: what a connection needs, before it is made. */
static int ssh_prepare(struct vm_ssh *v, const char *ref, struct error *err) {
    engine *e = v->e;
    _cleanup_object_ struct api_object *vm = NULL;
    int r = engine_resolve_get(e, API_KIND_VM, ref, v->uid, &vm, err);
    if (r < 0)
        return r;
    const char *name = vm->meta.name;
    snprintf(v->name, sizeof(v->name), "%s", name);
    if (!vm->u.vm.has_ssh)
        return error_set(err, -ENOTSUP,
                         "vm '%s' was created without ssh; create one with 'hearth run --ssh' (or "
                         "spec.ssh in its document) to reach it over ssh",
                         name);
    struct engine_vm_runtime rt;
    r = engine_vm_runtime_get(e, v->uid, &rt, err);
    if (r < 0)
        return r;
    if (!rt.running)
        return error_set(err, -EINVAL, "vm '%s' is not running; start it with 'hearth start %s'",
                         name, name);
    r = store_vm_ssh_get(e->store, v->uid, &v->rec, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT,
                         "vm '%s' has no host key that hearth planted (its disk was built by an "
                         "older hearth); create the vm again to reach it over ssh",
                         name);
    if (r < 0)
        return r;
    unsigned port = 0;
    r = ssh_address(e, vm, v->uid, &v->rec, v->host, &port, err);
    if (r < 0)
        return r;

    const char *given = v->opts->identity;
    v->identity = given ? strdup(given) : xasprintf("%s/vm/%s/id_ed25519", e->root, v->uid);
    v->what = xasprintf("vm '%s'", name);
    if (!v->identity || !v->what)
        return error_oom(err);
    struct stat st;
    if (stat(v->identity, &st) < 0)
        return given ? error_set(err, -errno, "identity '%s': %s", given, strerror(errno))
                     : error_set(err, -ENOENT,
                                 "vm '%s' has no key pair that hearth generated (it was created "
                                 "with --ssh=PUBKEY); give the matching private key with -i KEY",
                                 name);
    int timeout = v->opts->timeout_s > 0 ? v->opts->timeout_s : SSH_DEFAULT_TIMEOUT_S;
    v->t = (struct net_ssh_target){.what = v->what,
                                   .host = v->host,
                                   .port = port,
                                   .user = "root",
                                   .identity = v->identity,
                                   .fingerprint = v->rec.host_key_fingerprint,
                                   .accept_new_key = v->opts->accept_new_host_key,
                                   .timeout_s = timeout,
                                   .timeout_flag = v->opts->timeout_flag,
                                   .retry = ssh_retry,
                                   .retry_ud = v};
    return 0;
}

/* --accept-new-host-key: the key the guest showed becomes the one every later connection checks. */
static int ssh_record_new_key(struct vm_ssh *v, struct error *err) {
    const char *now = net_ssh_host_key(v->conn);
    if (strcmp(now, v->rec.host_key_fingerprint) == 0)
        return 0;
    int r = store_vm_ssh_key_set(v->e->store, v->uid, now, err);
    if (r < 0)
        return r;
    if (v->opts->notice) {
        char msg[256];
        snprintf(msg, sizeof(msg), "vm '%s': host key %s recorded (it was %s)", v->name, now,
                 v->rec.host_key_fingerprint);
        v->opts->notice(v->opts->ud, msg);
    }
    snprintf(v->rec.host_key_fingerprint, sizeof(v->rec.host_key_fingerprint), "%s", now);
    return 0;
}

/* The connection, once ssh_prepare is done. */
static int ssh_connect(struct vm_ssh *v, struct error *err) {
    int r = net_ssh_open(&v->t, &v->conn, err);
    if (r == 0 && v->opts->accept_new_host_key)
        r = ssh_record_new_key(v, err);
    return r;
}

static struct vm_ssh *vm_ssh_alloc(engine *e, const struct engine_vm_ssh_opts *opts) {
    struct vm_ssh *v = calloc(1, sizeof(*v));
    if (v) {
        v->e = e;
        v->opts = opts;
    }
    return v;
}

int vm_ssh_open(engine *e, const char *ref, const struct engine_vm_ssh_opts *opts,
                struct vm_ssh **ret, struct error *err) {
    struct vm_ssh *v = vm_ssh_alloc(e, opts);
    if (!v)
        return error_oom(err);
    int r = ssh_prepare(v, ref, err);
    if (r == 0)
        r = ssh_connect(v, err);
    if (r < 0) {
        vm_ssh_close(v);
        return r;
    }
    *ret = v;
    return 0;
}

int vm_ssh_prepare(engine *e, const char *ref, const struct engine_vm_ssh_opts *opts,
                   struct vm_ssh **ret, struct error *err) {
    struct vm_ssh *v = vm_ssh_alloc(e, opts);
    if (!v)
        return error_oom(err);
    int r = ssh_prepare(v, ref, err);
    if (r < 0) {
        vm_ssh_close(v);
        return r;
    }
    *ret = v;
    return 0;
}

int vm_ssh_connect(struct vm_ssh *v, struct error *err) {
    return ssh_connect(v, err);
}

void vm_ssh_close(struct vm_ssh *v) {
    if (!v)
        return;
    net_ssh_close(v->conn);
    free(v->what);
    free(v->identity);
    free(v);
}

int engine_vm_exec(engine *e, const char *ref, const char *const *argv, size_t argc,
                   const struct engine_vm_exec_opts *opts, int *ret_status, struct error *err) {
    _cleanup_free_ char *command = argc ? net_ssh_command_join(argv, argc) : NULL;
    if (argc && !command)
        return error_oom(err);
    struct vm_ssh *v = vm_ssh_alloc(e, &opts->ssh);
    if (!v)
        return error_oom(err);
    int r = ssh_prepare(v, ref, err);
    if (r < 0) {
        vm_ssh_close(v);
        return r;
    }
    /* From here on every failure is the connection's: ssh's 255. */
    r = ssh_connect(v, err);
    struct net_ssh_io io = {.in_fd = opts->in_fd,
                            .out_fd = opts->out_fd,
                            .err_fd = opts->err_fd,
                            .tty = opts->tty,
                            .term = opts->term};
    if (r == 0)
        r = net_ssh_run(v->conn, command, &io, ret_status, err);
    if (r < 0)
        *ret_status = 255;
    vm_ssh_close(v);
    return r;
}

int engine_vm_ssh_wait(engine *e, const char *ref, const struct engine_vm_ssh_opts *opts,
                       struct error *err) {
    struct vm_ssh *v = NULL;
    int r = vm_ssh_open(e, ref, opts, &v, err);
    vm_ssh_close(v);
    return r;
}
