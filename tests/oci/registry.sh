#!/bin/bash
# registry.sh: a real Docker registry (Debian's docker-registry) on a loopback
# port for hearth's tests. See tests/oci/README.md.
#
#   registry.sh start DIR [USER:PASS]   start one whose state lives in DIR
#                                       (created); prints its port. With
#                                       USER:PASS it requires HTTP Basic auth.
#   registry.sh stop DIR                stop it (DIR is left for the caller)
#   registry.sh push DIR LAYOUT TAG NAME[:TAG]
#                                       push oci:LAYOUT:TAG (all platforms) to it
#                                       ($REGISTRY_CREDS=USER:PASS for an auth one)
#
# With $REGISTRY_WATCH_PID set, start also leaves a watcher that stops the
# registry once that process is gone (so a crashed test leaks nothing).
set -euo pipefail

die() { echo "registry.sh: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir=$1 creds=${2:-}
    command -v docker-registry >/dev/null || die "docker-registry is not installed (apt-get install docker-registry)"
    mkdir -p "$dir/storage"
    dir=$(cd "$dir" && pwd)
    local port auth=""
    port=$(free_port)
    if [ -n "$creds" ]; then
        command -v htpasswd >/dev/null || die "htpasswd is not installed (apt-get install apache2-utils)"
        htpasswd -Bbn "${creds%%:*}" "${creds#*:}" > "$dir/htpasswd"
        auth="auth:
  htpasswd:
    realm: hearth-test
    path: $dir/htpasswd"
    fi
    cat > "$dir/config.yml" <<CFG
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth
CFG
    setsid docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 < /dev/null &
    local rpid=$!
    echo $rpid > "$dir/pid"
    echo "$port" > "$dir/port"
    if [ -n "${REGISTRY_WATCH_PID:-}" ]; then
        setsid bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill "$2" 2>/dev/null' \
            watcher "$REGISTRY_WATCH_PID" "$rpid" >/dev/null 2>&1 < /dev/null &
    fi
    for _ in $(seq 1 100); do
        local code
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
        if [ "$code" = 200 ] || [ "$code" = 401 ]; then
            echo "$port"
            return 0
        fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/log" >&2; die "registry exited"; }
        sleep 0.1
    done
    stop "$dir"
    die "registry did not answer on 127.0.0.1:$port"
}

stop() {
    local dir=$1 pid
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
}

push() {
    local dir=$1 layout=$2 tag=$3 name=$4 creds=()
    local port
    port=$(cat "$dir/port")
    [ -n "${REGISTRY_CREDS:-}" ] && creds=(--dest-creds "$REGISTRY_CREDS")
    skopeo copy -q --all --dest-tls-verify=false "${creds[@]}" \
        "oci:$layout:$tag" "docker://127.0.0.1:$port/$name" >&2
}

case "${1:-}" in
start) [ $# -ge 2 ] || die "usage: registry.sh start DIR [USER:PASS]"; start "$2" "${3:-}" ;;
stop) [ $# -eq 2 ] || die "usage: registry.sh stop DIR"; stop "$2" ;;
push) [ $# -eq 5 ] || die "usage: registry.sh push DIR LAYOUT TAG NAME[:TAG]"; push "$2" "$3" "$4" "$5" ;;
*) die "usage: registry.sh start DIR [USER:PASS] | stop DIR | push DIR LAYOUT TAG NAME[:TAG]" ;;
esac
