#!/usr/bin/env bash
# A root that cannot be written: on a full filesystem (a small tmpfs filled
# to the last block), on a read-only mount (a read-only bind mount), and of
# another user (setpriv to nobody). The commands that only read (ps, ls,
# inspect, export, sql, doctor, pool ls) open the database read-only, print
# one notice, and show the state as recorded, also changes still in the WAL;
# doctor reports the filesystem as its finding; commands that write fail
# with what is wrong; and nothing changes. Needs root (mounts); runs in a
# mount namespace of its own, so nothing stays mounted.
set -u

if [ "${HEARTH_READONLY_NS:-}" != 1 ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
    exec env HEARTH_READONLY_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib/assert.sh"
need unshare util-linux
need setpriv util-linux
need python3 python3
[ "$(id -u)" -eq 0 ] || skip "mounting filesystems needs root"

NOTICE="is read-only ("
VM_YAML="$HEARTH_SRC/tests/data/vm.yaml"

# reads ROOT WHY: every reading command works on ROOT with one notice naming WHY.
reads() {
    local root=$1 why=$2 c
    for c in "ps -a" "vm ls" "image ls" "kernel ls" "inspect vm web" "vm inspect web" "export" \
        "export -o json vm" "sql -o csv SELECT(1)" "pool ls" "pool status"; do
        # shellcheck disable=SC2086
        check "$why: $c" 0 "$HEARTH" --root "$root" $c
        equal "$why: $c: one notice" "$(grep -c "$NOTICE" <<<"$ERR")" 1
        expect "$why: $c: notice" "$ERR" "hearth: the root '$root' is read-only ($why"
        expect "$why: $c: notice says what" "$ERR" "showing the state as recorded; recovery did not run"
    done
    check "$why: ps -a" 0 "$HEARTH" --root "$root" ps -a -q
    equal "$why: ps -a lists the vm" "$OUT" "$uid"
    check "$why: sql" 0 "$HEARTH" --root "$root" sql -o csv "SELECT name, state FROM vms"
    equal "$why: sql rows" "$(tr -d '\r' <<<"$OUT")" "$(printf 'name,state\nweb,Created')"
    check "$why: export" 0 "$HEARTH" --root "$root" export vm
    expect "$why: export has the vm" "$OUT" "name: web"
}

# make_root DIR: a root with a VM and a file pool; its id in $uid.
make_root() {
    "$HEARTH" --root "$1" -q pool init --driver file --data-size 1MB >/dev/null || bad "pool init in $1"
    "$HEARTH" --root "$1" -q apply -f "$VM_YAML" || bad "apply in $1"
    uid=$("$HEARTH" --root "$1" ps -a -q)
}

# ---- a full filesystem ---------------------------------------------------------
mkdir -p "$TMP/full"
mount -t tmpfs -o size=4m tmpfs "$TMP/full" || bad "mount tmpfs"
FULL="$TMP/full/root"
make_root "$FULL"
# What SQLite needs to open for writing (the -shm and -wal) is gone, as after
# a copy, and the filesystem is filled to its last block.
rm -f "$FULL/hearth.db-shm" "$FULL/hearth.db-wal"
dd if=/dev/zero of="$TMP/full/fill" bs=64k 2>/dev/null
dd if=/dev/zero of="$TMP/full/fill2" bs=1k 2>/dev/null
avail=$(df --output=avail "$TMP/full" | tail -n 1 | tr -d ' ')
equal "the filesystem is full" "$avail" 0
sum_before=$(cat "$FULL/hearth.db" | md5sum)
reads "$FULL" "its filesystem is full: 0 B free"
check "full: doctor" 4 "$HEARTH" --root "$FULL" doctor
expect "full: doctor finding" "$OUT" "filesystem-full"
expect "full: doctor names path and space" "$OUT" "the filesystem of '$FULL' is full (0 B free of 4.0 MB)"
equal "full: doctor, one notice" "$(grep -c "$NOTICE" <<<"$ERR")" 1
check "full: doctor -o json" 4 "$HEARTH" --root "$FULL" doctor -o json
expect "full: doctor json kind" "$OUT" '"kind": "filesystem-full"'
# Commands that write say why they cannot.
check "full: rm" 1 "$HEARTH" --root "$FULL" rm -f web
expect "full: rm says the disk is full" "$ERR" "No space left on device"
reject "full: rm, no notice" "$ERR" "$NOTICE"
check "full: doctor --repair" 1 "$HEARTH" --root "$FULL" doctor --repair
expect "full: doctor --repair says the disk is full" "$ERR" "No space left on device"
equal "full: the database is unchanged" "$(cat "$FULL/hearth.db" | md5sum)" "$sum_before"
# With space again, the root is written as before, and doctor is clean.
rm -f "$TMP/full/fill" "$TMP/full/fill2"
check "space again: ps" 0 "$HEARTH" --root "$FULL" ps -a -q
reject "space again: no notice" "$ERR" "$NOTICE"
check "space again: doctor" 0 "$HEARTH" --root "$FULL" doctor
# A full filesystem under a root whose -shm is in place: the read-write open
# works (nothing to allocate), and doctor still reports the full filesystem.
dd if=/dev/zero of="$TMP/full/fill" bs=4k 2>/dev/null
check "full, -shm in place: ps" 0 "$HEARTH" --root "$FULL" ps -a -q
equal "full, -shm in place: ps lists the vm" "$OUT" "$uid"
check "full, -shm in place: doctor" 4 "$HEARTH" --root "$FULL" doctor
expect "full, -shm in place: doctor finding" "$OUT" "filesystem-full"
umount "$TMP/full"

# ---- a read-only filesystem ------------------------------------------------------
SRC="$TMP/src/root"
mkdir -p "$TMP/src" "$TMP/ro"
make_root "$SRC"
mount --bind "$TMP/src" "$TMP/ro" && mount -o remount,bind,ro "$TMP/ro" || bad "read-only bind mount"
RO="$TMP/ro/root"
equal "the -wal and -shm are kept" "$(ls "$SRC" | grep -c 'hearth.db-[ws][ah][lm]')" 2
sum_before=$(cat "$SRC/hearth.db" | md5sum)
reads "$RO" "it is on a read-only filesystem"
check "ro: doctor" 4 "$HEARTH" --root "$RO" doctor
expect "ro: doctor finding" "$OUT" "filesystem-read-only"
expect "ro: doctor names the root" "$OUT" "the root '$RO' is on a read-only filesystem"
check "ro: rm" 1 "$HEARTH" --root "$RO" rm -f web
expect "ro: rm names the filesystem" "$ERR" "cannot write the database '$RO/hearth.db': it is on a read-only filesystem; use --root DIR for a root on a writable one"
check "ro: create" 1 "$HEARTH" --root "$RO" create --name other busybox
expect "ro: create names the filesystem" "$ERR" "read-only filesystem"
# Without the -wal and -shm (a copy, an older hearth): the file alone is read.
mv "$SRC/hearth.db-wal" "$SRC/hearth.db-shm" "$TMP/"
reads "$RO" "it is on a read-only filesystem"
equal "ro: no -shm was made" "$(ls "$SRC")" "$(printf 'hearth.db\npool\npool.lock')"
mv "$TMP/hearth.db-wal" "$TMP/hearth.db-shm" "$SRC/"
# A change left in the WAL by a process that died after committing is read.
python3 - "$SRC/hearth.db" <<'EOF' || bad "writing into the WAL"
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("UPDATE vm SET cpus = 3")
os._exit(0)  # no checkpoint, as a process that was killed
EOF
check "ro: a change in the WAL" 0 "$HEARTH" --root "$RO" sql -o csv "SELECT cpus FROM vms"
equal "ro: the WAL's change is shown" "$(tail -n 1 <<<"$OUT" | tr -d '\r')" 3
# Without the -shm it cannot be read: said, instead of showing the state before it.
mv "$SRC/hearth.db-shm" "$TMP/"
check "ro: WAL without -shm" 1 "$HEARTH" --root "$RO" ps -a
expect "ro: WAL without -shm, what" "$ERR" "has changes in '$RO/hearth.db-wal' that SQLite reads only through '$RO/hearth.db-shm', which is missing; the root '$RO' cannot be written (it is on a read-only filesystem)"
mv "$TMP/hearth.db-shm" "$SRC/"
# A schema that needs a migration cannot get it here.
cp -a "$SRC" "$TMP/src/old"
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1], isolation_level=None).execute("PRAGMA user_version = 1")' \
    "$TMP/src/old/hearth.db" || bad "setting an old schema"
