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
# - a host key other than the recorded one (the fingerprint changed behind
#   hearth's back) is refused naming the VM and both fingerprints, exit 255;
#   a key the guest does not authorize too; without libssh, exec says so;
# - the guest replaces its key: refused until --accept-new-host-key records
#   it; an sshd left with only an RSA key, and one that forbids root's
#   login, are errors that say what to change in sshd_config;
# - user mode as the user nobody, on a root of its own (booted alongside):
#   exec through the host port forwarded to the guest's port 22.
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

# User mode as nobody, on a root of its own, booted alongside dev: passt
# wants a default route (through the peer, lib/peer.sh).
peer_start
T() { tmux -L "hearth-ssh-test-$$" "$@"; } # the tmux server of hearth ssh's test, below
trap 'kill -9 "$PEER" 2>/dev/null; T kill-server 2>/dev/null; cleanup' EXIT
ip route add default via 192.0.2.2
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
check "doctor" 0 h doctor
equal "no process left" "$(root_procs | tr '\n' ' ')" ""

finish
