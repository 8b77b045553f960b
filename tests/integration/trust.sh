#!/usr/bin/env bash
# A database that someone else wrote: rows put in with sqlite3 behind
# hearth's back, as a user who could replace hearth.db would write them:
#
# - a VM whose uid is `../../canary` (paths built from it would leave the
#   root), recorded running with the pids of a process that is not hearth's;
# - a VM whose name holds '/';
# - a VM with a good uid and name, recorded running, whose monitor and VMM
#   pids and start times are those of a `sleep` this test started (anyone
#   can read both from /proc);
# - an open kernel import of uid `../../canary` whose owner is dead, which
#   recovery would clean up by removing <root>/kernel/<uid>.
#
# kill, stop, rm -f, start, logs, ps, attach and doctor --repair must never
# signal the sleep nor touch the canary directory outside the root; doctor
# reports each bad row as corrupt (table, key, field) and repairs nothing;
# the commands name the corrupt row. Prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"
need sqlite3 sqlite3

DB="$ROOT/hearth.db"
raw() { sqlite3 -batch "$DB" "$@"; }
# start_time PID: field 22 of /proc/PID/stat (after the command name).
start_time() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
alive() { [ -d "/proc/$1" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]; }

vm_doc() {
    cat <<EOF
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: $1
spec:
  image:
    ociClaim:
      type: Docker
      ref: localhost/trust-test:1
  cpus: 1
  memory: 128MB
  diskSize: 1GB
EOF
}

# The victim: a process of this user, running before any of it.
sleep 600 &
VICTIM=$!
VSTART=$(start_time "$VICTIM")
trap 'kill "$VICTIM" 2>/dev/null; tmp_cleanup' EXIT
# The canary: what '../../canary' reaches from <root>/vm/ and <root>/kernel/.
mkdir -p "$TMP/canary"
echo keep >"$TMP/canary/file"

for n in evil slashed victim; do
    vm_doc "$n" >"$TMP/$n.yaml"
    check "apply $n" 0 h apply -f "$TMP/$n.yaml"
done
VID=$(raw "SELECT uid FROM vm WHERE name = 'victim'")
# As in a root that has run VMs: '../../canary' below these is $TMP/canary.
mkdir -p "$ROOT/vm" "$ROOT/kernel" "$ROOT/tmp"
# Another process of this user, dead by now: the owner of the forged import.
sh -c 'exit 0' &
DEAD=$!
wait "$DEAD"

raw <<EOF
PRAGMA foreign_keys = OFF;
UPDATE vm SET uid = '../../canary', state = 'Running' WHERE name = 'evil';
UPDATE vm SET name = 'a/b' WHERE name = 'slashed';
INSERT INTO vm_runtime (uid, vmm, monitor_pid, monitor_start, vmm_pid, vmm_start, started)
    VALUES ('../../canary', 'qemu', $VICTIM, $VSTART, $VICTIM, $VSTART, 1700000000);
INSERT INTO journal (op, kind, object_uid, step, owner_pid, owner_start, started, updated)
    VALUES ('kernel.import', 'Kernel', '../../canary', 'files', $DEAD, 1, 1700000000, 1700000000);
EOF
# victim-VM: recorded running, the sleep as its monitor and VMM (good values, a stranger's process).
forge_running() {
    raw "UPDATE vm SET state = 'Running' WHERE uid = '$VID';
         INSERT OR REPLACE INTO vm_runtime (uid, vmm, monitor_pid, monitor_start, vmm_pid,
             vmm_start, started) VALUES ('$VID', 'firecracker', $VICTIM, $VSTART, $VICTIM,
             $VSTART, 1700000000);"
}
untouched() {
    if alive "$VICTIM"; then ok; else bad "$1: the victim process $VICTIM was signalled"; fi
    if [ "$(cat "$TMP/canary/file" 2>/dev/null)" = keep ]; then ok; else
        bad "$1: the canary outside the root was touched"
    fi
}

# ---- the VM whose uid leaves the root --------------------------------------------
for c in "kill evil" "stop evil" "rm -f evil" "start evil" "logs evil" "attach evil" \
    "inspect vm evil"; do
    # shellcheck disable=SC2086
    check "$c" 1 h $c
    expect "$c: names the row" "$ERR" "row \"../../canary\" of table 'vm'"
    expect "$c: names the field" "$ERR" "metadata.uid: \"../../canary\" is not a valid uid"
    expect "$c: says what to do" "$ERR" "hearth doctor"
    untouched "$c"
done

# ---- the VM whose name holds '/' ----------------------------------------------
check "inspect a/b" 1 h inspect vm a/b
expect "a/b: names the field" "$ERR" "metadata.name: \"a/b\" is not a valid name"
untouched "inspect a/b"

# ---- listings leave the corrupt rows out, saying so --------------------------------
check "ps -a" 0 h ps -a
reject "ps -a: no evil" "$OUT" "evil"
reject "ps -a: no a/b" "$OUT" "a/b"
expect "ps -a: victim listed" "$OUT" "victim"
expect "ps -a: warns" "$ERR" "is corrupt and was left out"
untouched "ps -a"

# ---- a running VM whose recorded processes are not its own -------------------------
for c in "kill victim" "stop victim" "logs victim" "ps" "start victim"; do
    forge_running
    # shellcheck disable=SC2086
    h $c >"$TMP/out" 2>"$TMP/err"
    untouched "$c"
    # Every command first finds the VM is not running: its monitor is no monitor.
    equal "$c: recorded stopped" "$(raw "SELECT state FROM vm WHERE uid = '$VID'")" "Stopped"
    equal "$c: why" "$(raw "SELECT exit_reason FROM vm_runtime WHERE uid = '$VID'")" \
        "the monitor died"
done
forge_running
check "rm -f victim" 0 h rm -f victim
untouched "rm -f victim"
equal "victim removed" "$(raw "SELECT count(*) FROM vm WHERE uid = '$VID'")" "0"

# ---- doctor reports, and repairs nothing ----------------------------------------------
check "doctor" 4 h doctor
expect "doctor: uid" "$OUT" "row \"../../canary\" of table 'vm': metadata.uid: \"../../canary\""
expect "doctor: name" "$OUT" "metadata.name: \"a/b\" is not a valid name"
expect "doctor: runtime" "$OUT" "row \"../../canary\" of table 'vm_runtime': uid:"
expect "doctor: journal" "$OUT" "of table 'journal': object_uid: \"../../canary\""
expect "doctor: nothing else" "$OUT" "doctor compared nothing else and repaired nothing"
check "doctor -o json" 4 h doctor -o json
CORRUPT=$(python3 -c 'import json,sys; print(sum(f["kind"] == "corrupt" for f in json.load(sys.stdin)["findings"]))' <<<"$OUT")
equal "doctor: four rows and the database" "$CORRUPT" "5"
check "doctor --repair" 4 h doctor --repair
expect "doctor --repair: needs a person" "$OUT" "needs a person"
untouched "doctor --repair"
equal "rows kept" "$(raw "SELECT count(*) FROM vm WHERE uid = '../../canary' OR name = 'a/b'")" "2"
equal "journal row kept" "$(raw "SELECT count(*) FROM journal WHERE finished IS NULL")" "1"

# ---- the rows gone, doctor is clean again -------------------------------------------
raw "DELETE FROM vm_runtime WHERE uid = '../../canary'; DELETE FROM vm WHERE uid = '../../canary';
     DELETE FROM vm WHERE name = 'a/b'; DELETE FROM journal WHERE object_uid = '../../canary';"
check "doctor after" 0 h doctor
expect "doctor after" "$OUT" "no problems found"
untouched "the end"

finish
