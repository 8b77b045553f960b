#!/usr/bin/env bash
# Chaos: CHAOS_ITERATIONS (default 200) random mutating commands on one root
# with a file pool and fcfake as the Firecracker (tests/vmm/README.md), each
# SIGKILLed after a random delay of 0 to about twice its usual time here (a
# fixed bound per command, the longer ones' at most 2.5 s), so that it dies
# at any step or finishes: apply of a
# VM document, image import (two tags of a small OCI layout), kernel import
# (the newest /boot kernel, as two names), create, start, stop, kill, rm,
# rm -f, rmi [-f], rmk [-f], pool init (mostly on a root of its own). Most
# commands pick an object in a state they apply to (start a stopped VM).
#
# After each one, with no --repair: `ps -a`, `image ls` and `kernel ls`
# succeed and show no VM in a passing state (Creating, Starting, Stopping,
# Removing: recovery at open must settle it); `doctor` is clean; and every
# object is as the ledger says: what a command acknowledged (exit 0) is
# there in the state it left (created, running, stopped) or gone (removed),
# and what an earlier check saw is unchanged unless a command touched it. At
# the end, everything is removed (the network too), and no process of the root, no loop
# device, nothing under <root>/tmp, vm/ or run/ and nothing in TMPDIR (a
# private one) is left, and doctor is clean.
#
# The seed is printed (and said again at a failure); CHAOS_SEED=N replays the
# same commands and delays (the timing of each kill is the machine's).
# bench/chaos.sh runs it longer.
set -u

. "$(dirname "$0")/lib/assert.sh"
. "$(dirname "$0")/lib/procs.sh"

