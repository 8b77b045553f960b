# Shared by the integration scripts (sourced, not run): a temporary
# directory $TMP (removed on exit unless a script sets its own trap), a root
# $ROOT inside it, `h` to run hearth on that root, the pass/fail counters and
# the checks. A script ends with `finish`, which prints "N passed, M failed"
# and sets the exit status.
#
# A program that scripts/install-deps installs is a fixture: `need` fails the
# script when one is missing. `skip` is only for what no package gives (root,
# say): it prints "SKIP: why" (scripts/test lists these lines) and exits 77,
# which ctest shows as skipped, or 1 when a check already failed.

HEARTH=${HEARTH:?set HEARTH to the hearth binary}
HEARTH_SRC=${HEARTH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}

# As root, every script runs in a network namespace of its own, with only
# lo up: a VM started as root builds its network (a bridge, nftables rules,
# dnsmasq), and that must never touch the host's network.
if [ "$(id -u)" = 0 ] && [ -z "${HEARTH_TEST_NETNS:-}" ]; then
    export HEARTH_TEST_NETNS=$$
    exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi

# net_state: the namespace's link names and its nftables ruleset, which a
# network test compares before and after its teardown.
net_state() {
    ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
    nft list ruleset
}

TMP=$(mktemp -d)
# tmp_procs: the processes whose command line names $TMP (a network's
# dnsmasq outlives its VMs; the test's end ends it).
tmp_procs() {
    local p cmd
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = $$ ] && continue
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ "$cmd" == *"$TMP"* ]] && echo "${p#/proc/}"
    done
}
tmp_cleanup() {
    local p
    for p in $(tmp_procs); do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap tmp_cleanup EXIT
ROOT="$TMP/root"
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# h ARGS...: hearth on the test root.
h() { "$HEARTH" --root "$ROOT" "$@"; }

# check NAME EXPECTED_STATUS CMD...: runs CMD, its output in $OUT and $ERR.
check() {
    local name=$1 want=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
    if [ "$got" -eq "$want" ]; then ok; else bad "$name: exit $got, want $want; stderr: $ERR"; fi
}

# expect NAME HAYSTACK NEEDLE: the needle (a fixed string) occurs.
expect() {
    if grep -qF -- "$3" <<<"$2"; then ok; else bad "$1: '$3' not in: $2"; fi
}

# reject NAME HAYSTACK NEEDLE: the needle does not occur.
reject() {
    if grep -qF -- "$3" <<<"$2"; then bad "$1: '$3' unexpectedly in: $2"; else ok; fi
}

# equal NAME GOT WANT
equal() {
    if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# need PROGRAM PACKAGE: fails the script (exit 1) unless PROGRAM is installed.
need() {
    command -v "$1" >/dev/null && return 0
    echo "FAIL: $1 is not installed: apt-get install $2 (scripts/install-deps installs it)" >&2
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

# skip WHY...: the rest of the script cannot run here; ends it (77, or 1 after a failure).
skip() {
    echo "SKIP: $*"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && exit 77
    exit 1
}
