/*
 * `hearth image import` and `hearth kernel import`: the front end of the
 * engine's imports. Prints Ignite's way (the new object's id last; with -q
 * only the id), renders a `docker pull`-like progress display on a terminal
 * from the oci module's progress callback (one line per layer, redrawn in
 * place with ANSI cursor movement), and turns SIGINT/SIGTERM into the
 * engine's cancel flag: the engine undoes the import, the command says
 * "import cancelled" and exits 130.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_priv.h"

/*
 * Set by the SIGINT/SIGTERM handler while an import runs; the engine reads
 * it through engine_import_opts.cancel. One of the CLI's allowed globals.
 */
static volatile sig_atomic_t import_cancel;

static void on_signal(int sig) {
    (void)sig;
    import_cancel = 1;
}

struct signals {
    struct sigaction old_int, old_term;
};

static void signals_catch(struct signals *s) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    import_cancel = 0;
    sigaction(SIGINT, &sa, &s->old_int);
    sigaction(SIGTERM, &sa, &s->old_term);
}

static void signals_restore(const struct signals *s) {
    sigaction(SIGINT, &s->old_int, NULL);
    sigaction(SIGTERM, &s->old_term, NULL);
}

/* ---- progress ---------------------------------------------------------- */

#define PROGRESS_LAYERS_MAX 256 /* lines drawn; more layers share the last state silently */

struct layer_line {
    char id[13]; /* the first 12 hex digits of the digest */
    enum oci_progress_state state;
    uint64_t done, total;
    double rate;   /* bytes per second, smoothed */
    double last_t; /* when done was last sampled */
    uint64_t last_done;
};

struct progress_view {
    pthread_mutex_t lock; /* the pull may report from several threads */
    struct layer_line lines[PROGRESS_LAYERS_MAX];
    size_t n;
    size_t drawn; /* lines on screen from the last draw */
    double last_draw;
};

static double now_s(void) {
    return (double)time_now_ms() / 1000.0;
}

/* Decimal sizes as docker prints them: "512B", "12.3kB", "50.1MB", "1.2GB". */
static void size_fmt(double v, char *buf, size_t size) {
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    size_t u = 0;
    while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%.0f%s", v, units[u]);
    else
        snprintf(buf, size, "%.1f%s", v, units[u]);
}

static void line_fmt(const struct layer_line *l, char *buf, size_t size) {
    /* What docker pull says in each state but downloading. */
    static const char *const words[] = {
        [OCI_PROGRESS_WAITING] = "Waiting",       [OCI_PROGRESS_VERIFYING] = "Verifying Checksum",
        [OCI_PROGRESS_CACHED] = "Already exists", [OCI_PROGRESS_DONE] = "Pull complete",
        [OCI_PROGRESS_RETRYING] = "Retrying",
    };
    if (l->state == OCI_PROGRESS_DOWNLOADING) {
        char done[32], total[32], rate[32];
        size_fmt((double)l->done, done, sizeof(done));
        size_fmt((double)l->total, total, sizeof(total));
        size_fmt(l->rate, rate, sizeof(rate));
        if (l->rate > 0)
            snprintf(buf, size, "%s: Downloading  %s/%s  %s/s", l->id, done, total, rate);
        else
            snprintf(buf, size, "%s: Downloading  %s/%s", l->id, done, total);
    } else if ((size_t)l->state < ARRAY_SIZE(words) && words[l->state]) {
        snprintf(buf, size, "%s: %s", l->id, words[l->state]);
    }
}

/* Redraws every line in place. Called with the lock held. */
static void progress_draw(struct progress_view *v) {
    if (v->drawn > 0)
        printf("\033[%zuA", v->drawn);
    for (size_t i = 0; i < v->n; i++) {
        char line[160];
        line_fmt(&v->lines[i], line, sizeof(line));
        printf("\r\033[K%s\n", line);
    }
    v->drawn = v->n;
    fflush(stdout);
    v->last_draw = now_s();
}

static void on_progress(void *ud, const struct oci_progress *p) {
    struct progress_view *v = ud;
    if (!p->is_layer || !p->digest)
        return;
    const char *hex = strchr(p->digest, ':');
    hex = hex ? hex + 1 : p->digest;
    pthread_mutex_lock(&v->lock);
    struct layer_line *l = NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strncmp(v->lines[i].id, hex, 12) == 0)
            l = &v->lines[i];
    if (!l && v->n < PROGRESS_LAYERS_MAX) {
        l = &v->lines[v->n++];
        memset(l, 0, sizeof(*l));
        snprintf(l->id, sizeof(l->id), "%.12s", hex);
        l->last_t = now_s();
    }
    if (!l) {
        pthread_mutex_unlock(&v->lock);
        return;
    }
    bool changed = l->state != p->state;
    double t = now_s();
    if (p->state == OCI_PROGRESS_DOWNLOADING && t - l->last_t >= 0.25) {
        double inst =
            p->done >= l->last_done ? (double)(p->done - l->last_done) / (t - l->last_t) : 0;
        l->rate = l->rate > 0 ? 0.7 * l->rate + 0.3 * inst : inst;
        l->last_t = t;
        l->last_done = p->done;
    }
    l->state = p->state;
    l->done = p->done;
    l->total = p->total;
    if (changed || t - v->last_draw >= 0.1)
        progress_draw(v);
    pthread_mutex_unlock(&v->lock);
}

