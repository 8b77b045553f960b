# The "outside" peer of the network tests (sourced after lib/procs.sh, not
# run): peer_start makes a network namespace held by a sleeping process
# (gone with it, veth end and all; the EXIT trap kills it) and joins it to
# the test's namespace by a veth pair: hvout0 192.0.2.1/24 here, hvout1
# 192.0.2.2/24 there (TEST-NET-1, nothing beyond). `peer CMD...` runs CMD in
# it. Traffic goes only between these addresses and the VMs'.
peer_start() {
    unshare -n -- sleep 100000 &
    PEER=$!
    disown "$PEER" # its end, killed by the EXIT trap, is no news
    trap 'kill -9 "$PEER" 2>/dev/null; cleanup' EXIT
    for _ in $(seq 50); do
        [ "$(readlink /proc/$PEER/ns/net)" != "$(readlink /proc/$$/ns/net)" ] && break
        sleep 0.1
    done
    ip link add hvout0 type veth peer name hvout1
    ip link set hvout1 netns "$PEER"
    ip addr add 192.0.2.1/24 dev hvout0
    ip link set hvout0 up
    peer ip link set lo up
    peer ip addr add 192.0.2.2/24 dev hvout1
    peer ip link set hvout1 up
}
peer() { nsenter -t "$PEER" -n -- "$@"; }
