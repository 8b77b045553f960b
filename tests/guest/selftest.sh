#!/usr/bin/env bash
# Tests the guest harness (tests/guest/run.sh) with one boot: outside, it runs
# this script inside the guest with a scratch disk and arguments that need
# quoting; inside (--inside), it checks that the guest is what tests expect:
# arguments, working directory and HEARTH_* environment passed through, a
# read-only root with writable /tmp, device-mapper with thin-pool (a real pool,
# thin device and ext4 on it), loop devices, module autoloading (XFS) and the
# scratch disk. Inside exits 42 when every check passed, so the host also sees
# that the exit status propagates. Two cheap cases without a full boot cover
# the timeout (124) and a guest that never reports (125).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" = --inside ]; then
    shift
    failed=0
    ok() { echo "ok - $*"; }
    bad() {
        echo "not ok - $*"
        failed=1
    }
    check() {
        local name=$1
        shift
        if "$@" >/tmp/selftest.out 2>&1; then ok "$name"; else
            bad "$name"
            sed 's/^/    /' /tmp/selftest.out
        fi
    }

    [ $# -eq 3 ] && [ "$1" = "a b" ] && [ "$2" = "it's \"quoted\"" ] && [ "$3" = '$HOME;*' ] &&
        ok "arguments pass through" || bad "arguments pass through: $# args: $*"
    [ "$PWD" = "$HEARTH_SELFTEST_CWD" ] && ok "cwd is $PWD" || bad "cwd is $PWD, want $HEARTH_SELFTEST_CWD"
    [ "${HEARTH_SELFTEST_VAR:-}" = "x y 'z'" ] && ok "HEARTH_* passes through" ||
        bad "HEARTH_SELFTEST_VAR='${HEARTH_SELFTEST_VAR:-}'"
    [ -z "${SELFTEST_NOT_PASSED:-}" ] && ok "other variables stay out" || bad "SELFTEST_NOT_PASSED leaked"
    [ "${HEARTH_GUEST:-}" = 1 ] && [ "${DM_DISABLE_UDEV:-}" = 1 ] && ok "HEARTH_GUEST and DM_DISABLE_UDEV set" ||
        bad "HEARTH_GUEST='${HEARTH_GUEST:-}' DM_DISABLE_UDEV='${DM_DISABLE_UDEV:-}'"
    check "/tmp is writable" touch /tmp/selftest.file
    if touch /usr/selftest.file 2>/dev/null; then bad "the host root is writable"; else ok "the host root is read-only"; fi

    check "dmsetup targets lists thin-pool" sh -c 'dmsetup targets | grep -q "^thin-pool"'
    thin() {
        truncate -s 16M /tmp/meta.img && truncate -s 256M /tmp/data.img || return 1
        local meta data
        meta=$(losetup -f --show /tmp/meta.img) && data=$(losetup -f --show /tmp/data.img) || return 1
        dd if=/dev/zero of="$meta" bs=4096 count=1 status=none || return 1
        dmsetup create st-pool --table "0 524288 thin-pool $meta $data 128 0" || return 1
        dmsetup message st-pool 0 "create_thin 0" || return 1
        dmsetup create st-thin --table "0 204800 thin /dev/mapper/st-pool 0" || return 1
        [ -b /dev/mapper/st-thin ] || { echo "no /dev/mapper/st-thin node"; return 1; }
        mkfs.ext4 -q /dev/mapper/st-thin || return 1
        dmsetup status st-pool
        dmsetup remove st-thin && dmsetup remove st-pool && losetup -d "$meta" "$data"
    }
    check "a thin pool, a thin device and ext4 on it" thin
    loopdev() {
        truncate -s 8M /tmp/loop.img || return 1
        local dev
        dev=$(losetup -f --show /tmp/loop.img) || return 1
        [ -b "$dev" ] && losetup -d "$dev"
    }
    check "losetup -f --show attaches a loop device" loopdev
    xfs() {
        truncate -s 320M /tmp/xfs.img && mkfs.xfs -q /tmp/xfs.img || return 1
        mkdir -p /mnt/xfs && mount -o loop /tmp/xfs.img /mnt/xfs || return 1
        head -c 65536 /dev/urandom >/mnt/xfs/a && cp --reflink=always /mnt/xfs/a /mnt/xfs/b || return 1
        umount /mnt/xfs
    }
    check "XFS autoloads and reflinks (cp --reflink=always)" xfs
    scratch() {
        [ -n "${HEARTH_GUEST_SCRATCH:-}" ] || { echo "HEARTH_GUEST_SCRATCH unset"; return 1; }
        grep -q " $HEARTH_GUEST_SCRATCH ext4 " /proc/mounts || return 1
        head -c 1048576 /dev/zero >"$HEARTH_GUEST_SCRATCH/f" && rm "$HEARTH_GUEST_SCRATCH/f"
    }
    check "the scratch disk is ext4 at \$HEARTH_GUEST_SCRATCH" scratch
    check "with --disk, /tmp is on it and takes O_DIRECT" sh -c \
        'grep -q " /tmp ext4 " /proc/mounts && dd if=/dev/zero of=/tmp/direct bs=4096 count=1 oflag=direct status=none'
    [ $failed = 0 ] && exit 42
    exit 1
fi

run=$here/run.sh
failed=0
cd "$here" || exit 1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

export HEARTH_SELFTEST_CWD=$here HEARTH_SELFTEST_VAR="x y 'z'" SELFTEST_NOT_PASSED=1
"$run" --disk 1G --timeout 600 -- bash "$here/selftest.sh" --inside "a b" "it's \"quoted\"" '$HOME;*'
rc=$?
if [ $rc = 42 ]; then echo "ok - the guest checks passed and exit status 42 came through"; else
    echo "not ok - the guest run exited $rc, want 42"
    failed=1
fi

"$run" --timeout 1 -- true >"$out" 2>&1
rc=$?
if [ $rc = 124 ] && grep -q "timed out" "$out"; then echo "ok - a timeout gives 124"; else
    echo "not ok - the timeout case exited $rc, want 124:"
    cat "$out"
    failed=1
fi

# A kernel image QEMU cannot load, with the real kernel's name and modules.
kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
bogus=$(mktemp -d)
echo "not a kernel" >"$bogus/${kernel##*/}"
HEARTH_GUEST_KERNEL="$bogus/${kernel##*/}" "$run" -- true >"$out" 2>&1
rc=$?
rm -rf "$bogus"
if [ $rc = 125 ] && grep -q "without reporting" "$out"; then echo "ok - a guest that never reports gives 125"; else
    echo "not ok - the broken-guest case exited $rc, want 125:"
    cat "$out"
    failed=1
fi
exit $failed
