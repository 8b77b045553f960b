/*
 * `hearth completion bash|zsh|fish`: completion scripts written from the
 * command table, and `hearth __complete KIND`, which prints the names of the
 * VMs, images or kernels of the root for them.
 *
 * Each script is the same small machine in its shell's syntax: it reads the
 * words before the cursor (skipping global options and flags with their
 * values, and noting --root), finds the command (a name, an alias, a group
 * and its subcommand, or a group alone, which means its default command),
 * and then offers a flag's values, the command's flags, the commands, a
 * group's subcommands, or the command's arguments. What it offers comes from
 * data functions written here from the table:
 *
 *   _hearth_canon NAME        the command's name for any of its names
 *   _hearth_group WORD        the group WORD names (vm for vms), or nothing
 *   _hearth_default GROUP     the command a group alone runs
 *   _hearth_top ''            the first words, "word<TAB>summary" per line
 *   _hearth_subs GROUP        the group's subcommands, the same way
 *   _hearth_flags COMMAND     its flags, "-a<TAB>help" ('' for the global options)
 *   _hearth_value 'COMMAND FLAG'   "1 SPEC" for a flag whose value is the next
 *                             word, "0 SPEC" for one given only as FLAG=VALUE
 *                             ('FLAG' alone for the global options)
 *   _hearth_args COMMAND      SPEC of its arguments
 *
 * SPEC: "w:WORD WORD..." (fixed words), file, dir, vm, image, kernel (names
 * from `hearth __complete`), kind_name (inspect), command (help), none.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_priv.h"

enum shell { SH_BASH, SH_ZSH, SH_FISH };

struct gen {
    struct strbuf *out;
    enum shell sh;
    int r;           /* the first error; later appends are skipped */
    bool arm_open;   /* an arm's keys are being written */
    bool arm_values; /* its values have started */
};

static void put(struct gen *g, const char *s) {
    if (g->r == 0)
        g->r = strbuf_adds(g->out, s);
}

/* s single-quoted for the shell: ' as '\'' (bash, zsh) or \' (fish, which also escapes \). */
static void putq(struct gen *g, const char *s) {
    put(g, "'");
    for (const char *p = s; *p && g->r == 0; p++) {
        if (*p == '\'')
            put(g, g->sh == SH_FISH ? "\\'" : "'\\''");
        else if (*p == '\\' && g->sh == SH_FISH)
            put(g, "\\\\");
        else
            g->r = strbuf_addc(g->out, *p);
    }
    put(g, "'");
}

/* ---- data functions: one switch on the first argument -------------------- */

static void fn_begin(struct gen *g, const char *name) {
    if (g->sh == SH_FISH) {
        put(g, "function ");
        put(g, name);
        put(g, "\n    switch \"$argv[1]\"\n");
    } else {
        put(g, name);
        put(g, "() {\n    case \"$1\" in\n");
    }
}

/* Starts an arm, or adds a key to the arm being started. */
static void arm_key(struct gen *g, const char *key) {
    if (!g->arm_open) {
        put(g, g->sh == SH_FISH ? "        case" : "    ");
        g->arm_open = true;
    } else if (g->sh != SH_FISH) {
        put(g, " | ");
    }
    if (g->sh == SH_FISH)
        put(g, " ");
    putq(g, key);
}

/* Adds a line to the arm's output. */
static void arm_line(struct gen *g, const char *line) {
    if (!g->arm_values) {
        put(g, g->sh == SH_FISH ? "\n            printf '%s\\n'" : ")\n        printf '%s\\n'");
        g->arm_values = true;
    }
    put(g, " ");
    putq(g, line);
}

static void arm_end(struct gen *g) {
    if (!g->arm_open)
        return;
    put(g, g->sh == SH_FISH ? "\n" : " ;;\n");
    g->arm_open = g->arm_values = false;
}

/* Ends the switch; echo_subject: anything else prints the subject itself. */
static void fn_end(struct gen *g, bool echo_subject) {
    if (g->sh == SH_FISH) {
        if (echo_subject)
            put(g, "        case '*'\n            printf '%s\\n' $argv[1]\n");
        put(g, "    end\nend\n\n");
    } else {
        if (echo_subject)
            put(g, "    *) printf '%s\\n' \"$1\" ;;\n");
        put(g, "    esac\n}\n\n");
    }
}

