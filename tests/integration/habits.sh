#!/usr/bin/env bash
# Ignite's and Docker's habits, through the built binary on a temporary root:
# `hearth help [COMMAND]`, a group alone lists (vm, image, kernel and their
# plural aliases; `vm ls` lists all VMs), aliases answer by their own name,
# `version -o json|yaml|short`, -t/--template on ps and inspect (and its
# usage errors naming the position), and a root this user may not write
# (run as nobody) named with its owner. Prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"
EX="$HEARTH_SRC/examples"

check "apply" 0 h apply -f "$EX/all.yaml" # web-1 and db-1, both Created

# ---- help ----------------------------------------------------------------------
check "help" 0 h help
equal "help is --help" "$OUT" "$(h --help)"
check "help ps" 0 h help ps
equal "help ps is ps --help" "$OUT" "$(h ps --help)"
expect "help ps names the alias" "$OUT" "Also: 'hearth vm ps'"
check "help vm ls" 0 h help vm ls
expect "help vm ls usage" "$OUT" "Usage: hearth vm ls"
check "help vms list" 0 h help vms list
expect "help of an alias" "$OUT" "Usage: hearth vm list"
check "help vm" 0 h help vm
expect "help of a group" "$OUT" "Usage: hearth vm COMMAND"
expect "group help lists vm rm" "$OUT" "  vm rm "
check "help of nothing" 2 h help frobnicate
expect "help of nothing" "$ERR" "unknown command 'frobnicate'"
check "help of a hidden command" 2 h help __complete

# ---- groups alone list, as Ignite's --------------------------------------------
check "ps: none running" 0 h ps -q
equal "ps lists no Created VM" "$OUT" ""
for g in vm vms "vm ls" "vm list" "vms ls"; do
    # shellcheck disable=SC2086
    check "$g" 0 h $g
    expect "$g lists web-1" "$OUT" "web-1"
    expect "$g lists db-1" "$OUT" "db-1"
done
check "vm -q" 0 h vm -q
equal "vm -q: two ids" "$(wc -l <<<"$OUT")" "2"
check "vm ps" 0 h vm ps -q
equal "vm ps: running only" "$OUT" ""
for g in image images kernel kernels "image list" "kernel list"; do
    # shellcheck disable=SC2086
    check "$g" 0 h $g
done
check "image" 0 h image
expect "image lists" "$OUT" "weaveworks/ignite-ubuntu:latest"
check "kernels" 0 h kernels
expect "kernels lists" "$OUT" "weaveworks/ignite-kernel:4.19.47"
check "vm --help" 0 h vm --help
expect "vm --help" "$OUT" "Without a command: 'hearth vm ls'"
check "pool with a flag" 2 h pool --bogus
check "pool --help" 0 h pool --help
expect "pool --help" "$OUT" "Usage: hearth pool COMMAND"
check "unknown subcommand" 2 h image frob
expect "unknown subcommand" "$ERR" "unknown command 'hearth image frob'"

# Aliases answer by the name they were called.
check "vm rm without args" 2 h vm rm
expect "alias in the message" "$ERR" "'hearth vm rm' needs at least 1 argument"
check "image rm --help" 0 h image rm --help
expect "alias usage" "$OUT" "Usage: hearth image rm [-f] IMAGE..."
expect "alias names the others" "$OUT" "Also: 'hearth rmi'"

# ---- version -o ----------------------------------------------------------------
check "version -o short" 0 h version -o short
equal "short" "$OUT" "$(h version | sed -n 's/^hearth version //p')"
check "version -o json" 0 h version -o json
SCHEMA=$(h version | sed -n 's/^schema version //p')
equal "json schema" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["schemaVersion"])' <<<"$OUT")" "$SCHEMA"
expect "json hearth" "$OUT" '"hearthVersion": "'
check "version -o yaml" 0 h version -o yaml
expect "yaml schema" "$OUT" "schemaVersion: $SCHEMA"
check "version -o xml" 2 h version -o xml
expect "version -o xml" "$ERR" "unknown output format 'xml' (use json, yaml or short)"

