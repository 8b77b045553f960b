/*
 * net sftp: an SFTP version 3 client (draft-ietf-secsh-filexfer-02) on a
 * channel of an open SSH connection (the "sftp" subsystem), or on two
 * descriptors for the tests.
 *
 * libssh's own sftp_write waits for each WRITE's answer, one round trip per
 * 32 KiB; this client keeps up to SFTP_INFLIGHT READs or WRITEs in flight,
 * as OpenSSH's sftp and scp do, and matches answers to requests by id.
 * Requests are built into one output buffer and sent together (a batch of
 * WRITEs becomes full-sized SSH packets instead of one small packet after
 * each), and every wait for an answer flushes it first.
 *
 * Waits are sliced (RECV_SLICE_MS) so that a cancel (Ctrl-C) is seen: from
 * then on, each wait ends after DRAIN_MS, so cleaning up after a cancel
 * never hangs on a server that stopped answering. The transfers check the
 * cancel flag between chunks and, when it is set or a request failed,
 * send nothing more and collect the answers still due, so the session stays
 * usable for the cleanup (closing the file, removing a temporary one).
 *
 * Anything the server sends is checked: packet lengths (SFTP_PACKET_MAX),
 * handles, names and link targets (lengths, no NUL or '/'), answers to ids
 * not asked, DATA longer than asked. A server that breaks the protocol ends
 * the session (net_sftp_broken).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/sftp_priv.h"
#include "net/ssh_priv.h"

#define RECV_SLICE_MS 200 /* a wait for the server, between two looks at the cancel flag */
#define DRAIN_MS 10000    /* after a cancel: how long the server may take to answer */
#define IN_CAP (2 * (SFTP_PACKET_MAX + 4))
#define WRITE_HDR_MAX (4 + 1 + 4 + 4 + SFTP_HANDLE_MAX + 8 + 4)
#define BATCH 8 /* WRITEs sent together once that many answers came */
#define OUT_CAP (BATCH * (WRITE_HDR_MAX + SFTP_CHUNK) + 2 * (SFTP_PATH_MAX + 256))

struct net_sftp {
    const char *what; /* the server in messages */
    char *what_own;   /* what, when this client owns it (sftp_open_fds) */
    ssh_session ssh;  /* the SSH transport; NULL for descriptors */
    ssh_channel ch;
    int to_fd, from_fd; /* the descriptor transport */
    unsigned char *in;  /* received bytes: in[in_start .. in_start + in_len) */
    size_t in_start, in_len;
    size_t consumed;    /* the length of the packet the last sftp_recv returned */
    unsigned char *out; /* requests built and not yet sent */
    size_t out_len;
    uint32_t next_id;
    bool posix_rename, lsetstat;
    bool broken;
    volatile sig_atomic_t *cancel;
    int64_t cancel_seen_ms; /* when the cancel was first seen (0: not yet) */
};

static bool sftp_cancelled(net_sftp *s) {
    if (!s->cancel || !*s->cancel)
        return false;
    if (!s->cancel_seen_ms)
        s->cancel_seen_ms = time_now_ms();
    return true;
}

static int broke(net_sftp *s, int code, struct error *err, const char *fmt, ...) PRINTF(4, 5);
static int broke(net_sftp *s, int code, struct error *err, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    s->broken = true;
    return error_set(err, code, "%s: the sftp session broke: %s", s->what, why);
}

/* After a cancel, a wait that has lasted DRAIN_MS since it was seen ends the session. */
static int drain_expired(net_sftp *s, struct error *err) {
    if (sftp_cancelled(s) && time_now_ms() - s->cancel_seen_ms > DRAIN_MS)
        return broke(s, -ETIMEDOUT, err, "no answer within %d s of the cancel", DRAIN_MS / 1000);
    return 0;
}

/* Makes room at the end of the input buffer by moving what is unread to its front. */
static void in_compact(net_sftp *s) {
    if (s->in_start == 0)
        return;
    memmove(s->in, s->in + s->in_start, s->in_len);
    s->in_start = 0;
}

/* Reads what the descriptor has into the input buffer: > 0 bytes, 0 none, < 0 broken. */
static int fd_read_some(net_sftp *s, struct error *err) {
    in_compact(s);
    size_t room = IN_CAP - s->in_len;
    if (room == 0)
        return 0;
    ssize_t n = read(s->from_fd, s->in + s->in_len, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n < 0)
        return broke(s, -errno, err, "%s", strerror(errno));
    if (n == 0)
        return broke(s, -ECONNRESET, err, "the server closed the connection");
    s->in_len += (size_t)n;
    return (int)n;
}

