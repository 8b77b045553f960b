/*
 * fcfake: a stand-in for Firecracker's API server, for test_vmm. It listens
 * on a Unix socket, serves one HTTP/1.1 request per connection, and judges
 * each request against Firecracker's own OpenAPI spec (loaded at start):
 * the path template and method must exist, the JSON body must match the
 * body parameter's schema ($ref, type, required, enum, minimum/maximum, and
 * no unknown fields, as Firecracker's serde deny_unknown_fields), and the
 * order must be the one Firecracker accepts: logger and metrics before
 * boot-source, InstanceStart only after boot-source, no configuration after
 * InstanceStart. Violations get 400 {"fault_message": ...}; success 204.
 * GET / answers InstanceInfo. SendCtrlAltDel on a running instance ends the
 * process with status 0, as a guest shutdown ends Firecracker.
 *
 * Like Firecracker it has the guest's serial console on stdin/stdout: after
 * InstanceStart it prints a boot banner naming the kernel and the boot args
 * it was given, then echoes what comes on stdin back to stdout (so that a
 * console's input and output can be tested). A line "fcfake-reboot" on the
 * console is its guest running `reboot`: like Firecracker on the guest's
 * CPU reset, it exits with status 0 by itself.
 *
 *   fcfake --api-sock PATH [--spec SPEC.yaml] [--log FILE] [--id ID]
 *          [--refuse PATH-PREFIX]
 *
 * Without --spec the spec's path is taken from $HEARTH_FC_SPEC (a process
 * that runs fcfake as its firecracker passes only --api-sock and --id).
 * --refuse makes every PUT whose path starts with PATH-PREFIX fail with a
 * fault_message, to test how a client reports it. Each request's line and
 * verdict ("PUT /logger 204") go to --log, else stderr.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fcfake.h"

/*
 * Reads one request from fd: -EPROTO on a malformed one, -EFBIG past the
 * limits, -ENODATA when the peer closed without sending anything.
 */
