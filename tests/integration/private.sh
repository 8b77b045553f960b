#!/usr/bin/env bash
# What hearth keeps under its root is for its user alone, and hearth running
# as root trusts only a root that no other user could have written:
#
# - under `umask 000`, a new user's first steps (pool init, an image from an
#   OCI layout, a kernel from files, create with a generated ssh key, start
#   with the Firecracker fake, logs) leave no file or directory under the
#   root that group or others may read, write or enter (find -perm /077),
#   the database and its -wal and -shm are 0600, and another user (65534)
#   can read none of it;
# - what an older hearth left open (a 0644 database, a 0755 blob cache) is
#   made private by the next command (a root directory others may read
#   stays so); a root of a user other than root that others may write loses
#   the write bits, with a warning;
# - as root, a root directory owned by another user or writable by group or
#   others, a directory above it that others may write (a root-owned sticky
#   one like /tmp is fine), a database file or <root>/run that another user
#   owns or may write, and a VM's runtime directory of another user's are
#   refused with an error naming the path, its owner and mode and the fix,
#   and nothing is written there.
# Prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"
[ "$(id -u)" -eq 0 ] || skip "running hearth as root and as another user needs root"
need setpriv util-linux
. "$(dirname "$0")/lib/vm.sh"
if [ -z "${FCFAKE:-}" ] || [ ! -x "$FCFAKE" ] || [ ! -r "${HEARTH_FC_SPEC:-}" ]; then
    bad "FCFAKE or HEARTH_FC_SPEC not set or missing (run the test through ctest)"
    finish
    exit 1
fi
NOBODY=$(getent passwd 65534 | cut -d: -f1)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
chmod 0755 "$TMP" # others may reach the root's directory: only its own modes keep them out
# mode PATH: its permission bits, as stat prints them.
mode() { stat -c %a "$1"; }
# open_entries DIR: what under DIR (symlinks aside) group or others may use.
open_entries() { find "$1" ! -type l -perm /077 -printf '%m %p\n'; }

# ---- a first hour under umask 000 ----------------------------------------------
umask 000
check "pool init" 0 h pool init --driver file
check "image import" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
check "kernel import" 0 h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"
check "create" 0 h create "$IMAGE" --name p -k "$KERNEL" --memory 128MB --size 512MB --ssh
check "start" 0 h start p --vmm firecracker --firecracker-bin "$FCFAKE"
for _ in $(seq 50); do
    h logs p 2>/dev/null | grep -q "fcfake: instance" && break
    sleep 0.2
done
check "logs" 0 h logs p
expect "logs" "$OUT" "fcfake: instance"
ID=$(h sql -o csv "SELECT id FROM vms WHERE name = 'p'" | tail -n +2 | tr -d '\r')
# While it runs: its sockets, launch.json, logs and keys are there too.
for f in "run/vm/$ID/launch.json" "run/vm/$ID/attach.sock" "run/vm/$ID/api.sock" \
    "vm/$ID/console.log" "vm/$ID/monitor.log" "vm/$ID/id_ed25519.pub" "hearth.db-wal" \
    "hearth.db-shm" blobs pool kernel; do
    if [ -e "$ROOT/$f" ]; then ok; else bad "no $f under the root"; fi
done
equal "nothing open to others" "$(open_entries "$ROOT")" ""
for f in hearth.db hearth.db-wal hearth.db-shm; do
    equal "$f mode" "$(mode "$ROOT/$f")" "600"
done
equal "root mode" "$(mode "$ROOT")" "700"
# Another user: the root is closed, and so is every file in it on its own.
check "nobody lists the root" 2 as_nobody ls "$ROOT"
check "nobody reads the database" 1 as_nobody cat "$ROOT/hearth.db"
# Even with every directory opened for passing through, no file is readable.
find "$ROOT" -type d -exec chmod 0711 {} +
LEAK=$(find "$ROOT" -type f -print0 | as_nobody xargs -0 sh -c \
    'for f; do if [ -r "$f" ] || [ -w "$f" ]; then echo "$f"; fi; done' sh)
equal "nobody reads no file even with the directories open" "$LEAK" ""
find "$ROOT" -type d -exec chmod 0700 {} +
check "stop" 0 h stop -t 2 p
equal "nothing open after stop" "$(open_entries "$ROOT")" ""

