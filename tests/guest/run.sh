#!/usr/bin/env bash
# Runs one command inside a throwaway QEMU guest (TCG) that boots the host's
# Debian kernel, so tests can use device-mapper, loop devices and kernel
# modules that the host kernel cannot give them.
#
#   tests/guest/run.sh [--mem MiB] [--disk SIZE] [--timeout SEC] [--verbose] -- COMMAND [ARGS...]
#
# The guest sees the host's / read-only over virtio-9p and runs COMMAND
# chrooted into it, in the current directory, with HEARTH_*, ASAN_OPTIONS,
# UBSAN_OPTIONS and LSAN_OPTIONS passed through. /tmp, /run, /mnt and /dev/shm
# are fresh tmpfs mounts in the guest (they hide the host's); dm-thin-pool and
# loop are loaded; DM_DISABLE_UDEV=1 and HEARTH_GUEST=1 are set. With --disk a
# sparse scratch disk of SIZE (a host temp file, deleted afterwards) is
# formatted ext4, mounted at $HEARTH_GUEST_SCRATCH (/mnt/scratch), and /tmp
# moves onto it (O_DIRECT works there, unlike on tmpfs). Kernel modules the
# guest asks for (xfs, btrfs, dm targets) load from the host's /lib/modules.
#
# The command's output streams to stdout. The exit status is the command's;
# 124 when the timeout (default 900 s) expired; 125 when the guest failed
# before the command finished (boot failure, panic), with its last console
# lines. A summary with boot and total times goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog="run.sh"

usage() {
    echo "usage: $prog [--mem MiB] [--disk SIZE] [--timeout SEC] [--verbose] -- COMMAND [ARGS...]" >&2
    exit 2
}
fail() {
    echo "$prog: $*" >&2
    exit 125
}

mem=1024
disk=
timeout=900
verbose=0
while [ $# -gt 0 ]; do
    case "$1" in
        --mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
        --disk) [ $# -ge 2 ] || usage; disk=$2; shift 2 ;;
        --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
        --verbose) verbose=1; shift ;;
        --) shift; break ;;
        -h | --help) usage ;;
        *) echo "$prog: unknown option '$1'" >&2; usage ;;
    esac
