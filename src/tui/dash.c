/*
 * The dashboard's loop: reads keys, maps them to actions (keys.c), keeps
 * each screen's snapshot fresh (model.c) and paints (view.c).
 *
 * Refresh: every refresh interval (1 s) the loop reads PRAGMA data_version;
 * when another connection committed, the screens are marked stale and the
 * one shown is reloaded; otherwise its ages and uptimes are written again
 * (tui_table_retime), so that CREATED and STATUS say what `ps` would say
 * at that moment. Every few seconds engine_vm_refresh checks the VMs
 * recorded running against their processes (a dead monitor is recorded
 * Stopped, as `ps` shows it). Idle, the loop sleeps in poll(2).
 *
 * Actions run in a worker thread that opens an engine of its own (an engine
 * handle is not shared between threads), one at a time; its progress is the
 * status line and its result the message line. Logs are followed by a
 * thread that runs engine_vm_logs into a pipe the loop reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include "tui/tui_priv.h"

#define VM_REFRESH_MS 3000 /* how often VMs recorded running are checked */
#define OPS_SHOWN 500      /* finished operations on the Operations screen */
#define LOG_TAIL 2000      /* lines of a log shown before following it */
#define ESC_DELAY_MS 25

/*
 * Signal state, the only mutable globals of the dashboard: the quit flag
 * that SIGINT/SIGTERM set, whether curses owns the terminal (the crash
 * handler restores it), and the terminal's stderr kept aside while curses
 * runs (stderr goes to /dev/null meanwhile so that nothing scribbles over
 * the screen).
 */
static volatile sig_atomic_t quit_signal;
static volatile sig_atomic_t curses_active;
static int saved_stderr = -1;

void tui_dash_message(struct tui_dash *d, bool error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
    /* One line: a multi-line engine message is joined. */
    for (char *p = d->message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    d->message_error = error;
}

/* ---- signals ------------------------------------------------------------- */

static void on_quit(int sig) {
    (void)sig;
    quit_signal = 1;
}

static void on_crash(int sig) {
    if (curses_active)
        endwin();
    if (saved_stderr >= 0)
        dup2(saved_stderr, STDERR_FILENO);
    raise(sig); /* the handler was reset (SA_RESETHAND): the default action runs */
}

static const int crash_signals[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};

struct saved_signals {
    struct sigaction quit[2], pipe, crash[ARRAY_SIZE(crash_signals)];
};

static void signals_install(struct saved_signals *s) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, &s->quit[0]);
    sigaction(SIGTERM, &sa, &s->quit[1]);
    sa.sa_handler = SIG_IGN; /* a log pipe closed under its writer */
    sigaction(SIGPIPE, &sa, &s->pipe);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (size_t i = 0; i < ARRAY_SIZE(crash_signals); i++)
        sigaction(crash_signals[i], &sa, &s->crash[i]);
}

static void signals_restore(const struct saved_signals *s) {
    sigaction(SIGINT, &s->quit[0], NULL);
    sigaction(SIGTERM, &s->quit[1], NULL);
    sigaction(SIGPIPE, &s->pipe, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(crash_signals); i++)
        sigaction(crash_signals[i], &s->crash[i], NULL);
}

/* ---- the worker ---------------------------------------------------------- */

enum job_kind { JOB_START, JOB_STOP, JOB_KILL, JOB_DELETE, JOB_RUN };

struct worker {
    pthread_t thread;
    bool busy; /* a job was started and not yet collected (main thread only) */
    pthread_mutex_t mu;
    /* Under mu: */
    char stage[1024];
    bool done;
    bool failed;
    char result[ERROR_MSG_MAX + 256];
    /* The job, written before the thread starts. */
    enum job_kind kind;
    enum api_kind obj_kind;
    char ref[ID_LEN + 1];
    char name[512];
    struct api_object *vm; /* JOB_RUN: the document; freed when collected */
    struct engine_vm_start_opts start;
    const char *root;
    int wake[2]; /* the thread writes a byte when its stage changes or it ends */
};

static void worker_wake(struct worker *w) {
    ssize_t n = write(w->wake[1], "x", 1);
    (void)n; /* a full pipe already holds a wake-up */
}

static const char *job_verb(enum job_kind k) {
    switch (k) {
    case JOB_START:
        return "starting";
    case JOB_STOP:
        return "stopping";
    case JOB_KILL:
        return "killing";
    case JOB_DELETE:
        return "deleting";
    case JOB_RUN:
        return "creating";
    }
    return "?";
}

