/*
 * cli ssh: into a VM over SSH. `hearth exec VM CMD [ARG]...` runs one
 * command, `hearth ssh VM` a login shell, and cli_ssh_wait is the wait of
 * `run --ssh` and `start --ssh-wait`. The flags they share with `hearth cp`
 * (cmd_cp.c) are read here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli_priv.h"

#define WAIT_LINE_EVERY_MS 15000 /* without a terminal: one progress line this often */

static void on_notice(void *ud, const char *msg) {
    struct cli_ctx *ctx = ud;
    if (!ctx->quiet)
        fprintf(stderr, "hearth: %s\n", msg);
}

int cli_ssh_opts_from_flags(struct cli_ctx *ctx, struct engine_vm_ssh_opts *o) {
    uint64_t timeout = 0;
    const char *t = cli_flag_value(ctx, "timeout", NULL);
    if (t && cli_flag_u64(ctx, "timeout", t, 1, 86400, &timeout) < 0)
        return -EINVAL;
    *o = (struct engine_vm_ssh_opts){.identity = cli_flag_value(ctx, "identity", NULL),
                                     .timeout_s = (int)timeout,
                                     .timeout_flag = "--timeout",
                                     .accept_new_host_key =
                                         cli_flag_given(ctx, "accept-new-host-key"),
                                     .notice = on_notice,
                                     .ud = ctx};
    return 0;
}

/* argv (argc 0: a login shell) in the VM; hearth's status is the remote one, or 255. */
static int ssh_run(struct cli_ctx *ctx, const char *vm, const char *const *argv, size_t argc,
                   bool tty) {
    struct engine_vm_exec_opts o = {.tty = tty,
                                    .term = getenv("TERM"),
                                    .in_fd = STDIN_FILENO,
                                    .out_fd = STDOUT_FILENO,
                                    .err_fd = STDERR_FILENO};
    int r = cli_ssh_opts_from_flags(ctx, &o.ssh);
    if (r < 0)
        return r;
    /* With a PTY on a terminal, keys go to the remote PTY as typed (raw mode while it runs). */
    struct termios old;
    bool raw = tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (raw) {
        struct termios t = old;
        cfmakeraw(&t);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    fflush(stdout);
    int status = -1;
    r = engine_vm_exec(ctx->eng, vm, argv, argc, &o, &status, &ctx->err);
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    if (r < 0 && status == 255) { /* the connection failed: ssh's status, the error said once */
        cli_print_error(ctx->err.msg);
        ctx->exit_status = 255;
        return 0;
    }
    if (r < 0)
        return r;
    ctx->exit_status = status;
    return 0;
}

int cmd_exec(struct cli_ctx *ctx) {
    return ssh_run(ctx, ctx->args.argv[0], (const char *const *)ctx->args.argv + 1,
                   (size_t)ctx->args.argc - 1, cli_flag_given(ctx, "tty"));
}

/* A shell with a PTY when stdin is a terminal, as ssh does; without one otherwise. */
int cmd_ssh(struct cli_ctx *ctx) {
    return ssh_run(ctx, ctx->args.argv[0], NULL, 0, isatty(STDIN_FILENO));
}

struct wait_progress {
    bool tty;
    int64_t last_line_ms; /* without a terminal: when the last line was printed (-1: never) */
};

static void on_waiting(void *ud, const char *vm, const char *address, int64_t elapsed_ms,
                       const char *last) {
    struct wait_progress *w = ud;
    if (w->tty) {
        fprintf(stderr, "\r\033[Khearth: waiting for ssh of vm '%s' at %s: %" PRId64 " s (%s)", vm,
                address, elapsed_ms / 1000, last);
        return;
    }
    if (w->last_line_ms >= 0 && elapsed_ms - w->last_line_ms < WAIT_LINE_EVERY_MS)
        return;
    w->last_line_ms = elapsed_ms;
    fprintf(stderr, "hearth: waiting for ssh of vm '%s' at %s: %" PRId64 " s (%s)\n", vm, address,
            elapsed_ms / 1000, last);
}

int cli_ssh_wait(struct cli_ctx *ctx, const char *vm, int timeout_s, struct error *err) {
    struct wait_progress w = {.tty = isatty(STDERR_FILENO), .last_line_ms = -1};
    struct engine_vm_ssh_opts o = {.timeout_s = timeout_s,
                                   .timeout_flag = "--ssh-timeout",
                                   .waiting = ctx->quiet ? NULL : on_waiting,
                                   .ud = &w};
    int64_t t0 = time_now_ms();
    int r = engine_vm_ssh_wait(ctx->eng, vm, &o, err);
    if (w.tty && !ctx->quiet)
        fprintf(stderr, "\r\033[K");
    if (r == 0 && !ctx->quiet)
        fprintf(stderr, "hearth: vm '%s' answers ssh (%.1f s)\n", vm,
                (double)(time_now_ms() - t0) / 1000.0);
    return r;
}
