/*
 * net ssh client: a connection to a server over SSH and one command or
 * shell on it, with libssh in process (loaded on first use,
 * src/util/lazylib.c).
 *
 * The server's host key is checked against the fingerprint hearth recorded
 * when it planted the key. libssh asks for ed25519 first, so a server that
 * has other keys too shows the planted one; a server without an ed25519
 * key shows another type, which is said apart (its sshd_config lost the
 * planted key), and once accepted (--accept-new-host-key) is checked as
 * any other. No
 * known_hosts file is read or written and no ssh configuration is parsed,
 * so nothing in the user's home is touched. Authentication is the private
 * key given, as the user given.
 *
 * The command runs on one session channel; its output goes to out_fd and
 * err_fd through channel callbacks, and in_fd is read to its end and sent,
 * then EOF, all from one ssh_event loop that ends when the server closes the
 * channel (after the exit status). With a PTY on a terminal, SIGWINCH is
 * blocked and read from a signalfd in the same loop, so a resize never
 * interrupts a poll and goes to the server as a window-change request.
 */
#include <errno.h>
#include <fcntl.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "net/ssh_priv.h"

#define SSH_RETRY_MS 500
#define SSH_CONNECT_TIMEOUT_S 5L /* one attempt's TCP connect and banner */

struct run {
    int in_fd, out_fd, err_fd;
    int winch_fd; /* the signalfd of SIGWINCH, -1 without a terminal */
    ssh_channel ch;
    int status;  /* -1 until the server sends one */
    int werrno;  /* a write to out_fd or err_fd failed */
    bool in_eof; /* in_fd is done (or there is none) */
};

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            (void)poll(&pf, 1, -1);
            continue;
        }
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr,
                   void *ud) {
    (void)s;
    (void)ch;
    struct run *r = ud;
    int e = write_all(is_stderr ? r->err_fd : r->out_fd, data, len);
    if (e < 0 && !r->werrno)
        r->werrno = -e;
    return (int)len;
}

static void on_exit_status(ssh_session s, ssh_channel ch, int status, void *ud) {
    (void)s;
    (void)ch;
    ((struct run *)ud)->status = status & 0xff;
}

static int signal_number(const char *name) {
    static const struct {
        const char *name;
        int n;
    } sigs[] = {{"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"ABRT", 6},
                {"FPE", 8},   {"KILL", 9},  {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},
                {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}};
    for (size_t i = 0; name && i < ARRAY_SIZE(sigs); i++)
        if (strcmp(name, sigs[i].name) == 0)
            return sigs[i].n;
    return 0;
}

static void on_exit_signal(ssh_session s, ssh_channel ch, const char *sig, int core,
                           const char *msg, const char *lang, void *ud) {
    (void)s;
    (void)ch;
    (void)core;
    (void)msg;
    (void)lang;
    int n = signal_number(sig);
    ((struct run *)ud)->status = n ? 128 + n : 255;
}

/* in_fd is readable: what it has goes to the channel; at its end, EOF. */
static int on_stdin(socket_t fd, int revents, void *ud) {
    (void)revents;
    struct run *r = ud;
    char buf[32768];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        r->in_eof = true;
        ssh_channel_send_eof(r->ch);
        return 0;
    }
    for (ssize_t off = 0; off < n;) {
        int w = ssh_channel_write(r->ch, buf + off, (uint32_t)(n - off));
        if (w <= 0) { /* the channel is gone: the command ended without reading it all */
            r->in_eof = true;
            return 0;
        }
        off += w;
    }
    return 0;
}