/* "word<TAB>description" */
static void arm_pair(struct gen *g, const char *word, const char *desc) {
    char line[512];
    snprintf(line, sizeof(line), "%s\t%s", word, desc);
    arm_line(g, line);
}

static const char *spec_of(enum cli_arg a) {
    switch (a) {
    case CLI_ARG_VM:
        return "vm";
    case CLI_ARG_IMAGE:
        return "image";
    case CLI_ARG_KERNEL:
        return "kernel";
    case CLI_ARG_KIND_NAME:
        return "kind_name";
    case CLI_ARG_COMMAND:
        return "command";
    case CLI_ARG_FILE:
        return "file";
    case CLI_ARG_DIR:
        return "dir";
    case CLI_ARG_NONE:
        break;
    }
    return "none";
}

static void flag_spec(const struct cli_flag *fl, char *buf, size_t size) {
    if (fl->values)
        snprintf(buf, size, "%d w:%s", fl->optional ? 0 : 1, fl->values);
    else
        snprintf(buf, size, "%d %s", fl->optional ? 0 : 1, spec_of(fl->offer));
}

/* The flag arms of _hearth_flags for one command (or the global options). */
static void flags_arm(struct gen *g, const char *key, const struct cli_flag *flags) {
    if (!flags || !flags[0].long_name)
        return;
    arm_key(g, key);
    for (const struct cli_flag *fl = flags; fl->long_name; fl++) {
        char word[64];
        if (fl->short_name) {
            snprintf(word, sizeof(word), "-%c", fl->short_name);
            arm_pair(g, word, fl->help);
        }
        snprintf(word, sizeof(word), "--%s%s", fl->long_name, fl->optional ? "=" : "");
        arm_pair(g, word, fl->help);
    }
    arm_end(g);
}

/* The value arms of _hearth_value for one command's flags (prefix "ps ") or the global ones. */
static void values_arms(struct gen *g, const char *prefix, const struct cli_flag *flags) {
    for (const struct cli_flag *fl = flags; fl && fl->long_name; fl++) {
        if (!fl->arg)
            continue;
        char key[128], spec[256];
        if (fl->short_name) {
            snprintf(key, sizeof(key), "%s-%c", prefix, fl->short_name);
            arm_key(g, key);
        }
        snprintf(key, sizeof(key), "%s--%s", prefix, fl->long_name);
        arm_key(g, key);
        flag_spec(fl, spec, sizeof(spec));
        arm_line(g, spec);
        arm_end(g);
    }
}

/* Whether name is a single word (a top-level command). */
static bool one_word(const char *name) {
    return !strchr(name, ' ');
}

