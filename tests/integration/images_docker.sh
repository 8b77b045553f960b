#!/usr/bin/env bash
# Images Docker accepts, imported through the CLI. An OCI layout whose second
# layer writes through symlinks of the first (var/run -> /run, then
# var/run/x; lib -> usr/lib; ".." above the root; a hard link through a
# symlink; a whiteout through a symlinked directory; a symlink to /tmp)
# imports, and every file is where Docker puts it, read back from the
# image's ext4 with debugfs, while the host paths a naive unpack would reach
# stay untouched. A docker-archive of several images (as `docker save a b`
# writes) refuses to guess, naming the images; docker-archive:FILE:REF and
# :@N pick one. Prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"
OCI="$HEARTH_SRC/tests/oci"
TAG=$(basename "$TMP")

# debugfs -R CMD on the ext4 of image NAME.
image_fs() {
    local dev
    dev=$(h sql -o csv "SELECT id FROM pool_devices WHERE type = 'Image' AND owner_kind = 'Image'
                        AND owner_id = (SELECT id FROM images WHERE name = '$1')" |
        tail -1 | tr -d '\r')
    debugfs -R "$2" "$ROOT/pool/data/$dev.img" 2>/dev/null
}

# Layer 1: a busybox root with the symlinks Debian-like images have.
python3 "$OCI/mkimage.py" rootfs "$TMP/l1" || bad "mkimage rootfs"
mkdir -p "$TMP/l1/run" "$TMP/l1/var" "$TMP/l1/usr/lib"
echo "lower" >"$TMP/l1/run/old"
echo "code" >"$TMP/l1/usr/lib/libc.so"
ln -s /run "$TMP/l1/var/run"
ln -s usr/lib "$TMP/l1/lib"
ln -s /tmp "$TMP/l1/evil"
ln -s ../../../.. "$TMP/l1/up"
# Layer 2: entries no directory tree can hold, written as a tar by Python.
python3 - "$TMP/l2.tar" "$TAG" <<'EOF' || bad "layer 2"
import io, sys, tarfile
out, tag = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=None, link=None):
        ti = tarfile.TarInfo(name)
        ti.mtime = 1700000000
        if link is not None:
            ti.type, ti.linkname = tarfile.LNKTYPE, link
            t.addfile(ti)
        else:
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    add("var/run/run-" + tag, b"through /run\n")
    add("var/run/.wh.old", b"")
    add("lib/y", b"through lib\n")
    add("../../esc-" + tag, b"clamped\n")
    add("up/up-" + tag, b"clamped by the symlink\n")
    add("evil/evil-" + tag, b"in the image's /tmp\n")
    add("bin/libc-link", link="lib/libc.so")
EOF
python3 "$OCI/mkimage.py" image "$TMP/layout" 1 --layer gzip:"$TMP/l1" \
    --layer tar:"$TMP/l2.tar" >/dev/null || bad "mkimage image"

check "import" 0 h image import "oci-layout:$TMP/layout:1"
expect "import says" "$OUT" "imported image 'localhost/layout:1'"
IMG=localhost/layout:1
equal "var/run/x in /run" "$(image_fs $IMG "cat /run/run-$TAG")" "through /run"
expect "var/run still a symlink" "$(image_fs $IMG 'stat /var/run')" "Type: symlink"
RUN=$(image_fs $IMG 'ls /run')
expect "run listed" "$RUN" "run-$TAG"
reject "whiteout through the symlink" "$RUN" "old"
equal "lib/y in usr/lib" "$(image_fs $IMG 'cat /usr/lib/y')" "through lib"
equal ".. clamped" "$(image_fs $IMG "cat /esc-$TAG")" "clamped"
equal "symlink .. clamped" "$(image_fs $IMG "cat /up-$TAG")" "clamped by the symlink"
equal "absolute symlink" "$(image_fs $IMG "cat /tmp/evil-$TAG")" "in the image's /tmp"
expect "hard link through lib" "$(image_fs $IMG 'stat /usr/lib/libc.so')" "Links: 2"
equal "hard link content" "$(image_fs $IMG 'cat /bin/libc-link')" "code"
# What an unpack that followed the symlinks on the host would have written.
for p in "/esc-$TAG" "/up-$TAG" "/tmp/evil-$TAG" "$(dirname "$TMP")/esc-$TAG" "/run/run-$TAG"; do
    if [ -e "$p" ]; then bad "host path $p was written"; else ok; fi
