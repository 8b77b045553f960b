/*
 * `hearth cp [-r] SRC DST` (also `vm cp`): files between the host and a
 * running VM, with VM:PATH on exactly one side as Ignite's and docker's cp
 * write it. The engine copies (engine_vm_cp); here the arguments are
 * split, SIGINT and SIGTERM become the engine's cancel flag (exit 130,
 * nothing partial left), and a progress line is drawn on a terminal, as
 * scp draws one, once a copy has run for PROGRESS_AFTER_MS (so quick ones
 * show nothing); never with -q or when stderr is no terminal. Exit 255
 * when the connection fails, as scp.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli_priv.h"

#define PROGRESS_AFTER_MS 500 /* a copy that is done sooner draws nothing */
#define PROGRESS_EVERY_MS 200 /* redraws at most this often */

/*
 * Set by the SIGINT/SIGTERM handler while a copy runs; the engine reads it
 * through engine_vm_ssh_opts.cancel. One of the CLI's allowed globals.
 */
static volatile sig_atomic_t cp_cancel;

static void on_signal(int sig) {
    (void)sig;
    cp_cancel = 1;
}

int cli_cp_split(const char *arg, char *vm, size_t size, const char **ret_path) {
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
        return 0;
    size_t n = (size_t)(colon - arg);
    if (n >= size)
        return -ENAMETOOLONG;
    memcpy(vm, arg, n);
    vm[n] = '\0';
    *ret_path = colon + 1;
    return 1;
}

/* ---- progress ------------------------------------------------------------ */

struct progress {
    int64_t start_ms, last_ms; /* the copy's start, the last draw */
    int64_t file_ms;           /* when the file in progress started */
    char path[PATH_MAX];       /* that file */
    bool drawn;                /* a line is on the screen */
};

/* path cut to its last width characters (at most size - 1), "..." in front when cut. */
static void path_fit(const char *path, size_t width, char *buf, size_t size) {
    size_t n = strlen(path);
    if (width > size - 1)
        width = size - 1;
    if (n <= width)
        snprintf(buf, size, "%.*s", (int)n, path);
    else
        snprintf(buf, size, "...%.*s", (int)(width - 3), path + n - (width - 3));
}

static void on_progress(void *ud, const char *path, uint64_t done, uint64_t total) {
    struct progress *p = ud;
    int64_t now = time_now_ms();
    if (strcmp(path, p->path) != 0) {
        snprintf(p->path, sizeof(p->path), "%s", path);
        p->file_ms = now;
    }
    if (now - p->start_ms < PROGRESS_AFTER_MS ||
        (now - p->last_ms < PROGRESS_EVERY_MS && done < total))
        return;
    p->last_ms = now;
    struct winsize ws = {0};
    size_t cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
    char name[256], d[32], t[32], rate[32] = "";
    path_fit(path, cols > 60 ? cols - 45 : 15, name, sizeof(name));
    size_format_human(done, d, sizeof(d));
    size_format_human(total, t, sizeof(t));
    if (now > p->file_ms) {
        size_format_human((uint64_t)((double)done * 1000.0 / (double)(now - p->file_ms)), rate,
                          sizeof(rate));
        snprintf(rate + strlen(rate), sizeof(rate) - strlen(rate), "/s");
    }
    unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
    fprintf(stderr, "\r\033[K%s  %3u%%  %s / %s  %s", name, pct > 100 ? 100 : pct, d, t, rate);
    fflush(stderr);
    p->drawn = true;
}

/* ---- the command ----------------------------------------------------------- */

int cmd_cp(struct cli_ctx *ctx) {
    const char *src = ctx->args.argv[0], *dst = ctx->args.argv[1], *src_path, *dst_path;
    char src_vm[API_NAME_MAX + 1], dst_vm[API_NAME_MAX + 1];
    int a = cli_cp_split(src, src_vm, sizeof(src_vm), &src_path);
    int b = cli_cp_split(dst, dst_vm, sizeof(dst_vm), &dst_path);
    if (a < 0 || b < 0)
        return cli_usage_error(ctx, "'%s': the vm name before ':' is too long", a < 0 ? src : dst);
    if (a && b)
        return cli_usage_error(ctx,
                               "both '%s' and '%s' name a vm; copy from one vm to the host "
                               "and from there to the other",
                               src, dst);
    if (!a && !b)
        return cli_usage_error(ctx,
                               "neither '%s' nor '%s' is VM:PATH; one side must be a vm, as "
                               "in 'hearth cp FILE dev:/tmp/'",
                               src, dst);
    if (!*(b ? src : dst))
        return cli_usage_error(ctx, "the host path is empty; write '.' for this directory");
    struct progress pv = {.start_ms = time_now_ms()};
    struct engine_vm_cp_opts o = {.to_vm = b == 1,
                                  .host_path = b ? src : dst,
                                  .vm_path = b ? dst_path : src_path,
                                  .recursive = cli_flag_given(ctx, "recursive")};
    int r = cli_ssh_opts_from_flags(ctx, &o.ssh);
    if (r < 0)
        return r;
    if (!ctx->quiet && isatty(STDERR_FILENO)) {
        o.progress = on_progress;
        o.progress_ud = &pv;
    }
    cp_cancel = 0;
    o.ssh.cancel = &cp_cancel;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int status = -1;
    r = engine_vm_cp(ctx->eng, b ? dst_vm : src_vm, &o, &status, &ctx->err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (pv.drawn)
        fprintf(stderr, "\r\033[K");
    if (r == -ECANCELED) {
        fprintf(stderr, "hearth: copy cancelled\n");
        ctx->exit_status = 130;
        return 0;
    }
    if (r < 0 && status == 255) { /* the connection failed: scp's status, the error said once */
        cli_print_error(ctx->err.msg);
        ctx->exit_status = 255;
        return 0;
    }
    return r;
}
