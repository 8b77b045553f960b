#!/usr/bin/env bash
# Importing an image of about 200 MB in 5 gzip layers from a registry on a
# loopback port: `hearth image import` against what a user would otherwise
# run, and against the floor.
#
#   hearth:  `hearth image import 127.0.0.1:PORT/bench/img:1` into a fresh
#            root (nothing cached) whose pool uses the file driver: pull,
#            verify, unpack, size, ext4 into the pool's Image device.
#   skopeo:  `skopeo copy docker://... oci:DIR:1`, `umoci unpack --image
#            DIR:1 BUNDLE`, `mke2fs -t ext4 -b 4096 -d BUNDLE/rootfs FILE SIZE`.
#   floor:   curl the manifest (Accept: the OCI manifest type), curl the
#            config, then for each layer in order
#            `curl blob | tar xzf - -C DIR` (download and extraction stream
#            through one pipe, one layer after the other), then the same mke2fs.
# FILE is a fresh file and SIZE the size hearth gave its device (read from
# `hearth pool ls -o json` after its first run), so all three build the same
# size of filesystem from the same content.
#
# Each method runs RUNS times (default 3), interleaved (hearth, skopeo, floor,
# hearth, ...), each from a fresh state; the time is wall clock around the
# whole method. Then a breakdown of hearth's time: the same import with every
# blob already in its cache (so: manifest + unpack + ext4) and the mke2fs it
# runs timed by a wrapper on PATH; the pull is the difference to the cold run.
#
# The content is generated once (python3, seeded) under build-bench/import/:
# 5 layers of 40 MiB each, about 1,400 files each in directories of 40: 97% of
# the files of 128 B to 32 KiB, 3% of 32 KiB to 4 MiB (log-uniform sizes within
# each). A large file is text made of words (50%), half-zero binary (20%) or
# random bytes (30%); a small one text (62.5%) or half-zero binary (37.5%).
#
# Usage: bench/import.sh; knobs: RUNS=3, PERF=1 (perf record -g one more
# cold import into build-bench/import/perf.data).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
top=$PWD
gen=$top/build-bench/import
hearth=$top/build/hearth

# scripts/build with no argument stops at its `shift` under dash, so name the dir.
./scripts/build build >/dev/null

# ---- the content, generated once ---------------------------------------------
if [ ! -f "$gen/.done" ]; then
    rm -rf "$gen"
    mkdir -p "$gen"
    python3 - "$gen" <<'EOF'
import math, os, random, sys
out = sys.argv[1]
rnd = random.Random(4)
vocab = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rnd.randint(2, 12)))
         for _ in range(5000)]
