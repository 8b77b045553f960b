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
# - cp over SFTP: a 10 MiB file in and out with equal sha256 sums, modes and
#   mtimes kept both ways (root's in the guest, the user's on the host), a
#   tree with -r (nested and empty directories, symlinks in and out of it, a
#   space in a name) the same in and out, cp's and docker cp's destination
#   rules, errors naming the side and the path, Ctrl-C leaving nothing
#   partial (exit 130);
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

# cp over SFTP: a 10 MiB file in and out, modes and times kept both ways, as root in the guest.
head -c 10485760 /dev/urandom >"$TMP/cp10"
chmod 0640 "$TMP/cp10"
touch -d @1500000000 "$TMP/cp10"
SUM10=$(sha256sum <"$TMP/cp10" | cut -d' ' -f1)
check "cp a 10 MiB file in" 0 h cp "$TMP/cp10" dev:/root/
equal "cp in: nothing on stderr when it is no terminal" "$ERR" ""
check "cp in: sha256 in the guest" 0 h exec dev sha256sum /root/cp10
equal "cp in: the same bytes" "${OUT%% *}" "$SUM10"
check "cp in: stat in the guest" 0 h exec dev stat -c '%a %Y %U' /root/cp10
equal "cp in: mode and mtime kept, root's" "$OUT" "640 1500000000 root"
check "cp: mode and mtime changed in the guest" 0 h exec dev sh -c \
    'chmod 0604 /root/cp10 && touch -d @1400000000 /root/cp10'
check "vm cp a file out" 0 h vm cp dev:/root/cp10 "$TMP/cp10.out"
equal "cp out: the same bytes" "$(sha256sum <"$TMP/cp10.out" | cut -d' ' -f1)" "$SUM10"
equal "cp out: mode and mtime kept, the user's" "$(stat -c '%a %Y %U' "$TMP/cp10.out")" \
    "604 1400000000 $(id -un)"

# Where a copy goes: into a directory, to a new name, over a file, a tree named or put inside.
check "cp f dev:/tmp/" 0 h cp "$TMP/cp10" dev:/tmp/
check "cp f dev:/tmp/g" 0 h cp "$TMP/cp10" dev:/tmp/g
echo other >"$TMP/small"
check "cp over a file" 0 h cp "$TMP/small" dev:/tmp/g
check "cp: what the guest has" 0 h exec dev sh -c 'sha256sum /tmp/cp10 | cut -d" " -f1; cat /tmp/g'
equal "cp: /tmp/cp10 and /tmp/g (replaced)" "$OUT" "$SUM10
other"
mkdir -p "$TMP/tree/a/b" "$TMP/tree/empty"
head -c 300000 /dev/urandom >"$TMP/tree/a/b/file with space"
echo top >"$TMP/tree/top"
chmod 0750 "$TMP/tree/a"
chmod 0600 "$TMP/tree/top"
ln -s "b/file with space" "$TMP/tree/a/link"
ln -s /etc/hostname "$TMP/tree/out"
touch -h -d @1400000000 "$TMP/tree/a/link"
touch -d @1300000000 "$TMP/tree/a/b"
LIST='find . -mindepth 1 -printf "%P %y %m %s %Ts\n" | LC_ALL=C sort'
SUMS='find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum'
TREE_LIST=$(cd "$TMP/tree" && eval "$LIST")
TREE_SUMS=$(cd "$TMP/tree" && eval "$SUMS")
check "cp -r tree dev:/tmp/x (missing: a copy named x)" 0 h cp -r "$TMP/tree" dev:/tmp/x
check "cp -r: the guest's x" 0 h exec dev sh -c "cd /tmp/x && $LIST"
equal "cp -r in: names, types, modes, sizes, mtimes" "$OUT" "$TREE_LIST"
check "cp -r: the guest's sums" 0 h exec dev sh -c "cd /tmp/x && $SUMS"
equal "cp -r in: the same bytes" "$OUT" "$TREE_SUMS"
check "cp -r tree dev:/tmp/x (a directory: x/tree)" 0 h cp -r "$TMP/tree" dev:/tmp/x
check "cp -r: the guest's x/tree" 0 h exec dev sh -c "cd /tmp/x/tree && $LIST"
equal "cp -r into a directory: x/tree" "$OUT" "$TREE_LIST"
check "cp -r dev:/tmp/x out (missing: a copy named y)" 0 h cp -r dev:/tmp/x "$TMP/y"
check "cp -r: the guest's x again" 0 h exec dev sh -c "cd /tmp/x && $LIST"
equal "cp -r out: names, types, modes, sizes, mtimes" "$(cd "$TMP/y" && eval "$LIST")" "$OUT"
equal "cp -r out: the tree inside too" "$(cd "$TMP/y/tree" && eval "$LIST")" "$TREE_LIST"
equal "cp -r out: the same bytes" "$(cd "$TMP/y/tree" && eval "$SUMS")" "$TREE_SUMS"
check "cp -r dev:/tmp/x/tree out (a directory: y/tree merged)" 0 h cp -r dev:/tmp/x/tree "$TMP/y"
equal "cp -r out into a directory: y/tree" "$(cd "$TMP/y/tree" && eval "$LIST")" "$TREE_LIST"
equal "cp -r out: the symlink is a symlink" "$(readlink "$TMP/y/out")" "/etc/hostname"

