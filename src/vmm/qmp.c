/*
 * qmp: a minimal client for QEMU's machine protocol on a Unix socket.
 *
 * Each call opens its own connection: connect (retrying while QEMU has not
 * created the socket yet), read the greeting {"QMP": ...}, negotiate with
 * qmp_capabilities, run one command, close. Messages are JSON objects, one
 * per line; asynchronous {"event": ...} messages may come at any time and
 * are skipped. Reads are line-oriented with a bounded buffer, and every wait
 * is bounded by the caller's timeout (one deadline for the whole exchange).
 *
 * The event channel is a connection of its own that stays open: negotiated
 * like the others, then only read (non-blocking) by the process that owns
 * the VMM; of its events, those that tell how the guest ended are kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/vmm_priv.h"

#define QMP_LINE_MAX (64u * 1024u) /* longest message accepted from QEMU */
#define QMP_EVENTS_MAX 1000        /* events skipped while waiting for one reply */
#define QMP_RETRY_MS 20

struct qmp {
    int fd;
    const char *path;
    int64_t deadline_ms;
    char *buf; /* QMP_LINE_MAX bytes */
    size_t len;
};

static void qmp_close(struct qmp *q) {
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    free(q->buf);
    q->buf = NULL;
}

static int qmp_connect(struct qmp *q, int timeout_ms, struct error *err) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(q->path) >= sizeof(addr.sun_path))
        return error_set(err, -ENAMETOOLONG, "qmp socket path '%s' is too long", q->path);
    memcpy(addr.sun_path, q->path, strlen(q->path) + 1);

    q->buf = xmalloc(QMP_LINE_MAX);
    if (!q->buf)
        return error_oom(err);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return error_set(err, -errno, "cannot create a socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            q->fd = fd;
            return 0;
        }
        int e = errno;
        close(fd);
        if (e != ENOENT && e != ECONNREFUSED && e != EINTR && e != EAGAIN)
            return error_set(err, -e, "cannot connect to qmp socket '%s': %s", q->path,
                             strerror(e));
        int64_t left = q->deadline_ms - time_now_ms();
        if (left <= 0)
            return error_set(err, -ETIMEDOUT,
                             "qmp socket '%s' did not accept a connection within %d ms: %s",
                             q->path, timeout_ms, strerror(e));
        sleep_ms(left < QMP_RETRY_MS ? left : QMP_RETRY_MS);
    }
}