static void worker_stage(void *ud, const char *stage) {
    struct worker *w = ud;
    pthread_mutex_lock(&w->mu);
    snprintf(w->stage, sizeof(w->stage), "%s '%s': %s", job_verb(w->kind), w->name, stage);
    pthread_mutex_unlock(&w->mu);
    worker_wake(w);
}

/* Runs the job on the worker's own engine; fills result. */
static int job_run(struct worker *w, engine *e, char *result, size_t size, struct error *err) {
    const char *word = w->obj_kind == API_KIND_IMAGE    ? "image"
                       : w->obj_kind == API_KIND_KERNEL ? "kernel"
                                                        : "vm";
    int r;
    switch (w->kind) {
    case JOB_START: {
        struct engine_vm_start_result res;
        memset(&res, 0, sizeof(res));
        r = engine_vm_start(e, w->ref, &w->start, &res, err);
        if (r == 0)
            snprintf(result, size, "started vm '%s' (%s)%s%s", w->name, res.vmm,
                     res.notice[0] ? ": " : "", res.notice);
        return r;
    }
    case JOB_STOP: {
        struct engine_vm_stop_result sres;
        r = engine_vm_stop(e, w->ref, false, ENGINE_STOP_GRACE_MS, &sres, err);
        if (r == 0 && sres.killed) /* the guest did not shut down: say so, as the CLI does */
            snprintf(result, size, "stopped vm '%s': %s", w->name, sres.exit_reason);
        else if (r == 0)
            snprintf(result, size, "stopped vm '%s'", w->name);
        return r;
    }
    case JOB_KILL:
        r = engine_vm_kill(e, w->ref, NULL, err);
        if (r == 0)
            snprintf(result, size, "killed vm '%s'", w->name);
        return r;
    case JOB_DELETE:
        r = engine_remove(e, w->obj_kind, w->ref, false, NULL, err);
        if (r == 0)
            snprintf(result, size, "deleted %s '%s'", word, w->name);
        return r;
    case JOB_RUN: {
        struct engine_vm_create_opts co = {.stage = worker_stage, .ud = w};
        struct engine_vm_create_result cres;
        memset(&cres, 0, sizeof(cres));
        r = engine_vm_create(e, w->vm, &co, &cres, err);
        if (r < 0)
            return r;
        snprintf(w->name, sizeof(w->name), "%s", cres.name);
        worker_stage(w, "starting");
        struct engine_vm_start_result sres;
        memset(&sres, 0, sizeof(sres));
        r = engine_vm_start(e, cres.uid, &w->start, &sres, err);
        if (r < 0)
            return error_prefix(err, "vm '%s' was created but not started", cres.name);
        snprintf(result, size, "vm '%s' created and started (%s)", cres.name, sres.vmm);
        return 0;
    }
    }
    return error_set(err, -EINVAL, "unknown job");
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct error err;
    error_init(&err);
    char result[sizeof(w->result)] = "";
    engine *e = NULL;
    int r = engine_open(w->root, &e, &err);
    if (r == 0)
        r = job_run(w, e, result, sizeof(result), &err);
    engine_free(e);
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->failed = r < 0;
    snprintf(w->result, sizeof(w->result), "%s", r < 0 ? err.msg : result);
    pthread_mutex_unlock(&w->mu);
    worker_wake(w);
    return NULL;
}

/* Starts a job (takes vm). Refused while another runs. */
static void job_start(struct tui_dash *d, struct worker *w, enum job_kind kind,
                      enum api_kind obj_kind, const char *ref, const char *name,
                      struct api_object *vm) {
    if (w->busy) {
        api_object_free(vm);
        tui_dash_message(d, true, "busy: %s; try again when it is done", d->status);
        return;
    }
    w->kind = kind;
    w->obj_kind = obj_kind;
    snprintf(w->ref, sizeof(w->ref), "%s", ref ? ref : "");
    snprintf(w->name, sizeof(w->name), "%s", name ? name : "");
    w->vm = vm;
    w->done = false;
    w->failed = false;
    snprintf(w->stage, sizeof(w->stage), "%s '%s'", job_verb(kind), w->name);
    snprintf(d->status, sizeof(d->status), "%s", w->stage);
    int r = pthread_create(&w->thread, NULL, worker_main, w);
    if (r != 0) {
        api_object_free(w->vm);
        w->vm = NULL;
        d->status[0] = '\0';
        tui_dash_message(d, true, "cannot start a thread: %s", strerror(r));
        return;
    }
    w->busy = true;
    d->message[0] = '\0';
}