ITERATIONS=${CHAOS_ITERATIONS:-200}
SEED=${CHAOS_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
RANDOM=$SEED
echo "chaos: seed $SEED, $ITERATIONS iterations (replay: CHAOS_SEED=$SEED)"

need python3 python3
if [ -z "${FCFAKE:-}" ] || [ ! -x "$FCFAKE" ] || [ ! -r "${HEARTH_FC_SPEC:-}" ]; then
    bad "FCFAKE or HEARTH_FC_SPEC not set or missing (run the test through ctest)"
    finish
    exit 1
fi
export HEARTH_FC_SPEC
VMLINUZ=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
if [ ! -r "$VMLINUZ" ]; then
    echo "FAIL: no kernel under /boot: apt-get install linux-image-amd64 (scripts/install-deps)"
    exit 1
fi

# The image: a tiny busybox root as an OCI layout with tags 1 and 2.
python3 "$HEARTH_SRC/tests/oci/mkimage.py" rootfs "$TMP/rootfs" >/dev/null &&
    python3 "$HEARTH_SRC/tests/oci/mkimage.py" image "$TMP/img" 1 --layer gzip:"$TMP/rootfs" \
        >/dev/null &&
    python3 "$HEARTH_SRC/tests/oci/mkimage.py" image "$TMP/img" 2 --layer gzip:"$TMP/rootfs" \
        >/dev/null || {
    echo "FAIL: tests/oci/mkimage.py"
    exit 1
}
export TMPDIR="$TMP/tmpdir" # hearth's, and its children's: must be empty at the end
mkdir -p "$TMPDIR"
# create and start import a missing image or kernel from its registry: every
# registry is made unreachable (a proxy where nothing listens), so that
# nothing leaves the machine.
CLOSED=http://127.0.0.1:9
export HTTPS_PROXY=$CLOSED HTTP_PROXY=$CLOSED https_proxy=$CLOSED http_proxy=$CLOSED
unset NO_PROXY no_proxy

VMS=(vm0 vm1 vm2 vm3 vm4)
IMAGES=(localhost/img:1 localhost/img:2)
# localhost/ names: a create or start that names a missing one fails at once
# instead of retrying a registry it cannot reach.
KERNELS=(localhost/kernel:1 localhost/kernel:2)
# The ledger: what each object must be at the next check. A VM: absent,
# Created, Running, Stopped, "present" (there, any settled state) or "?"
# (anything: a command on it was killed). An image or kernel: absent,
# present or "?".
declare -A VM IMG KER
for v in "${VMS[@]}"; do VM[$v]=absent; done
for i in "${IMAGES[@]}"; do IMG[$i]=absent; done
for k in "${KERNELS[@]}"; do KER[$k]=absent; done
declare -A N_KILLED N_OK N_REFUSED MS_OK
# A second root for pool init alone: its pool absent, there or "?".
ROOT2="$TMP/root2"
POOL2=absent
problems=0

pick() {
    local -n arr=$1
    echo "${arr[RANDOM % ${#arr[@]}]}"
}
# pick_in LEDGER NAMES STATES: 9 times in 10 a name whose ledger entry
# matches STATES (an extended regular expression), when there is one, so
# that most commands find what they act on; else any name.
pick_in() {
    local -n led=$1
    local -n names=$2
    local fit=() n
    for n in "${names[@]}"; do [[ "${led[$n]}" =~ ^($3)$ ]] && fit+=("$n"); done
    if [ "${#fit[@]}" -gt 0 ] && ((RANDOM % 10)); then
        pick fit
    else
        pick "$2"
    fi
}

# fail ITERATION WHAT: one inconsistency, with what replays it.
fail() {
    bad "iteration $1 (CHAOS_SEED=$SEED): $2"
    problems=$((problems + 1))
}

# run_killed MAX_MS ARGS...: hearth ARGS on $CMD_ROOT (default the root),
# SIGKILLed after 0..MAX_MS ms unless it ended first; sets RC (137 when
# killed), TOOK, CMD_OUT and CMD_ERR.
run_killed() {
    local max=$1 ms pid root=${CMD_ROOT:-$ROOT}
    shift
    ms=$((RANDOM * 32768 + RANDOM))
    ms=$((ms % (max + 1)))
    local t0=${EPOCHREALTIME/./} now f start
    # hearth itself, not a subshell running it, must get the signal
    "$HEARTH" --root "$root" "$@" >"$TMP/cmd.out" 2>"$TMP/cmd.err" &
    pid=$!
    # Until it ends or the delay is over. bash may reap it at once: the pid
    # is taken as ours only while /proc shows the start time it had.
    f=()
    read -r -a f 2>/dev/null <"/proc/$pid/stat"
    start=${f[21]:-}
    while :; do
        f=()
        read -r -a f 2>/dev/null <"/proc/$pid/stat"
        now=${EPOCHREALTIME/./}
        [ -n "$start" ] && [ "${f[21]:-}" = "$start" ] && [ "${f[2]}" != Z ] || break
        if [ $((now - t0)) -ge $((ms * 1000)) ]; then
            kill -9 "$pid" 2>/dev/null
            break
        fi
        sleep 0.005
    done
    { wait "$pid"; } 2>/dev/null # without bash's "Killed" line
    RC=$?
    TOOK=$(((now - t0) / 1000))
    CMD_OUT=$(cat "$TMP/cmd.out")
    CMD_ERR=$(cat "$TMP/cmd.err")
}

# One random command; updates the ledger by its outcome.
step() {
    local it=$1 v img k f="" doc
    local r=$((RANDOM % 24))
    img=$(pick_in IMG IMAGES 'present|\?')
    k=$(pick_in KER KERNELS 'present|\?')
    # The VM: one in a state the command applies to.
    case $r in
    0 | 1) v=$(pick VMS) ;;
    6 | 7 | 8 | 9) v=$(pick_in VM VMS 'absent|\?') ;;
    10 | 11 | 12 | 13) v=$(pick_in VM VMS 'Created|Stopped|present|\?') ;;
    14 | 15 | 16) v=$(pick_in VM VMS 'Running|present|\?') ;;
    *) v=$(pick_in VM VMS '[^a].*|\?') ;;
    esac
    ((RANDOM % 2)) && f=-f
    case $r in
    0 | 1)
        kind=apply
        doc="$TMP/doc.yaml"
        printf '%s\n' "apiVersion: ignite.weave.works/v1alpha1" "kind: VM" \
            "metadata:" "  name: $v" "spec:" "  image:" "    ociClaim:" "      ref: $img" \
            "  kernel:" "    ociClaim:" "      ref: $k" "  cpus: $((1 + RANDOM % 2))" \
            "  memory: $((128 << (RANDOM % 2)))MB" "  diskSize: 256MB" >"$doc"
        run_killed 60 apply -f "$doc"
        ;;
    2 | 3) kind=import && run_killed 150 image import -q "oci-layout:$TMP/img:${img##*:}" ;;
    4 | 5) kind=kernel-import && run_killed 2500 kernel import --vmlinux "$VMLINUZ" "$k" ;;
    6 | 7 | 8 | 9)
        kind=create
        run_killed 300 create "$img" --name "$v" -k "$k" --size 256MB --memory 128MB
        ;;
    10 | 11 | 12 | 13)
        kind=start
        run_killed 300 start "$v" --vmm firecracker --firecracker-bin "$FCFAKE"
        ;;
    14 | 15) kind=stop && run_killed 200 stop -t 5 "$v" ;;
    16) kind=kill && run_killed 150 kill "$v" ;;
    17 | 18) kind="rm$f" && run_killed 100 rm $f "$v" ;;
    # Images and kernels are removed with -f (from under their VMs) 1 time in 4.
    19) ((RANDOM % 4)) && f=""
        kind="rmi$f" && run_killed 150 rmi $f "$img" ;;
    20) ((RANDOM % 4)) && f=""
        kind="rmk$f" && run_killed 150 rmk $f "$k" ;;
    21 | 22 | 23)
        # Mostly on a root of its own, made again once its pool is there.
        kind=pool-init
        if ((RANDOM % 4)); then
            [ "$POOL2" = there ] && rm -rf "$ROOT2" && POOL2=absent
            CMD_ROOT=$ROOT2 run_killed 100 pool init --driver file --data-size 1GB
            case $RC in 0) POOL2=there ;; 137) POOL2="?" ;; esac
        else
            run_killed 100 pool init --driver file
        fi
        ;;
    esac
    local outcome
    if [ "$RC" -eq 137 ]; then
        outcome="killed after $TOOK ms"
        N_KILLED[$kind]=$((${N_KILLED[$kind]:-0} + 1))
        case $kind in
        apply | create) [ "${VM[$v]}" = absent ] && VM[$v]="?" || VM[$v]=present ;;
        start | stop | kill) [ "${VM[$v]}" = absent ] || VM[$v]=present ;;
        rm | rm-f) VM[$v]="?" ;;
        import) IMG[$img]="?" ;;
        rmi | rmi-f) IMG[$img]="?" ;;
        kernel-import) KER[$k]="?" ;;
        rmk | rmk-f) KER[$k]="?" ;;
        esac
        # What the killed command removed may have been in use by a VM.
        case $kind in rmi | rmi-f | rmk | rmk-f) for x in "${VMS[@]}"; do
            [ "${VM[$x]}" = absent ] || VM[$x]="?"
        done ;;
        esac
    elif [ "$RC" -eq 0 ]; then
        outcome="done in $TOOK ms"
        N_OK[$kind]=$((${N_OK[$kind]:-0} + 1))
        MS_OK[$kind]=$((${MS_OK[$kind]:-0} + TOOK))
        case $kind in
        apply) [ "${VM[$v]}" = absent ] && VM[$v]=Created || VM[$v]=present ;;
        create) VM[$v]=Created ;;
        start) VM[$v]=Running ;;
        stop | kill) VM[$v]=Stopped ;;
        rm | rm-f) VM[$v]=absent ;;
        import) IMG[$img]=present ;;
        rmi | rmi-f) IMG[$img]=absent ;;
        kernel-import) KER[$k]=present ;;
        rmk | rmk-f) KER[$k]=absent ;;
        esac
    else
        outcome="refused ($RC): $(head -1 <<<"$CMD_ERR")"
        N_REFUSED[$kind]=$((${N_REFUSED[$kind]:-0} + 1))
        # A refused command changes nothing; a create or start that failed
        # at the pull of an image or kernel removed (rmi -f) says so itself.
        [ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || fail "$it" "$kind exited $RC: $CMD_ERR"
    fi
    echo "chaos $it: $kind $v $img $k: $outcome"
}