static void write_data(struct gen *g) {
    fn_begin(g, "_hearth_canon");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        if (c->hidden || !c->aliases[0])
            continue;
        for (int a = 0; a < CLI_ALIASES_MAX && c->aliases[a]; a++)
            arm_key(g, c->aliases[a]);
        arm_line(g, c->name);
        arm_end(g);
    }
    fn_end(g, true);

    fn_begin(g, "_hearth_group");
    for (size_t i = 0; i < cli_n_groups; i++) {
        arm_key(g, cli_groups[i].name);
        if (cli_groups[i].alias)
            arm_key(g, cli_groups[i].alias);
        arm_line(g, cli_groups[i].name);
        arm_end(g);
    }
    fn_end(g, false);

    fn_begin(g, "_hearth_default");
    for (size_t i = 0; i < cli_n_groups; i++) {
        if (!cli_groups[i].dflt)
            continue;
        arm_key(g, cli_groups[i].name);
        arm_line(g, cli_groups[i].dflt);
        arm_end(g);
    }
    fn_end(g, false);

    fn_begin(g, "_hearth_top");
    arm_key(g, "");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        for (int a = -1; a < CLI_ALIASES_MAX && !c->hidden; a++) {
            const char *n = a < 0 ? c->name : c->aliases[a];
            if (n && one_word(n))
                arm_pair(g, n, c->summary);
        }
    }
    for (size_t i = 0; i < cli_n_groups; i++) {
        arm_pair(g, cli_groups[i].name, cli_groups[i].summary);
        if (cli_groups[i].alias)
            arm_pair(g, cli_groups[i].alias, cli_groups[i].summary);
    }
    arm_end(g);
    fn_end(g, false);

    fn_begin(g, "_hearth_subs");
    for (size_t k = 0; k < cli_n_groups; k++) {
        const struct cli_group *grp = &cli_groups[k];
        size_t len = strlen(grp->name);
        arm_key(g, grp->name);
        for (size_t i = 0; i < cli_n_commands; i++) {
            const struct cli_command *c = &cli_commands[i];
            for (int a = -1; a < CLI_ALIASES_MAX && !c->hidden; a++) {
                const char *n = a < 0 ? c->name : c->aliases[a];
                if (n && strncmp(n, grp->name, len) == 0 && n[len] == ' ')
                    arm_pair(g, n + len + 1, c->summary);
            }
        }
        arm_end(g);
    }
    fn_end(g, false);

    fn_begin(g, "_hearth_flags");
    flags_arm(g, "", cli_global_flags);
    for (size_t i = 0; i < cli_n_commands; i++)
        if (!cli_commands[i].hidden)
            flags_arm(g, cli_commands[i].name, cli_commands[i].flags);
    fn_end(g, false);

    fn_begin(g, "_hearth_value");
    values_arms(g, "", cli_global_flags);
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "%s ", c->name);
        if (!c->hidden)
            values_arms(g, prefix, c->flags);
    }
    fn_end(g, false);

    fn_begin(g, "_hearth_args");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        if (c->hidden || (c->args == CLI_ARG_NONE && !c->arg_values))
            continue;
        char spec[128];
        if (c->arg_values)
            snprintf(spec, sizeof(spec), "w:%s", c->arg_values);
        else
            snprintf(spec, sizeof(spec), "%s", spec_of(c->args));
        arm_key(g, c->name);
        arm_line(g, spec);
        arm_end(g);
    }
    fn_end(g, false);
}

/* ---- the machines, one per shell ------------------------------------------ */

static const char bash_head[] =
    "# bash completion for hearth, written by `hearth completion bash` from hearth's\n"
    "# command table. Load it with `source <(hearth completion bash)`, or install it\n"
    "# as /usr/share/bash-completion/completions/hearth. VM, image and kernel names\n"
    "# come from `hearth __complete KIND` (with the --root of the command line).\n\n";