/* Collects the stage or the result after a wake-up. */
static void worker_poll(struct tui_dash *d, struct worker *w) {
    char buf[64];
    while (read(w->wake[0], buf, sizeof(buf)) > 0) {
    }
    if (!w->busy)
        return;
    pthread_mutex_lock(&w->mu);
    bool done = w->done;
    snprintf(d->status, sizeof(d->status), "%s", w->stage);
    pthread_mutex_unlock(&w->mu);
    if (!done)
        return;
    pthread_join(w->thread, NULL);
    w->busy = false;
    api_object_free(w->vm);
    w->vm = NULL;
    d->status[0] = '\0';
    tui_dash_message(d, w->failed, "%s", w->result);
    for (int s = 0; s < TUI_SCREEN_COUNT; s++)
        d->stale[s] = true;
}

/* ---- following logs ------------------------------------------------------ */

struct logs {
    atomic_int refs; /* the loop and the thread; the last one frees */
    pthread_t thread;
    volatile sig_atomic_t cancel;
    int fd; /* the write end, the thread's */
    char root[4096];
    char ref[ID_LEN + 1];
};

static void logs_unref(struct logs *l) {
    if (atomic_fetch_sub(&l->refs, 1) == 1)
        free(l);
}

static void *logs_main(void *arg) {
    struct logs *l = arg;
    struct error err;
    error_init(&err);
    engine *e = NULL;
    int r = engine_open(l->root, &e, &err);
    if (r == 0)
        r = engine_vm_logs(e, l->ref, true, LOG_TAIL, l->fd, &l->cancel, &err);
    engine_free(e);
    if (r < 0 && !l->cancel) {
        char msg[ERROR_MSG_MAX + 32];
        int n = snprintf(msg, sizeof(msg), "\n[error: %s]\n", err.msg);
        ssize_t w = write(l->fd, msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0);
        (void)w;
    }
    close(l->fd);
    logs_unref(l);
    return NULL;
}

struct logs_view {
    struct logs *l; /* NULL when no log is followed */
    int fd;         /* the read end */
};

static void logs_close(struct logs_view *v) {
    if (!v->l)
        return;
    v->l->cancel = 1;
    close(v->fd); /* a writer blocked on a full pipe gets EPIPE */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    if (pthread_timedjoin_np(v->l->thread, NULL, &until) != 0)
        pthread_detach(v->l->thread); /* it frees its half when engine_vm_logs returns */
    logs_unref(v->l);
    v->l = NULL;
    v->fd = -1;
}

static int logs_open(struct tui_dash *d, struct logs_view *v, const char *uid, const char *name) {
    logs_close(v);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return error_set(NULL, -errno, "pipe");
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    struct logs *l = xcalloc(1, sizeof(*l));
    if (!l) {
        close(p[0]);
        close(p[1]);
        return -ENOMEM;
    }
    atomic_init(&l->refs, 2);
    l->fd = p[1];
    snprintf(l->root, sizeof(l->root), "%s", engine_root(d->e));
    snprintf(l->ref, sizeof(l->ref), "%s", uid);
    int r = pthread_create(&l->thread, NULL, logs_main, l);
    if (r != 0) {
        close(p[0]);
        close(p[1]);
        free(l);
        return -r;
    }
    v->l = l;
    v->fd = p[0];
    char title[128];
    snprintf(title, sizeof(title), "logs of vm '%s'", name);
    if (tui_text_set(&d->text, title, "", 0) < 0)
        return -ENOMEM;
    d->text.follow = true;
    d->text_is_log = true;
    d->mode = TUI_MODE_TEXT;
    return 0;
}

/* Reads what the log thread wrote; false at its end. */
static bool logs_read(struct tui_dash *d, struct logs_view *v) {
    char buf[65536];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(v->fd, buf, sizeof(buf));
        if (n > 0) {
            if (tui_text_append(&d->text, buf, (size_t)n) < 0)
                return false;
            continue;
        }
        if (n == 0) {
            tui_dash_message(d, false, "the log ended");
            return false;
        }
        break; /* EAGAIN: all read */
    }
    return true;
}

/* ---- loading screens ----------------------------------------------------- */

