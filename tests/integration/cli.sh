#!/usr/bin/env bash
# CLI tests: run the built hearth binary ($HEARTH) against temporary roots and
# check its output, exit codes and error messages. Examples come from
# $HEARTH_SRC/examples. Prints "N passed, M failed"; exits non-zero on failure.
set -u

. "$(dirname "$0")/lib/assert.sh"
EX="$HEARTH_SRC/examples"

# ---- version and help ----------------------------------------------------
check "version" 0 "$HEARTH" version
expect "version line" "$OUT" "hearth version 0.1.0"
expect "version sqlite" "$OUT" "sqlite version 3."
expect "version jansson" "$OUT" "jansson version"
expect "version libyaml" "$OUT" "libyaml version"
expect "version schema" "$OUT" "schema version"
check "--version" 0 "$HEARTH" --version
expect "--version line" "$OUT" "hearth version 0.1.0"
check "--help" 0 "$HEARTH" --help
for c in apply export inspect ps rm rmi rmk sql version "image ls" "kernel ls" "vm ls"; do
    expect "--help lists $c" "$OUT" "  $c "
done
for c in apply export inspect ps rm rmi rmk sql version "image ls" "image rm" "kernel ls" \
    "kernel rm" "vm ls" "vm ps" "vm rm" "vm inspect"; do
    # shellcheck disable=SC2086
    check "$c --help" 0 "$HEARTH" $c --help
    expect "$c --help usage" "$OUT" "Usage: hearth $c"
done
check "ps -h" 0 "$HEARTH" ps -h
expect "ps -h flags" "$OUT" "--filter KEY=VALUE"

# ---- usage errors exit 2 ---------------------------------------------------
check "no command" 2 "$HEARTH"
check "unknown command" 2 "$HEARTH" --root "$ROOT" frobnicate
expect "unknown command message" "$ERR" "hearth: error: unknown command 'frobnicate'"
check "unknown flag" 2 h ps --bogus
expect "unknown flag message" "$ERR" "unknown flag '--bogus'"
check "unknown short flag" 2 h ps -z
check "too many args" 2 h ps extra
expect "too many args message" "$ERR" "'hearth ps' takes no arguments"
check "inspect too few" 2 h inspect vm
check "rm no args" 2 h rm
check "apply without -f" 2 h apply
check "bad format" 2 h ps -o xml
expect "bad format message" "$ERR" "unknown output format 'xml'"
check "bad filter" 2 h ps --filter color=red
check "filter without =" 2 h ps --filter name
check "bad log level" 2 "$HEARTH" --log-level loud version
check "group without a default" 2 h pool
expect "group help" "$ERR" "Usage: hearth pool COMMAND"
check "unknown subcommand" 2 h image frob
check "flag missing value" 2 h ps -o
check "inspect bad kind" 2 h inspect widget x
check "export bad kind" 2 h export widgets
# Usage errors print the message once, as hearth: error:
count=$(h ps --bogus 2>&1 | grep -c '^hearth: error:')
equal "usage error printed once" "$count" 1

# ---- apply ---------------------------------------------------------------
check "apply vm.yaml" 0 h apply -f "$EX/vm.yaml"
equal "apply vm.yaml output" "$OUT" "vm/my-vm created"
check "apply vm.yaml again" 0 h apply -f "$EX/vm.yaml"
equal "apply unchanged" "$OUT" "vm/my-vm unchanged"
check "apply all.yaml" 0 h apply -f "$EX/all.yaml"
expect "apply image" "$OUT" "image/weaveworks/ignite-ubuntu:latest created"
expect "apply kernel" "$OUT" "kernel/weaveworks/ignite-kernel:4.19.47 created"
expect "apply web-1" "$OUT" "vm/web-1 created"
expect "apply db-1" "$OUT" "vm/db-1 created"
sed 's/cpus: 2/cpus: 4/' "$EX/vm.yaml" >"$TMP/vm4.yaml"
check "apply configured" 0 h apply -f - <"$TMP/vm4.yaml"
equal "apply configured output" "$OUT" "vm/my-vm configured"
check "apply quiet" 0 h -q apply -f "$TMP/vm4.yaml"
equal "apply quiet output" "$OUT" ""