static const char bash_machine[] =
    "_hearth_kind() {\n"
    "    case \"$1\" in\n"
    "    vm | vms) printf '%s\\n' vm ;;\n"
    "    image | images) printf '%s\\n' image ;;\n"
    "    kernel | kernels) printf '%s\\n' kernel ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "# _hearth_list FN ARG: the words (before their tab) FN prints for ARG.\n"
    "_hearth_list() {\n"
    "    local l\n"
    "    \"$1\" \"$2\" | while IFS= read -r l; do printf '%s\\n' \"${l%%$'\\t'*}\"; done\n"
    "}\n"
    "\n"
    "# _hearth_spec FLAG: what the value of FLAG of the command lk is (_hearth_value).\n"
    "_hearth_spec() {\n"
    "    local v\n"
    "    v=$(_hearth_value \"$lk $1\")\n"
    "    [[ -z $v ]] && v=$(_hearth_value \"$1\")\n"
    "    printf '%s\\n' \"$v\"\n"
    "}\n"
    "\n"
    "# _hearth_offer SPEC WORD: the completions of WORD, into reply.\n"
    "_hearth_offer() {\n"
    "    case $1 in\n"
    "    w:*) mapfile -t reply < <(compgen -W \"${1#w:}\" -- \"$2\") ;;\n"
    "    file)\n"
    "        compopt -o filenames 2>/dev/null\n"
    "        mapfile -t reply < <(compgen -f -- \"$2\")\n"
    "        ;;\n"
    "    dir)\n"
    "        compopt -o filenames 2>/dev/null\n"
    "        mapfile -t reply < <(compgen -d -- \"$2\")\n"
    "        ;;\n"
    "    vm | image | kernel)\n"
    "        mapfile -t reply < <(compgen -W \"$(\"${words[0]}\" \"${root[@]}\" __complete \"$1\" "
    "2>/dev/null)\" -- \"$2\")\n"
    "        ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "_hearth() {\n"
    "    local line=${COMP_LINE:0:COMP_POINT} cur bashcur=${COMP_WORDS[COMP_CWORD]}\n"
    "    local -a words reply=() root=()\n"
    "    local key= bare= nargs=0 first= skip= lastflag= flag= w v i spec lk value\n"
    "    # Our own words, split at blanks only: bash's also split at : and =.\n"
    "    read -ra words <<<\"$line\"\n"
    "    if [[ -z $line || $line == *[[:space:]] ]]; then\n"
    "        cur=\n"
    "    else\n"
    "        cur=${words[${#words[@]}-1]}\n"
    "        unset \"words[${#words[@]}-1]\"\n"
    "    fi\n"
    "    for ((i = 1; i < ${#words[@]}; i++)); do\n"
    "        w=${words[i]}\n"
    "        if [[ -n $skip ]]; then\n"
    "            [[ $skip == root ]] && root=(--root \"${w/#\\~/$HOME}\")\n"
    "            skip=\n"
    "            continue\n"
    "        fi\n"
    "        case $w in\n"
    "        --root=*)\n"
    "            w=${w#--root=}\n"
    "            root=(--root \"${w/#\\~/$HOME}\")\n"
    "            continue\n"
    "            ;;\n"
    "        --*=*) continue ;;\n"
    "        -?*)\n"
    "            if [[ -n $bare ]]; then\n"
    "                key=$(_hearth_default \"$key\")\n"
    "                bare=\n"
    "            fi\n"
    "            lk=$key\n"
    "            v=$(_hearth_spec \"$w\")\n"
    "            if [[ $v == 1\\ * ]]; then\n"
    "                skip=1\n"
    "                lastflag=$w\n"
    "            fi\n"
    "            [[ $w == --root ]] && skip=root\n"
    "            continue\n"
    "            ;;\n"
    "        esac\n"
    "        if [[ -z $key ]]; then\n"
    "            key=$(_hearth_group \"$w\")\n"
    "            if [[ -n $key ]]; then bare=1; else key=$(_hearth_canon \"$w\"); fi\n"
    "        elif [[ -n $bare ]]; then\n"
    "            key=$(_hearth_canon \"$key $w\")\n"
    "            bare=\n"
    "        else\n"
    "            ((nargs++))\n"
    "            [[ -z $first ]] && first=$w\n"
    "        fi\n"
    "    done\n"
    "    lk=$key\n"
    "    [[ -n $bare ]] && lk=$(_hearth_default \"$key\")\n"
    "    value=$cur\n"
    "    if [[ -n $skip ]]; then\n"
    "        spec=$(_hearth_spec \"$lastflag\")\n"
    "    elif [[ $cur == -*=* ]]; then\n"
    "        flag=${cur%%=*}\n"
    "        value=${cur#*=}\n"
    "        spec=$(_hearth_spec \"$flag\")\n"
    "    fi\n"
    "    if [[ -n $spec ]]; then\n"
    "        _hearth_offer \"${spec#? }\" \"$value\"\n"
    "        [[ -n $flag ]] && reply=(\"${reply[@]/#/$flag=}\")\n"
    "    elif [[ $cur == -* ]]; then\n"
    "        mapfile -t reply < <(compgen -W \"$([[ -n $lk ]] && _hearth_list _hearth_flags "
    "\"$lk\"; _hearth_list _hearth_flags '')\" -- \"$cur\")\n"
    "    elif [[ -z $key ]]; then\n"
    "        mapfile -t reply < <(compgen -W \"$(_hearth_list _hearth_top '')\" -- \"$cur\")\n"
    "    elif [[ -n $bare ]]; then\n"
    "        mapfile -t reply < <(compgen -W \"$(_hearth_list _hearth_subs \"$key\")\" -- "
    "\"$cur\")\n"
    "    else\n"
    "        spec=$(_hearth_args \"$key\")\n"
    "        case $spec in\n"
    "        kind_name)\n"
    "            if ((nargs == 0)); then spec='w:vm image kernel'; else spec=$(_hearth_kind "
    "\"$first\"); fi\n"
    "            ;;\n"
    "        command)\n"
    "            v=$(_hearth_group \"$first\")\n"
    "            if ((nargs == 0)); then\n"
    "                spec=\"w:$(_hearth_list _hearth_top '')\"\n"
    "            elif ((nargs == 1)) && [[ -n $v ]]; then\n"
    "                spec=\"w:$(_hearth_list _hearth_subs \"$v\")\"\n"
    "            else\n"
    "                spec=\n"
    "            fi\n"
    "            ;;\n"
    "        esac\n"
    "        [[ -n $spec ]] && _hearth_offer \"$spec\" \"$cur\"\n"
    "    fi\n"
    "    # bash replaces its own current word, which starts after a : or = of ours.\n"
    "    local pre=${cur%\"$bashcur\"}\n"
    "    COMPREPLY=(\"${reply[@]#\"$pre\"}\")\n"
    "}\n"
    "\n"
    "complete -F _hearth hearth\n";

static const char zsh_head[] =
    "#compdef hearth\n"
    "# zsh completion for hearth, written by `hearth completion zsh` from hearth's\n"
    "# command table. Install it as _hearth in a directory of $fpath (Debian:\n"
    "# /usr/share/zsh/vendor-completions), or load it after compinit with\n"
    "# `source <(hearth completion zsh)`. VM, image and kernel names come from\n"
    "# `hearth __complete KIND` (with the --root of the command line).\n\n";

static const char zsh_machine[] =
    "_hearth_kind() {\n"
    "    case \"$1\" in\n"
    "    (vm | vms) print -r -- vm ;;\n"
    "    (image | images) print -r -- image ;;\n"
    "    (kernel | kernels) print -r -- kernel ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "# _hearth_spec FLAG: what the value of FLAG of the command lk is (_hearth_value).\n"
    "_hearth_spec() {\n"
    "    local v\n"
    "    v=$(_hearth_value \"$lk $1\")\n"
    "    [[ -z $v ]] && v=$(_hearth_value \"$1\")\n"
    "    print -r -- \"$v\"\n"
    "}\n"
    "\n"
    "# _hearth_describe TAG DESCRIPTION FN ARG...: offers the lines \"word<TAB>help\" FN "
    "prints.\n"
    "_hearth_describe() {\n"
    "    local tag=$1 descr=$2 fn=$3 l\n"
    "    shift 3\n"
    "    local -a lines pairs\n"
    "    for l in \"$@\"; do lines+=(${(f)\"$($fn \"$l\")\"}); done\n"
    "    for l in $lines; do pairs+=(\"${${l%%$'\\t'*}//:/\\\\:}:${l#*$'\\t'}\"); done\n"
    "    _describe -t $tag $descr pairs\n"
    "}\n"
    "\n"
    "# _hearth_offer SPEC: the completions for SPEC.\n"
    "_hearth_offer() {\n"
    "    local -a vals\n"
    "    case $1 in\n"
    "    (w:*) vals=(${=${1#w:}}); compadd -a vals ;;\n"
    "    (file) _files ;;\n"
    "    (dir) _files -/ ;;\n"
    "    (vm | image | kernel)\n"
    "        vals=(${(f)\"$(${words[1]} $root __complete $1 2>/dev/null)\"})\n"
    "        compadd -a vals\n"
    "        ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "_hearth() {\n"
    "    local -a root\n"
    "    local key= bare= nargs=0 first= skip= lastflag= flag= x v i spec lk\n"
    "    for ((i = 2; i < CURRENT; i++)); do\n"
    "        x=$words[i]\n"
    "        if [[ -n $skip ]]; then\n"
    "            [[ $skip == root ]] && root=(--root ${x/#\\~/$HOME})\n"
    "            skip=\n"
    "            continue\n"
    "        fi\n"
    "        case $x in\n"
    "        (--root=*)\n"
    "            x=${x#--root=}\n"
    "            root=(--root ${x/#\\~/$HOME})\n"
    "            continue\n"
    "            ;;\n"
    "        (--*=*) continue ;;\n"
    "        (-?*)\n"
    "            if [[ -n $bare ]]; then\n"
    "                key=$(_hearth_default $key)\n"
    "                bare=\n"
    "            fi\n"
    "            lk=$key\n"
    "            v=$(_hearth_spec $x)\n"
    "            if [[ $v == 1\\ * ]]; then\n"
    "                skip=1\n"
    "                lastflag=$x\n"
    "            fi\n"
    "            [[ $x == --root ]] && skip=root\n"
    "            continue\n"
    "            ;;\n"
    "        esac\n"
    "        if [[ -z $key ]]; then\n"
    "            key=$(_hearth_group $x)\n"
    "            if [[ -n $key ]]; then bare=1; else key=$(_hearth_canon $x); fi\n"
    "        elif [[ -n $bare ]]; then\n"
    "            key=$(_hearth_canon \"$key $x\")\n"
    "            bare=\n"
    "        else\n"
    "            ((nargs++))\n"
    "            [[ -z $first ]] && first=$x\n"
    "        fi\n"
    "    done\n"
    "    lk=$key\n"
    "    [[ -n $bare ]] && lk=$(_hearth_default $key)\n"
    "    if [[ -n $skip ]]; then\n"
    "        spec=$(_hearth_spec $lastflag)\n"
    "    elif [[ $PREFIX == -*=* ]]; then\n"
    "        spec=$(_hearth_spec ${PREFIX%%=*})\n"
    "        [[ -n $spec ]] && compset -P '*='\n"
    "    fi\n"
    "    if [[ -n $spec ]]; then\n"
    "        _hearth_offer ${spec#? }\n"
    "    elif [[ $PREFIX == -* ]]; then\n"
    "        if [[ -n $lk ]]; then\n"
    "            _hearth_describe flags flag _hearth_flags $lk ''\n"
    "        else\n"
    "            _hearth_describe flags flag _hearth_flags ''\n"
    "        fi\n"
    "    elif [[ -z $key ]]; then\n"
    "        _hearth_describe commands 'hearth command' _hearth_top ''\n"
    "    elif [[ -n $bare ]]; then\n"
    "        _hearth_describe commands \"hearth $key command\" _hearth_subs $key\n"
    "    else\n"
    "        spec=$(_hearth_args $key)\n"
    "        case $spec in\n"
    "        (kind_name)\n"
    "            if ((nargs == 0)); then spec='w:vm image kernel'; else spec=$(_hearth_kind "
    "$first); fi\n"
    "            ;;\n"
    "        (command)\n"
    "            v=$(_hearth_group $first)\n"
    "            if ((nargs == 0)); then\n"
    "                _hearth_describe commands 'hearth command' _hearth_top ''\n"
    "            elif ((nargs == 1)) && [[ -n $v ]]; then\n"
    "                _hearth_describe commands \"hearth $v command\" _hearth_subs $v\n"
    "            fi\n"
    "            return\n"
    "            ;;\n"
    "        esac\n"
    "        [[ -n $spec ]] && _hearth_offer $spec\n"
    "    fi\n"
    "}\n"
    "\n"
    "# Autoloaded from $fpath this file is the body of _hearth: run it. Sourced, "
    "register it.\n"
    "if [[ $funcstack[1] == _hearth ]]; then\n"
    "    _hearth \"$@\"\n"
    "else\n"
    "    compdef _hearth hearth\n"
    "fi\n";

static const char fish_head[] =
    "# fish completion for hearth, written by `hearth completion fish` from hearth's\n"
    "# command table. Install it as hearth.fish in a completions directory (Debian:\n"
    "# /usr/share/fish/vendor_completions.d), or load it with\n"
    "# `hearth completion fish | source`. VM, image and kernel names come from\n"
    "# `hearth __complete KIND` (with the --root of the command line).\n\n";

static const char fish_machine[] =
    "function _hearth_kind\n"
    "    switch \"$argv[1]\"\n"
    "        case vm vms\n"
    "            echo vm\n"
    "        case image images\n"
    "            echo image\n"
    "        case kernel kernels\n"
    "            echo kernel\n"
    "    end\n"
    "end\n"
    "\n"
    "# _hearth_spec COMMAND FLAG: what the value of FLAG is (_hearth_value).\n"
    "function _hearth_spec\n"
    "    set -l v (_hearth_value \"$argv[1] $argv[2]\")\n"
    "    test -z \"$v\"; and set v (_hearth_value $argv[2])\n"
    "    echo $v\n"
    "end\n"
    "\n"
    "# _hearth_offer SPEC WORD ROOT...: the candidates for WORD.\n"
    "function _hearth_offer\n"
    "    set -l spec $argv[1]\n"
    "    set -l word $argv[2]\n"
    "    set -e argv[1..2]\n"
    "    switch $spec\n"
    "        case 'w:*'\n"
    "            string split ' ' -- (string sub -s 3 -- $spec)\n"
    "        case file\n"
    "            __fish_complete_path $word\n"
    "        case dir\n"
    "            __fish_complete_directories $word\n"
    "        case vm image kernel\n"
    "            set -l bin (commandline -opc)[1]\n"
    "            $bin $argv __complete $spec 2>/dev/null\n"
    "    end\n"
    "end\n"
    "\n"
    "function _hearth_complete\n"
    "    set -l words (commandline -opc)\n"
    "    set -l cur (commandline -ct)\n"
    "    set -e words[1]\n"
    "    set -l key ''\n"
    "    set -l bare ''\n"
    "    set -l nargs 0\n"
    "    set -l first ''\n"
    "    set -l skip ''\n"
    "    set -l lastflag ''\n"
    "    set -l root\n"
    "    for x in $words\n"
    "        if test -n \"$skip\"\n"
    "            test \"$skip\" = root; and set root --root $x\n"
    "            set skip ''\n"
    "            continue\n"
    "        end\n"
    "        switch $x\n"
    "            case '--root=*'\n"
    "                set root --root (string replace -- '--root=' '' $x)\n"
    "                continue\n"
    "            case '--*=*'\n"
    "                continue\n"
    "            case '-?*'\n"
    "                if test -n \"$bare\"\n"
    "                    set key (_hearth_default $key)\n"
    "                    set bare ''\n"
    "                end\n"
    "                if string match -q '1 *' -- (_hearth_spec \"$key\" $x)\n"
    "                    set skip 1\n"
    "                    set lastflag $x\n"
    "                end\n"
    "                test \"$x\" = --root; and set skip root\n"
    "                continue\n"
    "        end\n"
    "        if test -z \"$key\"\n"
    "            set key (_hearth_group $x)\n"
    "            if test -n \"$key\"\n"
    "                set bare 1\n"
    "            else\n"
    "                set key (_hearth_canon $x)\n"
    "            end\n"
    "        else if test -n \"$bare\"\n"
    "            set key (_hearth_canon \"$key $x\")\n"
    "            set bare ''\n"
    "        else\n"
    "            set nargs (math $nargs + 1)\n"
    "            test -z \"$first\"; and set first $x\n"
    "        end\n"
    "    end\n"
    "    set -l lk $key\n"
    "    test -n \"$bare\"; and set lk (_hearth_default $key)\n"
    "    set -l spec ''\n"
    "    set -l flag ''\n"
    "    set -l value $cur\n"
    "    if test -n \"$skip\"\n"
    "        set spec (_hearth_spec \"$lk\" $lastflag)\n"
    "    else if string match -q -- '-*=*' $cur\n"
    "        set flag (string split -m 1 = -- $cur)[1]\n"
    "        set value (string split -m 1 = -- $cur)[2]\n"
    "        set spec (_hearth_spec \"$lk\" $flag)\n"
    "    end\n"
    "    if test -n \"$spec\"\n"
    "        for c in (_hearth_offer (string sub -s 3 -- $spec) $value $root)\n"
    "            if test -n \"$flag\"\n"
    "                echo $flag=$c\n"
    "            else\n"
    "                echo $c\n"
    "            end\n"
    "        end\n"
    "    else if string match -q -- '-*' $cur\n"
    "        test -n \"$lk\"; and _hearth_flags $lk\n"
    "        _hearth_flags ''\n"
    "    else if test -z \"$key\"\n"
    "        _hearth_top ''\n"
    "    else if test -n \"$bare\"\n"
    "        _hearth_subs $key\n"
    "    else\n"
    "        set spec (_hearth_args $key)\n"
    "        switch \"$spec\"\n"
    "            case kind_name\n"
    "                if test $nargs -eq 0\n"
    "                    set spec 'w:vm image kernel'\n"
    "                else\n"
    "                    set spec (_hearth_kind $first)\n"
    "                end\n"
    "            case command\n"
    "                set -l g (_hearth_group $first)\n"
    "                if test $nargs -eq 0\n"
    "                    _hearth_top ''\n"
    "                else if test $nargs -eq 1 -a -n \"$g\"\n"
    "                    _hearth_subs $g\n"
    "                end\n"
    "                return\n"
    "        end\n"
    "        test -n \"$spec\"; and _hearth_offer $spec \"$cur\" $root\n"
    "    end\n"
    "end\n"
    "\n"
    "complete -c hearth -e\n"
    "complete -c hearth -f -a '(_hearth_complete)'\n";

int cli_completion_script(const char *shell, struct strbuf *out) {
    struct gen g = {.out = out};
    const char *head, *machine;
    if (strcmp(shell, "bash") == 0) {
        g.sh = SH_BASH;
        head = bash_head;
        machine = bash_machine;
    } else if (strcmp(shell, "zsh") == 0) {
        g.sh = SH_ZSH;
        head = zsh_head;
        machine = zsh_machine;
    } else if (strcmp(shell, "fish") == 0) {
        g.sh = SH_FISH;
        head = fish_head;
        machine = fish_machine;
    } else {
        return -EINVAL;
    }
    put(&g, head);
    write_data(&g);
    put(&g, machine);
    return g.r;
}

int cmd_completion(struct cli_ctx *ctx) {
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    int r = cli_completion_script(ctx->args.argv[0], &out);
    if (r == -EINVAL)
        return cli_usage_error(ctx, "unknown shell '%s' (use bash, zsh or fish)",
                               ctx->args.argv[0]);
    if (r < 0)
        return error_oom(&ctx->err);
    return cli_write_out(ctx, &out);
}

/* ---- hearth __complete KIND ------------------------------------------------ */

static int name_row(void *ud, int ncols, const char *const *values,
                    const enum engine_value_type *types) {
    (void)types;
    struct strbuf *out = ud;
    if (ncols < 1 || !values[0])
        return 0;
    return strbuf_adds(out, values[0]) < 0 || strbuf_addc(out, '\n') < 0 ? -ENOMEM : 0;
}

static int no_columns(void *ud, int ncols, const char *const *names) {
    (void)ud, (void)ncols, (void)names;
    return 0;
}

static int no_end(void *ud) {
    (void)ud;
    return 0;
}

int cmd_complete(struct cli_ctx *ctx) {
    static const struct {
        const char *kind, *sql;
    } kinds[] = {
        {"vm", "SELECT name FROM vms ORDER BY name"},
        {"image", "SELECT name FROM images ORDER BY name"},
        {"kernel", "SELECT name FROM kernels ORDER BY name"},
    };
    const char *sql = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (strcmp(ctx->args.argv[0], kinds[i].kind) == 0)
            sql = kinds[i].sql;
    if (!sql)
        return cli_usage_error(ctx, "unknown kind '%s' (use vm, image or kernel)",
                               ctx->args.argv[0]);
    /* A root that does not exist yet has no names, and completing must not create it. */
    _cleanup_free_ char *root = NULL;
    int r = cli_root_resolve(&root, &ctx->err);
    if (r < 0)
        return r;
    _cleanup_free_ char *db = xasprintf("%s/hearth.db", root);
    if (!db)
        return error_oom(&ctx->err);
    if (access(db, F_OK) < 0)
        return 0;
    _cleanup_engine_ engine *eng = NULL;
    r = engine_open_reading(root, &eng, &ctx->err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct engine_sql_sink sink = {
        .columns = no_columns, .row = name_row, .end = no_end, .ud = &out};
    r = engine_sql(eng, sql, NULL, &sink, &ctx->err);
    if (r < 0)
        return r;
    return cli_write_out(ctx, &out);
}