# ---- -t/--template ---------------------------------------------------------------
check "ps -a -t" 0 h ps -a -t '{{.metadata.name}}\t{{.status.state}}\t{{json .spec.cpus}}'
equal "ps -t: a line per VM" "$(sort <<<"$OUT")" "$(printf 'db-1\tCreated\t1\nweb-1\tCreated\t2')"
check "ps -t: running only" 0 h ps -t '{{.metadata.name}}'
equal "ps -t: none running" "$OUT" ""
check "vm ls -t" 0 h vm ls --template='{{.metadata.name}}'
equal "vm ls -t: all" "$(sort <<<"$OUT")" "$(printf 'db-1\nweb-1')"
check "ps -t filter" 0 h ps -a -f name=db -t 'vm {{ .metadata.name }}: {{.spec.memory}}'
equal "ps -t with a filter" "$OUT" "vm db-1: 512MB"
check "ps -t json" 0 h ps -a -f name=web -t '{{json .metadata.labels}}|{{.spec.ports}}'
equal "json and objects" "$OUT" '{"app":"web"}|[{"hostPort":8080,"vmPort":80}]'
check "ps -t trim" 0 h ps -a -f name=web -t 'a  {{- .metadata.name -}}  b\nc\\d'
equal "trim and escapes" "$OUT" "$(printf 'aweb-1b\nc\\d')"
check "ps -t missing" 0 h ps -a -f name=web -t '{{.spec.nope}}|{{json .spec.nope}}'
equal "missing field" "$OUT" "<no value>|null"
check "inspect -t" 0 h inspect vm web-1 -t '{{.kind}} {{.metadata.name}} {{.spec.cpus}}'
equal "inspect -t" "$OUT" "VM web-1 2"
check "vm inspect -t" 0 h vm inspect db -t '{{.metadata.name}}'
equal "vm inspect -t" "$OUT" "db-1"
check "image inspect -t" 0 h image inspect weaveworks/ignite-ubuntu -t '{{.spec.ociClaim.ref}}'
equal "image inspect -t" "$OUT" "weaveworks/ignite-ubuntu:latest"
check "kernel inspect -t" 0 h kernel inspect weaveworks -t '{{.metadata.name}}'
equal "kernel inspect -t" "$OUT" "weaveworks/ignite-kernel:4.19.47"
# Bad templates are usage errors naming the position.
check "unknown function" 2 h ps -a -t 'x {{index .a 0}}'
expect "unknown function" "$ERR" "template: position 5: unknown function 'index'"
check "unclosed" 2 h ps -a -t 'ab{{.metadata'
expect "unclosed" "$ERR" "template: position 3: an action without its closing }}"
check "pipeline" 2 h inspect vm web-1 -t '{{.metadata.name | printf}}'
expect "pipeline" "$ERR" "template: position 18: one field path per action"
check "field of a string" 2 h inspect vm web-1 -t '{{.metadata.name.first}}'
expect "field of a string" "$ERR" "'name' is a string, which has no field 'first'"
check "-t and -o" 2 h ps -t '{{.kind}}' -o json
expect "-t and -o" "$ERR" "-t/--template and -o/--output cannot be combined"

# ---- a root this user may not write ------------------------------------------------
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
    chmod 0755 "$TMP"
    as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$HEARTH" "$@"; }
    NOBODY=$(getent passwd 65534 | cut -d: -f1)
    mkdir -m 0755 "$TMP/theirs"
    for c in ps "image ls" export; do
        # shellcheck disable=SC2086
        check "$c, empty root of root's" 1 as_nobody --root "$TMP/theirs" $c
        expect "$c: owner named" "$ERR" "cannot write the root directory '$TMP/theirs': it belongs to user 'root' (mode 0755) and hearth runs as user '$NOBODY'"
        expect "$c: what to do" "$ERR" "use --root DIR for a root of your own, or run hearth as 'root' (sudo)"
    done
    # The root (with its database) made by root: the database is named.
    chmod 0755 "$ROOT"
    check "ps, root's database" 1 as_nobody --root "$ROOT" ps
    expect "database named" "$ERR" "cannot write the database '$ROOT/hearth.db': it belongs to user 'root'"
    # A root that would be made inside a directory of root's.
    check "root below root's" 1 as_nobody --root "$TMP/theirs/sub" ps
    expect "parent named" "$ERR" "cannot write the directory '$TMP/theirs': it belongs to user 'root'"
    # HEARTH_ROOT is the same as --root.
    check "HEARTH_ROOT" 1 env HEARTH_ROOT="$TMP/theirs" setpriv --reuid=65534 --regid=65534 --clear-groups "$HEARTH" vm
    expect "HEARTH_ROOT named" "$ERR" "cannot write the root directory '$TMP/theirs'"
    # Nothing was created, and commands that need no database still work.
    equal "nothing created" "$(ls -A "$TMP/theirs")" ""
    check "version as nobody" 0 as_nobody --root "$TMP/theirs" version
    check "help as nobody" 0 as_nobody --root "$TMP/theirs" help ps
    check "completion as nobody" 0 as_nobody --root "$TMP/theirs" completion bash
    check "names as nobody" 0 as_nobody --root "$TMP/theirs" __complete vm
    equal "no names, no error" "$OUT$ERR" ""
    # A root of one's own works as nobody.
    mkdir -m 0777 "$TMP/open"
    check "own root" 0 as_nobody --root "$TMP/open/mine" ps
else
    echo "SKIP: the unwritable root: needs root and setpriv"
fi

finish
