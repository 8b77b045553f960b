#!/usr/bin/env bash
# mkdebian.sh OUT: a Debian 12 test image for hearth's network tests
# (tests/vm/README.md, "mkdebian.sh").
#
#   OUT/hearth-debian/  an OCI layout, tag "12" (one gzip layer, packed by
#                       umoci): `hearth image import oci-layout:OUT/hearth-debian:12`
#                       names it localhost/hearth-debian:12
#   OUT/hearth-debian.stamp  the sha256 of this script when that layout was
#                       built: a second run with the same script does nothing
#
# The root is `debootstrap --variant=minbase` of bookworm with systemd,
# systemd-sysv, openssh-server, iproute2, udev and dbus, from the Debian
# mirror apt is configured with (MIRROR=URL overrides it), then:
# systemd-networkd enabled with DHCP on every en* and eth* interface (the
# hostname from DHCP is taken when the image has none: /etc/hostname is
# removed, hearth writes the VM's), sshd allowing root with keys only
# (PermitRootLogin prohibit-password) and creating its host keys at its
# first start when none were planted (the image carries none), an empty
# /etc/machine-id (each VM makes its own) and no apt lists or archives.
# It boots with tests/vm/mkfixtures.sh's kernel and small initrd
# (root=/dev/vda).
#
# Needs root (debootstrap, and umoci keeping the files' owners), debootstrap
# and umoci (scripts/install-deps), and the mirror; exits 1 saying why.
set -euo pipefail

OUT=${1:?usage: mkdebian.sh OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
SELF="$HERE/$(basename "$0")"
NAME=hearth-debian
TAG=12
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,openssh-server,iproute2,udev,dbus

die() {
    echo "mkdebian: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "debootstrap needs root; run it as root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v umoci >/dev/null || die "umoci is not installed (apt-get install umoci)"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
hash=$(sha256sum "$SELF" | cut -d' ' -f1)
if [ -d "$OUT/$NAME" ] && [ "$(cat "$OUT/$NAME.stamp" 2>/dev/null)" = "$hash" ]; then
    echo "mkdebian: $OUT/$NAME is up to date"
    exit 0
fi

# The mirror apt uses for the suite: a one-line "deb URI bookworm ..." in
# sources.list(.d/*.list), or a deb822 stanza (.sources) whose Suites name it.
apt_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "")
                    { print uri; found = 1 }
                types = suites = uri = ""
            }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
            /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^URIs:/ { sub(/^URIs:[ \t]*/, ""); split($0, u, " "); uri = u[1] }
            END { if (!found) flush() }' "$f"
    done
}
MIRROR=${MIRROR:-$(apt_mirror | head -n 1)}
[ -n "$MIRROR" ] || die "no apt source for $SUITE in /etc/apt/sources.list*; set MIRROR=URL"

W=$(mktemp -d "$OUT/.mkdebian.XXXXXX")
trap 'rm -rf "$W"' EXIT
start=$(date +%s)

umoci init --layout "$W/layout"
umoci new --image "$W/layout:$TAG"
umoci unpack --image "$W/layout:$TAG" "$W/bundle" >/dev/null
R="$W/bundle/rootfs"
echo "mkdebian: debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$R" "$MIRROR" >"$W/debootstrap.log" 2>&1 || {
    tail -n 20 "$W/debootstrap.log" >&2
    die "debootstrap failed (its log above)"
}

# The network: systemd-networkd with DHCP on the VM's NIC.
mkdir -p "$R/etc/systemd/network"
cat >"$R/etc/systemd/network/20-hearth-dhcp.network" <<'NET'
# hearth's test image: DHCP on the VM's NIC.
[Match]
Name=en* eth*

[Network]
DHCP=yes

[DHCPv4]
UseHostname=yes
NET
chroot "$R" systemctl enable systemd-networkd.service >/dev/null 2>&1 ||
    die "enabling systemd-networkd failed"

# sshd: root with keys only; host keys made at the first start unless planted.
mkdir -p "$R/etc/ssh/sshd_config.d" "$R/etc/systemd/system/ssh.service.d"
echo "PermitRootLogin prohibit-password" >"$R/etc/ssh/sshd_config.d/hearth.conf"
cat >"$R/etc/systemd/system/ssh.service.d/hearth-host-keys.conf" <<'UNIT'
# hearth's test image carries no host keys: hearth plants one per VM, and
# any missing type is made here before sshd's own check.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
rm -f "$R"/etc/ssh/ssh_host_*
install -d -m 0700 "$R/root/.ssh"

# Per-VM identity comes from the VM, not from the image or the build host.
rm -f "$R/etc/hostname" "$R/etc/resolv.conf"
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/archives/*.deb "$R"/var/log/*.log

umoci repack --image "$W/layout:$TAG" "$W/bundle" >/dev/null
umoci gc --layout "$W/layout"

rm -rf "$OUT/$NAME" "$OUT/$NAME.stamp"
mv "$W/layout" "$OUT/$NAME"
echo "$hash" >"$OUT/$NAME.stamp"
echo "mkdebian: $OUT/$NAME:$TAG in $(($(date +%s) - start)) s"