# ---- ps ----------------------------------------------------------------
check "ps" 0 h ps
equal "ps shows only running (none)" "$(echo "$OUT" | wc -l)" 1
expect "ps header" "$OUT" "VM ID"
check "ps -a" 0 h ps -a
header=$(echo "$OUT" | head -1)
for col in "VM ID" IMAGE KERNEL SIZE CPUS MEMORY CREATED STATUS IPS PORTS NAME; do
    expect "ps -a column $col" "$header" "$col"
done
equal "ps -a rows" "$(echo "$OUT" | wc -l)" 4
myvm=$(echo "$OUT" | grep 'my-vm$')
expect "ps -a my-vm image" "$myvm" "weaveworks/ignite-ubuntu:latest"
expect "ps -a my-vm memory" "$myvm" "1.0 GB"
expect "ps -a my-vm size" "$myvm" "4.0 GB"
expect "ps -a my-vm created" "$myvm" "s ago"
expect "ps -a my-vm status" "$myvm" "Created"
expect "ps -a my-vm ports" "$myvm" "0.0.0.0:8080->80/tcp"
# Columns are aligned: NAME starts at the same offset in every line.
offsets=$(echo "$OUT" | awk '{ print index($0, "NAME") ? index($0, "NAME") : index($0, $NF) }' | sort -u | wc -l)
equal "ps -a aligned" "$offsets" 1
check "ps -a -q" 0 h ps -a -q
equal "ps -a -q count" "$(echo "$OUT" | wc -l)" 3
if echo "$OUT" | grep -qvE '^[0-9a-f]{16}$'; then bad "ps -q prints only ids: $OUT"; else ok; fi
check "ps -aq combined" 0 h ps -aq
equal "ps -aq count" "$(echo "$OUT" | wc -l)" 3
check "ps -a -o wide" 0 h ps -a -o wide
expect "wide NETWORK" "$OUT" "NETWORK"
expect "wide CMDLINE" "$OUT" "console=ttyS0"
check "ps -a -o json" 0 h ps -a -o json
expect "json List" "$OUT" '"kind": "List"'
expect "json items" "$OUT" '"items"'
check "ps -a -o yaml" 0 h ps -a -o yaml
equal "yaml documents" "$(echo "$OUT" | grep -c '^kind: VM')" 3
check "ps -a -o csv" 0 h ps -a -o csv
first=$(echo "$OUT" | head -1 | tr -d '\r')
equal "csv header" "$first" "VM ID,IMAGE,KERNEL,SIZE,CPUS,MEMORY,CREATED,STATUS,IPS,PORTS,NAME"
equal "csv rows" "$(echo "$OUT" | wc -l)" 4
if printf '%s\n' "$OUT" | head -1 | grep -q $'\r$'; then ok; else bad "csv lines end in CRLF"; fi
check "ps filter name" 0 h ps -a --filter name=web
equal "filter name rows" "$(echo "$OUT" | wc -l)" 2
expect "filter name web-1" "$OUT" "web-1"
check "ps filter label" 0 h ps -a -q --filter label=app=web
equal "filter label=app=web" "$(echo "$OUT" | wc -l)" 2
check "ps filter label key" 0 h ps -a -q --filter label=app
equal "filter label=app" "$(echo "$OUT" | wc -l)" 3
check "ps filter and" 0 h ps -a -q --filter label=app=web --filter name=my
equal "filters AND" "$(echo "$OUT" | wc -l)" 1
check "ps filter state" 0 h ps -a -q --filter state=created
equal "filter state" "$(echo "$OUT" | wc -l)" 3
check "ps filter status none" 0 h ps -a -q --filter status=Running
equal "filter status Running" "$OUT" ""
check "ps filter image" 0 h ps -a -q --filter image=weaveworks/ignite-ubuntu:latest
equal "filter image" "$(echo "$OUT" | wc -l)" 3
check "vm ls" 0 h vm ls -a
equal "vm ls rows" "$(echo "$OUT" | wc -l)" 4

