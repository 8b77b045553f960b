#!/usr/bin/env bash
# A root on a full filesystem (a tmpfs of 40 MiB): `kernel import` of
# Debian's kernel fits its bzImage but not the vmlinux it extracts, so it
# fails (exit 1, the file and "No space left on device" named, no warning
# instead), leaves no kernel, no files, no staging, and doctor finds nothing
# (exit 0) without --repair. With the filesystem grown, the same import
# works, with no warning about the vmlinux and the files it recorded.
# Needs root (mount); prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"

[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
VMLINUZ=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -n "$VMLINUZ" ] || { bad "no /boot/vmlinuz-* (apt-get install linux-image-amd64)"; finish; exit; }

MNT="$TMP/mnt"
mkdir "$MNT"
mount -t tmpfs -o size=40m tmpfs "$MNT" || { bad "mount a tmpfs"; finish; exit; }
trap 'umount "$MNT"; tmp_cleanup' EXIT
ROOT="$MNT/root"

check "import on a full filesystem fails" 1 h kernel import --vmlinux "$VMLINUZ" k1:1
expect "the file is named" "$ERR" "/files/vmlinux'"
expect "the cause is named" "$ERR" "No space left on device"
expect "what to do" "$ERR" "free space under"
reject "no warning instead" "$ERR" "warning"
check "kernel ls" 0 h kernel ls -q
equal "no kernel" "$OUT" ""
equal "no kernel files" "$(ls -A "$ROOT/kernel")" ""
equal "no staging" "$(ls -A "$ROOT/tmp")" ""
check "doctor without --repair" 0 h doctor

mount -o remount,size=200m "$MNT" || bad "grow the tmpfs"
check "the same import with space" 0 h kernel import --vmlinux "$VMLINUZ" k1:1
reject "no vmlinux warning" "$ERR" "extracted"
check "its files" 0 h sql -o csv "SELECT files FROM kernels WHERE name = 'k1:1'"
expect "vmlinux recorded" "$OUT" "vmlinux,vmlinuz"
check "doctor" 0 h doctor

finish
