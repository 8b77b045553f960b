/*
 * `hearth dash`: the ncurses dashboard (src/tui). The command only turns
 * its flags into tui options; everything else is the tui module's.
 */
#include <errno.h>
#include <string.h>

#include "cli/cli_priv.h"
#include "tui/tui.h"

int cmd_dash(struct cli_ctx *ctx) {
    struct tui_opts o = {
        .readonly = cli_flag_given(ctx, "readonly"),
        .vmm = cli_flag_value(ctx, "vmm", NULL),
        .firecracker_bin = cli_flag_value(ctx, "firecracker-bin", NULL),
        .qemu_bin = cli_flag_value(ctx, "qemu-bin", NULL),
    };
    if (o.vmm && strcmp(o.vmm, "firecracker") != 0 && strcmp(o.vmm, "qemu") != 0)
        return cli_usage_error(ctx, "--vmm: '%s' is not firecracker or qemu", o.vmm);
    const char *refresh = cli_flag_value(ctx, "refresh", NULL);
    if (refresh) {
        uint64_t ms = 0;
        if (parse_u64(refresh, 60000, &ms) < 0 || ms < 1000)
            return cli_usage_error(ctx,
                                   "--refresh: '%s' is not a number of milliseconds from "
                                   "1000 to 60000",
                                   refresh);
        o.refresh_ms = (int)ms;
    }
    return tui_main(ctx->eng, &o, &ctx->err);
}
