/*
 * engine vm cp: `hearth cp` between the host and a running VM over SFTP
 * (net's client: src/net/sftp.c, the copy's rules: src/net/sftp_copy.c),
 * on a connection made as exec makes one (vm_ssh.c). The steps are told
 * apart for the exit status: what fails before connecting, and the file
 * errors after, are the caller's 1; a connection that fails or breaks is
 * scp's 255.
 */
#include <errno.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

/* The copy's callbacks to the caller's: progress, and notices (skipped files) as the ssh ones. */
static void on_progress(void *ud, const char *path, uint64_t done, uint64_t total) {
    const struct engine_vm_cp_opts *o = ud;
    if (o->progress)
        o->progress(o->progress_ud, path, done, total);
}

static void on_notice(void *ud, const char *msg) {
    const struct engine_vm_cp_opts *o = ud;
    if (o->ssh.notice)
        o->ssh.notice(o->ssh.ud, msg);
}

int engine_vm_cp(engine *e, const char *ref, const struct engine_vm_cp_opts *o, int *ret_status,
                 struct error *err) {
    struct net_cp c = {.to_server = o->to_vm,
                       .host_path = o->host_path,
                       .server_path = o->vm_path,
                       .recursive = o->recursive,
                       .progress = on_progress,
                       .notice = on_notice,
                       .ud = (void *)o};
    /* A missing host source is said at once, before a connection is even tried. */
    int r = net_cp_check(&c, err);
    struct vm_ssh *v = NULL;
    if (r == 0)
        r = vm_ssh_prepare(e, ref, &o->ssh, &v, err);
    if (r < 0)
        return r;
    net_sftp *s = NULL;
    bool broken = (r = vm_ssh_connect(v, err)) < 0;
    if (r == 0 && (r = net_sftp_open(v->conn, &s, err)) < 0)
        broken = r != -ENOTSUP; /* no sftp server in the guest is said as such, with 1 */
    if (r == 0) {
        net_sftp_set_cancel(s, o->ssh.cancel);
        r = net_sftp_copy(s, &c, err);
        broken = r < 0 && r != -ECANCELED && net_sftp_broken(s);
    }
    if (broken)
        *ret_status = 255;
    net_sftp_close(s);
    vm_ssh_close(v);
    return r;
}