LAYER = 40 << 20
for layer in range(5):
    root = os.path.join(out, "l%d" % layer)
    total, n = 0, 0
    while total < LAYER:
        lo, hi = (128, 32 << 10) if rnd.random() < 0.97 else (32 << 10, 4 << 20)
        size = int(math.exp(rnd.uniform(math.log(lo), math.log(hi))))
        size = min(size, LAYER - total) or 1
        d = os.path.join(root, "usr", "lib", "pkg%d_%d" % (layer, n // 40))
        os.makedirs(d, exist_ok=True)
        kind = rnd.random() if size > 32 << 10 else rnd.random() * 0.8
        if kind < 0.5:
            words = rnd.choices(vocab, k=size // 6 + 1)
            data = (" ".join(words)).encode()[:size]
            name = "f%d.txt" % n
        elif kind < 0.7:
            half = rnd.randbytes(size // 2 + 1)
            data = bytes(b for pair in zip(half, bytes(len(half))) for b in pair)[:size]
            name = "f%d.so" % n
        else:
            data = rnd.randbytes(size)
            name = "f%d.bin" % n
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        total += size
        n += 1
    print("layer %d: %d files, %d bytes" % (layer, n, total))
EOF
    args=()
    for l in 0 1 2 3 4; do args+=(--layer "gzip:$gen/l$l"); done
    tests/oci/mkimage.py image "$gen/layout" 1 "${args[@]}" >/dev/null
    touch "$gen/.done"
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/hearth-bench-import.XXXXXX")
cleanup() {
    tests/oci/registry.sh stop "$work/registry" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(tests/oci/registry.sh start "$work/registry")
tests/oci/registry.sh push "$work/registry" "$gen/layout" 1 bench/img:1
ref=127.0.0.1:$port/bench/img:1
url=http://127.0.0.1:$port/v2/bench/img

unpacked=$(du -sb "$gen"/l? | awk '{s += $1} END {print s}')
compressed=$(find "$work/registry/storage" -path '*/blobs/*' -name data -size +1M -printf '%s\n' |
    awk '{s += $1} END {print s}')

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }

# mke2fs wrapper for the breakdown: logs start and end in ns.
mkdir -p "$work/wrap"
cat >"$work/wrap/mke2fs" <<EOF
#!/bin/sh
s=\$(date +%s%N); /sbin/mke2fs "\$@"; r=\$?; echo "\$s \$(date +%s%N)" >>"$work/mke2fs.log"; exit \$r
EOF
chmod +x "$work/wrap/mke2fs"

hearth_root() { # a fresh root with a file-driver pool
    local root=$1
    "$hearth" --root "$root" -q pool init --driver file --data-path "$root/pool" >/dev/null
}

run_hearth() {
    local root=$work/h$1
    hearth_root "$root"
    sync
    local t0; t0=$(now)
    "$hearth" --root "$root" image import "$ref" >/dev/null
    local t1; t1=$(now)
    [ -s "$work/size" ] || "$hearth" --root "$root" pool ls -o json |
        jq -r '.[0].sizeBytes' >"$work/size"
    ms "$t0" "$t1"
}

run_skopeo() {
    local d=$work/s$1
    mkdir -p "$d"
    sync
    local t0 t1 t2 t3 size
    size=$(cat "$work/size")
    t0=$(now)
    skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$d/layout:1"
    t1=$(now)
    umoci unpack --image "$d/layout:1" "$d/bundle" >/dev/null
    t2=$(now)
    truncate -s "$size" "$d/fs.img"
    mke2fs -q -F -t ext4 -b 4096 -d "$d/bundle/rootfs" "$d/fs.img" $((size / 4096)) >/dev/null
    t3=$(now)
    echo "$(ms "$t0" "$t3") $(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t2" "$t3")" >>"$work/skopeo.steps"
    ms "$t0" "$t3"
}

run_floor() {
    local d=$work/f$1
    mkdir -p "$d/rootfs"
    sync
    local t0 t1 t2 size
    size=$(cat "$work/size")
    t0=$(now)
    curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$url/manifests/1" >"$d/manifest"
    curl -sf -o "$d/config" "$url/blobs/$(jq -r .config.digest "$d/manifest")"
    for digest in $(jq -r '.layers[].digest' "$d/manifest"); do
        curl -sf "$url/blobs/$digest" | tar xzf - -C "$d/rootfs"
    done
    t1=$(now)
    truncate -s "$size" "$d/fs.img"
    mke2fs -q -F -t ext4 -b 4096 -d "$d/rootfs" "$d/fs.img" $((size / 4096)) >/dev/null
    t2=$(now)
    echo "$(ms "$t0" "$t2") $(ms "$t0" "$t1") $(ms "$t1" "$t2")" >>"$work/floor.steps"
    ms "$t0" "$t2"
}

# Creating many files soon after deleting many is slow on this host's ext4:
# the kernel skips inodes freed in the last 60 s (more while their inode
# table block is dirty), looking each up (recently_deleted()). Nothing is
# deleted between runs (every run has its own directories, removed at exit),
# and after each hearth import, which removes its staging tree, the next run
# waits SETTLE seconds (default 65) after a sync.
settle() { sync; sleep "${SETTLE:-65}"; }

echo "host: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r)"
echo "image: 5 gzip layers, $((unpacked / 1048576)) MiB unpacked, $((compressed / 1048576)) MiB compressed"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
echo

: >"$work/hearth" ; : >"$work/skopeo" ; : >"$work/floor"
for ((i = 1; i <= runs; i++)); do
    h=$(run_hearth "$i"); echo "$h" >>"$work/hearth"
    settle
    s=$(run_skopeo "$i"); echo "$s" >>"$work/skopeo"
    f=$(run_floor "$i"); echo "$f" >>"$work/floor"
    echo "run $i: hearth $h ms, skopeo chain $s ms, floor $f ms (device size $(cat "$work/size") bytes)"
done

# ---- hearth's breakdown: blobs cached, mke2fs timed --------------------------
# One cold import keeps its blobs; each cached run copies them into a fresh root.
hearth_root "$work/cold"
PATH=$work/wrap:$PATH "$hearth" --root "$work/cold" image import "$ref" >/dev/null
settle
: >"$work/mke2fs.log"
: >"$work/cached"
for ((i = 1; i <= runs; i++)); do
    hearth_root "$work/c$i"
    cp -a "$work/cold/blobs" "$work/c$i/"
    sync
    t0=$(now)
    PATH=$work/wrap:$PATH "$hearth" --root "$work/c$i" image import "$ref" >/dev/null
    t1=$(now)
    echo "$(ms "$t0" "$t1")" >>"$work/cached"
    [ "$i" = "$runs" ] || settle
done
awk '{print int(($2 - $1) / 1000000)}' "$work/mke2fs.log" >"$work/mke2fs"

if [ "${PERF:-0}" = 1 ]; then
    settle
    hearth_root "$work/p"
    perf record -q -g -o "$gen/perf.data" -- "$hearth" --root "$work/p" image import "$ref" >/dev/null
    rm -rf "$work/p"
    echo "perf profile of one cold import: $gen/perf.data"
fi

echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
echo

median() { sort -n "$1" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
all() { paste -sd' ' "$1"; }
col_median() { awk -v c="$2" '{print $c}' "$1" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

hm=$(median "$work/hearth"); sm=$(median "$work/skopeo"); fm=$(median "$work/floor")
printf '%-44s %10s   %s\n' "method (wall ms)" "median" "runs"
printf '%-44s %10s   %s\n' "hearth image import" "$hm" "$(all "$work/hearth")"
printf '%-44s %10s   %s\n' "skopeo copy + umoci unpack + mke2fs -d" "$sm" "$(all "$work/skopeo")"
printf '%-44s %10s   %s\n' "  skopeo copy" "$(col_median "$work/skopeo.steps" 2)" ""
printf '%-44s %10s   %s\n' "  umoci unpack" "$(col_median "$work/skopeo.steps" 3)" ""
printf '%-44s %10s   %s\n' "  mke2fs -d" "$(col_median "$work/skopeo.steps" 4)" ""
printf '%-44s %10s   %s\n' "floor: curl | tar xzf, then mke2fs -d" "$fm" "$(all "$work/floor")"
printf '%-44s %10s   %s\n' "  curl | tar xzf (5 layers in sequence)" "$(col_median "$work/floor.steps" 2)" ""
printf '%-44s %10s   %s\n' "  mke2fs -d" "$(col_median "$work/floor.steps" 3)" ""
echo
cm=$(median "$work/cached"); em=$(median "$work/mke2fs")
printf '%-44s %10s   %s\n' "hearth, every blob cached (no pull)" "$cm" "$(all "$work/cached")"
printf '%-44s %10s   %s\n' "  of which its mke2fs -d" "$em" "$(all "$work/mke2fs")"
echo
awk -v h="$hm" -v s="$sm" -v f="$fm" -v c="$cm" -v e="$em" 'BEGIN {
    printf "hearth breakdown (medians): pull ~%d ms (cold - cached), unpack + sizing ~%d ms " \
        "(cached - mke2fs), ext4 ~%d ms\n", h - c, c - e, e
    printf "hearth / skopeo chain: %.2fx (target < 1: %s)\n", h / s, h < s ? "met" : "MISSED"
    printf "hearth / floor:        %.2fx (target <= 1.5: %s)\n", h / f, h <= 1.5 * f ? "met" : "MISSED"
}'
