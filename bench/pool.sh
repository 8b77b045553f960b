#!/usr/bin/env bash
# Snapshots of one image device: hearth's pool drivers against Ignite's
# per-VM method (bench/pool_snapshots.c does the measuring).
#
# On the host (native): the file driver with reflinks, on XFS on a loop mount
# (needs root and loop devices; skipped otherwise).
# In ONE QEMU guest (tests/guest/run.sh, TCG, so slower than native):
#   1. dm-thin:       N_SNAP snapshots of a 1 GiB ext4 image device
#   2. file-reflink:  N_SNAP snapshots, data directory on XFS (reflink=1)
#   3. file-copy:     N_COPY snapshots, data directory on ext4 (no FICLONE)
#   4. ignite:        N_IGNITE VMs the way Ignite made them: sparse overlay of
#                     DISK_MIB, dm snapshot target, e2fsck -p -f, resize2fs
#   5. size check:    one pool with a 1 GiB image and an 8 GiB image holding
#                     4x the data; N_SIZE snapshots of each, alternating, for
#                     dm-thin and file-reflink (and file-reflink on the host)
# The image: a sparse device of IMAGE_MIB holding ext4 made by
# `mke2fs -t ext4 -d DIR`, DIR being 64 MiB of random files (256 MiB for the
# 8 GiB image), generated once under build-bench/.
# Then prints a table of figures and ratios.
#
# Usage: bench/pool.sh; knobs: N_SNAP=1000 N_COPY=50 N_IGNITE=100 N_SIZE=100
# N_ACT=100 (activations timed) DISK_MIB=4096 (Ignite's default disk size).
set -euo pipefail
cd "$(dirname "$0")/.."

n_snap=${N_SNAP:-1000}
n_copy=${N_COPY:-50}
n_ignite=${N_IGNITE:-100}
n_size=${N_SIZE:-100}
n_act=${N_ACT:-100}
disk_mib=${DISK_MIB:-4096}
mib=$((1 << 20))
bench=$PWD/build-bench/bench_pool_snapshots
content=$PWD/build-bench/bench-pool

# ---- inside the guest -------------------------------------------------------
if [ "${1:-}" = "--in-guest" ]; then
    s=${HEARTH_GUEST_SCRATCH:?not in a guest with a scratch disk}
    echo "guest: kernel $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
    step() { echo; echo "== $* ($(date +%T))"; }

    step "dm-thin, 1 GiB image, $n_snap snapshots"
    mkdir -p "$s/thin1"
    "$bench" snap dm-thin b1 "$s/thin1" $((1024 * mib)) "$content/c64" "$n_snap" "$n_act"

    step "file driver with reflinks on XFS, 1 GiB image, $n_snap snapshots"
    truncate -s 256G "$s/xfs.img"
    mkfs.xfs -q -m reflink=1 "$s/xfs.img"
    mkdir -p /mnt/xfs
    mount -o loop "$s/xfs.img" /mnt/xfs
    mkdir /mnt/xfs/r1
    "$bench" snap file r1 /mnt/xfs/r1 $((1024 * mib)) "$content/c64" "$n_snap" "$n_act"

    step "file driver with copies on ext4, 1 GiB image, $n_copy snapshots"
    mkdir -p "$s/copy1"
    "$bench" snap file c1 "$s/copy1" $((1024 * mib)) "$content/c64" "$n_copy" 0

    step "ignite: overlay + dm snapshot + e2fsck + resize2fs, $n_ignite VMs"
    mkdir -p "$s/ignite"
    "$bench" ignite "$s/ignite" $((1024 * mib)) "$content/c64" $((disk_mib * mib)) "$n_ignite"
    rm -rf "$s/ignite" "$s/copy1"

    step "size check: dm-thin, 1 GiB and 8 GiB (4x the data) images, $n_size snapshots each"
    mkdir -p "$s/size-thin"
    "$bench" size dm-thin s8 "$s/size-thin" $((1024 * mib)) "$content/c64" \
        $((8192 * mib)) "$content/c256" "$n_size" $((16384 * mib))

    step "size check: file driver with reflinks, 1 GiB and 8 GiB images, $n_size snapshots each"
    mkdir /mnt/xfs/size
    "$bench" size file r8 /mnt/xfs/size $((1024 * mib)) "$content/c64" \
        $((8192 * mib)) "$content/c256" "$n_size"
    umount /mnt/xfs
    exit 0