static int fake_read_request(int fd, struct req *rq) {
    char head[FAKE_HEAD_MAX + 1];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len >= FAKE_HEAD_MAX)
            return -EFBIG;
        ssize_t n = read(fd, head + len, FAKE_HEAD_MAX - len);
        if (n == 0 && len == 0)
            return -ENODATA; /* connected and closed: a probe, not a request */
        if (n <= 0)
            return -EPROTO;
        len += (size_t)n;
        head[len] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    *end = '\0';
    char *rest = end + 4;
    size_t rest_len = len - (size_t)(rest - head);
    uint64_t clen = 0;
    bool expect = false;
    int r = fake_parse_head(head, rq, &clen, &expect);
    if (r < 0)
        return r;
    if (expect && clen > rest_len) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (write(fd, cont, sizeof(cont) - 1) < 0)
            return -EPROTO;
    }
    if (rest_len > clen)
        rest_len = (size_t)clen;
    if (strbuf_add(&rq->body, rest, rest_len) < 0)
        return -ENOMEM;
    while (rq->body.len < clen) {
        char buf[4096];
        size_t want = (size_t)clen - rq->body.len;
        ssize_t n = read(fd, buf, want < sizeof(buf) ? want : sizeof(buf));
        if (n <= 0)
            return -EPROTO;
        if (strbuf_add(&rq->body, buf, (size_t)n) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int fake_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -EIO;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static void fake_serve(struct fake *f, int fd) {
    struct req rq = {.body = STRBUF_INIT};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf resp = STRBUF_INIT;
    struct error err;
    error_init(&err);
    int status;
    int r = fake_read_request(fd, &rq);
    if (r == -ENODATA) {
        strbuf_release(&rq.body);
        return;
    }
    if (r < 0) {
        status = 400;
        (void)error_set(&err, r, "malformed request");
        snprintf(rq.method, sizeof(rq.method), "?");
        snprintf(rq.path, sizeof(rq.path), "?");
    } else if (fake_handle(f, &rq, &out, &err) < 0) {
        status = 400;
    } else {
        status = out.len > 0 ? 200 : 204;
    }
    if (status == 400) {
        json_t *e = json_pack("{s:s}", "fault_message", err.msg);
        char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        strbuf_reset(&out);
        if (s && strbuf_adds(&out, s) < 0)
            status = 500;
        free(s);
    }
    fprintf(f->log, "%s %s %d%s%s\n", rq.method, rq.path, status, status == 400 ? " " : "",
            status == 400 ? err.msg : "");
    fflush(f->log);
    const char *reason = status == 200 ? "OK" : status == 204 ? "No Content" : "Bad Request";
    if (status == 204)
        r = strbuf_addf(&resp, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    else
        r = strbuf_addf(&resp,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                        status, reason, out.len, out.buf ? out.buf : "");
    if (r == 0 && fake_write_all(fd, resp.buf, resp.len) < 0)
        fprintf(f->log, "write failed\n");
    strbuf_release(&rq.body);
}

/* The serial console's boot banner, once the instance started. */
static void fake_banner(const struct fake *f) {
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    if (strbuf_addf(&sb,
                    "fcfake: booting '%s'\nfcfake: command line: %s\nfcfake: instance %s is "
                    "running\n",
                    f->kernel ? f->kernel : "", f->boot_args ? f->boot_args : "", f->id) < 0)
        return;
    if (fake_write_all(1, sb.buf, sb.len) < 0)
        fprintf(f->log, "console write failed\n");
}

#define FAKE_REBOOT "fcfake-reboot\n"

/* Echoes what stdin has to stdout; false at its end. A reboot line sets exit_after. */
static bool fake_echo(struct fake *f) {
    char buf[4096];
    ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    if (fake_write_all(1, buf, (size_t)n) < 0)
        fprintf(f->log, "console write failed\n");
    /* The line may come split over reads: the end of the last read goes before this one. */
    char joined[sizeof(f->tail) + sizeof(buf)];
    size_t have = f->tail_len;
    memcpy(joined, f->tail, have);
    memcpy(joined + have, buf, (size_t)n);
    size_t len = have + (size_t)n;
    bool reboot = memmem(joined, len, FAKE_REBOOT, strlen(FAKE_REBOOT)) != NULL;
    size_t keep = len < sizeof(f->tail) ? len : sizeof(f->tail);
    memcpy(f->tail, joined + len - keep, keep);
    f->tail_len = keep;
    if (reboot) {
        fprintf(f->log, "guest reboot\n");
        f->exit_after = true;
    }
    return true;
}

static int fake_listen(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int main(int argc, char **argv) {
    const char *sock = NULL, *spec_path = NULL, *log_path = NULL;
    const char *id = "anonymous-instance", *refuse = NULL;
    struct fake f;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--api-sock") == 0)
            sock = argv[i + 1];
        else if (strcmp(argv[i], "--spec") == 0)
            spec_path = argv[i + 1];
        else if (strcmp(argv[i], "--log") == 0)
            log_path = argv[i + 1];
        else if (strcmp(argv[i], "--id") == 0)
            id = argv[i + 1];
        else if (strcmp(argv[i], "--refuse") == 0)
            refuse = argv[i + 1];
        else
            break;
    }
    if (!spec_path)
        spec_path = getenv("HEARTH_FC_SPEC");
    if (!sock || !spec_path || argc % 2 != 1) {
        fprintf(stderr, "usage: fcfake --api-sock PATH [--spec SPEC.yaml] [--log FILE] [--id ID] "
                        "[--refuse PATH-PREFIX]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct error err;
    error_init(&err);
    if (fake_init(&f, spec_path, &err) < 0) {
        fprintf(stderr, "fcfake: %s\n", err.msg);
        return 1;
    }
    f.id = id;
    f.refuse = refuse;
    f.log = log_path ? fopen(log_path, "ae") : stderr;
    if (!f.log) {
        fprintf(stderr, "fcfake: cannot open '%s': %s\n", log_path, strerror(errno));
        return 1;
    }
    int lfd = fake_listen(sock);
    if (lfd < 0) {
        fprintf(stderr, "fcfake: cannot listen on '%s': %s\n", sock, strerror(-lfd));
        return 1;
    }
    bool console = true; /* stdin still open */
    for (;;) {
        struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {f.started && console ? 0 : -1, POLLIN, 0}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "fcfake: poll: %s\n", strerror(errno));
            return 1;
        }
        if (pfd[1].revents)
            console = fake_echo(&f);
        if (f.exit_after)
            break;
        if (!pfd[0].revents)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "fcfake: accept: %s\n", strerror(errno));
            return 1;
        }
        struct timeval tv = {.tv_sec = 5};
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        bool was_started = f.started;
        fake_serve(&f, fd);
        close(fd);
        if (f.started && !was_started)
            fake_banner(&f);
        if (f.exit_after)
            break;
    }
    /* The guest "shut down": Firecracker exits and leaves its socket behind. */
    close(lfd);
    fake_release(&f);
    if (f.log != stderr)
        fclose(f.log);
    return 0;
}
