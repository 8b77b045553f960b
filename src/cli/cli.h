/*
 * cli: hearth's command line. One command table and one dispatcher
 * (src/cli/cli.c); each command is a handler in src/cli/cmd_*.c. The
 * dispatcher parses the global options, checks flags and argument counts,
 * opens the engine for the commands that need it, and prints an error once as
 * `hearth: error: message` on stderr. Exit status: 0 ok, 1 failure, 2 usage.
 */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

/* Runs hearth with the process's arguments; returns the exit status. */
int cli_main(int argc, char **argv);

#endif
