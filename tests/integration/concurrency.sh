#!/usr/bin/env bash
# Concurrency tests of `hearth apply` against one root:
# (1) 20 processes apply the same VM name (no uid) at once: exactly one VM of
#     that name exists afterwards and no process reports a locked database;
# (2) 8 processes each apply a file of 1,000 distinct VMs at once: all 8,000
#     are there afterwards and none prints "database is locked";
# (3) two `hearth rm web` at once, 30 times: one removes it, the other fails
#     with a message naming 'web' as the user typed it, never the VM's uid.
# Prints "N passed, M failed"; exits non-zero on failure.
set -u

. "$(dirname "$0")/lib/assert.sh"

# ---- (1) one name, 20 writers ---------------------------------------------
ROOT="$TMP/one"
"$HEARTH" --root "$ROOT" sql "SELECT 1" >/dev/null || bad "creating the root"
cat >"$TMP/same.yaml" <<'YAML'
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: contested
spec:
  image:
    ociClaim:
      ref: weaveworks/ignite-ubuntu
YAML
pids=()
for i in $(seq 1 20); do
    "$HEARTH" --root "$ROOT" apply -f "$TMP/same.yaml" >"$TMP/same.$i.out" 2>"$TMP/same.$i.err" &
    pids+=($!)
done
status_fail=0
for p in "${pids[@]}"; do wait "$p" || status_fail=$((status_fail + 1)); done
if [ "$status_fail" -eq 0 ]; then ok; else bad "$status_fail of 20 same-name applies failed: $(cat "$TMP"/same.*.err)"; fi
if cat "$TMP"/same.*.err | grep -qi "locked"; then bad "a same-name apply reported a lock: $(cat "$TMP"/same.*.err)"; else ok; fi
created=$(cat "$TMP"/same.*.out | grep -c "vm/contested created")
if [ "$created" -eq 1 ]; then ok; else bad "'created' reported $created times, want 1"; fi
n=$("$HEARTH" --root "$ROOT" sql -o csv "SELECT count(*) FROM vms WHERE name = 'contested'" | tail -1 | tr -d '\r')
if [ "$n" = 1 ]; then ok; else bad "$n VMs named contested, want 1"; fi

# ---- (2) 8 writers x 1,000 VMs ---------------------------------------------
ROOT="$TMP/many"
"$HEARTH" --root "$ROOT" sql "SELECT 1" >/dev/null || bad "creating the root"
for w in $(seq 1 8); do
    awk -v w="$w" 'BEGIN {
        for (i = 1; i <= 1000; i++) {
            printf "---\napiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n"
            printf "  name: w%d-vm-%d\nspec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu\n", w, i
        }
    }' >"$TMP/many.$w.yaml"
done
start=$(date +%s)
pids=()
for w in $(seq 1 8); do
    "$HEARTH" --root "$ROOT" -q apply -f "$TMP/many.$w.yaml" >"$TMP/many.$w.out" 2>"$TMP/many.$w.err" &
    pids+=($!)
done
status_fail=0
for p in "${pids[@]}"; do wait "$p" || status_fail=$((status_fail + 1)); done
end=$(date +%s)
echo "8 x 1,000 VMs applied in $((end - start)) s"
if [ "$status_fail" -eq 0 ]; then ok; else bad "$status_fail of 8 bulk applies failed: $(cat "$TMP"/many.*.err)"; fi
if cat "$TMP"/many.*.err "$TMP"/many.*.out | grep -qi "database is locked"; then bad "a bulk apply printed 'database is locked'"; else ok; fi
n=$("$HEARTH" --root "$ROOT" sql -o csv "SELECT count(*) FROM vms" | tail -1 | tr -d '\r')
if [ "$n" = 8000 ]; then ok; else bad "$n VMs after 8 x 1,000, want 8000"; fi
n=$("$HEARTH" --root "$ROOT" sql -o csv "SELECT count(DISTINCT id) FROM vms" | tail -1 | tr -d '\r')
if [ "$n" = 8000 ]; then ok; else bad "$n distinct uids, want 8000"; fi

# ---- (3) two removals of one VM -------------------------------------------
ROOT="$TMP/rm"
sed 's/name: contested/name: web/' "$TMP/same.yaml" >"$TMP/web.yaml"
declare -A seen=()
for round in $(seq 1 30); do
    "$HEARTH" --root "$ROOT" -q apply -f "$TMP/web.yaml" >/dev/null || bad "round $round: apply"
    uid=$("$HEARTH" --root "$ROOT" sql -o csv "SELECT id FROM vms WHERE name = 'web'" | tail -1 | tr -d '\r')
    "$HEARTH" --root "$ROOT" rm web >"$TMP/rm.1.out" 2>"$TMP/rm.1.err" &
    p1=$!
    "$HEARTH" --root "$ROOT" rm web >"$TMP/rm.2.out" 2>"$TMP/rm.2.err" &
    p2=$!
    wait "$p1"
    s1=$?
    wait "$p2"
    s2=$?
    if [ $((s1 + s2)) -eq 1 ]; then ok; else bad "round $round: exit statuses $s1 and $s2, want one 0 and one 1"; fi
    loser=$(cat "$TMP/rm.1.err" "$TMP/rm.2.err")
    expect "round $round: the loser names 'web'" "$loser" "'web'"
    if grep -qF -- "$uid" <<<"$loser"; then bad "round $round: the loser names the uid: $loser"; else ok; fi
    seen["$loser"]=1
done
for m in "${!seen[@]}"; do echo "a losing rm said: $m"; done
n=$("$HEARTH" --root "$ROOT" sql -o csv "SELECT count(*) FROM vms" | tail -1 | tr -d '\r')
if [ "$n" = 0 ]; then ok; else bad "$n VMs left after the removals"; fi

finish