fi

# ---- on the host ------------------------------------------------------------
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-bench -j 2 --target bench_pool_snapshots >/dev/null

# The image contents: DIR/c64 is 64 MiB, DIR/c256 256 MiB, of 256 KiB random files.
make_content() {
    local dir=$1 subdirs=$2
    [ -f "$dir/.done" ] && return 0
    rm -rf "$dir"
    for ((d = 0; d < subdirs; d++)); do
        mkdir -p "$dir/d$d"
        for ((f = 0; f < 16; f++)); do
            head -c 262144 /dev/urandom >"$dir/d$d/f$f"
        done
    done
    touch "$dir/.done"
}
make_content "$content/c64" 16
make_content "$content/c256" 64

out=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-pool.XXXXXX")
cleanup() {
    mountpoint -q "$out/mnt" 2>/dev/null && umount "$out/mnt"
    rm -rf "$out"
}
trap cleanup EXIT

echo "host: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r)"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"

echo
echo "== host (native): file driver with reflinks on XFS on a loop mount, $n_snap snapshots"
if [ "$(id -u)" = 0 ] && [ -e /dev/loop-control ] && command -v mkfs.xfs >/dev/null; then
    truncate -s 256G "$out/xfs.img"
    mkfs.xfs -q -m reflink=1 "$out/xfs.img"
    mkdir "$out/mnt"
    mount -o loop "$out/xfs.img" "$out/mnt"
    mkdir "$out/mnt/r1" "$out/mnt/size"
    "$bench" snap file h1 "$out/mnt/r1" $((1024 * mib)) "$content/c64" "$n_snap" "$n_act" |
        sed 's/case=file-reflink/case=host-reflink/' | tee -a "$out/results"
    "$bench" size file h8 "$out/mnt/size" $((1024 * mib)) "$content/c64" \
        $((8192 * mib)) "$content/c256" "$n_size" |
        sed 's/case=size-file-reflink/case=size-host-reflink/' | tee -a "$out/results"
    umount "$out/mnt"
    rm -f "$out/xfs.img"
else
    echo "skipped: needs root, loop devices and mkfs.xfs"
fi

echo
echo "== guest (QEMU TCG, one boot)"
t0=$(date +%s)
# TCG speed follows the host's load: sample it while the guest runs.
(while sleep 10; do cut -d' ' -f1 /proc/loadavg; done) >"$out/load" &
sampler=$!
tests/guest/run.sh --disk 24G --mem 2048 --timeout 1500 -- \
    env N_SNAP="$n_snap" N_COPY="$n_copy" N_IGNITE="$n_ignite" N_SIZE="$n_size" \
    N_ACT="$n_act" DISK_MIB="$disk_mib" bash bench/pool.sh --in-guest | tee -a "$out/results"
kill "$sampler" 2>/dev/null || true
echo "guest run: $(($(date +%s) - t0)) s including boot; host 1-minute load during it:" \
    "$(sort -n "$out/load" | sed -n '1p;$p' | paste -sd- -) (min-max of $(wc -l <"$out/load") samples)"

