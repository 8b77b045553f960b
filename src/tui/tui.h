/*
 * tui: `hearth dash`, the ncurses dashboard over the engine.
 *
 * Screens VMs, Images, Kernels, Pool and Operations, refreshed when the
 * database changes (PRAGMA data_version, polled once a second) and when a
 * VM's processes end; filter, sort, describe as YAML, logs, and the actions
 * start, stop, kill, run, delete and attach. Every action is an engine call
 * (long ones in a worker thread with an engine of its own); the dashboard
 * writes no state itself.
 */
#ifndef HEARTH_TUI_H
#define HEARTH_TUI_H

#include <stdbool.h>

#include "engine/engine.h"
#include "util/util.h"

struct tui_opts {
    bool readonly;               /* offer no action that changes state */
    int refresh_ms;              /* how often the database is polled; 0: 1000 */
    const char *vmm;             /* VMs started from the dashboard: as engine_vm_start_opts */
    const char *firecracker_bin; /* may be NULL */
    const char *qemu_bin;        /* may be NULL */
};

/*
 * Runs the dashboard on the terminal until the user quits (q), Ctrl-C or
 * SIGTERM. Needs a terminal on stdin and stdout (-ENOTTY otherwise). The
 * terminal is restored on every exit, also on a crash. Errors of single
 * actions appear in the dashboard's message line; what is returned is a
 * failure to run at all.
 */
int tui_main(engine *e, const struct tui_opts *opts, struct error *err) WUR;

#endif