done
check "doctor" 0 h doctor

# docker-archive: two images (the first with two tags) in one archive, as docker save writes.
if ! command -v skopeo >/dev/null; then
    bad "skopeo is not installed (scripts/install-deps)"
    finish
    exit
fi
mkdir -p "$TMP/l3/etc" && echo "image b" >"$TMP/l3/etc/b"
python3 "$OCI/mkimage.py" image "$TMP/layout" 2 --layer gzip:"$TMP/l1" \
    --layer gzip:"$TMP/l3" >/dev/null || bad "mkimage image 2"
skopeo copy -q --additional-tag test/a:latest "oci:$TMP/layout:1" \
    "docker-archive:$TMP/a.tar:test/a:1" || bad "skopeo a"
skopeo copy -q "oci:$TMP/layout:2" "docker-archive:$TMP/b.tar:test/b:2" || bad "skopeo b"
mkdir -p "$TMP/multi"
tar -xf "$TMP/a.tar" -C "$TMP/multi" && tar -xf "$TMP/b.tar" -C "$TMP/multi" || bad "untar"
python3 - "$TMP" <<'EOF' || bad "manifest.json"
import json, os, subprocess, sys
tmp = sys.argv[1]
def entry(tar):
    return json.loads(subprocess.run(["tar", "-xOf", tar, "manifest.json"], check=True,
                                     stdout=subprocess.PIPE).stdout)[0]
a, b = entry(tmp + "/a.tar"), entry(tmp + "/b.tar")
b["RepoTags"] = ["test/b:2"]  # Docker's familiar form
m = tmp + "/multi/manifest.json"
os.chmod(m, 0o644)
with open(m, "w") as f:
    json.dump([a, b], f)
EOF
tar -cf "$TMP/multi.tar" -C "$TMP/multi" . || bad "tar multi"

check "archive without REF" 1 h image import "docker-archive:$TMP/multi.tar"
expect "names the file" "$ERR" "docker-archive '$TMP/multi.tar' holds 2 images"
expect "lists a" "$ERR" "@0 docker.io/test/a:1 docker.io/test/a:latest"
expect "lists b" "$ERR" "@1 test/b:2"
expect "says how" "$ERR" "docker-archive:FILE:REF"
check "archive unknown REF" 1 h image import "docker-archive:$TMP/multi.tar:test/c:1"
expect "unknown REF" "$ERR" "docker-archive '$TMP/multi.tar' has no image 'test/c:1'; it holds @0"
check "archive bad index" 1 h image import "docker-archive:$TMP/multi.tar:@x"
expect "bad index" "$ERR" "'@x' is not an image index"
check "nothing imported" 0 h image ls -q
equal "nothing imported" "$(wc -l <<<"$OUT")" "1"

check "archive by REF" 0 h image import "docker-archive:$TMP/multi.tar:test/b:2"
expect "named by REF" "$OUT" "imported image 'test/b:2'"
equal "b's file" "$(image_fs test/b:2 'cat /etc/b')" "image b"
check "archive by full REF" 0 h image import "docker-archive:$TMP/multi.tar:docker.io/test/b:2"
expect "same image" "$OUT" "image 'test/b:2' already exists"
check "archive by index" 0 h image import "docker-archive:$TMP/multi.tar:@0"
expect "named by index" "$OUT" "imported image 'localhost/multi:0'"
equal "a's file" "$(image_fs localhost/multi:0 "cat /run/run-$TAG")" "through /run"
check "ls" 0 h image ls
expect "ls b" "$OUT" "test/b:2"
expect "ls @0" "$OUT" "localhost/multi:0"
check "doctor after" 0 h doctor

finish
