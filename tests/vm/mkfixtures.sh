#!/usr/bin/env bash
# mkfixtures.sh OUT: the fixtures of hearth's VM tests (tests/vm/README.md).
#
#   OUT/rootfs/      the test image's root: busybox-static with its applet
#                    links, /sbin/init (tests/vm/init), udhcpc's script
#                    (tests/vm/udhcpc.script), the acpid action that
#                    powers off on the power button, and the host kernel's
#                    button.ko and evdev.ko under /lib/hearth-e2e
#   OUT/hearth-e2e/  that root as an OCI layout, tag "1" (one gzip layer);
#                    `hearth image import oci-layout:OUT/hearth-e2e:1` names
#                    it localhost/hearth-e2e:1
#   OUT/initrd.img   a small initrd: busybox, tests/vm/initrd-init as /init,
#                    and the kernel's virtio-mmio, virtio-blk, ext4 and
#                    virtio-net modules with their dependencies; it mounts
#                    root=/dev/vda
#   OUT/kernel.env   KVER, VMLINUZ, INITRD and CMDLINE (shell assignments):
#                    Debian's linux-image-amd64 (/boot/vmlinuz-KVER) with
#                    OUT/initrd.img, or with Debian's own initrd when
#                    INITRD=debian is set (it needs 256 MiB of guest memory,
#                    the small one boots in 128 MiB)
#
# Exits 1, printing why, when something it needs is missing: busybox-static,
# python3, cpio, or a kernel with its initrd under /boot (scripts/install-deps
# installs them all). KVER picks the kernel version (default: the newest with
# both files).
set -euo pipefail

OUT=${1:?usage: mkfixtures.sh OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

die() {
    echo "mkfixtures: $*" >&2
    exit 1
}

command -v python3 >/dev/null || die "python3 is not installed (apt-get install python3)"
[ -x /bin/busybox ] && /bin/busybox --list-full >/dev/null 2>&1 ||
    die "/bin/busybox is missing (apt-get install busybox-static)"
file_is_static() { ! LC_ALL=C ldd "$1" >/dev/null 2>&1; }
file_is_static /bin/busybox || die "/bin/busybox is not static (apt-get install busybox-static)"

# The kernel: the newest version under /boot with vmlinuz and initrd.
if [ -z "${KVER:-}" ]; then
    KVER=
    for v in $(ls /boot 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -V); do
        [ -r "/boot/initrd.img-$v" ] && KVER=$v
    done
fi
[ -n "$KVER" ] && [ -r "/boot/vmlinuz-$KVER" ] && [ -r "/boot/initrd.img-$KVER" ] ||
    die "no kernel with an initrd under /boot (apt-get install linux-image-amd64)"

mkdir -p "$OUT"
R="$OUT/rootfs"
rm -rf "$R" "$OUT/hearth-e2e"
python3 "$SRC/tests/oci/mkimage.py" rootfs "$R" --applets
rm -f "$R/sbin/init"
install -m 0755 "$HERE/init" "$R/sbin/init"
install -D -m 0755 "$HERE/udhcpc.script" "$R/etc/hearth-e2e/udhcpc.script"
echo "hearth-e2e" >"$R/etc/hostname"
mkdir -p "$R/etc/acpi/PWRF" "$R/var/lib/hearth-e2e" "$R/lib/hearth-e2e"
cat >"$R/etc/acpi/PWRF/00000080" <<'ACTION'
#!/bin/sh
# acpid's action for the ACPI power button (QEMU's system_powerdown).
echo "hearth-e2e-poweroff power-button" >/dev/console
sync
poweroff -f
ACTION
chmod 0755 "$R/etc/acpi/PWRF/00000080"

# button.ko and evdev.ko of that kernel, uncompressed, for the power button.
for m in button evdev; do
    f=$(modinfo -k "$KVER" -n "$m" 2>/dev/null || true)
    case "$f" in
    *.ko) cp "$f" "$R/lib/hearth-e2e/$m.ko" ;;
    *.ko.xz) xz -dc "$f" >"$R/lib/hearth-e2e/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$R/lib/hearth-e2e/$m.ko" ;;
    *) echo "mkfixtures: no $m module for $KVER: the power button will not work" >&2 ;;
    esac
done

python3 "$SRC/tests/oci/mkimage.py" image "$OUT/hearth-e2e" 1 --layer gzip:"$R" >/dev/null

# The small initrd.
command -v cpio >/dev/null || die "cpio is not installed (apt-get install cpio)"
I="$OUT/initrd"
rm -rf "$I"
mkdir -p "$I/bin" "$I/lib/modules"
cp /bin/busybox "$I/bin/busybox"
install -m 0755 "$HERE/initrd-init" "$I/init"
: >"$I/modules"
for want in virtio_mmio virtio_blk ext4 virtio_net; do
    for f in $(modprobe -S "$KVER" --show-depends "$want" | awk '$1 == "insmod" { print $2 }'); do
        base=$(basename "$f")
        base=${base%.xz}
        base=${base%.zst}
        grep -qxF "$base" "$I/modules" && continue
        case "$f" in
        *.ko) cp "$f" "$I/lib/modules/$base" ;;
        *.ko.xz) xz -dc "$f" >"$I/lib/modules/$base" ;;
        *.ko.zst) zstd -qdc "$f" >"$I/lib/modules/$base" ;;
        *) die "module file $f of $want: unknown format" ;;
        esac
        echo "$base" >>"$I/modules"
    done
done
grep -qx 'ext4.ko' "$I/modules" || die "no ext4 module for $KVER (is it built in? then no initrd is needed)"
(cd "$I" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$OUT/initrd.img"
rm -rf "$I"

initrd=$OUT/initrd.img
[ "${INITRD:-}" = debian ] && initrd=/boot/initrd.img-$KVER
cat >"$OUT/kernel.env" <<ENV
KVER=$KVER
VMLINUZ=/boot/vmlinuz-$KVER
INITRD=$initrd
CMDLINE="console=ttyS0 reboot=k panic=1 root=/dev/vda rw"
ENV
