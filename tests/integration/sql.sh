#!/usr/bin/env bash
# hearth sql against docs/sql.md and its limits: every statement, PRAGMA and
# function that docs/sql.md ("What may run") allows runs, every one it
# refuses is refused, and every PRAGMA SQLite knows is allowed exactly when
# the table there lists it; the time limit (--timeout) stops an endless
# query; values and functions past the limits are refused; and the peak
# memory of each output format does not grow with the number of rows.
set -u

. "$(dirname "$0")/lib/assert.sh"
need /usr/bin/time time
SQLMD="$HEARTH_SRC/docs/sql.md"

check "root" 0 h sql "SELECT 1"

# ---- docs/sql.md: what may run ---------------------------------------------
# doc_item LABEL: the backticked words of the list item starting "- **LABEL", one a line.
doc_item() {
    awk -v label="- **$1" '
        index($0, label) == 1 { on = 1; print; next }
        on && (/^- / || /^$/) { exit }
        on { print }' "$SQLMD" | grep -o '`[^`]*`' | tr -d '`'
}
# The PRAGMA table: "name argument" lines (argument empty when it takes none).
doc_pragmas() {
    awk -F'|' '/^\| PRAGMA \| argument \|/ { on = 1; next }
        on && !/^\|/ { exit }
        on && $2 ~ /`/ { gsub(/[` ]/, "", $2); print $2 " " $3 }' "$SQLMD"
}

# An example of each statement kind the docs name.
example() {
    case "$1" in
    SELECT) echo "SELECT count(*) FROM vms" ;;
    VALUES) echo "VALUES (1), (2)" ;;
    WITH) echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT x FROM c" ;;
    "EXPLAIN QUERY PLAN") echo "EXPLAIN QUERY PLAN SELECT * FROM vms" ;;
    EXPLAIN) echo "EXPLAIN SELECT * FROM vms" ;;
    INSERT) echo "INSERT INTO journal (op) VALUES ('x')" ;;
    UPDATE) echo "UPDATE vm SET cpus = 8" ;;
    DELETE) echo "DELETE FROM vm" ;;
    REPLACE) echo "REPLACE INTO journal (op) VALUES ('x')" ;;
    CREATE) echo "CREATE TABLE t (a)" ;;
    DROP) echo "DROP VIEW vms" ;;
    ALTER) echo "ALTER TABLE vm ADD COLUMN z" ;;
    VACUUM) echo "VACUUM" ;;
    REINDEX) echo "REINDEX" ;;
    ANALYZE) echo "ANALYZE" ;;
    ATTACH) echo "ATTACH ':memory:' AS other" ;;
    DETACH) echo "DETACH main" ;;
    BEGIN) echo "BEGIN" ;;
    COMMIT) echo "COMMIT" ;;
    END) echo "END" ;;
    ROLLBACK) echo "ROLLBACK" ;;
    SAVEPOINT) echo "SAVEPOINT a" ;;
    RELEASE) echo "RELEASE a" ;;
    load_extension) echo "SELECT load_extension('/nonexistent')" ;;
    fts3_tokenizer) echo "SELECT fts3_tokenizer('simple')" ;;
    "SELECT "* | "PRAGMA "*) echo "$1" ;; # a whole statement given as the example
    *) return 1 ;;
    esac
}

allowed=$(doc_item "Allowed:")
refused=$(doc_item "Refused statements:")
functions=$(doc_item "Refused functions:")
pragmas=$(doc_pragmas)
# The docs name at least these; an empty extract means the section moved.
expect "docs: allowed" "$allowed" "SELECT"
expect "docs: refused" "$refused" "DELETE"
expect "docs: functions" "$functions" "fts3_tokenizer"
expect "docs: pragmas" "$pragmas" "journal_mode"

while IFS= read -r w; do
    if ! sql=$(example "$w"); then
        bad "docs/sql.md allows '$w': add an example for it to tests/integration/sql.sh"
        continue
    fi
    check "allowed: $sql" 0 h sql "$sql"
done <<<"$allowed"

before=$(h sql -o csv "SELECT count(*) FROM journal; PRAGMA schema_version")
while IFS= read -r w; do
    if ! sql=$(example "$w"); then
        bad "docs/sql.md refuses '$w': add an example for it to tests/integration/sql.sh"
        continue
    fi
    check "refused: $sql" 1 h sql "SELECT 1; $sql"
    expect "refused: $sql: message" "$ERR" "hearth sql is read-only"
    equal "refused: $sql: nothing ran" "$OUT" ""
done <<<"$(printf '%s\n%s\n' "$refused" "$functions")"
equal "refused: nothing changed" "$(h sql -o csv "SELECT count(*) FROM journal; PRAGMA schema_version")" "$before"

# Every PRAGMA SQLite knows: allowed exactly when the table lists it.
check "pragma_list" 0 h sql -o csv "PRAGMA pragma_list"
known=$(tail -n +2 <<<"$OUT" | tr -d '\r')
n_known=$(grep -c . <<<"$known")
if [ "$n_known" -gt 40 ]; then ok; else bad "PRAGMA pragma_list gave $n_known names"; fi
while read -r name arg; do
    if grep -qx "$name" <<<"$known"; then ok; else bad "docs/sql.md lists PRAGMA $name, which SQLite does not know"; fi