# listed KIND: "name state" lines (images and kernels: "name present").
listed() {
    case $1 in
    vm) timeout 60 "$HEARTH" --root "$ROOT" ps -a -t '{{.metadata.name}} {{.status.state}}' ;;
    image | kernel)
        timeout 60 "$HEARTH" --root "$ROOT" "$1" ls -o csv | tail -n +2 | cut -d, -f2 |
            sed 's/$/ present/'
        ;;
    esac
}

# check_ledger ITERATION KIND ARRAY: the listing agrees with the ledger, which
# then takes what was seen (so that the next check holds it to that).
check_ledger() {
    local it=$1 kind=$2 seen name want got
    local -n led=$3
    if ! seen=$(listed "$kind" 2>"$TMP/list.err"); then
        fail "$it" "$kind listing failed: $(cat "$TMP/list.err")"
        return
    fi
    for name in "${!led[@]}"; do
        want=${led[$name]}
        got=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$seen")
        case $got in Creating | Starting | Stopping | Removing)
            fail "$it" "$kind '$name' is $got after recovery" ;;
        esac
        case $want in
        "?") ;;
        absent) [ -z "$got" ] || fail "$it" "$kind '$name' should be gone, is $got" ;;
        present) [ -n "$got" ] || fail "$it" "$kind '$name' should be there, is gone" ;;
        *) [ "$got" = "$want" ] || fail "$it" "$kind '$name' should be $want, is ${got:-gone}" ;;
        esac
        if [ -n "$got" ]; then led[$name]=$got; else led[$name]=absent; fi
        [ "$kind" = vm ] || [ -z "$got" ] || led[$name]=present
    done
}

