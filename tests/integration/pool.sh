#!/usr/bin/env bash
# Pool and doctor CLI tests on the file driver: `pool init` (with its notice),
# `pool status`, `pool ls`, `doctor` exit statuses (0 clean, 3 repaired,
# 4 problems left), and the Pool kind in `export`. No command creates raw
# devices yet (images and VMs will), so device rows are made with the
# sqlite3 shell and files with truncate. Prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"

# Before init: the pool commands say what to do; doctor has nothing to compare.
check "status without pool" 1 h pool status
expect "status without pool" "$ERR" "hearth pool init"
check "doctor without pool" 0 h doctor

# Bad sizes name the flag or the size; nothing is created.
check "bad size" 2 h pool init --data-size 12XB
expect "bad size" "$ERR" "--data-size"
check "bad allocation" 1 h pool init --driver file --data-size 1GB --allocation-size 100KB
expect "bad allocation" "$ERR" "not a multiple of 64KB"
check "bad driver" 2 h pool init --driver zfs
expect "bad driver" "$ERR" "--driver"
# A size the filesystem cannot hold: both sizes for people, as `pool status` prints them.
check "too big" 1 h pool init --driver file --data-size 1PB
expect "too big: human size" "$ERR" "data size 1.0 PB does not fit the filesystem of"
# (quoted names left out: the pool's id is hex, and may hold seven digits in a row)
if sed "s/'[^']*'//g" <<<"$ERR" | grep -qE '[0-9]{7,}'; then bad "too big: raw bytes in: $ERR"; else ok; fi
check "still no pool" 1 h pool status

# Init without --driver prints the notice (dm-thin is not usable on the host).
check "init" 0 h pool init --data-size 1GB
expect "init notice" "$ERR" "using the file driver: "
expect "init output" "$OUT" "driver file, data 1GB"
check "second init" 1 h pool init --driver file
expect "second init" "$ERR" "a pool already exists (driver file"

check "status" 0 h pool status
expect "status driver" "$OUT" "file"
expect "status devices" "$OUT" "0 (Image 0, Resize 0, Kernel 0, VM 0)"
check "status json" 0 h pool status -o json
expect "status json" "$OUT" '"dataSize": "1GB"'
check "status yaml" 0 h pool status -o yaml
expect "status yaml" "$OUT" "driver: file"

check "doctor clean" 0 h doctor
expect "doctor clean" "$OUT" "no problems found"

# Two device rows and their files, as the engine would leave them.
DATA="$ROOT/pool/data"
sqlite3 "$ROOT/hearth.db" "INSERT INTO pool_device (id, type, parent, size, state, created) VALUES
    (0, 'Image', NULL, 8388608, 'active', 0), (1, 'VM', 0, 8388608, 'active', 0);" ||
    bad "sqlite3 insert"
truncate -s 8M "$DATA/0.img" "$DATA/1.img"
check "doctor with devices" 0 h doctor
check "ls" 0 h pool ls
expect "ls header" "$OUT" "ID   TYPE    PARENT   SIZE     OWNER   STATE"
expect "ls row" "$OUT" "1    VM      0        8.0 MB   -       active"
check "ls csv" 0 h pool ls -o csv
expect "ls csv" "$OUT" "1,VM,0,8388608,-,active"
check "ls json" 0 h pool ls -o json
expect "ls json" "$OUT" '"parent": "pool"'
check "status counts" 0 h pool status
expect "status counts" "$OUT" "2 (Image 1, Resize 0, Kernel 0, VM 1)"

# The Pool kind in export, its devices from the rows.
check "export" 0 h export pool
expect "export kind" "$OUT" "kind: Pool"
expect "export device" "$OUT" "type: VM"
expect "export parent" "$OUT" "parent: pool"

# Behind hearth's back: a device file deleted, an extra one, a stray.
rm "$DATA/0.img"
truncate -s 1M "$DATA/5.img"
: >"$DATA/7.img.tmp"
check "doctor finds" 4 h doctor
expect "doctor missing" "$OUT" "missing-device"
expect "doctor names it" "$OUT" "device 0"
expect "doctor orphan" "$OUT" "device 5"
expect "doctor stray" "$OUT" "7.img.tmp"
check "doctor json" 4 h doctor -o json
expect "doctor json" "$OUT" '"kind": "missing-device"'
check "doctor repair" 3 h doctor --repair
check "doctor again" 0 h doctor
[ ! -e "$DATA/5.img" ] && [ ! -e "$DATA/7.img.tmp" ] && ok || bad "repair left files"
check "ls after repair" 0 h pool ls -o csv
expect "child re-parented" "$OUT" "1,VM,pool,8388608,-,active"

# A pool whose data directory is gone: ps still works, the pool commands say why.
rm -rf "$DATA"
check "ps with broken pool" 0 h ps -a
check "status broken" 1 h pool status
expect "status broken" "$ERR" "$DATA"
check "doctor broken" 4 h doctor
expect "doctor broken" "$OUT" "pool-unusable"

finish
