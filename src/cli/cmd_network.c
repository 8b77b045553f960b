/*
 * The bridged networks' commands: `network create [--subnet CIDR] [NAME]`,
 * `network ls` and `network rm NAME`. A start creates the default network
 * (hearth0) by itself; these are for choosing its subnet or name first,
 * and for looking.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_priv.h"

#define FMT(f) (1u << (f))

int cmd_network_create(struct cli_ctx *ctx) {
    const char *name = ctx->args.argc > 0 ? ctx->args.argv[0] : NULL;
    struct engine_network n;
    int r =
        engine_network_create(ctx->eng, name, cli_flag_value(ctx, "subnet", NULL), &n, &ctx->err);
    if (r < 0)
        return r;
    if (!ctx->quiet)
        printf("network '%s' created with subnet %s\n", n.name, n.subnet);
    return 0;
}

int cmd_network_ls(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                             FMT(CLI_FMT_TABLE) | FMT(CLI_FMT_JSON) | FMT(CLI_FMT_YAML), &fmt);
    if (r < 0)
        return r;
    _cleanup_free_ struct engine_network *v = NULL;
    size_t n = 0;
    r = engine_network_list(ctx->eng, &v, &n, &ctx->err);
    if (r < 0)
        return r;
    if (fmt != CLI_FMT_TABLE) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:b, s:I}", "name", v[i].name, "subnet",
                                  v[i].subnet, "leases", (json_int_t)v[i].leases, "bridgeUp",
                                  v[i].bridge_up, "dnsmasqPid", (json_int_t)v[i].dnsmasq_pid);
            if (!o || json_array_append_new(arr, o) < 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        return cli_write_json(ctx, arr, fmt);
    }
    const char *header[] = {"NAME", "SUBNET", "LEASES", "BRIDGE", "DNSMASQ"};
    struct cli_table t;
    r = cli_table_init(&t, 5, header);
    for (size_t i = 0; i < n && r == 0; i++) {
        char leases[24], pid[24];
        snprintf(leases, sizeof(leases), "%zu", v[i].leases);
        if (v[i].dnsmasq_pid > 0)
            snprintf(pid, sizeof(pid), "pid %d", v[i].dnsmasq_pid);
        else
            snprintf(pid, sizeof(pid), "-");
        const char *cells[] = {v[i].name, v[i].subnet, leases, v[i].bridge_up ? "up" : "down", pid};
        r = cli_table_add(&t, cells);
    }
    return cli_table_finish(ctx, &t, r, false);
}

int cmd_network_rm(struct cli_ctx *ctx) {
    int r = engine_network_remove(ctx->eng, ctx->args.argv[0], &ctx->err);
    if (r == 0 && !ctx->quiet)
        printf("%s\n", ctx->args.argv[0]);
    return r;
}