/* The terminal changed size: so does the remote PTY. */
static int on_winch(socket_t fd, int revents, void *ud) {
    (void)revents;
    struct run *r = ud;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    struct winsize ws;
    if (ioctl(r->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row)
        ssh_channel_change_pty_size(r->ch, ws.ws_col, ws.ws_row);
    return 0;
}

/* One connection: the TCP connect and key exchange, then the host key check. 1 to retry. */
static int ssh_connect_once(struct net_ssh *c, char *last, size_t last_size, struct error *err) {
    const struct net_ssh_target *t = c->t;
    ssh_session s = ssh_new();
    if (!s) {
        int r = lazylib_ssh_error(err);
        return r == -ENOMEM ? error_oom(err) : r;
    }
    long timeout = SSH_CONNECT_TIMEOUT_S;
    int no = 0;
    if (ssh_options_set(s, SSH_OPTIONS_HOST, t->host) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &t->port) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_USER, t->user) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0) {
        int r = error_set(err, -EINVAL, "%s: ssh options: %s", t->what, ssh_get_error(s));
        ssh_free(s);
        return r;
    }
    if (ssh_connect(s) != SSH_OK) {
        snprintf(last, last_size, "%s", ssh_get_error(s));
        ssh_free(s);
        return 1;
    }
    ssh_key key = NULL;
    char *b64 = NULL;
    int r = 0;
    if (ssh_get_server_publickey(s, &key) != SSH_OK ||
        ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
        r = error_set(err, -EPROTO, "%s: cannot read the server's host key: %s", t->what,
                      ssh_get_error(s));
    if (r == 0)
        r = net_ssh_fingerprint(b64, c->host_key, err);
    const char *type = key ? ssh_key_type_to_char(ssh_key_type(key)) : NULL;
    if (!type)
        type = "unknown";
    ssh_string_free_char(b64);
    bool same = r == 0 && strcmp(c->host_key, t->fingerprint) == 0;
    if (r == 0 && !same && !t->accept_new_key && strcmp(type, "ssh-ed25519") != 0)
        /* libssh asks for ed25519 first: a server that has one shows it */
        r = error_set(err, -EBADMSG,
                      "%s at %s:%u has no ed25519 host key to show, only %s %s; its sshd_config "
                      "must keep 'HostKey /etc/ssh/ssh_host_ed25519_key', where hearth planted "
                      "the key it checks, or accept the guest's own key with 'hearth ssh "
                      "--accept-new-host-key'",
                      t->what, t->host, t->port, type, c->host_key);
    else if (r == 0 && !same && !t->accept_new_key)
        r = error_set(err, -EBADMSG,
                      "%s at %s:%u offers host key %s, not %s, the one hearth planted; someone "
                      "may be in the middle, or the guest replaced its key (an image's own "
                      "/etc/ssh/ssh_host_ed25519_key, or another HostKey in its sshd_config): "
                      "if so, accept it with 'hearth ssh --accept-new-host-key'",
                      t->what, t->host, t->port, c->host_key, t->fingerprint);
    ssh_key_free(key);
    if (r < 0) {
        ssh_disconnect(s);
        ssh_free(s);
        return r;
    }
    c->s = s;
    return 0;
}

static int ssh_auth(const struct net_ssh_target *t, ssh_session s, struct error *err) {
    ssh_key key = NULL;
    if (ssh_pki_import_privkey_file(t->identity, NULL, NULL, NULL, &key) != SSH_OK)
        return error_set(err, -EINVAL, "%s: cannot read the private key '%s'", t->what,
                         t->identity);
    int rc = ssh_userauth_publickey(s, NULL, key);
    ssh_key_free(key);
    if (rc != SSH_AUTH_SUCCESS)
        return error_set(err, -EACCES,
                         "%s refused the key '%s' for user '%s'%s%s; is its public key in "
                         "~%s/.ssh/authorized_keys of the guest, and does its sshd_config allow "
                         "%s to log in with a key ('PermitRootLogin prohibit-password')?",
                         t->what, t->identity, t->user, rc == SSH_AUTH_ERROR ? ": " : "",
                         rc == SSH_AUTH_ERROR ? ssh_get_error(s) : "", t->user, t->user);
    return 0;
}

int net_ssh_open(const struct net_ssh_target *t, net_ssh **ret, struct error *err) {
    struct net_ssh *c = calloc(1, sizeof(*c));
    if (!c)
        return error_oom(err);
    c->t = t;
    int64_t start = time_now_ms(), deadline = start + (int64_t)t->timeout_s * 1000;
    char last[256] = "";
    int r;
    while ((r = ssh_connect_once(c, last, sizeof(last), err)) > 0) {
        if (time_now_ms() + SSH_RETRY_MS > deadline) {
            r = error_set(err, -ETIMEDOUT,
                          "%s: no ssh server answered at %s:%u within %d s (%s); is the guest "
                          "up with sshd running? %s waits longer",
                          t->what, t->host, t->port, t->timeout_s, last,
                          t->timeout_flag ? t->timeout_flag : "a longer timeout");
            break;
        }
        sleep_ms(SSH_RETRY_MS);
        if (t->retry && !t->retry(t->retry_ud, time_now_ms() - start, last, err)) {
            r = err->code < 0 ? err->code : -ECANCELED;
            break;
        }
    }
    if (r == 0 && (r = ssh_auth(t, c->s, err)) < 0)
        ssh_disconnect(c->s);
    if (r < 0) {
        ssh_free(c->s);
        free(c);
        return r;
    }
    *ret = c;
    return 0;
}

const char *net_ssh_host_key(const net_ssh *c) {
    return c->host_key;
}

void net_ssh_close(net_ssh *c) {
    if (!c)
        return;
    ssh_disconnect(c->s);
    ssh_free(c->s);
    free(c);
}