# ---- image ls, kernel ls ------------------------------------------------
check "image ls" 0 h image ls
expect "image ls header" "$(echo "$OUT" | head -1)" "IMAGE ID"
expect "image ls name" "$OUT" "weaveworks/ignite-ubuntu:latest"
expect "image ls size" "$OUT" "256.0 MB"
check "kernel ls" 0 h kernel ls
expect "kernel ls header" "$(echo "$OUT" | head -1)" "VERSION"
expect "kernel ls version" "$OUT" "4.19.47"
check "image ls -q" 0 h image ls -q
if echo "$OUT" | grep -qE '^[0-9a-f]{16}$'; then ok; else bad "image ls -q: $OUT"; fi
check "kernel ls -o json" 0 h kernel ls -o json
expect "kernel ls json" "$OUT" '"kind": "List"'

# ---- inspect and prefix matching -----------------------------------------
check "inspect vm" 0 h inspect vm my-vm
expect "inspect json kind" "$OUT" '"kind": "VM"'
expect "inspect json name" "$OUT" '"name": "my-vm"'
check "inspect yaml" 0 h inspect vm my-vm -o yaml
expect "inspect yaml" "$OUT" "kind: VM"
check "inspect by name prefix" 0 h inspect vm my
expect "inspect prefix" "$OUT" '"name": "my-vm"'
uid=$(h ps -a -q --filter name=db-1)
check "inspect by uid prefix" 0 h vm inspect "${uid:0:6}"
expect "inspect uid prefix" "$OUT" '"name": "db-1"'
check "inspect image by prefix" 0 h inspect image weaveworks
expect "inspect image" "$OUT" '"kind": "Image"'
check "inspect missing" 1 h inspect vm nothing-here
equal "inspect missing message" "$ERR" "hearth: error: no vm matches 'nothing-here'"

# ---- attach to what does not run: the error only ---------------------------
check "attach missing" 1 h attach nosuch
equal "attach missing message" "$ERR" "hearth: error: no vm matches 'nosuch'"
equal "attach missing stdout" "$OUT" ""
check "attach created vm" 1 h attach my-vm
equal "attach created vm message" "$ERR" \
    "hearth: error: vm 'my-vm' is not running; start it with 'hearth start -i'"
h apply -f - >/dev/null <<'YAML'
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: web-2
spec:
  image:
    ociClaim:
      ref: weaveworks/ignite-ubuntu:latest
YAML
check "inspect ambiguous" 1 h inspect vm web
expect "ambiguous message" "$ERR" "'web' is ambiguous"
expect "ambiguous candidate 1" "$ERR" "vm 'web-1'"
expect "ambiguous candidate 2" "$ERR" "vm 'web-2'"

# ---- export round trip ---------------------------------------------------
check "export" 0 h export
expect "export has an image" "$OUT" "kind: Image"
expect "export has a kernel" "$OUT" "kind: Kernel"
printf '%s\n' "$OUT" >"$TMP/export1.yaml"
R2="$TMP/root2"
check "apply export into new root" 0 "$HEARTH" --root "$R2" apply -f "$TMP/export1.yaml"
reject "round trip all created" "$OUT" "configured"
check "export new root" 0 "$HEARTH" --root "$R2" export
printf '%s\n' "$OUT" >"$TMP/export2.yaml"
if diff -u "$TMP/export1.yaml" "$TMP/export2.yaml" >"$TMP/diff"; then ok; else bad "export round trip differs: $(cat "$TMP/diff")"; fi
check "export json" 0 h export -o json
printf '%s\n' "$OUT" >"$TMP/export1.json"
R3="$TMP/root3"
check "apply json export" 0 "$HEARTH" --root "$R3" apply -f "$TMP/export1.json"
check "export json again" 0 "$HEARTH" --root "$R3" export -o json
printf '%s\n' "$OUT" >"$TMP/export3.json"
if diff -u "$TMP/export1.json" "$TMP/export3.json" >"$TMP/diff"; then ok; else bad "json round trip differs: $(cat "$TMP/diff")"; fi
check "export vm only" 0 h export vm
reject "export vm has no image" "$OUT" "kind: Image"
equal "export vm count" "$(echo "$OUT" | grep -c '^kind: VM')" 4

