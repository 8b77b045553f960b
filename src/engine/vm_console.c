/*
 * engine vm_console: a VM's console for the front ends. engine_vm_logs
 * prints the console log the monitor writes (<root>/vm/<uid>/console.log,
 * after its rotated part), optionally its tail and then what follows while
 * the VM runs; engine_vm_attach connects a terminal to the monitor's attach
 * socket and detaches on ^P^Q (docs/architecture.md, "VM runtime"). The end
 * of the connection is taken for the VM's end only when the VM is recorded
 * so: the monitor closes its clients after it recorded the end, and never
 * for being slow (it marks the output a slow client lost instead).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define VM_LOG_READ_MAX (8u << 20) /* bytes of console log read for --tail */
#define VM_FOLLOW_MS 150           /* logs --follow: how often the file is looked at */

/* ---- logs ------------------------------------------------------------------ */

static int write_all(int fd, const char *p, size_t n, struct error *err) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return error_set(err, w < 0 ? -errno : -EIO, "cannot write the output: %s",
                             w < 0 ? strerror(errno) : "short write");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies what fd has from its offset to out_fd. */
static int copy_rest(int fd, int out_fd, struct error *err) {
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, -errno, "cannot read the console log: %s", strerror(errno));
        if (n == 0)
            return 0;
        int r = write_all(out_fd, buf, (size_t)n, err);
        if (r < 0)
            return r;
    }
}

/* Whether the VM may still write to its console (recorded as running, monitor alive). */
static bool logs_vm_runs(engine *e, const char *uid) {
    enum api_vm_state state;
    if (store_vm_state_get(e->store, uid, &state, NULL) < 0 || !vm_state_runs(state))
        return false;
    struct store_vm_runtime rt;
    if (store_vm_runtime_get(e->store, uid, &rt, NULL) < 0)
        return state == API_VM_STARTING;
    return rt.stopped == 0 && vm_proc_is(e, uid, VM_PROC_MONITOR, rt.monitor_pid, rt.monitor_start);
}