/* A PTY of the terminal's size (80x24 when out_fd is none), and SIGWINCH to follow it. */
static int run_pty(net_ssh *c, ssh_channel ch, const struct net_ssh_io *io, struct run *run,
                   sigset_t *old_mask, struct error *err) {
    struct winsize ws = {.ws_col = 80, .ws_row = 24};
    bool term = isatty(io->out_fd) && ioctl(io->out_fd, TIOCGWINSZ, &ws) == 0;
    if (!ws.ws_col || !ws.ws_row)
        ws = (struct winsize){.ws_col = 80, .ws_row = 24};
    if (ssh_channel_request_pty_size(ch, io->term ? io->term : "xterm", ws.ws_col, ws.ws_row) !=
        SSH_OK)
        return error_set(err, -EPROTO, "%s: the server refused a terminal: %s", c->t->what,
                         ssh_get_error(c->s));
    if (!term)
        return 0;
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    if (pthread_sigmask(SIG_BLOCK, &winch, old_mask) != 0)
        return 0;
    run->winch_fd = signalfd(-1, &winch, SFD_NONBLOCK | SFD_CLOEXEC);
    if (run->winch_fd < 0)
        pthread_sigmask(SIG_SETMASK, old_mask, NULL);
    return 0;
}

int net_ssh_run(net_ssh *c, const char *command, const struct net_ssh_io *io, int *ret_status,
                struct error *err) {
    const struct net_ssh_target *t = c->t;
    struct run run = {.in_fd = io->in_fd,
                      .out_fd = io->out_fd,
                      .err_fd = io->err_fd,
                      .winch_fd = -1,
                      .status = -1,
                      .in_eof = io->in_fd < 0 || fcntl(io->in_fd, F_GETFD) < 0};
    ssh_channel ch = ssh_channel_new(c->s);
    if (!ch)
        return error_oom(err);
    run.ch = ch;
    sigset_t old_mask;
    int r = 0;
    if (ssh_channel_open_session(ch) != SSH_OK)
        r = error_set(err, -EPROTO, "%s: cannot open a session: %s", t->what, ssh_get_error(c->s));
    if (r == 0 && io->tty)
        r = run_pty(c, ch, io, &run, &old_mask, err);
    struct ssh_channel_callbacks_struct cb = {.userdata = &run,
                                              .channel_data_function = on_data,
                                              .channel_exit_status_function = on_exit_status,
                                              .channel_exit_signal_function = on_exit_signal};
    ssh_callbacks_init(&cb);
    if (r == 0 && ssh_set_channel_callbacks(ch, &cb) != SSH_OK)
        r = error_oom(err);
    if (r == 0 &&
        (command ? ssh_channel_request_exec(ch, command) : ssh_channel_request_shell(ch)) != SSH_OK)
        r = error_set(err, -EPROTO, "%s: the server refused to run %s: %s", t->what,
                      command ? "the command" : "a shell", ssh_get_error(c->s));
    ssh_event ev = r == 0 ? ssh_event_new() : NULL;
    if (r == 0 && (!ev || ssh_event_add_session(ev, c->s) != SSH_OK))
        r = error_oom(err);
    if (r == 0 && run.in_eof)
        ssh_channel_send_eof(ch);
    bool watching = false, winching = false;
    if (r == 0 && !run.in_eof) {
        if (ssh_event_add_fd(ev, io->in_fd, POLLIN, on_stdin, &run) != SSH_OK)
            r = error_oom(err);
        watching = r == 0;
    }
    if (r == 0 && run.winch_fd >= 0)
        winching = ssh_event_add_fd(ev, run.winch_fd, POLLIN, on_winch, &run) == SSH_OK;
    while (r == 0 && !ssh_channel_is_closed(ch)) {
        if (watching && run.in_eof) {
            ssh_event_remove_fd(ev, io->in_fd);
            watching = false;
        }
        if (ssh_event_dopoll(ev, 1000) == SSH_ERROR && !ssh_channel_is_closed(ch))
            r = error_set(err, -ECONNRESET, "%s: the connection broke: %s", t->what,
                          ssh_get_error(c->s));
    }
    if (watching)
        ssh_event_remove_fd(ev, io->in_fd);
    if (winching)
        ssh_event_remove_fd(ev, run.winch_fd);
    if (run.winch_fd >= 0) {
        close(run.winch_fd);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    if (ev) {
        ssh_event_remove_session(ev, c->s);
        ssh_event_free(ev);
    }
    ssh_channel_close(ch);
    ssh_channel_free(ch);
    if (r == 0)
        *ret_status = run.status >= 0 ? run.status : 255;
    return r;
}