# ---- sql ---------------------------------------------------------------
check "sql count" 0 h sql "SELECT count(*) AS n FROM vms"
expect "sql header" "$(echo "$OUT" | head -1)" "n"
equal "sql value" "$(echo "$OUT" | tail -1 | tr -d ' ')" "4"
check "sql csv" 0 h sql -o csv "SELECT name FROM vms ORDER BY name"
equal "sql csv" "$(echo "$OUT" | tr -d '\r' | tr '\n' ' ')" "name db-1 my-vm web-1 web-2 "
check "sql json" 0 h sql -o json "SELECT name, cpus FROM vms WHERE name = 'my-vm'"
expect "sql json name" "$OUT" '"name": "my-vm"'
expect "sql json number" "$OUT" '"cpus": 4'
check "sql two statements" 0 h sql -o json "SELECT 1 AS a; SELECT 'x;y' AS b"
expect "sql stmt 1" "$OUT" '"a": 1'
expect "sql stmt 2 (not split on ;)" "$OUT" '"b": "x;y"'
check "sql stdin" 0 h sql <<<"SELECT count(*) AS n FROM images"
equal "sql stdin value" "$(echo "$OUT" | tail -1 | tr -d ' ')" "1"
check "sql write refused" 1 h sql "DELETE FROM vm"
expect "sql write message" "$ERR" "hearth: error:"
check "sql write in second statement" 1 h sql "SELECT 1; DROP TABLE vm"
check "sql count unchanged" 0 h sql -o csv "SELECT count(*) FROM vms"
equal "sql count after refused writes" "$(echo "$OUT" | tail -1 | tr -d '\r')" "4"
check "sql syntax error" 1 h sql "SELEKT 1"

# ---- bad files -----------------------------------------------------------
printf 'kind: VM\napiVersion: ignite.weave.works/v1alpha1\nmetadata:\n  name: [oops\n' >"$TMP/bad.yaml"
check "apply syntax error" 1 h apply -f "$TMP/bad.yaml"
expect "syntax error names file" "$ERR" "hearth: error: $TMP/bad.yaml:"
cat >"$TMP/badfield.yaml" <<'YAML'
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: fine-vm
spec:
  image:
    ociClaim:
      ref: x
---
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: bad-vm
spec:
  memory: 12XB
  image:
    ociClaim:
      ref: x
YAML
check "apply bad field" 1 h apply -f "$TMP/badfield.yaml"
expect "bad field names file" "$ERR" "$TMP/badfield.yaml: document 2"
expect "bad field names field" "$ERR" "spec.memory"
check "nothing applied after error" 0 h ps -a -q --filter name=fine-vm
equal "fine-vm not applied" "$OUT" ""
check "apply missing file" 1 h apply -f "$TMP/nope.yaml"
expect "missing file named" "$ERR" "nope.yaml"
cat >"$TMP/conflict.yaml" <<'YAML'
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: my-vm
  uid: 0123456789abcdef
spec:
  image:
    ociClaim:
      ref: x
YAML
check "apply uid conflict" 1 h apply -f "$TMP/conflict.yaml"
expect "uid conflict message" "$ERR" "vm 'my-vm' already exists with uid"

# ---- generated names, several files ------------------------------------
printf 'apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata: {}\nspec:\n  image:\n    ociClaim:\n      ref: x\n' >"$TMP/noname.yaml"
check "apply nameless vm" 0 h apply -f "$TMP/noname.yaml"
if echo "$OUT" | grep -qE '^vm/[a-z0-9]+(-[a-z0-9]+)+ created$'; then ok; else bad "generated name: $OUT"; fi
gen=$(echo "$OUT" | sed 's#^vm/##; s# created$##')
check "rm generated" 0 h rm "$gen"
check "apply two files, second bad" 1 h apply -f "$EX/vm.yaml" -f "$TMP/badfield.yaml"
expect "second file named" "$ERR" "$TMP/badfield.yaml: document 2"
check "apply same stdin twice" 2 h apply -f - -f - </dev/null