# ---- the table --------------------------------------------------------------
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
echo
awk -v mib=$mib '
function f(k) { return v[k] }
/^RESULT / {
    delete v
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    key = v["case"] "@" v["image_mib"]
    for (k in v) r[key, k] = v[k]
    keys[++nk] = key
}
function row(label, key,    sp) {
    if (!((key, "n") in r)) return
    sp = r[key, "case"] == "ignite" ? r[key, "overlays"] : r[key, "fs_delta"]
    printf "%-34s %6d %9.2f %9.2f %9.2f %9.2f %10.1f %10.3f\n", label, r[key, "n"],
        r[key, "mean"], r[key, "median"], r[key, "p95"], r[key, "max"], sp / mib,
        sp / mib / r[key, "n"]
}
END {
    printf "%-34s %6s %9s %9s %9s %9s %10s %10s\n", "per snapshot / VM (ms)", "n", "mean",
        "median", "p95", "max", "space MiB", "MiB each"
    row("dm-thin (guest)", "dm-thin@1024")
    row("file reflink, XFS (guest)", "file-reflink@1024")
    row("file copy, ext4 (guest)", "file-copy@1024")
    row("ignite per VM (guest)", "ignite@1024")
    row("file reflink, XFS (host)", "host-reflink@1024")
    print "(space: filesystem used delta for the pool cases, allocated overlay blocks for ignite)"
    if (("dm-thin@1024", "n") in r) {
        k = "dm-thin@1024"
        printf "\ndm-thin: pool data used by %d snapshots %.1f MiB, metadata %.1f MiB; " \
            "activate %.2f ms, deactivate %.2f ms (mean of %d)\n", r[k, "n"],
            r[k, "pool_delta"] / mib, r[k, "meta_delta"] / mib, r[k, "act_mean"],
            r[k, "deact_mean"], r[k, "act_n"]
    }
    split("file-reflink@1024 host-reflink@1024", rs, " ")
    for (i = 1; i <= 2; i++) if ((rs[i], "raw_n") in r && r[rs[i], "raw_n"] > 0)
        printf "%-18s raw FICLONE alone (empty pool): %.3f ms mean of %d\n", rs[i],
            r[rs[i], "raw_mean"], r[rs[i], "raw_n"]
    if (("ignite@1024", "n") in r) {
        k = "ignite@1024"
        printf "ignite per VM: setup %.1f ms, e2fsck %.1f ms, resize2fs %.1f ms\n",
            r[k, "setup_mean"], r[k, "fsck_mean"], r[k, "resize_mean"]
        print ""
        split("dm-thin@1024 file-reflink@1024 file-copy@1024", cs, " ")
        for (i = 1; i <= 3; i++) if ((cs[i], "mean") in r)
            printf "ignite per VM / %-20s %8.1fx (mean time)\n", cs[i], r[k, "mean"] / r[cs[i], "mean"]
        if (("dm-thin@1024", "act_mean") in r)
            printf "ignite per VM / dm-thin snapshot+activate %8.1fx\n",
                r[k, "mean"] / (r["dm-thin@1024", "mean"] + r["dm-thin@1024", "act_mean"])
    }
    print ""
    split("dm-thin file-reflink host-reflink", cs, " ")
    printf "%-34s %6s %9s %9s %9s %9s %9s %9s\n", "size check (ms, interleaved)", "n",
        "1G mean", "8G mean", "ratio", "1G med", "8G med", "ratio"
    for (i = 1; i <= 3; i++) {
        b = "size-" cs[i] "@1024"
        if (!((b, "mean") in r)) continue
        printf "%-34s %6d %9.3f %9.3f %8.2fx %9.3f %9.3f %8.2fx\n", cs[i], r[b, "n"],
            r[b, "mean"], r[b, "large_mean"], r[b, "large_mean"] / r[b, "mean"],
            r[b, "median"], r[b, "large_median"], r[b, "large_median"] / r[b, "median"]
        if (r[b, "raw_n"] > 0)
            printf "%-34s %6d %9.3f %9.3f %8.2fx\n", "  raw FICLONE alone", r[b, "raw_n"],
                r[b, "raw_mean"], r[b, "large_raw_mean"], r[b, "large_raw_mean"] / r[b, "raw_mean"]
    }
    print ""
    for (i = 1; i <= 3; i++) {
        a = cs[i] "@1024"
        if ((a, "mean") in r)
            printf "%-13s under 20 ms: %s (mean %.2f, p95 %.2f); first tenth %.3f, last tenth %.3f\n",
                cs[i], r[a, "p95"] < 20 ? "yes" : "no", r[a, "mean"], r[a, "p95"], r[a, "first"],
                r[a, "last"]
    }
}' "$out/results"
