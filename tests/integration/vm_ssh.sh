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
# - run --ssh waits until SSH answers, with a progress line; an image
#   without sshd is an error naming the address when --ssh-timeout is up,
#   and a VM that stops meanwhile ends the wait at once;
# - hearth ssh in tmux: a prompt, $TERM and the terminal's size passed on, a
#   resize followed, `exit 3` is hearth's status 3; without a terminal the
#   shell reads stdin;
# - cp over SFTP: a 10 MiB file in and out with equal sha256 sums, modes and
#   mtimes kept both ways (root's in the guest, the user's on the host), a
#   tree with -r (nested and empty directories, symlinks in and out of it, a
#   space in a name) the same in and out, cp's and docker cp's destination
#   rules, errors naming the side and the path, Ctrl-C leaving nothing
#   partial (exit 130);
# - a host key other than the recorded one (the fingerprint changed behind
#   hearth's back) is refused naming the VM and both fingerprints, exit 255;
#   a key the guest does not authorize too; without libssh, exec says so;
# - the guest replaces its key: refused until --accept-new-host-key records
#   it; an sshd left with only an RSA key, and one that forbids root's
#   login, are errors that say what to change in sshd_config;
# - user mode as the user nobody, on a root of its own (booted alongside):
#   exec through the host port forwarded to the guest's port 22;
# - the guest's lease (ps, ip_leases) is what systemd-networkd got from
#   hearth's dnsmasq, with the host name hearth wrote; rm and network rm
#   leave `ip link` and `nft list ruleset` as before.
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
. "$(dirname "$0")/lib/peer.sh"
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
need tmux tmux
need passt passt
need setpriv util-linux
need nsenter util-linux
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
check "ssh without --ssh" 1 h ssh plain
expect "ssh without --ssh: how" "$ERR" "create one with 'hearth run --ssh'"
check "start --ssh-wait without --ssh" 1 h start --ssh-wait plain
expect "start --ssh-wait without --ssh: how" "$ERR" "--ssh-wait: vm 'plain' was created without ssh"
equal "start --ssh-wait without --ssh: not started" "$(sqlv "SELECT state FROM vms WHERE name = 'plain'")" "Created"
equal "no host key recorded without --ssh" "$(sqlv "SELECT ssh_host_key IS NULL FROM vms WHERE name = 'plain'")" "1"
check "create cold" 0 h create --ssh --name cold --size 1GB -k "$KERNEL" "$DEB"
T0=$(date +%s)
check "exec on a stopped vm" 1 h exec cold true
T1=$(date +%s)
expect "exec on a stopped vm: says so" "$ERR" "vm 'cold' is not running; start it with 'hearth start cold'"
check "ssh to a stopped vm" 1 h ssh cold
expect "ssh to a stopped vm: says so" "$ERR" "vm 'cold' is not running"
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

# The outside peer (lib/peer.sh), for the default route passt wants in user mode (below).
peer_start
T() { tmux -L "hearth-ssh-test-$$" "$@"; } # the tmux server of hearth ssh's test, below
trap 'kill -9 "$PEER" 2>/dev/null; T kill-server 2>/dev/null; cleanup' EXIT
ip route add default via 192.0.2.2
BEFORE=$(net_state)

# run --ssh of an image without sshd: the wait ends at --ssh-timeout, naming what it tried.
check "run --ssh without sshd" 1 h run --ssh --ssh-timeout 3 --name nosshd --memory 128MB \
    --size 512MB -k "$KERNEL" --kernel-args "$CMDLINE" "$IMAGE"
expect "no sshd: the address and the timeout" "$ERR" "vm 'nosshd': no ssh server answered at 10.61.0."
expect "no sshd: within the timeout" "$ERR" ":22 within 3 s ("
expect "no sshd: the flag to wait longer" "$ERR" "--ssh-timeout waits longer"
equal "no sshd: the vm still runs" "$(sqlv "SELECT state FROM vms WHERE name = 'nosshd'")" "Running"
check "stop nosshd" 0 h stop -f nosshd
check "start --ssh-wait without sshd" 1 h start --ssh-wait --ssh-timeout 3 nosshd
equal "start --ssh-wait: the vm's name on stdout" "$OUT" "nosshd"
expect "start --ssh-wait: the address and the timeout" "$ERR" ":22 within 3 s ("
check "rm -f nosshd" 0 h rm -f nosshd
# A VM that stops while run waits: the wait ends at once (init exits: the kernel panics).
T0=$(date +%s)
check "run --ssh of a vm that stops" 1 h run --ssh --ssh-timeout "$BOOT_WAIT" --name dies \
    --memory 128MB --size 512MB -k "$KERNEL" --kernel-args "$CMDLINE init=/bin/false" "$IMAGE"
