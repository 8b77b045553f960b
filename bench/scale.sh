#!/usr/bin/env bash
# Costs that must follow the work a command does, not the size of the root,
# on a root of COUNT (default 100,000) stopped VMs, with the release build:
#  - `hearth apply` of the COUNT documents (one file, one transaction): wall
#    time and peak RSS (/usr/bin/time -v), and the peak RSS of applying a
#    quarter of them into another root, to show it does not grow with COUNT;
#  - `hearth version`, `hearth image ls` (no images: what opening the root
#    costs any command), `hearth ps` (lists running VMs: none), `hearth ps
#    -a`, and the floor for ps -a: the sqlite3 shell selecting ps -a's
#    columns from the documented `vms` view. Each is run RUNS times:
#    version, image ls and ps interleaved run by run, then ps -a and the
#    floor, so that a change in the machine's load touches both sides of a
#    ratio alike; reported: the median wall time (bash's $EPOCHREALTIME
#    around the command, output to /dev/null) and the peak RSS of one more
#    run.
# Then the ratios against the targets: ps within 1.5x of version, ps -a at
# most the floor, apply's peak RSS under 100 MiB.
#
# Usage: bench/scale.sh [COUNT]; RUNS=N (default 21); BUILD=DIR (default
# build-release, configured as Release if new). A cross-check with
# hyperfine (Debian: apt-get install hyperfine) on the root this prints:
#   hyperfine -N -w 5 'hearth --root ROOT version' 'hearth --root ROOT ps'
# KEEP=1 keeps the root (its path is printed) for such checks.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
runs=${RUNS:-21}
build=${BUILD:-build-release}

# Only the binary is built, so a module being worked on elsewhere cannot stop the run.
./scripts/install-deps >/dev/null
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target hearth >/dev/null
hearth=$PWD/$build/hearth
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-scale.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi
root=$work/root

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
# gen N: N VM documents as bench/ps.sh makes them (a label, claims, one port, Stopped).
gen() {
    awk -v n="$1" 'BEGIN {
      for (i = 0; i < n; i++) {
        printf "---\napiVersion: ignite.weave.works/v1alpha1\nkind: VM\n"
        printf "metadata:\n  name: vm-%06d\n  labels:\n    team: t%d\n", i, i % 7
        printf "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu:latest\n"
        printf "  kernel:\n    ociClaim:\n      ref: weaveworks/ignite-kernel:4.19.47\n"
        printf "  cpus: %d\n  memory: %dMB\n  diskSize: 4GB\n", 1 + i % 4, 512 * (1 + i % 3)
        printf "  ports:\n  - hostPort: %d\n    vmPort: 80\n", 10000 + i % 50000
        printf "status:\n  state: Stopped\n"
      }
    }'
}
gen "$count" >"$work/vms.yaml"
gen $((count / 4)) >"$work/quarter.yaml"
echo "$count VMs: $(du -m "$work/vms.yaml" | cut -f1) MiB of YAML"

# apply FILE ROOT: prints "wall_ms peak_kib"
apply() {
    /usr/bin/time -v -o "$work/time" "$hearth" --root "$2" -q apply -f "$1" >/dev/null
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
                                            for (i = 1; i <= n; i++) s = s * 60 + t[i] }
                /Maximum resident set size/ { kib = $2 }
                END { printf "%.0f %d\n", s * 1000, kib }' "$work/time"
}
read -r apply_ms apply_kib < <(apply "$work/vms.yaml" "$root")
read -r _ quarter_kib < <(apply "$work/quarter.yaml" "$work/quarter")
rows=$("$hearth" --root "$root" ps -a -q | wc -l)
[ "$rows" -eq "$count" ] || { echo "ps -a listed $rows VMs, expected $count" >&2; exit 1; }
printf '%-56s %9s ms %9s KiB peak\n' "hearth apply of $count VMs (one transaction)" "$apply_ms" \
    "$apply_kib"
printf '%-56s %9s    %9s KiB peak\n' "hearth apply of $((count / 4)) VMs" "" "$quarter_kib"

floor_sql="SELECT id, image, kernel, disk_size_bytes, cpus, memory_bytes, created, state, ips, ports, name FROM vms"
keys=(version open ps psa floor)
labels=("hearth version" "hearth image ls (none: opening the root)" "hearth ps (no VM running)"
    "hearth ps -a" "(floor) sqlite3: ps -a's columns from vms")
# argv KEY: the command of KEY in the array a
argv() {
    case $1 in
        version) a=("$hearth" --root "$root" version) ;;
        open) a=("$hearth" --root "$root" image ls) ;;
        ps) a=("$hearth" --root "$root" ps) ;;
        psa) a=("$hearth" --root "$root" ps -a) ;;
        floor) a=(sqlite3 "$root/hearth.db" "$floor_sql") ;;
    esac
}
declare -A times
# interleaved KEY...: RUNS rounds, each running every KEY once, after one
# round to warm the cache.
interleaved() {
    local r k s e
    for k in "$@"; do argv "$k" && "${a[@]}" >/dev/null; done
    for ((r = 0; r < runs; r++)); do
        for k in "$@"; do
            argv "$k"
            s=$EPOCHREALTIME
            "${a[@]}" >/dev/null
            e=$EPOCHREALTIME
            times[$k]+="$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", (e - s) * 1000 }') "
        done
    done
}
# Two groups: the sqlite3 shell removes the -wal and -shm files that hearth
# keeps (src/store/store.c), so the next hearth command would make them again.
interleaved version open ps
interleaved psa floor
declare -A ms kib
for i in "${!keys[@]}"; do
    k=${keys[$i]}
    ms[$k]=$(tr ' ' '\n' <<<"${times[$k]}" | grep . | sort -n | awk '{ a[NR] = $1 }
        END { print a[int((NR + 1) / 2)] }')
    argv "$k"
    /usr/bin/time -f '%M' -o "$work/rss" "${a[@]}" >/dev/null
    kib[$k]=$(tail -n 1 "$work/rss")
    printf '%-56s %9s ms %9s KiB peak\n' "${labels[$i]}" "${ms[$k]}" "${kib[$k]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "hearth ps / hearth version:  $(ratio "${ms[ps]}" "${ms[version]}")x  (target <= 1.5;" \
    "image ls / version: $(ratio "${ms[open]}" "${ms[version]}")x)"
echo "hearth ps -a / floor:        $(ratio "${ms[psa]}" "${ms[floor]}")x  (target <= 1)"
echo "apply peak RSS:              $(awk -v k="$apply_kib" 'BEGIN { printf "%.1f", k / 1024 }') MiB" \
    "(target < 100 MiB; a quarter of the VMs: $(awk -v k="$quarter_kib" 'BEGIN { printf "%.1f", k / 1024 }') MiB)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