static int load_screen(struct tui_dash *d, enum tui_screen s, struct error *err) {
    int64_t now = time(NULL);
    struct tui_table *t = NULL;
    int r = 0;
    switch (s) {
    case TUI_SCREEN_VMS: {
        struct engine_vm_summaries *l = NULL;
        r = engine_vm_summaries(d->e, &l, err);
        if (r < 0)
            return r;
        r = tui_table_vms(l, now, &t);
        engine_vm_summaries_free(l);
        break;
    }
    case TUI_SCREEN_IMAGES:
    case TUI_SCREEN_KERNELS: {
        enum api_kind kind = s == TUI_SCREEN_IMAGES ? API_KIND_IMAGE : API_KIND_KERNEL;
        struct api_object **objs = NULL;
        size_t n = 0;
        r = engine_list(d->e, kind, &objs, &n, err);
        if (r < 0)
            return r;
        r = tui_table_objects(kind, objs, n, now, &t);
        api_objects_free(objs, n);
        break;
    }
    case TUI_SCREEN_POOL: {
        struct engine_pool_status st;
        memset(&st, 0, sizeof(st));
        struct error perr;
        error_init(&perr);
        bool have = engine_pool_status(d->e, &st, &perr) == 0;
        struct engine_device *devs = NULL;
        size_t n = 0;
        r = engine_pool_devices(d->e, &devs, &n, err);
        if (r == 0)
            r = tui_table_pool(have ? &st : NULL,
                               perr.code == -ENOENT ? "no pool: create one with 'hearth pool init'"
                                                    : perr.msg,
                               devs, n, now, &t);
        engine_devices_free(devs, n);
        if (have)
            engine_pool_status_release(&st);
        if (r < 0 && !err->msg[0])
            error_set(err, r, "out of memory");
        return r < 0 ? r : tui_list_set_table(&d->lists[s], t);
    }
    case TUI_SCREEN_OPS: {
        struct engine_journal_entry *ops = NULL;
        size_t n = 0;
        r = engine_ops_recent(d->e, OPS_SHOWN, &ops, &n, err);
        if (r < 0)
            return r;
        r = tui_table_ops(ops, n, now, &t);
        engine_journal_entries_free(ops, n);
        break;
    }
    default:
        return 0;
    }
    if (r < 0)
        return error_set(err, r, "out of memory");
    r = tui_list_set_table(&d->lists[s], t);
    return r < 0 ? error_set(err, r, "out of memory") : 0;
}

static void reload_current(struct tui_dash *d) {
    if (!d->stale[d->screen])
        return;
    struct error err;
    error_init(&err);
    if (load_screen(d, d->screen, &err) < 0)
        tui_dash_message(d, true, "%s", err.msg);
    d->stale[d->screen] = false;
}

/* ---- actions ------------------------------------------------------------- */

static const struct tui_row *selected(struct tui_dash *d) {
    return tui_list_selected(&d->lists[d->screen]);
}

/* The selected VM, or NULL with a message when the screen shows no VM. */
static const struct tui_row *selected_vm(struct tui_dash *d) {
    const struct tui_row *row = selected(d);
    if (d->screen != TUI_SCREEN_VMS || !row) {
        tui_dash_message(d, true, "select a VM on the VMs screen (1) first");
        return NULL;
    }
    return row;
}

/* The name of a VM/image/kernel row (the NAME column). */
static const char *row_name(struct tui_dash *d, const struct tui_row *row) {
    if (d->screen == TUI_SCREEN_VMS)
        return row->cells[10];
    if (d->screen == TUI_SCREEN_IMAGES || d->screen == TUI_SCREEN_KERNELS)
        return row->cells[1];
    return row->key;
}

static void show_text(struct tui_dash *d, const char *title, const struct strbuf *sb) {
    if (tui_text_set(&d->text, title, sb->buf ? sb->buf : "", sb->len) < 0) {
        tui_dash_message(d, true, "out of memory");
        return;
    }
    d->text_is_log = false;
    d->mode = TUI_MODE_TEXT;
}

static void act_describe(struct tui_dash *d) {
    const struct tui_row *row = selected(d);
    if (!row) {
        tui_dash_message(d, true, "nothing to describe");
        return;
    }
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    if (tui_describe(d->e, d->screen, row, &sb, &err) < 0) {
        tui_dash_message(d, true, "%s", err.msg);
        return;
    }
    char title[256];
    snprintf(title, sizeof(title), "describe %s %s", tui_screen_title(d->screen), row_name(d, row));
    show_text(d, title, &sb);
}

static void act_help(struct tui_dash *d) {
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    if (tui_help_text(d->opts->readonly, &sb) < 0) {
        tui_dash_message(d, true, "out of memory");
        return;
    }
    show_text(d, "help", &sb);
}

static void act_run_form(struct tui_dash *d) {
    const struct tui_row *row = selected(d);
    const char *image = NULL;
    if (d->screen == TUI_SCREEN_IMAGES && row)
        image = row->cells[1];
    else if (d->screen == TUI_SCREEN_VMS && row && strcmp(row->cells[1], "-") != 0)
        image = row->cells[1];
    if (!image) {
        tui_dash_message(d, true, "select an image on the Images screen (2) first");
        return;
    }
    tui_form_init(&d->form, image, NULL);
    d->mode = TUI_MODE_FORM;
}

