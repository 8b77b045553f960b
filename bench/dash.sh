#!/usr/bin/env bash
# The dashboard with 10,000 VMs: `hearth dash` in tmux (120x40) at its 1 Hz
# refresh.
#  (1) start-up: from launch until the VMs screen shows all rows;
#  (2) idle: the dashboard's CPU time over IDLE seconds (default 30), from
#      /proc/PID/stat (utime + stime), as a share of one core (target < 5%),
#      and how often it woke up (voluntary context switches);
#  (3) scrolling: KEYS (default 300) PgDn presses, then KEYS j presses from
#      the top followed by a describe, timed until the screen shows their
#      end (the last VM; the describe of the row KEYS down), with the CPU
#      time the dashboard used for them: once sent as one burst (the
#      dashboard reads them all, then paints once), once one key per
#      `tmux send-keys` (each key read and painted alone; the wall time is
#      then mostly tmux's own).
# Usage: bench/dash.sh [COUNT] (default 10000); BUILD=DIR picks the build
# directory (default build); IDLE=SECONDS, KEYS=N.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
idle=${IDLE:-30}
nkeys=${KEYS:-300}
build=${BUILD:-build}

command -v tmux >/dev/null || { echo "bench/dash.sh needs tmux (apt-get install tmux)" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target hearth >/dev/null
hearth=$PWD/$build/hearth
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench.XXXXXX")
sock="hearth-bench-dash-$$"
T() { tmux -L "$sock" "$@"; }
trap 'T kill-server 2>/dev/null; rm -rf "$work"' EXIT
export HEARTH_ROOT=$work/root

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
awk -v n="$count" 'BEGIN {
  for (i = 0; i < n; i++) {
    printf "---\napiVersion: ignite.weave.works/v1alpha1\nkind: VM\n"
    printf "metadata:\n  name: vm-%05d\n  labels:\n    team: t%d\n", i, i % 7
    printf "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu:latest\n"
    printf "  kernel:\n    ociClaim:\n      ref: weaveworks/ignite-kernel:4.19.47\n"
    printf "  cpus: %d\n  memory: %dMB\n  diskSize: 4GB\n", 1 + i % 4, 512 * (1 + i % 3)
    printf "  ports:\n  - hostPort: %d\n    vmPort: 80\n", 10000 + i
    printf "status:\n  state: Stopped\n"
  }
}' >"$work/vms.yaml"
"$hearth" -q apply -f "$work/vms.yaml" >/dev/null
echo "applied $count VMs"

ms() { echo $(($(date +%s%N) / 1000000)); }
screen() { T capture-pane -t dash -p; }
# wait_for TEXT SECONDS: polls the screen every 10 ms.
wait_for() {
    local end=$(($(date +%s) + $2))
    while [ "$(date +%s)" -le "$end" ]; do
        screen | grep -qF -- "$1" && return 0
        sleep 0.01
    done
    echo "timed out waiting for '$1'; the screen:" >&2
    screen >&2
    return 1
}
hz=$(getconf CLK_TCK)
# cpu_ticks PID: utime + stime of the process (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

t0=$(ms)
T new-session -d -s dash -x 120 -y 40 \
    "echo \$\$ >'$work/pid'; exec '$hearth' --root '$HEARTH_ROOT' dash 2>'$work/stderr'"
wait_for "VMs: $count of $count" 60
t1=$(ms)
pid=$(cat "$work/pid")
printf '%-44s %6d ms\n' "start-up until $count rows are listed:" $((t1 - t0))

sleep 2 # past the start-up work
# wakeups PID: voluntary context switches of all its threads (each poll(2) return is one).
wakeups() { awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n }' /proc/"$1"/task/*/status; }
c0=$(cpu_ticks "$pid")
w0=$(wakeups "$pid")
s0=$(ms)
sleep "$idle"
c1=$(cpu_ticks "$pid")
w1=$(wakeups "$pid")
s1=$(ms)
pct=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v w=$((s1 - s0)) 'BEGIN { printf "%.2f", c / hz * 1000 / w * 100 }')
printf '%-44s %s%% of one core (%d ticks of 1/%d s; target < 5%%)\n' \
    "idle CPU over $(((s1 - s0) / 1000)) s at the 1 Hz refresh:" "$pct" $((c1 - c0)) "$hz"
printf '%-44s %d\n' "idle wake-ups in those $(((s1 - s0) / 1000)) s:" $((w1 - w0))

# scroll MODE LABEL: PgDn past the end, then Home, j x KEYS and a describe.
# MODE burst: one send-keys for all; single: one send-keys per key.
send() {
    if [ "$1" = burst ]; then
        T send-keys -t dash "${@:2}"
    else
        local k
        for k in "${@:2}"; do T send-keys -t dash "$k"; done
    fi
}
scroll() {
    local mode=$1 keys=() c0 c1 s0 s1
    T send-keys -t dash Escape Home # out of a describe left by the previous round
    sleep 0.5
    for ((i = 0; i < nkeys; i++)); do keys+=(NPage); done
    c0=$(cpu_ticks "$pid")
    s0=$(ms)
    send "$mode" "${keys[@]}"
    wait_for "vm-$(printf %05d $((count - 1)))" 120
    s1=$(ms)
    c1=$(cpu_ticks "$pid")
    printf '%-44s %6d ms wall, %5d ms CPU\n' "$mode: $nkeys PgDn to the last row:" \
        $((s1 - s0)) $(((c1 - c0) * 1000 / hz))
    keys=(Home)
    for ((i = 0; i < nkeys; i++)); do keys+=(j); done
    keys+=(d)
    c0=$(cpu_ticks "$pid")
    s0=$(ms)
    send "$mode" "${keys[@]}"
    wait_for "name: vm-$(printf %05d $((nkeys < count ? nkeys : count - 1)))" 120
    s1=$(ms)
    c1=$(cpu_ticks "$pid")
    printf '%-44s %6d ms wall, %5d ms CPU\n' "$mode: Home, $nkeys j and a describe:" \
        $((s1 - s0)) $(((c1 - c0) * 1000 / hz))
}
scroll burst
scroll single
T send-keys -t dash q q
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
