#!/usr/bin/env bash
# `hearth dash` driven in tmux (send-keys, capture-pane) against a temporary
# root filled with `hearth apply` documents (VMs Created and Stopped, an
# image, a kernel) and a file pool: navigation, filter, sort and reverse,
# describe, the five screens, help, a log with CRLF line ends, delete with
# its y/N confirmation (which `hearth ps -a` then sees), live refresh after a
# CLI change, CREATED moving on by itself as `ps` says it, resize to
# 80x24, colours and NO_COLOR, --readonly, and the terminal restored after q
# and Ctrl-C. With the Firecracker fake (FCFAKE, HEARTH_FC_SPEC, set by
# ctest) and the VM fixtures (tests/vm/mkfixtures.sh): a VM run from the
# Images screen's form (its STATUS "Up 5s" as ps says it), then stopped,
# started, attached to (and detached
# with ^P^Q), killed and its log followed,
# each seen by the CLI. Every wait polls the screen with a timeout.
# Exits 77 (skipped) without tmux.
set -u

. "$(dirname "$0")/lib/assert.sh"

command -v tmux >/dev/null || {
    echo "SKIP: tmux is not installed (apt-get install tmux)"
    exit 77
}

# One tmux server (socket) per dashboard started: a server being shut down
# cannot take the next session.
SOCK_BASE="hearth-dash-test-$$"
NSOCK=0
SOCK="$SOCK_BASE-0"
WAIT=${WAIT:-15} # seconds any one screen change may take
T() { tmux -L "$SOCK" "$@"; }
cleanup() {
    local p cmd i
    for ((i = 0; i <= NSOCK; i++)); do tmux -L "$SOCK_BASE-$i" kill-server 2>/dev/null; done
    # Monitors and VMMs of VMs the test started (their command lines name the root).
    for p in /proc/[0-9]*; do
        cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
        [[ "$cmd" == *"$ROOT"* ]] && kill -9 "${p#/proc/}" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

screen() { T capture-pane -t dash -p; }
keys() { T send-keys -t dash "$@"; }
# wait_for TEXT [SECONDS]: until the screen shows TEXT (a fixed string).
wait_for() {
    local end=$(($(date +%s) + ${2:-$WAIT}))
    while [ "$(date +%s)" -le "$end" ]; do
        screen | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
# wait_gone TEXT [SECONDS]: until the screen no longer shows TEXT.
wait_gone() {
    local end=$(($(date +%s) + ${2:-$WAIT}))
    while [ "$(date +%s)" -le "$end" ]; do
        screen | grep -qF -- "$1" || return 0
        sleep 0.1
    done
    return 1
}
# shows NAME TEXT: the screen shows TEXT within WAIT seconds.
shows() {
    if wait_for "$2"; then ok; else bad "$1: '$2' not on the screen:" && screen >&2; fi
}
hides() {
    if wait_gone "$2"; then ok; else bad "$1: '$2' still on the screen:" && screen >&2; fi
}
# row N: line N of the list (1 = the first row below the column titles).
row() { screen | sed -n "$(($1 + 3))p"; }
# start_dash [ENV=V...] -- [DASH FLAGS...]: a fresh session of 120x40.
start_dash() {
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    T kill-server 2>/dev/null
    NSOCK=$((NSOCK + 1))
    SOCK="$SOCK_BASE-$NSOCK"
    local cmd
    cmd="env ${envs[*]} $(printf '%q ' "$HEARTH" --root "$ROOT" dash "$@")"
    T new-session -d -s dash -x 120 -y 40 \
        "$cmd; echo EXITED \$?; stty -a | tr ' ' '\n' | grep -x -e icanon -e echo -e -icanon -e -echo | tr '\n' ' '; echo; sleep 600"
    wait_for "? help" || {
        bad "dash did not start:"
        screen >&2
    }
}

# ---- the root: 12 VMs (creation order, the natural one, is not name order), an image, a kernel, a file pool
{
    i=0
    for n in web-3 db-2 web-1 cache-1 db-1 web-2 api-1 api-2 queue-1 db-3 mail-1 zeta-1; do
        state=Stopped
        [ $((i % 3)) -eq 0 ] && state=Created
        cat <<EOF
---
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: $n
  created: 2024-01-01T00:00:$(printf %02d $i)Z
spec:
  image:
    ociClaim:
      ref: busybox:latest
  cpus: $((1 + i % 4))
  memory: $((256 * (1 + i % 3)))MB
status:
  state: $state
EOF
        i=$((i + 1))
    done
    cat <<'EOF'
---
apiVersion: ignite.weave.works/v1alpha1
kind: Image
metadata:
  name: busybox:latest
spec:
  ociClaim:
    ref: busybox:latest
---
apiVersion: ignite.weave.works/v1alpha1
kind: Kernel
metadata:
  name: weaveworks/ignite-kernel:5.10.51
spec:
  ociClaim:
    ref: weaveworks/ignite-kernel:5.10.51
EOF
} >"$TMP/docs.yaml"
check "apply" 0 h apply -f "$TMP/docs.yaml"
check "pool init" 0 h pool init --driver file --data-size 1GB

# ---- navigation, filter, sort, describe ---------------------------------------
start_dash --
shows "vm count" "VMs: 12 of 12"
shows "ps columns" "VM ID"
expect "first row" "$(row 1)" "web-3"
if T capture-pane -t dash -p -e | grep -q $'\e\\[\\([0-9]*;\\)*2m'; then ok; else bad "stopped rows are not dim"; fi
if T capture-pane -t dash -p -e | grep -q $'\e\\[[0-9;]*3[1-6]m'; then ok; else bad "no colour escapes with colours on"; fi

keys G d
shows "describe last" "name: zeta-1"
shows "describe is YAML" "kind: VM"
keys q
shows "back to the list" "VMs: 12 of 12"
keys g j j Enter
shows "describe third" "name: web-1"
keys G # scrolls the pager; End of a short text is its start
keys Escape
shows "back again" "VMs: 12 of 12"

keys / w e b
shows "filter count" "VMs: 3 of 12"
shows "filter shown" "filter: web"
equal "web rows" "$(screen | grep -c ' web-[0-9]')" "3"
reject "no other rows" "$(screen)" "db-1"
keys Enter
keys Escape
shows "filter cleared" "VMs: 12 of 12"

keys '<' # from the natural order to the last column: NAME
shows "sorted by name" "sort: NAME"
expect "name order first" "$(row 1)" "api-1"
expect "name order second" "$(row 2)" "api-2"
keys R
shows "reversed" "sort: NAME (reversed)"
expect "reversed first" "$(row 1)" "zeta-1"
keys R '<' '<' '<' '<' '<' # not reversed; five columns left of NAME: MEMORY
shows "sorted by memory" "sort: MEMORY"
expect "memory sorts by bytes" "$(row 1)" "256.0 MB"
expect "memory sorts by bytes, last" "$(screen | sed -n 15p)" "768.0 MB"
keys '>' '>' '>' '>' '>' '>' # NAME, then the natural order
hides "natural order" "sort:"
expect "natural order again" "$(row 1)" "web-3"

# ---- the other screens and help ---------------------------------------------
keys 2
shows "images screen" "busybox:latest"
shows "images columns" "IMAGE ID"
keys 3
shows "kernels screen" "weaveworks/ignite-kernel:5.10.51"
keys 4
shows "pool screen" "driver file"
shows "pool gauge" "data     ["
keys 5
shows "operations screen" "vm.apply"
shows "operations pool init" "pool.init"
keys Tab
shows "tab wraps to VMs" "VMs: 12 of 12"
keys BTab
shows "shift-tab back to operations" "Operations:"
keys 1 '?'
shows "help lists delete" "Ctrl-D"
shows "help lists reverse" "reverse the sort"
keys q
shows "help closed" "VMs: 12 of 12"

# ---- the log viewer: a guest's CRLF line ends show no '.' ----------------------
uid=$(h ps -a -q --filter name=web-1)
mkdir -p "$ROOT/vm/$uid"
printf 'crlf-line-1\r\ncrlf-line-2\r\nlogin: \r\n' >"$ROOT/vm/$uid/console.log"
keys / w e b - 1 Enter
shows "web-1 selected" "VMs: 1 of 12"
keys l
shows "log shown" "crlf-line-2"
reject "no '.' for the CR" "$(screen)" "crlf-line-1."
reject "no '.' after the prompt" "$(screen)" "login: ."
keys q Escape
shows "back from the log" "VMs: 12 of 12"

# ---- delete, with its confirmation --------------------------------------------
keys / d b - 2 Enter
shows "one left" "VMs: 1 of 12"
keys C-d
shows "asks" "delete vm 'db-2'? [y/N]"
keys n
shows "kept" "not deleted"
check "ps after no" 0 h ps -a
expect "db-2 still there" "$OUT" "db-2"
keys C-d
shows "asks again" "delete vm 'db-2'? [y/N]"
keys y
shows "deleted" "deleted vm 'db-2'"
check "ps after yes" 0 h ps -a
reject "db-2 gone" "$OUT" "db-2"
keys Escape
shows "eleven left" "VMs: 11 of 11"

# ---- live: a change made by the CLI appears without a key ---------------------
printf 'apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n  name: late-1\nspec:\n  image:\n    ociClaim:\n      ref: busybox:latest\n' >"$TMP/late.yaml"
check "apply late" 0 h apply -f "$TMP/late.yaml"
shows "refreshed" "VMs: 12 of 12"
shows "late row" "late-1"

# ---- CREATED moves on by itself and says what ps says ---------------------------
# dash_cell NAME REGEX: the first match of REGEX in NAME's row of the screen.
dash_cell() { screen | grep -w -- "$1" | grep -oE -- "$2" | head -1; }
ps_cell() { h ps -a | grep -w -- "$1" | grep -oE -- "$2" | head -1; }
# secs CELL: the seconds a cell such as "22s ago" or "Up 3m" stands for.
secs() {
    local a
    a=$(grep -oE '[0-9]+[smhdy]' <<<"$1" | head -1)
    case ${a: -1} in
    s) echo "${a%?}" ;;
    m) echo $((${a%?} * 60)) ;;
    h) echo $((${a%?} * 3600)) ;;
    d) echo $((${a%?} * 86400)) ;;
    *) echo $((${a%?} * 31536000)) ;;
    esac
}
# same_as_ps NAME REGEX: the dashboard shows the cell ps shows. The screen
# is read between two runs of ps, and the dashboard writes its cells once a
# refresh (1 s): its value lies between the first ps's less a second and
# the second's (a busy machine may make ps slow; no limit on that).
same_as_ps() {
    local end=$(($(date +%s) + WAIT)) d p1 p2
    while [ "$(date +%s)" -le "$end" ]; do
        p1=$(ps_cell "$1" "$2")
        d=$(dash_cell "$1" "$2")
        p2=$(ps_cell "$1" "$2")
        if [ -n "$d" ] && [ -n "$p1" ] && [ -n "$p2" ] &&
            [ "${d%%[0-9]*}" = "${p1%%[0-9]*}" ] &&
            [ "$(secs "$d")" -ge $(($(secs "$p1") - 1)) ] &&
            [ "$(secs "$d")" -le "$(secs "$p2")" ]; then
            return 0
        fi
        sleep 0.2
    done
    echo "dashboard: '$d', ps before: '$p1', ps after: '$p2'; the screen:" >&2
    screen >&2
    return 1
}
AGO='[0-9]+[smhdy] ago'
same_as_ps late-1 "$AGO" && ok || bad "late-1's CREATED differs from ps"
first=$(dash_cell late-1 "$AGO")
end=$(($(date +%s) + WAIT))
while [ "$(date +%s)" -le "$end" ] && [ "$(dash_cell late-1 "$AGO")" = "$first" ]; do sleep 0.2; done
if [ "$(dash_cell late-1 "$AGO")" != "$first" ]; then ok; else bad "CREATED froze at '$first'"; fi
same_as_ps late-1 "$AGO" && ok || bad "late-1's CREATED differs from ps after a while"