/* Waits for fd to be ready for events until the deadline. */
static int qmp_wait(struct qmp *q, short events, struct error *err) {
    for (;;) {
        int64_t left = q->deadline_ms - time_now_ms();
        if (left <= 0)
            return error_set(err, -ETIMEDOUT, "qemu did not answer on qmp socket '%s' in time",
                             q->path);
        struct pollfd pfd = {.fd = q->fd, .events = events};
        int r = poll(&pfd, 1, (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return error_set(err, -errno, "cannot poll qmp socket '%s': %s", q->path,
                             strerror(errno));
    }
}

/* Reads one line (without its newline) into a NUL-terminated string; caller frees. */
static int qmp_read_line(struct qmp *q, char **ret, struct error *err) {
    for (;;) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (nl) {
            size_t n = (size_t)(nl - q->buf);
            char *line = xstrndup(q->buf, n);
            if (!line)
                return error_oom(err);
            memmove(q->buf, nl + 1, q->len - n - 1);
            q->len -= n + 1;
            *ret = line;
            return 0;
        }
        if (q->len == QMP_LINE_MAX)
            return error_set(err, -EMSGSIZE, "qemu sent a qmp message longer than %u bytes",
                             QMP_LINE_MAX);
        int r = qmp_wait(q, POLLIN, err);
        if (r < 0)
            return r;
        ssize_t n = read(q->fd, q->buf + q->len, QMP_LINE_MAX - q->len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return error_set(err, -errno, "cannot read qmp socket '%s': %s", q->path,
                             strerror(errno));
        }
        if (n == 0)
            return error_set(err, -ECONNRESET, "qemu closed qmp socket '%s'", q->path);
        q->len += (size_t)n;
    }
}

/* Reads the next message that is not an event; caller decrefs. */
static int qmp_read_message(struct qmp *q, json_t **ret, struct error *err) {
    for (int i = 0; i < QMP_EVENTS_MAX; i++) {
        _cleanup_free_ char *line = NULL;
        int r = qmp_read_line(q, &line, err);
        if (r < 0)
            return r;
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        if (len == 0)
            continue;
        json_error_t jerr;
        json_t *msg = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        if (!msg)
            return error_set(err, -EPROTO, "qemu sent malformed json on qmp socket '%s': %s",
                             q->path, jerr.text);
        if (!json_is_object(msg)) {
            json_decref(msg);
            return error_set(err, -EPROTO, "qemu sent a qmp message that is not an object");
        }
        if (json_object_get(msg, "event")) {
            json_decref(msg);
            continue;
        }
        *ret = msg;
        return 0;
    }
    return error_set(err, -EPROTO, "qemu sent more than %d qmp events without an answer",
                     QMP_EVENTS_MAX);
}

static int qmp_send(struct qmp *q, const char *data, struct error *err) {
    size_t len = strlen(data), off = 0;
    while (off < len) {
        int r = qmp_wait(q, POLLOUT, err);
        if (r < 0)
            return r;
        ssize_t n = send(q->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return error_set(err, -errno, "cannot write qmp socket '%s': %s", q->path,
                             strerror(errno));
        }
        off += (size_t)n;
    }
    return 0;
}

/*
 * Runs command and hands out its "return" value (caller decrefs; may be
 * NULL when ret is NULL). An {"error": ...} answer becomes
 * "qemu refused COMMAND: DESC".
 */
static int qmp_execute(struct qmp *q, const char *command, json_t **ret, struct error *err) {
    _cleanup_free_ char *req = xasprintf("{\"execute\": \"%s\"}\r\n", command);
    if (!req)
        return error_oom(err);
    int r = qmp_send(q, req, err);
    if (r < 0)
        return r;
    json_t *msg = NULL;
    r = qmp_read_message(q, &msg, err);
    if (r < 0)
        return r;
    json_t *error = json_object_get(msg, "error");
    if (error) {
        const char *desc = json_string_value(json_object_get(error, "desc"));
        const char *cls = json_string_value(json_object_get(error, "class"));
        r = error_set(err, -EIO, "qemu refused %s: %s", command,
                      desc  ? desc
                      : cls ? cls
                            : "no reason given");
        json_decref(msg);
        return r;
    }
    json_t *value = json_object_get(msg, "return");
    if (!value) {
        json_decref(msg);
        return error_set(err, -EPROTO, "qemu answered %s with neither return nor error", command);
    }
    if (ret)
        *ret = json_incref(value);
    json_decref(msg);
    return 0;
}

/* Connects, reads the greeting and leaves capabilities negotiation mode. */
static int qmp_open(struct qmp *q, const char *socket, int timeout_ms, struct error *err) {
    *q = (struct qmp){.fd = -1, .path = socket};
    if (!socket || !*socket)
        return error_set(err, -EINVAL, "no qmp socket given");
    if (timeout_ms <= 0)
        return error_set(err, -EINVAL, "qmp timeout must be positive, not %d", timeout_ms);
    q->deadline_ms = time_now_ms() + timeout_ms;
    int r = qmp_connect(q, timeout_ms, err);
    if (r < 0)
        return r;
    json_t *greeting = NULL;
    r = qmp_read_message(q, &greeting, err);
    if (r < 0) {
        error_prefix(err, "qmp greeting");
        return r;
    }
    bool ok = json_object_get(greeting, "QMP") != NULL;
    json_decref(greeting);
    if (!ok)
        return error_set(err, -EPROTO, "qmp socket '%s' did not greet with a QMP banner", socket);
    return qmp_execute(q, "qmp_capabilities", NULL, err);
}

int vmm_qmp_status(const char *socket, int timeout_ms, char **ret, struct error *err) {
    struct qmp q;
    int r = qmp_open(&q, socket, timeout_ms, err);
    json_t *value = NULL;
    if (r >= 0)
        r = qmp_execute(&q, "query-status", &value, err);
    qmp_close(&q);
    if (r < 0)
        return r;
    const char *status = json_string_value(json_object_get(value, "status"));
    if (!status) {
        json_decref(value);
        return error_set(err, -EPROTO, "qemu's query-status answer has no status");
    }
    char *s = xstrdup(status);
    json_decref(value);
    if (!s)
        return error_oom(err);
    *ret = s;
    return 0;
}

int vmm_qmp_powerdown(const char *socket, int timeout_ms, struct error *err) {
    struct qmp q;
    int r = qmp_open(&q, socket, timeout_ms, err);
    if (r >= 0)
        r = qmp_execute(&q, "system_powerdown", NULL, err);
    qmp_close(&q);
    return r;
}

int vmm_qmp_quit(const char *socket, int timeout_ms, struct error *err) {
    struct qmp q;
    int r = qmp_open(&q, socket, timeout_ms, err);
    if (r >= 0) {
        struct error quit_err;
        error_init(&quit_err);
        r = qmp_execute(&q, "quit", NULL, &quit_err);
        /* QEMU may exit before its answer reaches us: a closed socket means it quit. */
        if (r == -ECONNRESET)
            r = 0;
        else if (r < 0 && err)
            *err = quit_err;
    }
    qmp_close(&q);
    return r;
}

int vmm_qmp_cont(const char *socket, int timeout_ms, struct error *err) {
    struct qmp q;
    int r = qmp_open(&q, socket, timeout_ms, err);
    if (r >= 0)
        r = qmp_execute(&q, "cont", NULL, err);
    qmp_close(&q);
    return r;
}

/* ---- the event channel ------------------------------------------------------ */

int vmm_qmp_events_open(const char *socket, int timeout_ms, struct vmm_events *ret,
                        struct error *err) {
    struct qmp q;
    int r = qmp_open(&q, socket, timeout_ms, err);
    if (r >= 0 && fcntl(q.fd, F_SETFL, O_NONBLOCK) < 0)
        r = error_set(err, -errno, "cannot set up qmp socket '%s': %s", socket, strerror(errno));
    if (r < 0) {
        qmp_close(&q);
        return r;
    }
    /* What came after the capabilities' answer is the first events: they stay. */
    *ret = (struct vmm_events){.fd = q.fd, .buf = q.buf, .len = q.len};
    return 0;
}

/* The end one QMP message tells of, or VMM_END_NONE. */
static enum vmm_end qmp_event_end(const json_t *msg) {
    const char *event = json_string_value(json_object_get(msg, "event"));
    if (!event)
        return VMM_END_NONE;
    const json_t *data = json_object_get(msg, "data");
    if (strcmp(event, "GUEST_PANICKED") == 0)
        return VMM_END_PANIC;
    if (strcmp(event, "SHUTDOWN") != 0 && strcmp(event, "RESET") != 0)
        return VMM_END_NONE;
    const char *reason = json_string_value(json_object_get(data, "reason"));
    if (!reason)
        return strcmp(event, "SHUTDOWN") == 0 ? VMM_END_HOST : VMM_END_NONE;
    if (strcmp(reason, "guest-panic") == 0)
        return VMM_END_PANIC;
    if (strcmp(reason, "guest-reset") == 0)
        return VMM_END_RESET;
    if (strcmp(event, "RESET") == 0)
        return VMM_END_NONE; /* a reset the host asked for ends nothing */
    if (strcmp(reason, "guest-shutdown") == 0)
        return VMM_END_SHUTDOWN;
    return VMM_END_HOST;
}

/* Takes the complete lines out of ev's buffer. */
static void qmp_events_parse(struct vmm_events *ev) {
    char *start = ev->buf, *nl;
    while ((nl = memchr(start, '\n', ev->len - (size_t)(start - ev->buf)))) {
        *nl = '\0';
        json_t *msg = json_loads(start, 0, NULL);
        enum vmm_end end = msg ? qmp_event_end(msg) : VMM_END_NONE;
        json_decref(msg);
        if (end > ev->end)
            ev->end = end;
        start = nl + 1;
    }
    size_t used = (size_t)(start - ev->buf);
    memmove(ev->buf, start, ev->len - used);
    ev->len -= used;
}

bool vmm_events_read(struct vmm_events *ev) {
    if (ev->fd < 0)
        return false;
    for (;;) {
        if (ev->len == QMP_LINE_MAX)
            ev->len = 0; /* a line longer than any event: dropped */
        ssize_t n = read(ev->fd, ev->buf + ev->len, QMP_LINE_MAX - ev->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0) {
            close(ev->fd);
            ev->fd = -1;
            return false;
        }
        ev->len += (size_t)n;
        qmp_events_parse(ev);
    }
}

void vmm_events_release(struct vmm_events *ev) {
    if (!ev)
        return;
    if (ev->fd >= 0)
        close(ev->fd);
    ev->fd = -1;
    free(ev->buf);
    ev->buf = NULL;
    ev->len = 0;
}
