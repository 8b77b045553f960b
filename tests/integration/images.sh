#!/usr/bin/env bash
# Image and kernel import through the CLI against a real registry (Debian's
# docker-registry on a loopback port, tests/oci/registry.sh) and images built
# by tests/oci/mkimage.py: import prints the id last (-q: only the id),
# `image ls` shows it with its size, `rmi` removes image and device, a second
# import reuses the cached blobs, Basic auth through --registry-config-dir,
# an unknown tag fails cleanly, SIGINT during an import leaves nothing, and
# a kernel imports from local files (without its initrd: a one-line warning
# that its VMs cannot mount their root), and `create` (no boot) imports a missing
# image on the way, takes --config documents with flags on top, and writes a
# generated or given SSH key into the guest (read back from its disk with
# debugfs). A missing tool or kernel fails the test. Prints "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"
OCI="$HEARTH_SRC/tests/oci"

REG="$TMP/reg"
AREG="$TMP/areg"
cleanup() {
    bash "$OCI/registry.sh" stop "$REG" 2>/dev/null
    bash "$OCI/registry.sh" stop "$AREG" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

blobs() { find "$ROOT/blobs/sha256" -type f 2>/dev/null | wc -l; }
devices() { h sql -o csv "SELECT count(*) FROM pool_devices" | tail -1 | tr -d '\r'; }
staging() { find "$ROOT/tmp" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

need docker-registry docker-registry
need skopeo skopeo
need python3 python3
need htpasswd apache2-utils
need debugfs e2fsprogs
need ssh-keygen openssh-client

# A busybox image of two layers, pushed to a plain registry.
python3 "$OCI/mkimage.py" rootfs "$TMP/rootfs" || bad "mkimage rootfs"
mkdir -p "$TMP/extra/etc" && echo "extra layer" >"$TMP/extra/etc/extra"
python3 "$OCI/mkimage.py" image "$TMP/layout" 1 --layer gzip:"$TMP/rootfs" \
    --layer zstd:"$TMP/extra" >/dev/null || bad "mkimage image"
PORT=$(bash "$OCI/registry.sh" start "$REG") || { bad "registry start"; exit 1; }
bash "$OCI/registry.sh" push "$REG" "$TMP/layout" 1 test/busybox:1 || bad "push"
REF="127.0.0.1:$PORT/test/busybox:1"

# Import: the id is the last line; -q prints only it; the pool is created on the way.
check "import" 0 h image import "$REF"
expect "import notice" "$ERR" "created the storage pool"
expect "import says" "$OUT" "imported image '$REF'"
ID=$(tail -1 <<<"$OUT")
if [[ "$ID" =~ ^[0-9a-f]{16}$ ]]; then ok; else bad "import id: '$ID'"; fi
check "ls" 0 h image ls
expect "ls row" "$OUT" "$ID   $REF"
grep -qE "$ID .* [0-9.]+ (KB|MB)\$" <<<"$OUT" && ok || bad "ls size: $OUT"
check "ls json" 0 h image ls -o json
expect "ls json id" "$OUT" '"id": "sha256:'
expect "ls json repo digest" "$OUT" "127.0.0.1:$PORT/test/busybox@sha256:"
check "pool ls" 0 h pool ls
expect "pool ls image" "$OUT" "image/$REF"
check "again" 0 h image import -q "$REF"
equal "again id" "$OUT" "$ID"
check "doctor clean" 0 h doctor
BLOBS=$(blobs)
[ "$BLOBS" -ge 4 ] && ok || bad "blobs cached: $BLOBS"

# rmi removes the image and its device.
check "rmi" 0 h rmi "$REF"
check "ls empty" 0 h image ls -q
equal "ls empty" "$OUT" ""
equal "no devices" "$(devices)" "0"

# A second import shares the cached blobs: nothing new.
check "reimport" 0 h image import -q "$REF"
equal "blobs shared" "$(blobs)" "$BLOBS"
equal "one device" "$(devices)" "1"
check "rmi again" 0 h rmi -q "$REF"

# An unknown tag: a clear error, exit 1, nothing changed.
check "unknown tag" 1 h image import "127.0.0.1:$PORT/test/busybox:nope"
expect "unknown tag" "$ERR" "nope"
check "still empty" 0 h image ls -q
equal "still empty" "$OUT" ""
equal "no devices after failure" "$(devices)" "0"
equal "no staging after failure" "$(staging)" "0"

# Basic auth: refused without credentials, accepted with --registry-config-dir.
APORT=$(bash "$OCI/registry.sh" start "$AREG" alice:secret) || bad "auth registry start"
REGISTRY_CREDS=alice:secret bash "$OCI/registry.sh" push "$AREG" "$TMP/layout" 1 priv/box:1 ||
    bad "auth push"
mkdir -p "$TMP/cfg"
printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$APORT" \
    "$(printf 'alice:secret' | base64)" >"$TMP/cfg/config.json"
mkdir -p "$TMP/emptycfg" && echo '{}' >"$TMP/emptycfg/config.json"
check "auth refused" 1 h image import --registry-config-dir "$TMP/emptycfg" "127.0.0.1:$APORT/priv/box:1"
check "auth import" 0 h image import -q --registry-config-dir "$TMP/cfg" "127.0.0.1:$APORT/priv/box:1"
check "auth ls" 0 h image ls
expect "auth ls" "$OUT" "127.0.0.1:$APORT/priv/box:1"
check "auth rmi" 0 h rmi -q "127.0.0.1:$APORT/priv/box:1"

# SIGINT during an import of a large image: exit 130, nothing left.
mkdir -p "$TMP/big/data"
head -c $((300 << 20)) /dev/urandom >"$TMP/big/data/blob"
python3 "$OCI/mkimage.py" image "$TMP/biglayout" 1 --layer tar:"$TMP/big" >/dev/null || bad "mkimage big"
rm -rf "$TMP/big"
"$HEARTH" --root "$ROOT" image import "oci-layout:$TMP/biglayout:1" >"$TMP/out" 2>"$TMP/err" &
PID=$!
# Interrupt once the staging directory exists (the unpack has started).
for _ in $(seq 1 3000); do
    compgen -G "$ROOT/tmp/import-*" >/dev/null && break
    sleep 0.01
done
kill -INT $PID
wait $PID
GOT=$?
equal "interrupted exit" "$GOT" "130"
expect "interrupted message" "$(cat "$TMP/err")" "import cancelled"
check "nothing after interrupt" 0 h image ls -q
equal "nothing after interrupt" "$OUT" ""
equal "no devices after interrupt" "$(devices)" "0"
equal "no staging after interrupt" "$(staging)" "0"
check "doctor after interrupt" 0 h doctor

# A kernel from local files (Debian's linux-image-amd64, a fixture).
VER=$(ls /lib/modules 2>/dev/null | head -1)
if [ -z "$VER" ] || [ ! -r "/boot/vmlinuz-$VER" ]; then
    bad "kernel import: no /boot/vmlinuz-* (apt-get install linux-image-amd64)"
else
    check "kernel import" 0 h kernel import --vmlinux "/boot/vmlinuz-$VER" \
        --initrd "/boot/initrd.img-$VER" debian:"$VER"
    KID=$(tail -1 <<<"$OUT")
    reject "kernel import with its initrd: no warning" "$ERR" "warning"
    # Without the initrd: Debian's kernel cannot mount a VM's root, and one line says what to pass.
    check "kernel import without initrd" 0 h kernel import --vmlinux "/boot/vmlinuz-$VER" bare:1
    expect "no initrd warning" "$ERR" "hearth: warning: kernel 'bare:1' has ext4, virtio_blk and virtio_mmio as modules"
    expect "no initrd warning says what to pass" "$ERR" "import it with --initrd /boot/initrd.img-$VER"
    equal "no initrd warning is one line" "$(wc -l <<<"$ERR")" "1"
    check "rmk bare" 0 h rmk -q bare:1
    check "kernel ls" 0 h kernel ls
    expect "kernel ls" "$OUT" "$KID   debian:$VER"
    expect "kernel version" "$OUT" "$VER"
    [ -s "$ROOT/kernel/$KID/vmlinux" ] && ok || bad "no vmlinux stored"
    check "kernel usage" 2 h kernel import --initrd "/boot/initrd.img-$VER" x:1

    # create (no boot): a missing image is imported on the way, as Ignite did.
    h rmi -q "$REF" >/dev/null 2>&1
    check "create imports image" 0 h create --name viareg --size 512MB -k "debian:$VER" "$REF"
    expect "create import notice" "$ERR" "imported image '$REF'"
    VID=$(tail -1 <<<"$OUT")
    if [[ "$VID" =~ ^[0-9a-f]{16}$ ]]; then ok; else bad "create id: '$VID'"; fi
    check "created state" 0 h sql -o csv "SELECT state, disk_size_bytes FROM vms WHERE name = 'viareg'"
    expect "created state" "$OUT" "Created,536870912"
    # --config with a v1alpha1 document; a flag overrides its cpus.
    cat >"$TMP/vm.yaml" <<EOF2
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: fromcfg
  labels:
    tier: test
spec:
  image:
    ociClaim:
      ref: $REF
  kernel:
    ociClaim:
      ref: debian:$VER
  cpus: 1
  memory: 256MB
  diskSize: 512MB
EOF2
    check "create --config" 0 h create --config "$TMP/vm.yaml" --cpus 2 -l extra=yes
    check "config fields" 0 h inspect vm fromcfg -o yaml
    expect "config cpus overridden" "$OUT" "cpus: 2"
    expect "config memory kept" "$OUT" "memory: 256MB"
    expect "config label kept" "$OUT" "tier: test"
    expect "flag label added" "$OUT" "extra: 'yes'"
    # --ssh: a generated key pair, its public half authorized in the guest.
    check "create --ssh" 0 h create --name withkey --ssh --size 512MB -k "debian:$VER" "$REF"
    SID=$(tail -1 <<<"$OUT")
    expect "ssh notice" "$ERR" "ssh key pair generated: $ROOT/vm/$SID/id_ed25519"
    equal "private key mode" "$(stat -c %a "$ROOT/vm/$SID/id_ed25519")" "600"
    DEV=$(h sql -o csv "SELECT id FROM pool_devices WHERE type = 'VM' AND owner_id = '$SID'" | tail -1 | tr -d '\r')
    KEYS=$(debugfs -R "cat /root/.ssh/authorized_keys" "$ROOT/pool/data/$DEV.img" 2>/dev/null)
    equal "authorized key" "$KEYS" "$(cat "$ROOT/vm/$SID/id_ed25519.pub")"
    # --ssh=PUBKEY: that key, not a new one, is the guest's authorized key.
    ssh-keygen -q -t ed25519 -N "" -C given@test -f "$TMP/given" || bad "ssh-keygen"
    check "create --ssh=PUBKEY" 0 h create --name givenkey --ssh="$TMP/given.pub" \
        --size 512MB -k "debian:$VER" "$REF"
    GID=$(tail -1 <<<"$OUT")
    GDEV=$(h sql -o csv "SELECT id FROM pool_devices WHERE type = 'VM' AND owner_id = '$GID'" | tail -1 | tr -d '\r')
    GKEYS=$(debugfs -R "cat /root/.ssh/authorized_keys" "$ROOT/pool/data/$GDEV.img" 2>/dev/null)
    equal "given key authorized" "$GKEYS" "$(cat "$TMP/given.pub")"
    [ -e "$ROOT/vm/$GID/id_ed25519" ] && bad "a key pair was generated for --ssh=PUBKEY" || ok
    # Ignite's short forms: -n/--name, -s/--size.
    check "create -n -s" 0 h create -n shortflags -s 768MB -k "debian:$VER" "$REF"
    check "short flags' fields" 0 h sql -o csv "SELECT disk_size_bytes FROM vms WHERE name = 'shortflags'"
    expect "-s is the size" "$OUT" "805306368"
    check "rmk in use" 1 h rmk "debian:$VER"
    check "rm vms" 0 h rm viareg fromcfg withkey givenkey shortflags
    [ -e "$ROOT/vm/$SID" ] && bad "vm files left after rm" || ok
    check "rmi after vms" 0 h rmi -q "$REF"
    check "rmk" 0 h rmk -q "debian:$VER"
    equal "no devices left" "$(devices)" "0"
    check "doctor after vms" 0 h doctor
    [ -e "$ROOT/kernel/$KID" ] && bad "kernel files left" || ok
fi

finish
