/*
 * cli ssh: `hearth exec VM CMD [ARG]...`, one command in a VM over SSH.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli_priv.h"

int cmd_exec(struct cli_ctx *ctx) {
    uint64_t timeout = 0;
    const char *t = cli_flag_value(ctx, "timeout", NULL);
    if (t && cli_flag_u64(ctx, "timeout", t, 1, 86400, &timeout) < 0)
        return -EINVAL;
    bool tty = cli_flag_given(ctx, "tty");
    struct engine_vm_exec_opts o = {.identity = cli_flag_value(ctx, "identity", NULL),
                                    .tty = tty,
                                    .term = getenv("TERM"),
                                    .timeout_s = (int)timeout,
                                    .in_fd = STDIN_FILENO,
                                    .out_fd = STDOUT_FILENO,
                                    .err_fd = STDERR_FILENO};
    /* With -t on a terminal, keys go to the remote PTY as typed (raw mode while it runs). */
    struct termios old;
    bool raw = tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (raw) {
        struct termios r = old;
        cfmakeraw(&r);
        tcsetattr(STDIN_FILENO, TCSANOW, &r);
    }
    fflush(stdout);
    int status = -1;
    int r = engine_vm_exec(ctx->eng, ctx->args.argv[0], (const char *const *)ctx->args.argv + 1,
                           (size_t)ctx->args.argc - 1, &o, &status, &ctx->err);
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