check "ro: old schema" 1 "$HEARTH" --root "$TMP/ro/old" ps
expect "ro: old schema message" "$ERR" "has schema version 1 and this hearth needs"
expect "ro: old schema, why" "$ERR" "the root '$TMP/ro/old' cannot be written (it is on a read-only filesystem)"
umount "$TMP/ro"
equal "ro: the database is unchanged" "$(cat "$SRC/hearth.db" | md5sum)" "$sum_before"

# ---- another user's root -----------------------------------------------------------
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$HEARTH" "$@"; }
NOBODY=$(getent passwd 65534 | cut -d: -f1)
chmod 0755 "$TMP" "$TMP/src" "$SRC"
rm -f "$SRC/pool.lock"
# Readable by all (made so by hand): shown read-only, the notice names the user.
chmod 0644 "$SRC/hearth.db" "$SRC/hearth.db-wal" "$SRC/hearth.db-shm"
check "other user: ps" 0 as_nobody --root "$SRC" ps -a -q
equal "other user: ps lists the vm" "$OUT" "$uid"
expect "other user: notice" "$ERR" "hearth: the root '$SRC' is read-only (user '$NOBODY' may not write '$SRC/hearth.db')"
check "other user: sql" 0 as_nobody --root "$SRC" sql -o csv "SELECT cpus FROM vms"
equal "other user: sql sees the WAL" "$(tail -n 1 <<<"$OUT" | tr -d '\r')" 3
check "other user: rm" 1 as_nobody --root "$SRC" rm -f web
expect "other user: rm names the owner" "$ERR" "cannot write the database '$SRC/hearth.db': it belongs to user 'root'"
# Not readable (as hearth makes it, 0600): the owner message, no notice.
chmod 0600 "$SRC/hearth.db"
check "other user, private database: ps" 1 as_nobody --root "$SRC" ps
expect "other user, private database: owner named" "$ERR" "cannot write the database '$SRC/hearth.db': it belongs to user 'root' (mode 0600)"
reject "other user, private database: no notice" "$ERR" "$NOTICE"
# The database readable but not its -shm: not every file can be read, so no fallback.
chmod 0644 "$SRC/hearth.db"
chmod 0600 "$SRC/hearth.db-shm"
check "other user, private -shm: ps" 1 as_nobody --root "$SRC" ps
expect "other user, private -shm: owner named" "$ERR" "it belongs to user 'root'"

finish
