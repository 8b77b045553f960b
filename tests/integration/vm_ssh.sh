#!/usr/bin/env bash
# hearth exec over SSH into the Debian 12 test image (tests/vm/mkdebian.sh:
# systemd-networkd on DHCP, openssh-server), bridged, as root, in the network
# namespace lib/assert.sh gives every test, under QEMU/TCG. What it shows:
#
# - create --ssh plants an ed25519 host key: the private key 0600 and the
#   .pub in the VM's disk, the fingerprint of that .pub in vms.ssh_host_key;
# - a VM without --ssh, and one that is not running, are errors at once
#   that say what to do;
# - exec: /etc/hostname is the VM's name, the remote exit status is hearth's
#   (false: 1, exit 7: 7), stdout and stderr apart, stdin passed through
#   (wc -c counts a file's bytes), arguments quoted as Ignite quotes them;
#   nothing is written to $HOME;
# - a host key other than the recorded one (the fingerprint changed behind
#   hearth's back) is refused naming the VM and both fingerprints, exit 255;
#   a key the guest does not authorize too; without libssh, exec says so.
#
# The image is built once into $HEARTH_DEBIAN_CACHE (ctest sets it to the
# checkout's .cache/debian, the default too; mkdebian.sh rebuilds only when
# it changed), before the script enters its network namespace
# (lib/debian.sh).
set -u

. "$(dirname "$0")/lib/debian.sh"
. "$(dirname "$0")/lib/assert.sh"
[ "$(id -u)" = 0 ] || skip "bridge networking and building the image need root"
. "$(dirname "$0")/lib/vm.sh"
need ip iproute2
need nft nftables
need dnsmasq dnsmasq-base
need debootstrap debootstrap
need umoci umoci
need debugfs e2fsprogs
need ssh-keygen openssh-client
need sqlite3 sqlite3
need unshare util-linux
need ldconfig libc-bin
BOOT_WAIT=${BOOT_WAIT:-300} # seconds a TCG boot of Debian may take to answer SSH
export TMPDIR="$TMP/tmpdir"
export HOME="$TMP/home" # exec must write nothing here
mkdir -p "$TMPDIR" "$HOME"

debian_image
CACHE=$HEARTH_DEBIAN_CACHE
DEB=localhost/hearth-debian:12

check "pool init" 0 h pool init --driver file
check "image import" 0 h image import -q "oci-layout:$CACHE/hearth-debian:12"
check "busybox image import" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
check "kernel import" 0 h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"

# A VM without --ssh, one not running: errors at once, nothing tried.
check "create plain" 0 h create --name plain -k "$KERNEL" "$IMAGE"
check "exec without --ssh" 1 h exec plain true
expect "exec without --ssh: how" "$ERR" "vm 'plain' was created without ssh"
expect "exec without --ssh: how" "$ERR" "--ssh"
equal "no host key recorded without --ssh" "$(sqlv "SELECT ssh_host_key IS NULL FROM vms WHERE name = 'plain'")" "1"
check "create cold" 0 h create --ssh --name cold --size 1GB -k "$KERNEL" "$DEB"
T0=$(date +%s)
check "exec on a stopped vm" 1 h exec cold true
T1=$(date +%s)
expect "exec on a stopped vm: says so" "$ERR" "vm 'cold' is not running; start it with 'hearth start cold'"
[ $((T1 - T0)) -lt 20 ] && ok || bad "exec on a stopped vm took $((T1 - T0)) s: it waited"

# The planted host key, read back from cold's disk.
FP=$(sqlv "SELECT ssh_host_key FROM vms WHERE name = 'cold'")
[[ "$FP" =~ ^SHA256:[A-Za-z0-9+/]{43}$ ]] && ok || bad "cold's recorded fingerprint: '$FP'"
DEV=$(sqlv "SELECT id FROM pool_devices WHERE owner_name = 'cold' AND type = 'VM'")
DISK="$ROOT/pool/data/$DEV.img"
debugfs -R "dump /etc/ssh/ssh_host_ed25519_key.pub $TMP/cold.pub" "$DISK" 2>/dev/null
equal "the .pub in the disk has the recorded fingerprint" \
    "$(ssh-keygen -l -E sha256 -f "$TMP/cold.pub" 2>&1 | awk '{print $2}')" "$FP"
expect "private host key 0600" "$(debugfs -R "stat /etc/ssh/ssh_host_ed25519_key" "$DISK" 2>/dev/null)" \
    "Mode:  0600"