static void on_stage(void *ud, const char *stage) {
    struct progress_view *v = ud;
    pthread_mutex_lock(&v->lock);
    if (v->n > 0)
        progress_draw(v);
    v->n = 0;
    v->drawn = 0;
    printf("%s\n", stage);
    fflush(stdout);
    pthread_mutex_unlock(&v->lock);
}

/* ---- the commands ------------------------------------------------------ */

/* Fills opts from the shared flags; the progress display when stdout is a terminal. */
static void opts_from_flags(struct cli_ctx *ctx, struct engine_import_opts *o,
                            struct progress_view *v) {
    int n = 0;
    memset(o, 0, sizeof(*o));
    o->insecure = cli_flag_values(ctx, "insecure-registry", &n);
    o->n_insecure = (size_t)n;
    o->registry_config_dir = cli_flag_value(ctx, "registry-config-dir", NULL);
    o->cancel = &import_cancel;
    if (!ctx->quiet && isatty(STDOUT_FILENO)) {
        o->progress = on_progress;
        o->stage = on_stage;
        o->ud = v;
    }
}

struct cli_import {
    struct progress_view view;
    struct signals sig;
};

struct cli_import *cli_import_begin(struct cli_ctx *ctx, struct engine_import_opts *o) {
    struct cli_import *ci = xcalloc(1, sizeof(*ci));
    if (!ci)
        return NULL;
    pthread_mutex_init(&ci->view.lock, NULL);
    opts_from_flags(ctx, o, &ci->view);
    signals_catch(&ci->sig);
    return ci;
}

void cli_import_end(struct cli_import *ci) {
    if (!ci)
        return;
    signals_restore(&ci->sig);
    pthread_mutex_destroy(&ci->view.lock);
    free(ci);
}

bool cli_import_cancelled(void) {
    return import_cancel != 0;
}

/* Prints the outcome; turns a cancellation into exit 130. */
static int report(struct cli_ctx *ctx, const char *word, int r,
                  const struct engine_import_result *res) {
    if (r == -ECANCELED) {
        fprintf(stderr, "hearth: %s import cancelled\n", word);
        ctx->exit_status = 130;
        return 0;
    }
    if (res->notice[0])
        fprintf(stderr, "hearth: %s\n", res->notice);
    if (r < 0)
        return r;
    for (const char *w = res->warning; *w;) { /* one line per warning */
        const char *nl = strchr(w, '\n');
        int len = nl ? (int)(nl - w) : (int)strlen(w);
        fprintf(stderr, "hearth: warning: %.*s\n", len, w);
        w += len + (nl ? 1 : 0);
    }
    if (!ctx->quiet) {
        char size[32];
        api_size_format_human(res->size, size, sizeof(size));
        if (res->existed)
            printf("%s '%s' already exists\n", word, res->name);
        else
            printf("imported %s '%s' (%s)\n", word, res->name, size);
    }
    printf("%s\n", res->uid);
    return 0;
}

/* One import of argv[0] (an image, a kernel from a registry, or a kernel's files). */
struct import_call {
    const char *word;                        /* "image", "kernel" */
    const struct engine_kernel_local *files; /* a kernel's files, or NULL */
};

/* Runs the import with the progress view and Ctrl-C as cancel, then reports it. */
static int import_run(struct cli_ctx *ctx, const struct import_call *c) {
    struct progress_view v = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct engine_import_opts o;
    opts_from_flags(ctx, &o, &v);
    struct engine_import_result res;
    struct signals sig;
    signals_catch(&sig);
    const char *ref = ctx->args.argv[0];
    int r = strcmp(c->word, "image") == 0 ? engine_image_import(ctx->eng, ref, &o, &res, &ctx->err)
            : c->files ? engine_kernel_import_files(ctx->eng, ref, c->files, &o, &res, &ctx->err)
                       : engine_kernel_import(ctx->eng, ref, &o, &res, &ctx->err);
    signals_restore(&sig);
    return report(ctx, c->word, r, &res);
}

int cmd_image_import(struct cli_ctx *ctx) {
    return import_run(ctx, &(struct import_call){.word = "image"});
}

int cmd_kernel_import(struct cli_ctx *ctx) {
    struct engine_kernel_local files = {
        .vmlinux = cli_flag_value(ctx, "vmlinux", NULL),
        .initrd = cli_flag_value(ctx, "initrd", NULL),
        .modules = cli_flag_value(ctx, "modules", NULL),
    };
    if (!files.vmlinux && (files.initrd || files.modules))
        return cli_usage_error(ctx, "--initrd and --modules need --vmlinux");
    return import_run(
        ctx, &(struct import_call){.word = "kernel", .files = files.vmlinux ? &files : NULL});
}