static void start_opts(struct tui_dash *d, struct worker *w) {
    memset(&w->start, 0, sizeof(w->start));
    w->start.vmm = d->opts->vmm;
    w->start.firecracker_bin = d->opts->firecracker_bin;
    w->start.qemu_bin = d->opts->qemu_bin;
}

/* Attaches the terminal to the VM's console: curses steps aside until ^P^Q. */
static void act_attach(struct tui_dash *d, const struct tui_row *row) {
    char uid[ID_LEN + 1], name[128];
    snprintf(uid, sizeof(uid), "%s", row->key);
    snprintf(name, sizeof(name), "%s", row_name(d, row));
    struct error err;
    error_init(&err);
    engine_attach *a = NULL;
    if (engine_vm_attach_open(d->e, uid, &a, &err) < 0) { /* not running: only the error */
        tui_dash_message(d, true, "%s", err.msg);
        return;
    }
    def_prog_mode();
    endwin();
    struct termios old, raw;
    bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        raw = old;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    char hello[256];
    int n = snprintf(hello, sizeof(hello), "attached to vm '%s'; detach with ^P^Q\r\n", name);
    ssize_t wr = write(STDOUT_FILENO, hello, n > 0 ? (size_t)n : 0);
    (void)wr;
    struct engine_vm_attach_result res;
    int r = engine_vm_attach_run(a, STDIN_FILENO, STDOUT_FILENO, &res, &err);
    engine_vm_attach_free(a);
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    reset_prog_mode();
    clearok(curscr, TRUE);
    refresh();
    if (r < 0)
        tui_dash_message(d, true, "%s", err.msg);
    else if (res.detached)
        tui_dash_message(d, false, "detached from vm '%s'", name);
    else
        tui_dash_message(d, false, "vm '%s' stopped (%s)", name, res.exit_reason);
    for (int s = 0; s < TUI_SCREEN_COUNT; s++)
        d->stale[s] = true;
}

struct loop {
    struct tui_dash *d;
    struct worker *w;
    struct logs_view *logs;
    bool quit;
    bool quit_pending; /* quit once the worker is done */
    /* The confirmed action. */
    enum api_kind confirm_kind;
    char confirm_ref[ID_LEN + 1];
    char confirm_name[256];
};

static void switch_screen(struct tui_dash *d, int s) {
    d->screen = (enum tui_screen)(((s % TUI_SCREEN_COUNT) + TUI_SCREEN_COUNT) % TUI_SCREEN_COUNT);
    d->message[0] = '\0';
    reload_current(d);
}

static void request_quit(struct loop *lp) {
    if (lp->w->busy && !lp->quit_pending) {
        lp->quit_pending = true;
        tui_dash_message(lp->d, false, "waiting for %s to finish; q again quits at once",
                         lp->d->status);
        return;
    }
    lp->quit = true;
}

static void sort_step(struct tui_dash *d, int delta) {
    struct tui_list *l = &d->lists[d->screen];
    if (!l->table)
        return;
    int n = (int)l->table->ncols;
    /* -1 (natural order), 0 .. n-1 in a ring. */
    int col = l->sort_col + delta;
    if (col < -1)
        col = n - 1;
    if (col >= n)
        col = -1;
    if (tui_list_sort(l, col, l->reverse) < 0)
        tui_dash_message(d, true, "out of memory");
}

