# The processes of the test root and their cleanup (sourced after
# assert.sh, not run; by vm.sh and chaos.sh): root_procs lists the processes
# whose command line names $ROOT (the monitors, the VMMs, whose disks and
# sockets are under it, and hearth itself); the EXIT trap kills them and
# removes $TMP.

root_procs() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ "$cmd" == *"$ROOT"* ]] && echo "${p#/proc/}"
    done
}
cleanup() {
    local p
    for p in $(root_procs); do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