/* Sends what the output buffer holds. */
static int sftp_flush(net_sftp *s, struct error *err) {
    size_t off = 0;
    while (off < s->out_len) {
        int r = drain_expired(s, err);
        if (r < 0)
            return r;
        size_t left = s->out_len - off;
        if (s->ch) {
            int w =
                ssh_channel_write(s->ch, s->out + off, left > INT_MAX ? INT_MAX : (uint32_t)left);
            if (w < 0)
                return broke(s, -ECONNRESET, err, "%s", ssh_get_error(s->ssh));
            off += (size_t)w; /* 0: the wait for the server's window timed out; wait again */
            continue;
        }
        /* Descriptors: take in what the server says meanwhile, so neither side blocks. */
        struct pollfd p[2] = {{.fd = s->to_fd, .events = POLLOUT},
                              {.fd = s->from_fd, .events = s->in_len < IN_CAP ? POLLIN : 0}};
        if (poll(p, 2, RECV_SLICE_MS) < 0 && errno != EINTR)
            return broke(s, -errno, err, "poll: %s", strerror(errno));
        if (p[1].revents & (POLLIN | POLLHUP) && (r = fd_read_some(s, err)) < 0)
            return r;
        if (!(p[0].revents & (POLLOUT | POLLERR | POLLHUP)))
            continue;
        ssize_t w = write(s->to_fd, s->out + off, left);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w < 0)
            return broke(s, -errno, err, "%s", strerror(errno));
        off += (size_t)w;
    }
    s->out_len = 0;
    return 0;
}

/* Waits up to timeout_ms for more bytes: 1 when some came, 0 when none, < 0 broken. */
static int read_more(net_sftp *s, int timeout_ms, struct error *err) {
    if (!s->ch) {
        struct pollfd p = {.fd = s->from_fd, .events = POLLIN};
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno != EINTR)
            return broke(s, -errno, err, "poll: %s", strerror(errno));
        if (n <= 0)
            return 0;
        int r = fd_read_some(s, err);
        return r < 0 ? r : r > 0;
    }
    in_compact(s);
    size_t room = IN_CAP - s->in_len;
    int n = ssh_channel_read_timeout(s->ch, s->in + s->in_len,
                                     room > 65536 ? 65536 : (uint32_t)room, 0, timeout_ms);
    if (n < 0)
        return broke(s, -ECONNRESET, err, "%s", ssh_get_error(s->ssh));
    if (n == 0 && (ssh_channel_is_eof(s->ch) || ssh_channel_is_closed(s->ch)))
        return broke(s, -ECONNRESET, err, "the server closed the sftp channel");
    s->in_len += (size_t)n;
    return n > 0;
}

/*
 * The next packet from the server, whatever its id. m points into the
 * input buffer: it is valid until the next call that sends or receives.
 */
static int sftp_recv(net_sftp *s, struct sftp_msg *m, struct error *err) {
    s->in_start += s->consumed;
    s->in_len -= s->consumed;
    s->consumed = 0;
    int r = sftp_flush(s, err);
    if (r < 0)
        return r;
    for (;;) {
        size_t need = 0;
        r = sftp_msg_parse(s->in + s->in_start, s->in_len, m, &need);
        if (r < 0)
            return broke(s, r, err, "a packet of a bad length");
        if (r == 0) {
            s->consumed = need;
            return 0;
        }
        if ((r = drain_expired(s, err)) < 0 || (r = read_more(s, RECV_SLICE_MS, err)) < 0)
            return r;
    }
}

/* ---- requests ----------------------------------------------------------- */

static struct sftp_out out_of(net_sftp *s) {
    return (struct sftp_out){.p = s->out, .len = s->out_len, .cap = OUT_CAP};
}

/* Keeps a request built in o, or says why not. */
static int out_keep(net_sftp *s, struct sftp_out *o, size_t start, const char *path,
                    struct error *err) {
    if (!sftp_end(o, start)) {
        s->out_len = start;
        return error_set(err, -ENAMETOOLONG, "%s: %.64s...: the path is too long", s->what, path);
    }
    s->out_len = o->len;
    return 0;
}

/* Makes room for a request of up to n bytes in the output buffer. */
static int out_room(net_sftp *s, size_t n, struct error *err) {
    return OUT_CAP - s->out_len >= n ? 0 : sftp_flush(s, err);
}