static void list_action(struct loop *lp, int ch) {
    struct tui_dash *d = lp->d;
    struct tui_list *l = &d->lists[d->screen];
    const struct tui_key *key = NULL;
    enum tui_action a = tui_key_action(ch, &key);
    if (a == TUI_ACT_NONE)
        return;
    if (key && key->changes && d->opts->readonly) {
        tui_dash_message(d, true, "read-only: '%s' (%s) is off", key->label, key->help);
        return;
    }
    if (a != TUI_ACT_CLEAR)
        d->message[0] = '\0';
    size_t page = d->list_height > 1 ? d->list_height - 1 : 1;
    const struct tui_row *row;
    switch (a) {
    case TUI_ACT_QUIT:
        request_quit(lp);
        break;
    case TUI_ACT_HELP:
        act_help(d);
        break;
    case TUI_ACT_NEXT_SCREEN:
        switch_screen(d, (int)d->screen + 1);
        break;
    case TUI_ACT_PREV_SCREEN:
        switch_screen(d, (int)d->screen - 1);
        break;
    case TUI_ACT_SCREEN_1:
    case TUI_ACT_SCREEN_2:
    case TUI_ACT_SCREEN_3:
    case TUI_ACT_SCREEN_4:
    case TUI_ACT_SCREEN_5:
        switch_screen(d, (int)(a - TUI_ACT_SCREEN_1));
        break;
    case TUI_ACT_UP:
        tui_list_move(l, -1);
        break;
    case TUI_ACT_DOWN:
        tui_list_move(l, 1);
        break;
    case TUI_ACT_PAGE_UP:
        tui_list_move(l, -(long)page);
        break;
    case TUI_ACT_PAGE_DOWN:
        tui_list_move(l, (long)page);
        break;
    case TUI_ACT_HOME:
        tui_list_home(l);
        break;
    case TUI_ACT_END:
        tui_list_end(l);
        break;
    case TUI_ACT_FILTER:
        d->mode = TUI_MODE_FILTER;
        break;
    case TUI_ACT_CLEAR:
        d->message[0] = '\0';
        if (l->filter[0] && tui_list_set_filter(l, "") < 0)
            tui_dash_message(d, true, "out of memory");
        break;
    case TUI_ACT_SORT_PREV:
        sort_step(d, -1);
        break;
    case TUI_ACT_SORT_NEXT:
        sort_step(d, 1);
        break;
    case TUI_ACT_REVERSE:
        if (tui_list_sort(l, l->sort_col, !l->reverse) < 0)
            tui_dash_message(d, true, "out of memory");
        break;
    case TUI_ACT_DESCRIBE:
        act_describe(d);
        break;
    case TUI_ACT_LOGS:
        if ((row = selected_vm(d))) {
            int r = logs_open(d, lp->logs, row->key, row_name(d, row));
            if (r < 0)
                tui_dash_message(d, true, "cannot follow the log: %s", strerror(-r));
        }
        break;
    case TUI_ACT_START:
    case TUI_ACT_STOP:
    case TUI_ACT_KILL:
        if ((row = selected_vm(d))) {
            start_opts(d, lp->w);
            enum job_kind k = a == TUI_ACT_START  ? JOB_START
                              : a == TUI_ACT_STOP ? JOB_STOP
                                                  : JOB_KILL;
            job_start(d, lp->w, k, API_KIND_VM, row->key, row_name(d, row), NULL);
        }
        break;
    case TUI_ACT_RUN:
        act_run_form(d);
        break;
    case TUI_ACT_DELETE:
        row = selected(d);
        if (!row || d->screen > TUI_SCREEN_KERNELS) {
            tui_dash_message(d, true, "select a VM, an image or a kernel to delete");
            break;
        }
        lp->confirm_kind = row->kind;
        snprintf(lp->confirm_ref, sizeof(lp->confirm_ref), "%s", row->key);
        snprintf(lp->confirm_name, sizeof(lp->confirm_name), "%s", row_name(d, row));
        snprintf(d->confirm, sizeof(d->confirm), "delete %s '%s'? [y/N]",
                 row->kind == API_KIND_VM      ? "vm"
                 : row->kind == API_KIND_IMAGE ? "image"
                                               : "kernel",
                 lp->confirm_name);
        d->mode = TUI_MODE_CONFIRM;
        break;
    case TUI_ACT_ATTACH:
        if ((row = selected_vm(d)))
            act_attach(d, row);
        break;
    case TUI_ACT_REFRESH:
        for (int s = 0; s < TUI_SCREEN_COUNT; s++)
            d->stale[s] = true;
        reload_current(d);
        clearok(curscr, TRUE);
        break;
    case TUI_ACT_NONE:
        break;
    }
}

static void filter_key(struct tui_dash *d, int ch) {
    struct tui_list *l = &d->lists[d->screen];
    char f[TUI_FILTER_MAX];
    snprintf(f, sizeof(f), "%s", l->filter);
    size_t len = strlen(f);
    if (ch == 27) {
        f[0] = '\0';
        d->mode = TUI_MODE_LIST;
    } else if (ch == '\n' || ch == KEY_ENTER) {
        d->mode = TUI_MODE_LIST;
        return;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (len)
            f[len - 1] = '\0';
    } else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(f)) {
        f[len] = (char)ch;
        f[len + 1] = '\0';
    } else {
        return;
    }
    if (tui_list_set_filter(l, f) < 0)
        tui_dash_message(d, true, "out of memory");
}