# ---- resize to 80x24 ------------------------------------------------------------
T resize-window -t dash -x 80 -y 24
wait_for "4 Pool" 5
sleep 0.3
S=$(screen)
equal "24 rows" "$(wc -l <<<"$S")" "24"
width=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' <<<"$S")
if [ "$width" -le 80 ]; then ok; else bad "a line of $width columns at 80x24"; fi
expect "80x24 tabs" "$S" "5 Operations"
expect "80x24 counts" "$S" "VMs: 12 of 12"
expect "80x24 name column" "$S" "NAME"
expect "80x24 key line" "$(tail -1 <<<"$S")" "? help  q quit  / filter"
T resize-window -t dash -x 120 -y 40
wait_for "KERNEL" 5 && ok || bad "no KERNEL column back at 120x40"

# ---- quit restores the terminal --------------------------------------------------
keys q
shows "exit 0" "EXITED 0"
shows "terminal restored" "icanon echo"

# ---- NO_COLOR, --readonly, Ctrl-C ------------------------------------------------
start_dash NO_COLOR=1 -- --readonly
shows "readonly banner" "read-only"
if T capture-pane -t dash -p -e | grep -q $'\e\\[[0-9;]*3[1-7]m'; then
    bad "colour escapes with NO_COLOR"
else
    ok