# ---- rm, rmi, rmk --------------------------------------------------------
check "rmi in use" 1 h rmi weaveworks/ignite-ubuntu
expect "rmi in use message" "$ERR" "use -f to remove anyway"
expect "rmi in use names vm" "$ERR" "vm 'my-vm'"
check "rmk in use" 1 h kernel rm weaveworks/ignite-kernel
check "rm vm" 0 h rm db-1
equal "rm output" "$OUT" "db-1"
check "rm vm again" 1 h rm db-1
expect "rm missing" "$ERR" "no vm matches 'db-1'"
check "vm rm two" 0 h vm rm web-1 web-2
check "rm partial failure" 1 h rm my-vm nothing
expect "rm partial failure message" "$ERR" "no vm matches 'nothing'"
check "rmi now unused" 0 h image rm weaveworks
check "rmk -f" 0 h rmk -f weaveworks/ignite-kernel
check "all gone" 0 h sql -o csv "SELECT (SELECT count(*) FROM vms) + (SELECT count(*) FROM images) + (SELECT count(*) FROM kernels)"
equal "all gone count" "$(echo "$OUT" | tail -1 | tr -d '\r')" "0"

# ---- create and run: bad input changes nothing ---------------------------
vms_before=$(h sql -o csv "SELECT count(*) FROM vms" | tail -1 | tr -d '\r')
check "create without image" 2 h create --name x
expect "create without image message" "$ERR" "needs an image"
check "create bad cpus" 2 h create --cpus zero busybox
expect "create bad cpus message" "$ERR" "--cpus: 'zero' is not a number"
check "create bad memory" 2 h create --memory 12XB busybox
expect "create bad memory message" "$ERR" "--memory: '12XB' is not a size"
check "run bad vmm" 2 h run --vmm xen busybox
expect "run bad vmm message" "$ERR" "--vmm: 'xen' is not firecracker or qemu"
check "create copy missing file" 1 h create -f "$TMP/nope.txt:/etc/x" busybox
expect "create copy missing file message" "$ERR" "$TMP/nope.txt"
check "create copy relative vm path" 2 h create -f "$EX/vm.yaml:etc/x" busybox
echo "not a key" >"$TMP/bad.pub"
check "create bad ssh key" 1 h create --ssh="$TMP/bad.pub" busybox
expect "create bad ssh key message" "$ERR" "is not one OpenSSH public key"
check "create bad port" 2 h create -p 99999:80 busybox
check "create bad label" 2 h create -l novalue busybox
check "create config two docs" 1 h create --config "$HEARTH_SRC/tests/data/multi.yaml"
expect "create config two docs message" "$ERR" "needs exactly one VM document"
check "create config missing" 1 h create --config "$TMP/none.yaml"
expect "create config missing message" "$ERR" "$TMP/none.yaml"
check "start missing vm" 1 h start nothing-here
expect "start missing message" "$ERR" "no vm matches 'nothing-here'"
check "stop bad time" 2 h stop -t soon x
check "logs missing vm" 1 h logs nothing-here
check "monitor by hand" 2 h __monitor
# exec: flags end at the VM, the command's own flags are its own (tests/integration/vm_ssh.sh runs one).
check "exec missing vm" 1 h exec -t --timeout 5 -i /nonexistent nothing-here ls -l --all
expect "exec missing vm: the vm, not a flag" "$ERR" "no vm matches 'nothing-here'"
check "exec -- after the vm" 1 h vm exec nothing-here -- ls -l
expect "exec --: the vm" "$ERR" "no vm matches 'nothing-here'"
check "exec without a command" 2 h exec nothing-here
check "exec bad timeout" 2 h exec --timeout 0 nothing-here true
expect "exec bad timeout: names the flag" "$ERR" "--timeout"
vms_after=$(h sql -o csv "SELECT count(*) FROM vms" | tail -1 | tr -d '\r')
equal "bad create changed nothing" "$vms_after" "$vms_before"

# ---- root selection ------------------------------------------------------
check "HEARTH_ROOT" 0 env HEARTH_ROOT="$TMP/envroot" "$HEARTH" ps -a
if [ -f "$TMP/envroot/hearth.db" ]; then ok; else bad "HEARTH_ROOT not used"; fi
mode=$(stat -c %a "$TMP/envroot")
equal "root mode" "$mode" 700

finish