static void text_key(struct loop *lp, int ch) {
    struct tui_dash *d = lp->d;
    size_t h = d->text_height ? d->text_height : 1;
    switch (ch) {
    case 'q':
    case 27:
    case '\n':
    case KEY_ENTER:
        if (d->text_is_log)
            logs_close(lp->logs);
        d->mode = TUI_MODE_LIST;
        d->text_is_log = false;
        tui_text_release(&d->text);
        break;
    case KEY_UP:
    case 'k':
        tui_text_scroll(&d->text, -1, h);
        break;
    case KEY_DOWN:
    case 'j':
        tui_text_scroll(&d->text, 1, h);
        break;
    case KEY_PPAGE:
    case 2: /* ^B */
        tui_text_scroll(&d->text, -(long)h, h);
        break;
    case KEY_NPAGE:
    case 6: /* ^F */
    case ' ':
        tui_text_scroll(&d->text, (long)h, h);
        break;
    case KEY_HOME:
    case 'g':
        tui_text_home(&d->text);
        break;
    case KEY_END:
    case 'G':
        tui_text_end(&d->text, h);
        break;
    default:
        break;
    }
}

static void form_key(struct loop *lp, int ch) {
    struct tui_dash *d = lp->d;
    switch (ch) {
    case 27:
        d->mode = TUI_MODE_LIST;
        tui_dash_message(d, false, "run cancelled");
        return;
    case '\t':
    case KEY_DOWN:
        tui_form_next(&d->form, 1);
        return;
    case KEY_BTAB:
    case KEY_UP:
        tui_form_next(&d->form, -1);
        return;
    case KEY_BACKSPACE:
    case 127:
    case 8:
        tui_form_backspace(&d->form);
        return;
    case '\n':
    case KEY_ENTER: {
        struct api_object *vm = NULL;
        int r = tui_form_build(&d->form, &vm);
        if (r == -ENOMEM)
            snprintf(d->form.error, sizeof(d->form.error), "out of memory");
        if (r < 0)
            return;
        d->mode = TUI_MODE_LIST;
        start_opts(d, lp->w);
        job_start(d, lp->w, JOB_RUN, API_KIND_VM, "",
                  d->form.values[TUI_FORM_NAME][0] ? d->form.values[TUI_FORM_NAME] : "(new)", vm);
        return;
    }
    default:
        tui_form_insert(&d->form, ch);
    }
}

static void confirm_key(struct loop *lp, int ch) {
    struct tui_dash *d = lp->d;
    d->mode = TUI_MODE_LIST;
    if (ch == 'y' || ch == 'Y')
        job_start(d, lp->w, JOB_DELETE, lp->confirm_kind, lp->confirm_ref, lp->confirm_name, NULL);
    else
        tui_dash_message(d, false, "not deleted");
}

static void handle_key(struct loop *lp, int ch) {
    struct tui_dash *d = lp->d;
    if (ch == KEY_RESIZE)
        return; /* repainted at the new size */
    switch (d->mode) {
    case TUI_MODE_LIST:
        list_action(lp, ch);
        break;
    case TUI_MODE_FILTER:
        filter_key(d, ch);
        break;
    case TUI_MODE_CONFIRM:
        confirm_key(lp, ch);
        break;
    case TUI_MODE_FORM:
        form_key(lp, ch);
        break;
    case TUI_MODE_TEXT:
        text_key(lp, ch);
        break;
    }
}

/* ---- the loop ------------------------------------------------------------ */

/* One refresh tick: reload what changed. Returns true when something did. */
static bool tick(struct tui_dash *d, int64_t *data_version, int64_t now, int64_t *next_vm) {
    bool changed = false;
    int64_t v = 0;
    struct error err;
    error_init(&err);
    if (engine_data_version(d->e, &v, &err) == 0 && v != *data_version) {
        *data_version = v;
        changed = true;
    }
    if (now >= *next_vm) {
        *next_vm = now + VM_REFRESH_MS;
        size_t n = 0;
        if (engine_vm_refresh(d->e, &n, &err) < 0)
            tui_dash_message(d, true, "%s", err.msg);
        else if (n > 0)
            changed = true;
    }
    if (changed) {
        for (int s = 0; s < TUI_SCREEN_COUNT; s++)
            d->stale[s] = true;
        reload_current(d);
        return true;
    }
    /* Ages and uptimes move on without a reload: the same words as `ps`, now. */
    struct tui_table *t = d->screen < TUI_SCREEN_COUNT ? d->lists[d->screen].table : NULL;
    return t && tui_table_retime(t, time(NULL));
}

