#!/usr/bin/env bash
# libcurl, libarchive, libnftables and libssh are loaded on first use (src/util/lazylib.c): the
# binary does not link them, commands that do not need them run when they
# cannot be loaded, and a command that needs one fails with a message naming
# the library (exec without libssh: tests/integration/vm_ssh.sh, which has a
# running VM to try). A library is made unloadable by bind-mounting an empty file
# over it in a private mount namespace (needs root: skipped otherwise, after
# the checks that do not). Prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"

# Not linked: the dynamic loader does not map them at start.
LIBS=$(ldd "$HEARTH")
reject "ldd curl" "$LIBS" "libcurl"
reject "ldd archive" "$LIBS" "libarchive"
reject "ldd nftables" "$LIBS" "libnftables"
reject "ldd ssh" "$LIBS" "libssh"

need unshare util-linux
need ldconfig libc-bin
[ "$(id -u)" = 0 ] || skip "making a library unloadable needs root (a bind mount)"

# The file the dynamic loader would open for a soname.
libpath() { ldconfig -p | awk -v n="$1" '$1 == n { print $NF; exit }'; }
CURL_LIB=$(libpath libcurl.so.4)
ARCHIVE_LIB=$(libpath libarchive.so.13)
[ -n "$CURL_LIB" ] || bad "libcurl.so.4 not in the loader cache"
[ -n "$ARCHIVE_LIB" ] || bad "libarchive.so.13 not in the loader cache"
SSH_LIB=$(libpath libssh.so.4)
[ -n "$SSH_LIB" ] || bad "libssh.so.4 not in the loader cache"
SSH_LIB=$(readlink -f "$SSH_LIB")
CURL_LIB=$(readlink -f "$CURL_LIB")
ARCHIVE_LIB=$(readlink -f "$ARCHIVE_LIB")
: >"$TMP/empty"

# without LIB CMD...: CMD in a mount namespace where LIB is an empty file.
without() {
    local lib=$1
    shift
    unshare -m -- sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' _ "$TMP/empty" "$lib" "$@"
}

echo garbage >"$TMP/not.tar"
UNREACHABLE="127.0.0.1:1/test/none:1" # nothing listens on port 1

# With both libraries there: the usual errors, which do not mention loading.
check "archive present" 1 h image import "docker-archive:$TMP/not.tar"
reject "archive present" "$ERR" "cannot be loaded"
expect "archive present" "$ERR" "not.tar"
check "curl present" 1 h image import "$UNREACHABLE"
reject "curl present" "$ERR" "cannot be loaded"
expect "curl present" "$ERR" "127.0.0.1:1"

# Without them: commands that need neither work.
for lib in "$CURL_LIB" "$ARCHIVE_LIB" "$SSH_LIB"; do
    check "version without $lib" 0 without "$lib" "$HEARTH" --root "$ROOT" version
    expect "version without $lib" "$OUT" "hearth version"
    check "ps without $lib" 0 without "$lib" "$HEARTH" --root "$ROOT" ps -a
    expect "ps without $lib" "$OUT" "NAME"
done

# A command that needs the missing one says which.
check "archive missing" 1 without "$ARCHIVE_LIB" "$HEARTH" --root "$ROOT" image import \
    "docker-archive:$TMP/not.tar"
expect "archive missing" "$ERR" "libarchive is needed for this and cannot be loaded"
expect "archive missing" "$ERR" "libarchive.so.13"
check "curl missing" 1 without "$CURL_LIB" "$HEARTH" --root "$ROOT" image import "$UNREACHABLE"
expect "curl missing" "$ERR" "libcurl is needed for this and cannot be loaded"
expect "curl missing" "$ERR" "libcurl.so.4"

# One missing library does not stop the other: a registry import without
# libarchive still reaches the registry (and fails there, as above).
check "curl without archive" 1 without "$ARCHIVE_LIB" "$HEARTH" --root "$ROOT" image import \
    "$UNREACHABLE"
reject "curl without archive" "$ERR" "cannot be loaded"
expect "curl without archive" "$ERR" "127.0.0.1:1"

finish