check_root() {
    local it=$1
    check_ledger "$it" vm VM
    check_ledger "$it" image IMG
    check_ledger "$it" kernel KER
    if ! timeout 120 "$HEARTH" --root "$ROOT" doctor >"$TMP/doctor" 2>&1; then
        fail "$it" "doctor without --repair is not clean: $(cat "$TMP/doctor")"
    fi
    [ -d "$ROOT2" ] || return
    if ! timeout 120 "$HEARTH" --root "$ROOT2" doctor >"$TMP/doctor" 2>&1; then
        fail "$it" "doctor of the pool init root is not clean: $(cat "$TMP/doctor")"
    fi
    local st=0
    timeout 60 "$HEARTH" --root "$ROOT2" pool status >"$TMP/status" 2>&1 || st=$?
    case $POOL2 in
    there) [ "$st" -eq 0 ] || fail "$it" "the acknowledged pool is gone: $(cat "$TMP/status")" ;;
    absent) [ "$st" -ne 0 ] || fail "$it" "a pool that was never made: $(cat "$TMP/status")" ;;
    esac
    if [ "$st" -eq 0 ]; then POOL2=there; else POOL2=absent; fi
}

T0=$(date +%s)
done_its=0
for it in $(seq 1 "$ITERATIONS"); do
    done_its=$it
    step "$it"
    before=$problems
    check_root "$it"
    if [ "$problems" -ne "$before" ]; then
        echo "the command was: $kind; its stderr: $CMD_ERR" >&2
        [ "$problems" -ge 10 ] && echo "chaos: stopping after 10 inconsistencies" && break
    fi
done
echo "chaos: $done_its iterations in $(($(date +%s) - T0)) s"
for kind in $(printf '%s\n' "${!N_OK[@]}" "${!N_KILLED[@]}" "${!N_REFUSED[@]}" | sort -u); do
    n=${N_OK[$kind]:-0}
    printf 'chaos: %-14s %3d done (%4d ms on average), %3d killed, %3d refused\n' "$kind" "$n" \
        "$((${MS_OK[$kind]:-0} / (n ? n : 1)))" "${N_KILLED[$kind]:-0}" "${N_REFUSED[$kind]:-0}"
done

# The end: remove everything; nothing may be left.
for v in $(h ps -a -q 2>/dev/null); do check "rm -f $v" 0 h rm -f "$v"; done
for i in $(h image ls -q 2>/dev/null); do check "rmi -f $i" 0 h rmi -f "$i"; done
for k in $(h kernel ls -q 2>/dev/null); do check "rmk -f $k" 0 h rmk -f "$k"; done
# The VMs' network (when one was made) outlives them until it is removed.
for n in $(h network ls -o json 2>/dev/null | python3 -c 'import json,sys; [print(n["name"]) for n in json.load(sys.stdin)]'); do
    check "network rm $n" 0 h network rm "$n"
done
check "doctor at the end" 0 h doctor
expect "doctor at the end" "$OUT" "no problems found"
for _ in $(seq 1 50); do [ -z "$(root_procs)" ] && break || sleep 0.1; done
equal "processes left" "$(root_procs | tr '\n' ' ')" ""
equal "loop devices left" "$(losetup -a 2>/dev/null | grep -F "$ROOT")" ""
equal "files left in TMPDIR" "$(find "$TMPDIR" -mindepth 1)" ""
left() {
    find "$ROOT/vm" "$ROOT/run" "$ROOT/tmp" -mindepth 1 ! -path "$ROOT/run/kvm-probe" \
        \( ! -type d -o -regextype egrep -regex '.*/[0-9a-f]{16}' \) 2>/dev/null
}
equal "files left under the root" "$(left)" ""
check "pool ls" 0 h pool ls -o csv
equal "pool devices left" "$(tail -n +2 <<<"$OUT")" ""
equal "inconsistencies" "$problems" "0"
finish