fi
keys C-d
shows "readonly refuses delete" "read-only: 'Ctrl-D'"
keys s
shows "readonly refuses start" "read-only: 's'"
check "ps after readonly" 0 h ps -a -q
equal "nothing deleted" "$(wc -l <<<"$OUT")" "12"
keys C-c
shows "ctrl-c exits 0" "EXITED 0"
shows "ctrl-c restores" "icanon echo"

# ---- VM actions from the dashboard (Firecracker fake) -------------------------
if [ -n "${FCFAKE:-}" ] && [ -x "$FCFAKE" ] && [ -r "${HEARTH_FC_SPEC:-}" ] &&
    bash "$HEARTH_SRC/tests/vm/mkfixtures.sh" "$TMP/fx" >/dev/null 2>"$TMP/fx.err"; then
    . "$TMP/fx/kernel.env"
    check "image import" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
    check "kernel import" 0 h kernel import --vmlinux "$VMLINUZ" --initrd "$INITRD" hearth-e2e-kernel:1
    start_dash "HEARTH_FC_SPEC=$HEARTH_FC_SPEC" -- --vmm firecracker --firecracker-bin "$FCFAKE"
    keys 2 / e 2 e Enter
    shows "image selected" "Images: 1 of 2"
    keys r
    shows "run form" "Run a VM from localhost/hearth-e2e:1"
    keys d a s h - f c Tab Tab
    keys BSpace BSpace BSpace BSpace BSpace 1 2 8 M B Tab BSpace BSpace BSpace 5 1 2 M B Enter
    shows "created and started" "vm 'dash-fc' created and started (firecracker)"
    check "ps sees it running" 0 h ps
    expect "running" "$(grep -w dash-fc <<<"$OUT")" " Up "
    keys 1 / d a s h Enter
    shows "vm row" "dash-fc"
    # STATUS as ps prints it: "Up 5s", not the state.
    same_as_ps dash-fc 'Up [0-9]+[smhdy]' && ok || bad "dash-fc's STATUS differs from ps"
    reject "no bare Running" "$(screen | grep -w dash-fc)" "Running"
    same_as_ps dash-fc "$AGO" && ok || bad "dash-fc's CREATED differs from ps"
    if T capture-pane -t dash -p -e | grep -q $'\e\\[[0-9;]*32m'; then ok; else bad "Running is not green"; fi
    keys l
    shows "log followed" "fcfake: instance"
    keys q S
    shows "stopped" "stopped vm 'dash-fc'"
    check "ps -a sees it stopped" 0 h ps -a
    expect "stopped" "$(grep -w dash-fc <<<"$OUT")" "Stopped"
    keys s
    shows "started" "started vm 'dash-fc'"
    check "ps sees it again" 0 h ps
    expect "running again" "$(grep -w dash-fc <<<"$OUT")" " Up "
    keys a
    shows "attached" "attached to vm 'dash-fc'; detach with ^P^Q"
    keys C-p C-q
    shows "detached" "detached from vm 'dash-fc'"
    shows "list back after attach" "VMs: 1 of 13"
    keys K
    shows "killed" "killed vm 'dash-fc'"
    check "ps -a after kill" 0 h ps -a
    expect "killed: stopped" "$(grep -w dash-fc <<<"$OUT")" "Stopped"
    keys q
    shows "exit after actions" "EXITED 0"
else
    echo "SKIP: VM actions: FCFAKE/HEARTH_FC_SPEC not set or fixtures missing ($(cat "$TMP/fx.err" 2>/dev/null))"
fi

finish