/* Begins a request of type for path: o is where the caller adds its fields. */
static int req_begin(net_sftp *s, uint8_t type, const char *path, struct sftp_out *o,
                     size_t *ret_start, uint32_t *ret_id, struct error *err) {
    size_t n = strlen(path);
    if (n > SFTP_PATH_MAX)
        return error_set(err, -ENAMETOOLONG, "%s: %.64s...: the path is too long", s->what, path);
    int r = out_room(s, 2 * SFTP_PATH_MAX + 256, err);
    if (r < 0)
        return r;
    *o = out_of(s);
    *ret_start = o->len;
    *ret_id = s->next_id++;
    sftp_begin(o, type, *ret_id);
    return 0;
}

/* The answer to id, the only request outstanding. */
static int reply_wait(net_sftp *s, uint32_t id, struct sftp_msg *m, struct error *err) {
    int r = sftp_recv(s, m, err);
    if (r < 0)
        return r;
    if (m->id != id)
        return broke(s, -EPROTO, err, "an answer to request %u, not to %u", m->id, id);
    return 0;
}

/* A server's string for a message: printable, at most size - 1 bytes. */
static void text_copy(const unsigned char *p, size_t n, char *buf, size_t size) {
    size_t k = n < size - 1 ? n : size - 1;
    for (size_t i = 0; i < k; i++)
        buf[i] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
    buf[k] = '\0';
}

/* The STATUS m as 0 (OK) or an error naming path; any other packet breaks the session. */
static int status_of(net_sftp *s, struct sftp_msg *m, const char *path, uint32_t *ret_code,
                     struct error *err) {
    if (m->type != SFTP_STATUS)
        return broke(s, -EPROTO, err, "packet type %u where a status was due", m->type);
    uint32_t code = sftp_get_u32(&m->body);
    if (m->body.bad)
        return broke(s, -EPROTO, err, "a status without a code");
    const unsigned char *msg;
    size_t n;
    sftp_get_str(&m->body, &msg, &n); /* the draft requires a message; none is fine too */
    if (ret_code)
        *ret_code = code;
    if (code == SFTP_OK)
        return 0;
    char said[200], text[256], shown[512];
    text_copy(msg, n, said, sizeof(said));
    sftp_status_text(code, said, text, sizeof(text));
    text_copy((const unsigned char *)path, strlen(path), shown, sizeof(shown));
    return error_set(err, -sftp_status_errno(code), "%s: %s: %s", s->what, shown, text);
}

/* A STATUS where another answer was due: its error, or a broken session when it says OK. */
static int status_or_broke(net_sftp *s, struct sftp_msg *m, const char *path, const char *what_due,
                           struct error *err) {
    int r = status_of(s, m, path, NULL, err);
    return r < 0 ? r : broke(s, -EPROTO, err, "a status OK where %s was due", what_due);
}

/* Sends the request begun at start and waits for its STATUS. */
static int call_status(net_sftp *s, struct sftp_out *o, size_t start, uint32_t id, const char *path,
                       struct error *err) {
    int r = out_keep(s, o, start, path, err);
    struct sftp_msg m;
    if (r == 0)
        r = reply_wait(s, id, &m, err);
    return r < 0 ? r : status_of(s, &m, path, NULL, err);
}

/* A request of type whose one field is path, and its answer in *m. */
static int path_ask(net_sftp *s, uint8_t type, const char *path, struct sftp_msg *m,
                    struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = req_begin(s, type, path, &o, &start, &id, err);
    if (r < 0)
        return r;
    sftp_put_cstr(&o, path);
    if ((r = out_keep(s, &o, start, path, err)) < 0)
        return r;
    return reply_wait(s, id, m, err);
}

int sftp_stat(net_sftp *s, const char *path, bool follow, struct sftp_attrs *ret,
              struct error *err) {
    struct sftp_msg m;
    int r = path_ask(s, follow ? SFTP_STAT : SFTP_LSTAT, path, &m, err);
    if (r < 0)
        return r;
    if (m.type != SFTP_ATTRS)
        return status_or_broke(s, &m, path, "attributes", err);
    struct sftp_attrs a;
    sftp_get_attrs(&m.body, &a);
    if (m.body.bad)
        return broke(s, -EPROTO, err, "malformed attributes of '%s'", path);
    *ret = a;
    return 0;
}