# Errors name the side and the path; nothing is left behind.
check "cp: a missing host source" 1 h cp "$TMP/missing" dev:/tmp/
equal "cp: the host and the path" "$ERR" "hearth: error: host: $TMP/missing: No such file or directory"
check "cp: a missing guest source" 1 h cp dev:/nope/f "$TMP/"
equal "cp: the vm and the path" "$ERR" "hearth: error: vm 'dev': /nope/f: No such file or directory"
check "cp: a directory without -r" 1 h cp "$TMP/tree" dev:/tmp/
equal "cp: a directory without -r, said" "$ERR" \
    "hearth: error: host: $TMP/tree: a directory; copy it with -r"
check "cp: a guest directory without -r" 1 h cp dev:/tmp/x "$TMP/"
equal "cp: a guest directory without -r, said" "$ERR" \
    "hearth: error: vm 'dev': /tmp/x: a directory; copy it with -r"
check "cp: into a directory that is not there" 1 h cp "$TMP/small" dev:/tmp/nodir/
expect "cp: into a directory that is not there, said" "$ERR" "vm 'dev': /tmp/nodir/: No such file"
check "cp: two vms" 2 h cp dev:/a dev:/b
check "cp: no vm" 2 h cp "$TMP/a" "$TMP/b"

# Ctrl-C in the middle of a file: exit 130, no temporary file, no destination.
head -c 104857600 /dev/urandom >"$TMP/cp100"
"$HEARTH" --root "$ROOT" cp "$TMP/cp100" dev:/tmp/cp100 >"$TMP/out" 2>"$TMP/err" &
CP=$!
for _ in $(seq 60); do
    h exec dev sh -c 'ls /tmp/.hearth-* 2>/dev/null' | grep -q hearth && break
    sleep 0.5
done
kill -INT $CP
wait $CP
equal "cp: Ctrl-C: exit 130" "$?" "130"
expect "cp: Ctrl-C: said" "$(cat "$TMP/err")" "hearth: copy cancelled"
check "cp: Ctrl-C: what the guest's /tmp has" 0 h exec dev sh -c 'ls -a /tmp'
reject "cp: Ctrl-C: no temporary file" "$OUT" ".hearth-"
reject "cp: Ctrl-C: no destination" "$OUT" "cp100"
rm -f "$TMP/cp100"
check "cp: no temporary file anywhere in the guest" 0 h exec dev sh -c \
    'find / -xdev -name ".hearth-*" | wc -l'
equal "cp: no .hearth-* in the guest" "$OUT" "0"
equal "cp: no .hearth-* on the host" "$(find "$TMP" -name '.hearth-*' | wc -l)" "0"
equal "cp: nothing written to \$HOME" "$(find "$HOME" -mindepth 1 | head -3)" ""

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