T1=$(date +%s)
expect "stops: says so" "$ERR" "vm 'dies' stopped ("
expect "stops: while waiting for ssh" "$ERR" "while hearth waited for its ssh server"
[ $((T1 - T0)) -lt $((BOOT_WAIT - 10)) ] && ok || bad "the wait for a stopped vm took $((T1 - T0)) s"
check "rm dies" 0 h rm -f dies

# User mode as nobody, on a root of its own, booted alongside dev.
NROOT="$TMP/nroot"
chmod 0755 "$TMP"
mkdir -p "$NROOT" "$TMP/nhome" "$TMP/ntmp"
chown 65534:65534 "$NROOT" "$TMP/nhome" "$TMP/ntmp"
hn() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$TMP/nhome" TMPDIR="$TMP/ntmp" \
    "$HEARTH" --root "$NROOT" "$@"; }
nrun() {
    hn "$@" >"$TMP/n.out" 2>"$TMP/n.err"
    local rc=$?
    OUT=$(cat "$TMP/n.out")
    ERR=$(cat "$TMP/n.err")
    return $rc
}
mkdir -p "$TMP/ndeb" # the cache is root's alone: a copy nobody may read
cp -r "$CACHE/hearth-debian" "$TMP/ndeb/" && chmod -R a+rX "$TMP/ndeb"
if nrun pool init --driver file && nrun image import -q "oci-layout:$TMP/ndeb/hearth-debian:12" &&
    nrun kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL" &&
    nrun run --ssh --ssh-timeout 0 --name udev --memory 256MB --size 1GB -k "$KERNEL" \
        --kernel-args "$CMDLINE" "$DEB"; then
    ok
else
    bad "nobody's udev did not start: $ERR"
fi
equal "udev is in user mode" "$(hn sql -o csv "SELECT network_mode FROM vms" | tail -1 | tr -d '\r')" "user"

# The guest, bridged: run waits for SSH.
T0=$(now_ms)
check "run dev (waits for ssh)" 0 h run --ssh --ssh-timeout "$BOOT_WAIT" --name dev --memory 256MB \
    --size 1GB -k "$KERNEL" --kernel-args "$CMDLINE" "$DEB"
echo "run returned $(($(now_ms) - T0)) ms after it began"
expect "run: progress while waiting" "$ERR" "hearth: waiting for ssh of vm 'dev' at 10.61.0."
expect "run: it answered" "$ERR" "hearth: vm 'dev' answers ssh ("
# The lease: what ps shows is what systemd-networkd got from dnsmasq, with the host name hearth wrote.
DEV_IP=$(sqlv "SELECT ip FROM ip_leases WHERE vm_name = 'dev'")
DEV_MAC=$(sqlv "SELECT mac FROM ip_leases WHERE vm_name = 'dev'")
check "ps" 0 h ps
expect "ps: dev's address" "$(grep -w 'dev$' <<<"$OUT")" "$DEV_IP"
expect "dnsmasq leased it to dev's MAC, named as hearth wrote" \
    "$(grep -i " $DEV_MAC " "$ROOT/run/net/hearth0/leases" 2>/dev/null)" " $DEV_IP dev "
check "exec cat /etc/hostname" 0 h exec dev cat /etc/hostname
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

# hearth ssh on a terminal (tmux): a prompt, $TERM and the size passed on,
# a resize followed, and the shell's exit status is hearth's.
screen() { T capture-pane -t ssh -p -J; }
wait_screen() { # TEXT: the screen shows it within 60 s
    local end=$(($(date +%s) + 60))
    while [ "$(date +%s)" -le "$end" ]; do
        screen | grep -qF -- "$1" && return 0
        sleep 0.2
    done
    return 1
}
shows() { if wait_screen "$2"; then ok; else bad "$1: '$2' not on the screen:" && screen >&2; fi; }
T new-session -d -s ssh -x 120 -y 40 \
    "env TERM=xterm-256color '$HEARTH' --root '$ROOT' ssh dev; echo hearth-exit=\$? >'$TMP/ssh.status'; sleep 600"
shows "ssh: a prompt" "root@dev:~#"
T send-keys -t ssh 'echo "term=$TERM size=$(stty size)"' Enter
shows "ssh: \$TERM and the size" "term=xterm-256color size=40 120"
T resize-window -t ssh -x 100 -y 30
sleep 0.5
T send-keys -t ssh 'echo "resized=$(stty size)"' Enter
shows "ssh: the resize followed" "resized=30 100"
T send-keys -t ssh 'exit 3' Enter
for _ in $(seq 100); do [ -s "$TMP/ssh.status" ] && break; sleep 0.2; done
equal "ssh: exit 3 is hearth's status" "$(cat "$TMP/ssh.status" 2>/dev/null)" "hearth-exit=3"
T kill-server 2>/dev/null
printf 'hostname\nexit 4\n' | "$HEARTH" --root "$ROOT" ssh dev >"$TMP/out" 2>"$TMP/err"
equal "ssh without a terminal: the shell reads stdin, exit 4" "$?:$(tail -1 "$TMP/out")" "4:dev"