int sftp_mkdir(net_sftp *s, const char *path, uint32_t perm, struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = req_begin(s, SFTP_MKDIR, path, &o, &start, &id, err);
    if (r < 0)
        return r;
    sftp_put_cstr(&o, path);
    sftp_put_attrs(&o, &(struct sftp_attrs){.flags = SFTP_ATTR_PERMISSIONS, .perm = perm});
    return call_status(s, &o, start, id, path, err);
}

/* An EXTENDED request named name; the caller adds its fields. */
static int ext_begin(net_sftp *s, const char *name, const char *path, struct sftp_out *o,
                     size_t *ret_start, uint32_t *ret_id, struct error *err) {
    int r = req_begin(s, SFTP_EXTENDED, path, o, ret_start, ret_id, err);
    if (r == 0)
        sftp_put_cstr(o, name);
    return r;
}

int sftp_setstat(net_sftp *s, const char *path, const struct sftp_attrs *a, bool nofollow,
                 struct error *err) {
    if (nofollow && !s->lsetstat)
        return error_set(err, -ENOTSUP, "%s: %s: no lsetstat@openssh.com", s->what, path);
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = nofollow ? ext_begin(s, "lsetstat@openssh.com", path, &o, &start, &id, err)
                     : req_begin(s, SFTP_SETSTAT, path, &o, &start, &id, err);
    if (r < 0)
        return r;
    sftp_put_cstr(&o, path);
    sftp_put_attrs(&o, a);
    return call_status(s, &o, start, id, path, err);
}

int sftp_rename(net_sftp *s, const char *from, const char *to, const char *shown,
                struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = s->posix_rename ? ext_begin(s, "posix-rename@openssh.com", to, &o, &start, &id, err)
                            : req_begin(s, SFTP_RENAME, to, &o, &start, &id, err);
    if (r < 0)
        return r;
    if (strlen(from) > SFTP_PATH_MAX)
        o.overflow = true;
    sftp_put_cstr(&o, from);
    sftp_put_cstr(&o, to);
    return call_status(s, &o, start, id, shown ? shown : to, err);
}

static int path_call(net_sftp *s, uint8_t type, const char *path, struct error *err) {
    struct sftp_msg m;
    int r = path_ask(s, type, path, &m, err);
    return r < 0 ? r : status_of(s, &m, path, NULL, err);
}

int sftp_remove(net_sftp *s, const char *path, struct error *err) {
    return path_call(s, SFTP_REMOVE, path, err);
}

int sftp_rmdir(net_sftp *s, const char *path, struct error *err) {
    return path_call(s, SFTP_RMDIR, path, err);
}

int sftp_readlink(net_sftp *s, const char *path, char **ret, struct error *err) {
    struct sftp_msg m;
    int r = path_ask(s, SFTP_READLINK, path, &m, err);
    if (r < 0)
        return r;
    if (m.type != SFTP_NAME)
        return status_or_broke(s, &m, path, "a link's target", err);
    uint32_t count = sftp_get_u32(&m.body);
    const unsigned char *t;
    size_t n;
    sftp_get_str(&m.body, &t, &n);
    if (m.body.bad || count != 1 || n == 0 || n > SFTP_PATH_MAX || memchr(t, '\0', n))
        return broke(s, -EPROTO, err, "a malformed target of the link '%s'", path);
    char *target = xstrndup((const char *)t, n);
    if (!target)
        return error_oom(err);
    *ret = target;
    return 0;
}

int sftp_symlink(net_sftp *s, const char *target, const char *path, const char *shown,
                 struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = req_begin(s, SFTP_SYMLINK, path, &o, &start, &id, err);
    if (r < 0)
        return r;
    if (strlen(target) > SFTP_PATH_MAX)
        o.overflow = true;
    /* The draft has linkpath first; OpenSSH's server (and client) take the target first. */
    sftp_put_cstr(&o, target);
    sftp_put_cstr(&o, path);
    return call_status(s, &o, start, id, shown ? shown : path, err);
}

/* Sends the request and takes the HANDLE it answers with. */
static int handle_call(net_sftp *s, struct sftp_out *o, size_t start, uint32_t id, const char *path,
                       struct sftp_handle *h, struct error *err) {
    struct sftp_msg m;
    int r = out_keep(s, o, start, path, err);
    if (r == 0)
        r = reply_wait(s, id, &m, err);
    if (r < 0)
        return r;
    if (m.type != SFTP_HANDLE)
        return status_or_broke(s, &m, h->shown, "a handle", err);
    const unsigned char *p;
    size_t n;
    sftp_get_str(&m.body, &p, &n);
    if (m.body.bad || n == 0 || n > SFTP_HANDLE_MAX)
        return broke(s, -EPROTO, err, "a malformed handle for '%s'", path);
    memcpy(h->h, p, n);
    h->len = n;
    return 0;
}

