#!/usr/bin/env bash
# `hearth apply` of many documents, read and applied one at a time in one
# transaction:
# (1) 3,000 VMs whose last document is bad (a field the engine refuses; a
#     YAML syntax error) change nothing, and the error names the file and document 3000
#     (for the syntax error: its line);
# (2) the same VMs from a pipe on stdin all apply, every result line printed
#     in order, and nothing is left under the root's tmp/;
# (3) `hearth export -o json` of them (one List) applies into a new root;
# (4) memory does not grow with the number of documents: the peak RSS of
#     applying 8,000 VMs is within 8 MiB of that of 2,000 (reading the whole
#     file first grew it by about 25 MiB).
# Prints "N passed, M failed"; exits non-zero on failure.
set -u

. "$(dirname "$0")/lib/assert.sh"

# gen N [FIRST]: N VM documents named vm-FIRST...
gen() {
    awk -v n="$1" -v first="${2:-0}" 'BEGIN {
      for (i = first; i < first + n; i++) {
        printf "---\napiVersion: ignite.weave.works/v1alpha1\nkind: VM\n"
        printf "metadata:\n  name: vm-%05d\n  labels:\n    team: t%d\n", i, i % 7
        printf "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu:latest\n"
        printf "  cpus: %d\n  memory: %dMB\n", 1 + i % 4, 512 * (1 + i % 3)
        printf "  ports:\n  - hostPort: %d\n    vmPort: 80\n", 10000 + i % 50000
      }
    }'
}
count() { h ps -a -q | grep -c .; }

# ---- (1) a bad last document changes nothing ---------------------------------
gen 2999 >"$TMP/bad.yaml"
cat >>"$TMP/bad.yaml" <<'YAML'
---
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: last
spec:
  networkMode: warp
  image:
    ociClaim:
      ref: x
YAML
check "apply bad last" 1 h apply -f "$TMP/bad.yaml"
expect "bad last names file and document" "$ERR" "$TMP/bad.yaml: document 3000: vm 'last'"
expect "bad last names field" "$ERR" "spec.networkMode"
equal "nothing applied after a bad last document" "$(count)" 0
equal "no result line printed" "$OUT" ""

gen 2999 >"$TMP/syntax.yaml"
printf -- '---\nkind: VM\nmetadata:\n  name: [oops\n' >>"$TMP/syntax.yaml"
line=$(($(wc -l <"$TMP/syntax.yaml") + 1))
check "apply syntax error last" 1 h apply -f "$TMP/syntax.yaml"
expect "syntax error names file and line" "$ERR" "$TMP/syntax.yaml:$line:"
equal "nothing applied after a syntax error" "$(count)" 0

# ---- (2) stdin, every line of output -----------------------------------------
gen 3000 >"$TMP/good.yaml"
# shellcheck disable=SC2002 # a pipe, not a file, on stdin
check "apply from a pipe" 0 bash -c 'cat "$1" | "$2" --root "$3" apply -f -' _ "$TMP/good.yaml" \
    "$HEARTH" "$ROOT"
equal "all applied" "$(count)" 3000
equal "a line per document" "$(grep -c ' created$' <<<"$OUT")" 3000
equal "first line" "$(head -1 <<<"$OUT")" "vm/vm-00000 created"
equal "last line" "$(tail -1 <<<"$OUT")" "vm/vm-02999 created"
equal "lines in order" "$(sed 's#^vm/##; s# created$##' <<<"$OUT" | sort -c && echo sorted)" sorted
equal "nothing left in tmp" "$(find "$ROOT/tmp" -mindepth 1 2>/dev/null)" ""
check "apply again" 0 h apply -f "$TMP/good.yaml"
equal "unchanged" "$(grep -c ' unchanged$' <<<"$OUT")" 3000

# ---- (3) a JSON List ------------------------------------------------------------
check "export json" 0 h export -o json vm
printf '%s\n' "$OUT" >"$TMP/list.json"
check "apply json list" 0 "$HEARTH" --root "$TMP/root2" -q apply -f "$TMP/list.json"
equal "json list applied" "$("$HEARTH" --root "$TMP/root2" ps -a -q | grep -c .)" 3000
check "export json again" 0 "$HEARTH" --root "$TMP/root2" export -o json vm
if [ "$OUT" = "$(cat "$TMP/list.json")" ]; then ok; else bad "json list round trip differs"; fi

# ---- (4) memory flat in the number of documents --------------------------------
gen 2000 >"$TMP/2k.yaml"
gen 8000 >"$TMP/8k.yaml"
# peak N: the peak RSS (KiB) of applying N thousand VMs into a new root.
# (Under AddressSanitizer, freed memory would otherwise wait in its quarantine.)
peak() {
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" /usr/bin/time -f '%M' -o "$TMP/rss" \
        "$HEARTH" --root "$TMP/rss$1" -q apply -f "$TMP/$1k.yaml" || bad "apply of $1k"
    tail -n 1 "$TMP/rss"
}
small=$(peak 2)
large=$(peak 8)
echo "peak RSS: 2,000 VMs $small KiB, 8,000 VMs $large KiB"
if [ $((large - small)) -lt 8192 ]; then ok; else bad "peak RSS grew from $small to $large KiB"; fi

finish