expect "public host key 0644" "$(debugfs -R "stat /etc/ssh/ssh_host_ed25519_key.pub" "$DISK" 2>/dev/null)" \
    "Mode:  0644"
reject "no private host key kept on the host" "$(find "$ROOT" -name 'ssh_host_*')" "ssh_host"
check "rm cold" 0 h rm cold

# The guest, bridged.
check "run dev" 0 h run --ssh --name dev --memory 256MB --size 1GB -k "$KERNEL" \
    --kernel-args "$CMDLINE" "$DEB"
T0=$(now_ms)
check "exec cat /etc/hostname" 0 h exec --timeout "$BOOT_WAIT" dev cat /etc/hostname
echo "exec answered $(($(now_ms) - T0)) ms after the run"
equal "/etc/hostname" "$OUT" "dev"
if [ "$OUT" != dev ]; then
    h logs --tail 40 dev >&2
fi
check "exec false" 1 h exec dev false
check "exec: status, stdout and stderr apart" 7 h exec dev sh -c 'echo out; echo err >&2; exit 7'
equal "exec: stdout" "$OUT" "out"
equal "exec: stderr" "$ERR" "err"
check "vm exec: arguments quoted as Ignite does" 0 h vm exec dev printf '%s|' 'a b' "it's" '' '$HOME'
equal "vm exec: the words as given" "$OUT" "a b|it's||\$HOME|"
head -c 123457 /dev/urandom >"$TMP/blob"
"$HEARTH" --root "$ROOT" exec dev sh -c 'wc -c' <"$TMP/blob" >"$TMP/out" 2>"$TMP/err"
equal "exec: stdin passed through (wc -c)" "$(tr -d ' ' <"$TMP/out")" "123457"
"$HEARTH" --root "$ROOT" exec dev sha256sum <"$TMP/blob" >"$TMP/out" 2>"$TMP/err"
equal "exec: stdin's bytes intact" "$(cut -d' ' -f1 <"$TMP/out")" "$(sha256sum <"$TMP/blob" | cut -d' ' -f1)"
equal "nothing written to \$HOME" "$(find "$HOME" -mindepth 1 | head -3)" ""

# A key the guest does not authorize.
ssh-keygen -q -t ed25519 -N "" -f "$TMP/other" >/dev/null
check "exec -i other key" 255 h exec -i "$TMP/other" dev true
expect "exec -i other key: refused" "$ERR" "vm 'dev' refused the key '$TMP/other'"
VMKEY=$(ls "$ROOT"/vm/*/id_ed25519 | head -1)
check "exec -i the vm's key" 0 h exec -i "$VMKEY" dev true

# The host key changed behind hearth's back: refused, naming the VM and both fingerprints.
FP=$(sqlv "SELECT ssh_host_key FROM vms WHERE name = 'dev'")
OTHER=$(ssh-keygen -l -E sha256 -f "$TMP/other.pub" | awk '{print $2}')
sqlite3 "$ROOT/hearth.db" "UPDATE vm_ssh SET host_key_fingerprint = '$OTHER'"
equal "the fingerprint replaced" "$(sqlv "SELECT ssh_host_key FROM vms WHERE name = 'dev'")" "$OTHER"
check "exec with another host key recorded" 255 h exec dev true
expect "mismatch: names the vm" "$ERR" "vm 'dev'"
expect "mismatch: the server's fingerprint" "$ERR" "offers host key $FP"
expect "mismatch: the recorded one" "$ERR" "not $OTHER"
sqlite3 "$ROOT/hearth.db" "UPDATE vm_ssh SET host_key_fingerprint = '$FP'"
check "exec with the planted key recorded again" 0 h exec dev true

# Without libssh: exec says so, with ssh's status.
SSH_LIB=$(readlink -f "$(ldconfig -p | awk '$1 == "libssh.so.4" { print $NF; exit }')")
: >"$TMP/empty"
check "exec without libssh" 255 unshare -m -- sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
    _ "$TMP/empty" "$SSH_LIB" "$HEARTH" --root "$ROOT" exec dev true
expect "exec without libssh: names it" "$ERR" "libssh is needed for this and cannot be loaded"

check "rm -f dev" 0 h rm -f dev
check "rm plain" 0 h rm plain
check "network rm" 0 h network rm hearth0
check "doctor" 0 h doctor
equal "no process left" "$(root_procs | tr '\n' ' ')" ""

finish