int engine_vm_logs(engine *e, const char *ref, bool follow, long tail_lines, int out_fd,
                   volatile sig_atomic_t *cancel, struct error *err) {
    char uid[ID_LEN + 1];
    int r = engine_resolve(e, API_KIND_VM, ref, uid, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *data = vm_data_dir(e, uid);
    _cleanup_free_ char *cur = data ? xasprintf("%s/" VM_CONSOLE_LOG, data) : NULL;
    _cleanup_free_ char *old = data ? xasprintf("%s/" VM_CONSOLE_OLD, data) : NULL;
    if (!cur || !old)
        return error_oom(err);
    _cleanup_close_ int fd = open(cur, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return error_set(err, -errno, "cannot open '%s': %s", cur, strerror(errno));
    if (tail_lines >= 0) {
        /* Both files into memory (each is at most about 1 MiB), then the last lines. */
        _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
        r = strbuf_read_file(&sb, old, VM_LOG_READ_MAX, err);
        if (r == -ENOENT) {
            error_init(err);
            r = 0;
        }
        if (r == 0 && fd >= 0)
            r = strbuf_read_fd(&sb, fd, VM_LOG_READ_MAX);
        if (r < 0)
            return r == -ENOMEM ? error_oom(err) : error_set(err, r, "cannot read the console log");
        size_t start = sb.len;
        long lines = 0;
        /* A last line without its newline counts as a line. */
        if (start > 0 && sb.buf[start - 1] == '\n')
            start--;
        while (start > 0 && lines < tail_lines) {
            if (sb.buf[start - 1] == '\n' && ++lines == tail_lines)
                break;
            start--;
        }
        if (tail_lines == 0)
            start = sb.len;
        r = write_all(out_fd, sb.buf ? sb.buf + start : "", sb.len - start, err);
        if (r < 0)
            return r;
    } else {
        _cleanup_close_ int ofd = open(old, O_RDONLY | O_CLOEXEC);
        if (ofd >= 0 && (r = copy_rest(ofd, out_fd, err)) < 0)
            return r;
        if (fd >= 0 && (r = copy_rest(fd, out_fd, err)) < 0)
            return r;
    }
    while (follow && !(cancel && *cancel)) {
        bool runs = logs_vm_runs(e, uid);
        /* Rotated (or created): the rest of the old file, then the new one from its start. */
        struct stat a, b;
        bool moved =
            stat(cur, &a) == 0 &&
            (fd < 0 || (fstat(fd, &b) == 0 && (a.st_ino != b.st_ino || a.st_dev != b.st_dev)));
        if (fd >= 0 && (r = copy_rest(fd, out_fd, err)) < 0)
            return r;
        if (moved) {
            closep(&fd);
            fd = open(cur, O_RDONLY | O_CLOEXEC);
            if (fd >= 0 && (r = copy_rest(fd, out_fd, err)) < 0)
                return r;
        }
        if (!runs)
            break; /* looked at once more after the end: drained */
        sleep_ms(VM_FOLLOW_MS);
    }
    return 0;
}

/* ---- attach ---------------------------------------------------------------- */

#define CTRL_P 0x10
#define CTRL_Q 0x11

static int send_all(int fd, const char *p, size_t n, struct error *err) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return error_set(err, w < 0 ? -errno : -EIO, "cannot write to the console: %s",
                             w < 0 ? strerror(errno) : "short write");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

struct engine_attach {
    engine *e;
    char uid[ID_LEN + 1];
    char name[API_NAME_MAX + 1];
    int fd; /* the connection to the monitor */
};

void engine_vm_attach_free(engine_attach *a) {
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}

int engine_vm_attach_open(engine *e, const char *ref, engine_attach **ret, struct error *err) {
    char uid[ID_LEN + 1];
    _cleanup_object_ struct api_object *vm = NULL;
    int r = engine_resolve_get(e, API_KIND_VM, ref, uid, &vm, err);
    if (r < 0)
        return r;
    struct engine_vm_runtime rt;
    r = engine_vm_runtime_get(e, uid, &rt, err);
    if (r < 0)
        return r;
    if (!rt.running)
        return error_set(err, -EINVAL, "vm '%s' is not running; start it with 'hearth start -i'",
                         vm->meta.name);
    _cleanup_free_ char *run = vm_run_dir(e, uid);
    if (!run)
        return error_oom(err);
    /* The socket is reached through the directory's descriptor: no sun_path limit. */
    _cleanup_close_ int dfd = open(run, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", run, strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" VM_ATTACH_SOCKET, dfd);
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return error_set(err, -errno, "cannot attach to vm '%s': %s", vm->meta.name,
                         strerror(errno));
    engine_attach *a = xcalloc(1, sizeof(*a));
    if (!a)
        return error_oom(err);
    a->e = e;
    memcpy(a->uid, uid, ID_LEN + 1);
    snprintf(a->name, sizeof(a->name), "%s", vm->meta.name);
    a->fd = s;
    s = -1;
    *ret = a;
    return 0;
}

/*
 * The monitor closed the connection: the VM stopped when it is recorded
 * so (or is gone); a VM that still runs lost its client for another reason.
 */
static int attach_ended(engine_attach *a, struct engine_vm_attach_result *res, struct error *err) {
    struct engine_vm_runtime rt;
    struct error e2;
    error_init(&e2);
    int r = engine_vm_runtime_get(a->e, a->uid, &rt, &e2);
    if (r == -ENOENT) {
        snprintf(res->exit_reason, sizeof(res->exit_reason), "removed");
        return 0;
    }
    if (r < 0) {
        if (err)
            *err = e2;
        return r;
    }
    if (rt.running)
        return error_set(err, -ECONNRESET,
                         "the console connection of vm '%s' closed while the vm runs; attach again",
                         a->name);
    snprintf(res->exit_reason, sizeof(res->exit_reason), "%s", rt.exit_reason);
    return 0;
}

int engine_vm_attach_run(engine_attach *a, int in_fd, int out_fd,
                         struct engine_vm_attach_result *ret, struct error *err) {
    struct engine_vm_attach_result res = {0};
    int s = a->fd, r;
    bool held_p = false, in_open = true;
    char buf[8192], out[8192 * 2 + 1];
    for (;;) {
        struct pollfd pfd[2] = {{s, POLLIN, 0}, {in_open ? in_fd : -1, POLLIN, 0}};
        int pr = poll(pfd, 2, -1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return error_set(err, -errno, "poll: %s", strerror(errno));
        if (pfd[0].revents) {
            ssize_t n = read(s, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) { /* the monitor closed: did the VM stop? */
                r = attach_ended(a, &res, err);
                if (r == 0 && ret)
                    *ret = res;
                return r;
            }
            r = write_all(out_fd, buf, (size_t)n, err);
            if (r < 0)
                return r;
        }
        if (pfd[1].revents) {
            ssize_t n = read(in_fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                in_open = false;
                continue;
            }
            /* ^P^Q detaches; a ^P followed by anything else goes through with it. */
            size_t o = 0;
            for (ssize_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)buf[i];
                if (held_p) {
                    held_p = false;
                    if (c == CTRL_Q) {
                        if (o > 0 && (r = send_all(s, out, o, err)) < 0)
                            return r;
                        res.detached = true;
                        if (ret)
                            *ret = res;
                        return 0;
                    }
                    out[o++] = CTRL_P;
                }
                if (c == CTRL_P)
                    held_p = true;
                else
                    out[o++] = (char)c;
            }
            if (o > 0 && (r = send_all(s, out, o, err)) < 0)
                return r;
        }
    }
}

int engine_vm_attach(engine *e, const char *ref, int in_fd, int out_fd, bool *ret_detached,
                     struct error *err) {
    engine_attach *a = NULL;
    int r = engine_vm_attach_open(e, ref, &a, err);
    if (r < 0)
        return r;
    struct engine_vm_attach_result res;
    r = engine_vm_attach_run(a, in_fd, out_fd, &res, err);
    engine_vm_attach_free(a);
    if (r == 0 && ret_detached)
        *ret_detached = res.detached;
    return r;
}