static int run_loop(struct tui_dash *d, struct worker *w, struct logs_view *logs) {
    struct loop lp = {.d = d, .w = w, .logs = logs};
    int interval = d->opts->refresh_ms > 0 ? d->opts->refresh_ms : 1000;
    int64_t data_version = 0;
    struct error err;
    error_init(&err);
    if (engine_data_version(d->e, &data_version, &err) < 0)
        tui_dash_message(d, true, "%s", err.msg);
    int64_t now = time_now_ms();
    int64_t next_tick = now + interval, next_vm = now + VM_REFRESH_MS;
    reload_current(d);
    bool dirty = true;
    while (!lp.quit) {
        if (d->mode != TUI_MODE_TEXT && d->screen < TUI_SCREEN_COUNT && d->stale[d->screen]) {
            reload_current(d);
            dirty = true;
        }
        if (dirty) {
            tui_view_paint(d);
            dirty = false;
        }
        struct pollfd fds[3] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = w->wake[0], .events = POLLIN},
                                {.fd = logs->l ? logs->fd : -1, .events = POLLIN}};
        now = time_now_ms();
        int timeout = next_tick > now ? (int)(next_tick - now) : 0;
        int pr = poll(fds, 3, timeout);
        if (quit_signal) {
            quit_signal = 0;
            request_quit(&lp);
            dirty = true;
            if (lp.quit)
                break;
        }
        if (pr < 0 && errno != EINTR)
            return error_set(NULL, -errno, "poll");
        /* Keys (also after EINTR: SIGWINCH becomes KEY_RESIZE in getch). */
        for (int ch; (ch = getch()) != ERR;) {
            handle_key(&lp, ch);
            dirty = true;
            if (lp.quit)
                break;
        }
        if (pr > 0 && (fds[1].revents & POLLIN)) {
            worker_poll(d, w);
            dirty = true;
            if (lp.quit_pending && !w->busy)
                lp.quit = true;
        }
        if (pr > 0 && logs->l && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (!logs_read(d, logs))
                logs_close(logs);
            dirty = true;
        }
        now = time_now_ms();
        if (now >= next_tick) {
            next_tick = now + interval;
            if (tick(d, &data_version, now, &next_vm))
                dirty = true;
        }
    }
    return 0;
}

int tui_main(engine *e, const struct tui_opts *opts, struct error *err) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return error_set(err, -ENOTTY, "'hearth dash' needs a terminal");
    _cleanup_free_ struct tui_dash *d = xcalloc(1, sizeof(*d));
    if (!d)
        return error_oom(err);
    d->e = e;
    d->opts = opts;
    for (int s = 0; s < TUI_SCREEN_COUNT; s++) {
        tui_list_init(&d->lists[s]);
        d->stale[s] = true;
    }
    tui_text_init(&d->text);

    /* Static: a job still running when the user quits at once keeps using it until exit. */
    static struct worker w;
    memset(&w, 0, sizeof(w));
    w.root = engine_root(e);
    if (pipe2(w.wake, O_CLOEXEC | O_NONBLOCK) < 0)
        return error_set(err, -errno, "cannot make a pipe: %s", strerror(errno));
    pthread_mutex_init(&w.mu, NULL);
    struct logs_view logs = {.l = NULL, .fd = -1};

    setlocale(LC_CTYPE, "");
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        close(w.wake[0]);
        close(w.wake[1]);
        pthread_mutex_destroy(&w.mu);
        return error_set(err, -ENOTTY, "cannot start the terminal (TERM=%s)",
                         getenv("TERM") ? getenv("TERM") : "");
    }
    struct saved_signals sigs;
    quit_signal = 0;
    signals_install(&sigs);
    curses_active = 1;
    if (isatty(STDERR_FILENO)) {
        saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    set_escdelay(ESC_DELAY_MS);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    d->color = tui_view_colors_init();

    int r = run_loop(d, &w, &logs);

    logs_close(&logs);
    endwin();
    curses_active = 0;
    delscreen(scr);
    if (saved_stderr >= 0) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        saved_stderr = -1;
    }
    signals_restore(&sigs);
    if (w.busy) {
        /* Quit at once while a job runs: it goes on until the process exits; an
         * operation cut short there is the journal's to recover, as after a crash. */
        pthread_detach(w.thread);
    } else {
        close(w.wake[0]);
        close(w.wake[1]);
        pthread_mutex_destroy(&w.mu);
    }
    for (int s = 0; s < TUI_SCREEN_COUNT; s++)
        tui_list_release(&d->lists[s]);
    tui_text_release(&d->text);
    if (r < 0)
        return error_set(err, r, "the dashboard failed: %s", strerror(-r));
    return 0;
}