int sftp_open(net_sftp *s, const char *path, uint32_t pflags, const struct sftp_attrs *attrs,
              const char *shown, struct sftp_handle *h, struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    h->shown = shown ? shown : path;
    int r = req_begin(s, SFTP_OPEN, path, &o, &start, &id, err);
    if (r < 0)
        return r;
    sftp_put_cstr(&o, path);
    sftp_put_u32(&o, pflags);
    sftp_put_attrs(&o, attrs ? attrs : &(struct sftp_attrs){0});
    return handle_call(s, &o, start, id, path, h, err);
}

/* Begins a request on the handle h. */
static int handle_begin(net_sftp *s, uint8_t type, const struct sftp_handle *h, struct sftp_out *o,
                        size_t *ret_start, uint32_t *ret_id, struct error *err) {
    int r = out_room(s, WRITE_HDR_MAX + 256, err);
    if (r < 0)
        return r;
    *o = out_of(s);
    *ret_start = o->len;
    *ret_id = s->next_id++;
    sftp_begin(o, type, *ret_id);
    sftp_put_str(o, h->h, h->len);
    return 0;
}

int sftp_fsetstat(net_sftp *s, const struct sftp_handle *h, const struct sftp_attrs *a,
                  struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = handle_begin(s, SFTP_FSETSTAT, h, &o, &start, &id, err);
    if (r < 0)
        return r;
    sftp_put_attrs(&o, a);
    return call_status(s, &o, start, id, h->shown, err);
}

int sftp_close_handle(net_sftp *s, const struct sftp_handle *h, struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = handle_begin(s, SFTP_CLOSE, h, &o, &start, &id, err);
    return r < 0 ? r : call_status(s, &o, start, id, h->shown, err);
}

void sftp_entries_free(struct sftp_entry *v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i].name);
    free(v);
}

/* The entries of one NAME packet, appended to *v. */
static int names_take(net_sftp *s, struct sftp_msg *m, const char *path, size_t max,
                      struct sftp_entry **v, size_t *n, struct error *err) {
    uint32_t count = sftp_get_u32(&m->body);
    for (uint32_t i = 0; i < count && !m->body.bad; i++) {
        const unsigned char *name, *longname;
        size_t len, longlen;
        struct sftp_attrs a;
        sftp_get_str(&m->body, &name, &len);
        sftp_get_str(&m->body, &longname, &longlen);
        sftp_get_attrs(&m->body, &a);
        if (m->body.bad)
            break;
        if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
            continue;
        if (len == 0 || len > SFTP_NAME_MAX || memchr(name, '/', len) || memchr(name, '\0', len))
            return broke(s, -EPROTO, err, "a bad name in the listing of '%s'", path);
        if (*n >= max)
            return error_set(err, -EFBIG, "%s: %s: more than %zu entries", s->what, path, max);
        if (array_grow(v, *n, sizeof(**v)) < 0 ||
            !((*v)[*n].name = xstrndup((const char *)name, len)))
            return error_oom(err);
        (*v)[(*n)++].a = a;
    }
    if (m->body.bad)
        return broke(s, -EPROTO, err, "a malformed listing of '%s'", path);
    return 0;
}