done <<<"$pragmas"
while IFS= read -r p; do
    line=$(grep "^$p " <<<"$pragmas")
    if [ -z "$line" ]; then
        check "PRAGMA $p (not in docs/sql.md) refused" 1 h sql "PRAGMA $p"
        expect "PRAGMA $p refused: message" "$ERR" "is refused"
        continue
    fi
    case "$line" in
    *"a table or view"*) sql="PRAGMA $p(vms)" ;;
    *"a table"*) sql="PRAGMA $p(vm)" ;;
    *"an index"*) sql="PRAGMA $p(sqlite_autoindex_vm_1)" ;;
    *) sql="PRAGMA $p" ;;
    esac
    check "$sql (in docs/sql.md) allowed" 0 h sql "$sql"
    if [ "$sql" = "PRAGMA $p" ]; then
        check "PRAGMA $p = 1 refused" 1 h sql "PRAGMA $p = 1"
        expect "PRAGMA $p = 1 refused: message" "$ERR" "is refused"
    fi
done <<<"$known"
check "journal_mode reads" 0 h sql -o csv "PRAGMA journal_mode"
equal "journal_mode is wal" "$(tail -n 1 <<<"$OUT" | tr -d '\r')" "wal"
check "table_info of a view" 0 h sql -o csv "SELECT name FROM pragma_table_info('vms') WHERE name = 'state'"
equal "table_info of a view: column" "$(tail -n 1 <<<"$OUT" | tr -d '\r')" "state"

# ---- limits ------------------------------------------------------------------
# An endless query stops at --timeout (`timeout` only catches a hang).
endless="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
check "--timeout 1, endless query" 1 timeout 300 "$HEARTH" --root "$ROOT" sql --timeout 1 "$endless"
expect "timeout message" "$ERR" "hearth: error: sql: the query ran past the 1 s limit (statement 'WITH RECURSIVE"
expect "timeout: what to do" "$ERR" "give more time with --timeout SECONDS (0 for no limit)"
check "--timeout 0 is no limit" 0 h sql --timeout 0 "SELECT 1"
check "--timeout not a number" 2 h sql --timeout soon "SELECT 1"
expect "--timeout usage" "$ERR" "--timeout: 'soon' is not a number"
check "--timeout negative" 2 h sql --timeout -1 "SELECT 1"
# One value: 16 MiB.
check "a billion-byte blob" 1 timeout 300 "$HEARTH" --root "$ROOT" sql "SELECT randomblob(1000000000)"
expect "value limit message" "$ERR" "makes a value larger than 16 MiB, the limit for one value"
check "16 MiB exactly" 0 h sql -o csv "SELECT length(randomblob(16777216))"
equal "16 MiB value" "$(tail -n 1 <<<"$OUT" | tr -d '\r')" "16777216"
# One row: 64 MiB as printed.
check "a row past 64 MiB" 1 h sql "SELECT zeroblob(12000000) a, zeroblob(12000000) b, zeroblob(12000000) c"
expect "row limit message" "$ERR" "gives a row larger than 64 MiB, the limit for one row"
# No pointer from fts3_tokenizer, nor any output.
check "fts3_tokenizer" 1 h sql -o csv "SELECT hex(fts3_tokenizer('simple'))"
expect "fts3_tokenizer refused" "$ERR" "fts3_tokenizer is not allowed"
equal "fts3_tokenizer printed nothing" "$OUT" ""

# ---- every format streams: peak memory flat in the number of rows -----------
# peak FORMAT N: the peak RSS (KiB) of printing N rows in FORMAT.
# (Under AddressSanitizer, freed memory would otherwise wait in its quarantine.)
peak() {
    local q="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $2)
             SELECT x, 'name-' || x AS name, x * 0.5 AS half, NULL AS z, x'00ff' AS b FROM c"
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" /usr/bin/time -f '%M' -o "$TMP/rss" \
        "$HEARTH" --root "$ROOT" sql --timeout 0 -o "$1" "$q" >"$TMP/rows" || bad "sql -o $1 of $2 rows"
    local lines
    lines=$(wc -l <"$TMP/rows")
    if [ "$lines" -gt "$2" ]; then ok; else bad "sql -o $1 of $2 rows printed $lines lines"; fi
    tail -n 1 "$TMP/rss"
}
for f in table csv json yaml; do
    small=$(peak "$f" 10000)
    large=$(peak "$f" 200000)
    echo "peak RSS, -o $f: 10,000 rows $small KiB, 200,000 rows $large KiB"
    if [ $((large - small)) -lt 16384 ]; then ok; else bad "-o $f: peak RSS grew from $small to $large KiB"; fi
done
# The streamed JSON is what jq reads: one array per statement.
check "json two statements" 0 h sql -o json "SELECT 1 AS a UNION ALL SELECT 2; SELECT 'x' AS b WHERE 0"
equal "json stream" "$(tr -d ' \n' <<<"$OUT")" '[{"a":1},{"a":2}][]'

finish