done
[ $# -gt 0 ] || usage
[[ $mem =~ ^[0-9]+$ ]] && [ "$mem" -ge 256 ] && [ "$mem" -le 65536 ] ||
    { echo "$prog: --mem must be 256..65536 MiB, not '$mem'" >&2; exit 2; }
[[ $timeout =~ ^[0-9]+$ ]] && [ "$timeout" -ge 1 ] ||
    { echo "$prog: --timeout must be a positive number of seconds, not '$timeout'" >&2; exit 2; }
[ -z "$disk" ] || [[ $disk =~ ^[0-9]+[KMGT]?$ ]] ||
    { echo "$prog: --disk must be a size like 512M or 4G, not '$disk'" >&2; exit 2; }

# --- requirements -----------------------------------------------------------
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || fail "qemu-system-x86_64 not found: install qemu-system-x86 (scripts/install-deps)"
busybox=/bin/busybox
[ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
    fail "$busybox is missing or not static: install busybox-static (scripts/install-deps)"
command -v modinfo >/dev/null || fail "modinfo not found: install kmod (scripts/install-deps)"
kernel=${HEARTH_GUEST_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)}
[ -n "$kernel" ] && [ -r "$kernel" ] ||
    fail "no kernel in /boot: install linux-image-amd64 (scripts/install-deps)"
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
[ -r "$moddir/modules.dep" ] ||
    fail "no modules for kernel $kver in $moddir: install linux-image-amd64 (scripts/install-deps)"

# --- initramfs, cached per kernel and harness version ------------------------
# Loaded in this order by /init; everything else is modprobed from the host.
modules="virtio_ring virtio virtio_mmio netfs fscache 9pnet 9pnet_virtio 9p virtio_blk"
key=$( (cat "$here/init" "$here/run.sh"; echo "$kver $modules"; stat -c '%s %Y' "$busybox") |
    sha256sum | cut -c1-16)
cache=${HEARTH_GUEST_CACHE:-${XDG_CACHE_HOME:-/tmp}/hearth-guest}
initrd=$cache/initrd-$kver-$key.gz
if [ ! -s "$initrd" ]; then
    mkdir -p "$cache"
    build=$(mktemp -d "$cache/build.XXXXXX")
    trap 'rm -rf "$build"' EXIT
    mkdir -p "$build/root/bin" "$build/root/lib/modules"
    cp "$busybox" "$build/root/bin/busybox"
    install -m 755 "$here/init" "$build/root/init"
    for m in $modules; do
        f=$(modinfo -k "$kver" -F filename "$m" 2>/dev/null) ||
            fail "module $m not found for kernel $kver"
        out=$build/root/lib/modules/$m.ko
        case "$f" in
            *.ko) cp "$f" "$out" ;;
            *.ko.xz) xz -dc "$f" >"$out" ;;
            *.ko.zst) zstd -qdc "$f" >"$out" ;;
            *.ko.gz) gzip -dc "$f" >"$out" ;;
            *) fail "module $m has an unknown format: $f" ;;
        esac
    done
    if command -v cpio >/dev/null; then
        (cd "$build/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$build/initrd.gz"
    else
        (cd "$build/root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) |
            gzip -1 >"$build/initrd.gz"
    fi
    mv -f "$build/initrd.gz" "$initrd" # atomic: parallel runs share the cache
    rm -rf "$build"
    # Images for other kernels or harness versions, unused for an hour, go.
    find "$cache" -maxdepth 1 -name 'initrd-*.gz' ! -name "${initrd##*/}" -mmin +60 -delete 2>/dev/null || true
    trap - EXIT
fi

# --- the job ------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-guest-run.XXXXXX")
work=$(realpath "$work")
qpid=
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill -TERM "$qpid" 2>/dev/null || true
        sleep 0.2
        kill -KILL "$qpid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
[[ $work =~ ^[A-Za-z0-9/._-]+$ ]] || fail "temporary directory '$work' has characters the kernel command line cannot carry"

# The guest mounts fresh tmpfs over /tmp, /run and /mnt. A checkout under the
# host's /tmp (a CI clone, say) stays visible: the top directory under /tmp of
# the working directory and of every absolute path argument is bound back,
# read-only, at the same path ("keep"). /run and /mnt stay hidden.
keep=
for p in "$PWD" "$@"; do
    case "$p" in
        /tmp/*)
            rest=${p#/tmp/}
            top=/tmp/${rest%%/*}
            [ -d "$top" ] || continue
            [[ $top =~ ^[A-Za-z0-9/._-]+$ ]] || fail "'$top' has characters the kernel command line cannot carry"
            case ",$keep," in *",$top,"*) ;; *) keep=${keep:+$keep,}$top ;; esac ;;
        /run | /run/* | /mnt | /mnt/*)
            echo "$prog: warning: '$p' is under /run or /mnt, which the guest hides" >&2 ;;
    esac
done

# q WORD: WORD quoted for sh.
q() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}
{
    echo "# written by tests/guest/run.sh"
    echo "cd $(q "$PWD") 2>/dev/null || { echo $(q "hearth-guest: cannot enter $PWD (the guest hides the host's /run and /mnt)"); exit 125; }"
    while IFS= read -r v; do
        case "$v" in
            HEARTH_GUEST | HEARTH_GUEST_*) ;;
            HEARTH_* | ASAN_OPTIONS | UBSAN_OPTIONS | LSAN_OPTIONS) echo "export $(q "$v=${!v}")" ;;
        esac
    done < <(compgen -e)
    printf 'exec'
    for a in "$@"; do printf ' %s' "$(q "$a")"; done
    echo
} >"$work/job.sh"

nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
# Under TCG the guest's TSC runs at the host's rate. Calibrating it against
# the emulated PIT fails when the host is busy, and the kernel then hangs
# early in boot, so the frequency is given on the command line.
tsc=
if grep -q '^flags.* constant_tsc' /proc/cpuinfo; then
    mhz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
    [ -n "$mhz" ] && [ "$mhz" -gt 0 ] && tsc="tsc_early_khz=$mhz"
fi
quiet=quiet
[ "$verbose" = 1 ] && quiet=
append="console=ttyS0 $quiet $tsc panic=-1 hearth.nonce=$nonce hearth.job=$work hearth.verbose=$verbose"
[ -n "$keep" ] && append="$append hearth.keep=$keep"
args=(-M microvm,rtc=on -accel tcg -cpu max -m "$mem" -smp 2
    -nographic -no-reboot -no-user-config
    -kernel "$kernel" -initrd "$initrd"
    -fsdev local,id=h,path=/,security_model=none,readonly=on,multidevs=remap
    -device virtio-9p-device,fsdev=h,mount_tag=hostroot)
if [ -n "$disk" ]; then
    truncate -s "$disk" "$work/disk.img"
    args+=(-drive "file=$work/disk.img,if=none,format=raw,id=d0,cache=unsafe"
        -device virtio-blk-device,drive=d0)
    append="$append hearth.disk=1"
fi
args+=(-append "$append")

# --- boot, stream the console, wait --------------------------------------------
# The console goes through a FIFO to awk, which streams the command's output
# (boot noise only with --verbose), keeps the whole console in console.log and
# writes the markers' contents to files.
mkfifo "$work/console"
t0=$(date +%s.%N)
"$qemu" "${args[@]}" </dev/null >"$work/console" 2>"$work/qemu.err" &
qpid=$!
awk=(awk)
# mawk reads its input in blocks unless told otherwise, which would hold the
# output back until the guest is gone.
awk -W version 2>&1 | grep -q mawk && awk=(awk -W interactive)
"${awk[@]}" -v nonce="$nonce" -v verbose="$verbose" -v dir="$work" '
    BEGIN { started = 0; done = 0; start = "HEARTH-GUEST-START-" nonce " "; exit_ = "HEARTH-GUEST-EXIT-" nonce " " }
    {
        sub(/\r$/, "")
        print >> (dir "/console.log"); fflush(dir "/console.log")
        if (done) next
        i = index($0, start)
        if (i) {
            "date +%s.%N" | getline t; close("date +%s.%N")
            print t > (dir "/started"); close(dir "/started")
            started = 1
            next
        }
        i = index($0, exit_)
        if (i) {
            if (i > 1) print substr($0, 1, i - 1)
            print substr($0, i + length(exit_)) > (dir "/exit"); close(dir "/exit")
            done = 1
            fflush()
            next
        }
        if (started || verbose == 1) { print; fflush() }
    }' <"$work/console" &
apid=$!

deadline=$((SECONDS + timeout))
timed_out=0
while kill -0 "$qpid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        timed_out=1
        kill -TERM "$qpid" 2>/dev/null || true
        break
    fi
    sleep 0.25
done
qrc=0
wait "$qpid" || qrc=$?
qpid=
wait "$apid" || true
t1=$(date +%s.%N)

if [ "$timed_out" = 1 ]; then
    echo "$prog: timed out after $timeout s; QEMU killed. Last console lines:" >&2
    tail -n 30 "$work/console.log" >&2 || true
    exit 124
fi
if [ ! -s "$work/exit" ]; then
    echo "$prog: the guest stopped (QEMU status $qrc) without reporting the command's exit status. Last console lines:" >&2
    tail -n 40 "$work/console.log" >&2 || true
    [ -s "$work/qemu.err" ] && { echo "$prog: QEMU said:" >&2; cat "$work/qemu.err" >&2; }
    exit 125
fi
read -r rc gstart gend <"$work/exit" || true
if ! [[ $rc =~ ^[0-9]{1,3}$ ]]; then
    echo "$prog: the guest reported a malformed exit status '$rc'" >&2
    exit 125
fi
started=$(cat "$work/started" 2>/dev/null || echo "$t0")
awk -v t0="$t0" -v t1="$t1" -v ts="$started" -v gs="$gstart" -v ge="$gend" -v rc="$rc" -v k="$kver" \
    'BEGIN { printf "hearth-guest: exit %d; boot %.1f s, command %.1f s, total %.1f s (kernel %s, TCG)\n", rc, ts - t0, ge - gs, t1 - t0, k }' >&2
exit "$rc"