# nobody's udev in user mode: exec through 127.0.0.1 and the forwarded port.
UPORT=$(hn sql -o csv "SELECT ssh_host_port FROM vms WHERE name = 'udev'" | tail -1 | tr -d '\r')
[[ "$UPORT" =~ ^[0-9]+$ ]] && ok || bad "udev's ssh host port: '$UPORT'"
if nrun exec --timeout "$BOOT_WAIT" udev cat /etc/hostname; then ok; else bad "exec udev as nobody: $ERR"; fi
equal "exec as nobody, user mode: /etc/hostname" "$OUT" "udev"
nrun exec udev sh -c 'echo $SSH_CONNECTION'
equal "exec as nobody: the guest sees passt's address" "$(awk '{print $3}' <<<"$OUT")" "10.0.2.15"
if nrun rm -f udev; then ok; else bad "rm -f udev: $ERR"; fi
equal "nothing written to nobody's \$HOME" "$(find "$TMP/nhome" -mindepth 1 | head -3)" ""

# The guest replaces its host key: refused until --accept-new-host-key records it.
OLDFP=$(sqlv "SELECT ssh_host_key FROM vms WHERE name = 'dev'")
check "the guest makes a new host key" 0 h exec dev sh -c \
    'rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh && ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_ed25519_key.pub'
NEWFP=$(awk '{print $2}' <<<"$OUT")
check "exec after the guest's new key" 255 h exec dev true
expect "new key: refused, naming both" "$ERR" "offers host key $NEWFP, not $OLDFP"
expect "new key: says how to accept it" "$ERR" "hearth ssh --accept-new-host-key"
printf 'exit 0\n' | "$HEARTH" --root "$ROOT" ssh --accept-new-host-key dev >"$TMP/out" 2>"$TMP/err"
equal "ssh --accept-new-host-key connects" "$?" "0"
expect "ssh --accept-new-host-key: says what it recorded" "$(cat "$TMP/err")" \
    "vm 'dev': host key $NEWFP recorded (it was $OLDFP)"
equal "the new fingerprint recorded" "$(sqlv "SELECT ssh_host_key FROM vms WHERE name = 'dev'")" "$NEWFP"
check "exec with the new key recorded" 0 h exec dev true

# An sshd with only an RSA host key: said apart, with what to change.
check "the guest keeps only an rsa host key" 0 h exec dev sh -c \
    'test -f /etc/ssh/ssh_host_rsa_key || ssh-keygen -q -t rsa -b 2048 -N "" -f /etc/ssh/ssh_host_rsa_key; printf "HostKey /etc/ssh/ssh_host_rsa_key\n" >/etc/ssh/sshd_config.d/00-hostkey.conf && systemctl restart ssh'
check "exec to an sshd without ed25519" 255 h exec dev true
expect "rsa only: said" "$ERR" "has no ed25519 host key to show, only ssh-rsa SHA256:"
expect "rsa only: what to change" "$ERR" "'HostKey /etc/ssh/ssh_host_ed25519_key'"
check "exec --accept-new-host-key takes the rsa key" 0 h exec --accept-new-host-key dev \
    sh -c 'rm /etc/ssh/sshd_config.d/00-hostkey.conf && systemctl restart ssh'
check "exec with the rsa key recorded: ed25519 again, refused" 255 h exec dev true
check "exec --accept-new-host-key: ed25519 again" 0 h exec --accept-new-host-key dev true
equal "the guest's ed25519 key recorded again" "$(sqlv "SELECT ssh_host_key FROM vms WHERE name = 'dev'")" "$NEWFP"

# An sshd that forbids root's login: the error says what to change (last: root cannot come back).
check "the guest forbids root's login" 0 h exec dev sh -c \
    'printf "PermitRootLogin no\n" >/etc/ssh/sshd_config.d/00-noroot.conf && systemctl restart ssh'
check "exec as root, forbidden" 255 h exec dev true
expect "root forbidden: says what to change" "$ERR" "'PermitRootLogin prohibit-password'"

check "rm -f dev" 0 h rm -f dev
check "rm plain" 0 h rm plain
check "network rm" 0 h network rm hearth0
equal "ip link and nft list ruleset as before" "$(net_state)" "$BEFORE"
check "doctor" 0 h doctor
equal "no process left" "$(root_procs | tr '\n' ' ')" ""

finish