int sftp_list(net_sftp *s, const char *path, size_t max, struct sftp_entry **ret, size_t *ret_n,
              struct error *err) {
    struct sftp_handle h = {.shown = path};
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = req_begin(s, SFTP_OPENDIR, path, &o, &start, &id, err);
    if (r < 0)
        return r;
    sftp_put_cstr(&o, path);
    if ((r = handle_call(s, &o, start, id, path, &h, err)) < 0)
        return r;
    struct sftp_entry *v = NULL;
    size_t n = 0;
    for (;;) {
        struct sftp_msg m;
        if ((r = handle_begin(s, SFTP_READDIR, &h, &o, &start, &id, err)) < 0 ||
            (r = out_keep(s, &o, start, path, err)) < 0 || (r = reply_wait(s, id, &m, err)) < 0)
            break;
        if (m.type == SFTP_NAME) {
            if ((r = names_take(s, &m, path, max, &v, &n, err)) < 0)
                break;
            continue;
        }
        uint32_t code = SFTP_OK;
        r = status_of(s, &m, path, &code, err);
        if (code == SFTP_EOF)
            r = 0;
        else if (r == 0)
            r = broke(s, -EPROTO, err, "a status OK where names were due");
        break;
    }
    if (!s->broken) {
        struct error e2;
        int c = sftp_close_handle(s, &h, r < 0 ? &e2 : err);
        r = r < 0 ? r : c;
    }
    if (r < 0) {
        sftp_entries_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- transfers ---------------------------------------------------------- */

struct inflight {
    uint32_t id;
    uint32_t len;
    uint64_t off;
};

/* The request id answers, taken out of v (n of them); -1 when none is. */
static int inflight_take(struct inflight *v, size_t *n, uint32_t id, struct inflight *ret) {
    for (size_t i = 0; i < *n; i++) {
        if (v[i].id != id)
            continue;
        *ret = v[i];
        v[i] = v[--*n];
        return 0;
    }
    return -1;
}

/*
 * Whether a transfer with nfl requests in flight sends another: it waits
 * until BATCH answers came and then sends BATCH requests together (the
 * output buffer is not empty while it does), so that the requests leave in
 * few SSH packets rather than one small packet after each answer.
 */
static bool refill(const net_sftp *s, size_t nfl) {
    return nfl < SFTP_INFLIGHT && (nfl + BATCH <= SFTP_INFLIGHT || nfl == 0 || s->out_len > 0);
}

/* Appends a WRITE of up to SFTP_CHUNK bytes read from fd at off: its length, 0 at fd's end. */
static ssize_t write_req(net_sftp *s, const struct sftp_handle *h, int fd, uint64_t off,
                         uint32_t *ret_id) {
    size_t hdr = 4 + 1 + 4 + 4 + h->len + 8 + 4, start = s->out_len;
    ssize_t n;
    do
        n = read(fd, s->out + start + hdr, SFTP_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    struct sftp_out o = out_of(s);
    *ret_id = s->next_id++;
    sftp_begin(&o, SFTP_WRITE, *ret_id);
    sftp_put_str(&o, h->h, h->len);
    sftp_put_u64(&o, off);
    sftp_put_u32(&o, (uint32_t)n);
    o.len += (size_t)n;
    (void)sftp_end(&o, start); /* fits: out_room made room for the largest */
    s->out_len = o.len;
    return n;
}

int sftp_upload(net_sftp *s, const struct sftp_handle *h, int fd, const char *host_shown,
                sftp_progress_fn progress, void *ud, struct error *err) {
    struct inflight fl[SFTP_INFLIGHT];
    size_t nfl = 0;
    uint64_t off = 0, done = 0;
    bool eof = false;
    int fail = 0, r;
    for (;;) {
        while (!eof && !fail && refill(s, nfl)) {
            if (sftp_cancelled(s)) {
                fail = error_set(err, -ECANCELED, "cancelled");
                break;
            }
            if ((r = out_room(s, WRITE_HDR_MAX + SFTP_CHUNK, err)) < 0)
                return r;
            uint32_t id = 0;
            ssize_t n = write_req(s, h, fd, off, &id);
            if (n < 0)
                fail = error_set(err, (int)n, "host: %s: %s", host_shown, strerror((int)-n));
            eof = n == 0;
            if (n <= 0)
                break;
            fl[nfl++] = (struct inflight){.id = id, .len = (uint32_t)n, .off = off};
            off += (uint64_t)n;
        }
        if (nfl == 0)
            break;
        struct sftp_msg m;
        struct inflight w;
        if ((r = sftp_recv(s, &m, err)) < 0)
            return r;
        if (inflight_take(fl, &nfl, m.id, &w) < 0)
            return broke(s, -EPROTO, err, "an answer to request %u, which was not sent", m.id);
        if (fail) {
            struct error ignored;
            if (status_of(s, &m, h->shown, NULL, &ignored) < 0 && s->broken)
                return error_set(err, ignored.code, "%s", ignored.msg);
            continue;
        }
        uint32_t code = SFTP_OK;
        if ((fail = status_of(s, &m, h->shown, &code, err)) < 0) {
            if (code == SFTP_FAILURE)
                error_set(err, -EIO, "%s: %s: the write failed (is its disk full?)", s->what,
                          h->shown);
            if (s->broken)
                return fail;
            continue;
        }
        done += w.len;
        if (progress)
            progress(ud, done);
    }
    return fail;
}

/* Appends a READ of len bytes at off. */
static int read_req(net_sftp *s, const struct sftp_handle *h, uint64_t off, uint32_t len,
                    struct inflight *ret, struct error *err) {
    struct sftp_out o;
    size_t start;
    uint32_t id;
    int r = handle_begin(s, SFTP_READ, h, &o, &start, &id, err);
    if (r < 0)
        return r;
    sftp_put_u64(&o, off);
    sftp_put_u32(&o, len);
    if ((r = out_keep(s, &o, start, h->shown, err)) < 0)
        return r;
    *ret = (struct inflight){.id = id, .len = len, .off = off};
    return 0;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off) {
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* A DATA answer to the READ rq: written to fd; a short one asks for the rest. */
static int data_take(net_sftp *s, struct sftp_msg *m, const struct inflight *rq,
                     const struct sftp_handle *h, int fd, const char *host_shown,
                     struct inflight *fl, size_t *nfl, uint64_t eof_at, uint64_t *done,
                     struct error *err) {
    const unsigned char *p;
    size_t n;
    sftp_get_str(&m->body, &p, &n);
    if (m->body.bad || n == 0 || n > rq->len)
        return broke(s, -EPROTO, err, "%zu bytes of '%s' where %u were asked", n, h->shown,
                     rq->len);
    int r = pwrite_all(fd, p, n, rq->off);
    if (r < 0)
        return error_set(err, r, "host: %s: %s", host_shown, strerror(-r));
    *done += n;
    if (n == rq->len || rq->off + n >= eof_at)
        return 0;
    struct inflight more;
    r = read_req(s, h, rq->off + n, rq->len - (uint32_t)n, &more, err);
    if (r == 0)
        fl[(*nfl)++] = more;
    return r;
}

int sftp_download(net_sftp *s, const struct sftp_handle *h, int fd, uint64_t size_hint,
                  const char *host_shown, sftp_progress_fn progress, void *ud, uint64_t *ret_size,
                  struct error *err) {
    struct inflight fl[SFTP_INFLIGHT + 1];
    size_t nfl = 0;
    uint64_t next = 0, eof_at = UINT64_MAX, done = 0;
    int fail = 0, r;
    for (;;) {
        /* Up to the size the file had, SFTP_INFLIGHT at once; past it, one at a time to its end. */
        while (!fail && refill(s, nfl) && next < eof_at && (next < size_hint || nfl == 0)) {
            if (sftp_cancelled(s)) {
                fail = error_set(err, -ECANCELED, "cancelled");
                break;
            }
            if ((r = read_req(s, h, next, SFTP_CHUNK, &fl[nfl], err)) < 0)
                return r;
            nfl++;
            next += SFTP_CHUNK;
        }
        if (nfl == 0)
            break;
        struct sftp_msg m;
        struct inflight rq;
        if ((r = sftp_recv(s, &m, err)) < 0)
            return r;
        if (inflight_take(fl, &nfl, m.id, &rq) < 0)
            return broke(s, -EPROTO, err, "an answer to request %u, which was not sent", m.id);
        if (m.type == SFTP_DATA) {
            if (fail)
                continue;
            fail = data_take(s, &m, &rq, h, fd, host_shown, fl, &nfl, eof_at, &done, err);
            if (fail < 0 && s->broken)
                return fail;
            if (fail == 0 && progress)
                progress(ud, done);
            continue;
        }
        uint32_t code = SFTP_OK;
        struct error e2;
        r = status_of(s, &m, h->shown, &code, fail ? &e2 : err);
        if (s->broken)
            return fail ? error_set(err, e2.code, "%s", e2.msg) : r;
        if (code == SFTP_EOF)
            eof_at = rq.off < eof_at ? rq.off : eof_at;
        else if (!fail)
            fail = r < 0 ? r : broke(s, -EPROTO, err, "a status OK where data was due");
    }
    if (fail)
        return fail;
    /* What came is [0, eof_at): the file may have shrunk since its first bytes were read. */
    if (ftruncate(fd, (off_t)eof_at) < 0)
        return error_set(err, -errno, "host: %s: %s", host_shown, strerror(errno));
    *ret_size = eof_at;
    return 0;
}

/* ---- sessions ----------------------------------------------------------- */

static net_sftp *sftp_alloc(const char *what) {
    net_sftp *s = xcalloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->what = what;
    s->to_fd = s->from_fd = -1;
    s->next_id = 1;
    s->in = xmalloc(IN_CAP);
    s->out = xmalloc(OUT_CAP);
    if (!s->in || !s->out) {
        net_sftp_close(s);
        return NULL;
    }
    return s;
}

/* INIT and VERSION: the server must speak version 3; its extensions are noted. */
static int sftp_hello(net_sftp *s, struct error *err) {
    struct sftp_out o = out_of(s);
    sftp_begin(&o, SFTP_INIT, 0);
    sftp_put_u32(&o, 3);
    (void)sftp_end(&o, 0);
    s->out_len = o.len;
    struct sftp_msg m;
    int r = sftp_recv(s, &m, err);
    if (r < 0)
        return s->ch && r == -ECONNRESET
                   ? error_set(err, -ENOTSUP,
                               "%s closed its sftp channel before answering; is its sftp server "
                               "installed (Debian: openssh-sftp-server)?",
                               s->what)
                   : r;
    uint32_t version = sftp_get_u32(&m.body);
    if (m.type != SFTP_VERSION || m.body.bad)
        return broke(s, -EPROTO, err, "packet type %u where the version was due", m.type);
    if (version < 3)
        return error_set(err, -ENOTSUP, "%s speaks sftp version %u; hearth needs version 3",
                         s->what, version);
    for (int i = 0; m.body.len > 0 && i < SFTP_EXT_MAX; i++) {
        const unsigned char *name, *data;
        size_t n, dn;
        sftp_get_str(&m.body, &name, &n);
        sftp_get_str(&m.body, &data, &dn);
        if (m.body.bad)
            break;
        if (n == 24 && memcmp(name, "posix-rename@openssh.com", n) == 0)
            s->posix_rename = true;
        if (n == 20 && memcmp(name, "lsetstat@openssh.com", n) == 0)
            s->lsetstat = true;
    }
    return 0;
}

int sftp_open_fds(int to_server, int from_server, const char *what, net_sftp **ret,
                  struct error *err) {
    char *w = xstrdup(what);
    net_sftp *s = w ? sftp_alloc(w) : NULL;
    if (!s) {
        free(w);
        return error_oom(err);
    }
    s->what_own = w;
    s->to_fd = to_server;
    s->from_fd = from_server;
    int r = sftp_hello(s, err);
    if (r < 0) {
        net_sftp_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

int net_sftp_open(net_ssh *c, net_sftp **ret, struct error *err) {
    const char *what = c->t->what;
    ssh_channel ch = ssh_channel_new(c->s);
    if (!ch)
        return error_oom(err);
    if (ssh_channel_open_session(ch) != SSH_OK) {
        int r =
            error_set(err, -ECONNRESET, "%s: cannot open a session: %s", what, ssh_get_error(c->s));
        ssh_channel_free(ch);
        return r;
    }
    if (ssh_channel_request_subsystem(ch, "sftp") != SSH_OK) {
        int r = error_set(err, -ENOTSUP,
                          "%s has no sftp server (the subsystem 'sftp' was refused: %s); its "
                          "sshd_config needs 'Subsystem sftp /usr/lib/openssh/sftp-server' "
                          "(Debian: openssh-sftp-server) or 'Subsystem sftp internal-sftp'",
                          what, ssh_get_error(c->s));
        ssh_channel_close(ch);
        ssh_channel_free(ch);
        return r;
    }
    net_sftp *s = sftp_alloc(what);
    if (!s) {
        ssh_channel_close(ch);
        ssh_channel_free(ch);
        return error_oom(err);
    }
    s->ssh = c->s;
    s->ch = ch;
    int r = sftp_hello(s, err);
    if (r < 0) {
        net_sftp_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void net_sftp_close(net_sftp *s) {
    if (!s)
        return;
    if (s->ch) {
        if (!s->broken)
            ssh_channel_send_eof(s->ch);
        ssh_channel_close(s->ch);
        ssh_channel_free(s->ch);
    }
    free(s->in);
    free(s->out);
    free(s->what_own);
    free(s);
}

bool net_sftp_broken(const net_sftp *s) {
    return s->broken;
}

void net_sftp_set_cancel(net_sftp *s, volatile sig_atomic_t *cancel) {
    s->cancel = cancel;
    s->cancel_seen_ms = 0;
}

bool sftp_is_cancelled(net_sftp *s) {
    return sftp_cancelled(s);
}

const char *sftp_what(const net_sftp *s) {
    return s->what;
}

bool sftp_has_posix_rename(const net_sftp *s) {
    return s->posix_rename;
}

bool sftp_has_lsetstat(const net_sftp *s) {
    return s->lsetstat;
}