# ---- what an older hearth left open is closed ----------------------------------------
# A root directory others may read stays so (it may hold more than hearth's
# state); what hearth keeps in it is closed.
chmod 0755 "$ROOT" "$ROOT/blobs" "$ROOT/kernel"
chmod 0644 "$ROOT/hearth.db" "$ROOT/hearth.db-wal" "$ROOT/hearth.db-shm" "$ROOT/pool.lock"
check "ps on an old root" 0 h ps -a
equal "no warning" "$ERR" ""
equal "root as it was" "$(mode "$ROOT")" "755"
equal "what is in it closed" "$(open_entries "$ROOT" | grep -v "^755 $ROOT\$")" ""
chmod 0700 "$ROOT"
# A user's own root that others may write loses the write bits, with a warning.
mkdir -m 0777 "$TMP/nb"
chown 65534:65534 "$TMP/nb"
check "nobody's open root" 0 as_nobody "$HEARTH" --root "$TMP/nb" ps
expect "nobody's open root: warned" "$ERR" "root directory '$TMP/nb' was writable by group or others (mode 0777): made it 0755"
equal "nobody's open root: closed" "$(mode "$TMP/nb")" "755"
equal "nobody's database private" "$(mode "$TMP/nb/hearth.db")" "600"

# ---- as root: StrictModes --------------------------------------------------------
refused() { # NAME PATH WHAT (the text of the refusal)
    expect "$1: names it" "$ERR" "$2"
    expect "$1: why" "$ERR" "and hearth runs as root: another user could change what hearth trusts there"
    expect "$1: what to do" "$ERR" "or use --root DIR for a directory only root can write"
}
R="$TMP/open-root"
mkdir -m 0777 "$R"
check "0777 root" 1 "$HEARTH" --root "$R" ps
refused "0777 root" "root directory '$R' is writable by group or others (mode 0777)"
expect "0777 root: fix" "$ERR" "fix it with 'chown root:root $R && chmod 0700 $R'"
equal "0777 root: nothing written" "$(ls -A "$R")" ""

R="$TMP/their-root"
mkdir -m 0700 "$R"
chown 65534:65534 "$R"
check "their root" 1 "$HEARTH" --root "$R" ps
refused "their root" "root directory '$R' belongs to user '$NOBODY' (mode 0700)"
equal "their root: nothing written" "$(ls -A "$R")" ""

mkdir -m 0777 "$TMP/shared"
check "parent open" 1 "$HEARTH" --root "$TMP/shared/r" ps
refused "parent open" "directory '$TMP/shared' above root directory '$TMP/shared/r' is writable by group or others (mode 0777)"
expect "parent open: fix" "$ERR" "fix it with 'chmod go-w $TMP/shared'"
chmod 1777 "$TMP/shared" # root's and sticky, as /tmp: others cannot replace what root made
check "parent sticky" 0 "$HEARTH" --root "$TMP/shared/r" ps
mkdir -m 0755 "$TMP/theirs"
chown 65534 "$TMP/theirs"
check "parent theirs" 1 "$HEARTH" --root "$TMP/theirs/r" ps
refused "parent theirs" "directory '$TMP/theirs' above root directory '$TMP/theirs/r' belongs to user '$NOBODY'"

chown 65534 "$ROOT/hearth.db"
check "their database" 1 h ps
refused "their database" "database file '$ROOT/hearth.db' belongs to user '$NOBODY' (mode 0600)"
expect "their database: fix" "$ERR" "chown root:root $ROOT/hearth.db && chmod 0600 $ROOT/hearth.db"
chown 0 "$ROOT/hearth.db"
chmod 0666 "$ROOT/hearth.db-wal"
check "open wal" 1 h ps
refused "open wal" "database file '$ROOT/hearth.db-wal' is writable by group or others (mode 0666)"
chmod 0600 "$ROOT/hearth.db-wal"
chown 65534 "$ROOT/run"
check "their run" 1 h ps
refused "their run" "runtime directory '$ROOT/run' belongs to user '$NOBODY'"
chown 0 "$ROOT/run"
mkdir -p "$ROOT/run/vm/$ID"
chown 65534 "$ROOT/run/vm/$ID"
check "their runtime directory" 1 h start p --vmm firecracker --firecracker-bin "$FCFAKE"
refused "their runtime directory" "directory '$ROOT/run/vm/$ID' belongs to user '$NOBODY'"
equal "not started" "$(h sql -o csv "SELECT state FROM vms WHERE name = 'p'" | tail -n +2 | tr -d '\r')" "Stopped"
rm -rf "${ROOT:?}/run/vm/$ID"
check "start" 0 h start p --vmm firecracker --firecracker-bin "$FCFAKE"
check "rm -f" 0 h rm -f p
check "doctor" 0 h doctor

finish
