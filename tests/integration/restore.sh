#!/usr/bin/env bash
# What a new user does with documents rather than `create`, through the CLI,
# with the Firecracker fake (FCFAKE, which checks every request against the
# API spec) as the VMM and the test image and kernel of tests/vm/mkfixtures.sh,
# also pushed to a real registry on a loopback port (tests/oci/registry.sh):
#
# - restore: `hearth export > all.yaml` of a root with VMs (one running), then
#   `hearth --root NEW apply -f all.yaml` applies with one notice about the
#   runtime state it skipped, and `start` in the new root works: the image
#   and kernel that came from the registry are pulled again into the
#   recorded objects (same ids); those from a layout and local files are
#   named with the command that brings them, and start works after it;
#   doctor names that command too; the images and kernels export the same
#   in both roots;
# - apply of a VM document, then start (no create): the disk is built; cpus
#   and memory applied to the stopped VM are in the next start's launch.json;
#   a new disk size or image for a VM that has a disk is refused, saying how;
# - references resolved locally first with every registry unreachable (a
#   proxy on a closed port): an image id prefix, a name without a tag
#   (latest), a kernel by name or id prefix; what matches nothing here says
#   so; `image import DIR` with an OCI layout suggests oci-layout:.
set -u

. "$(dirname "$0")/lib/assert.sh"
. "$(dirname "$0")/lib/vm.sh"
OCI="$HEARTH_SRC/tests/oci"
REG="$TMP/reg"
trap 'bash "$OCI/registry.sh" stop "$REG" 2>/dev/null; cleanup' EXIT

if [ -z "${FCFAKE:-}" ] || [ -z "${HEARTH_FC_SPEC:-}" ]; then
    echo "FAIL: FCFAKE and HEARTH_FC_SPEC must be set (ctest sets them)"
    exit 1
fi
FC=(--vmm firecracker --firecracker-bin "$FCFAKE")
RUN=(--memory 128MB --size 512MB --kernel-args "$CMDLINE")
R2="$TMP/root2"
h2() { "$HEARTH" --root "$R2" "$@"; }
# nonet CMD...: CMD with every registry unreachable (a proxy where nothing listens).
CLOSED=http://127.0.0.1:9
nonet() { env HTTPS_PROXY=$CLOSED HTTP_PROXY=$CLOSED https_proxy=$CLOSED http_proxy=$CLOSED "$@"; }
# col ROOT VM COLUMN: one column of the vms view.
col() { "$HEARTH" --root "$1" sql -o csv "SELECT $3 FROM vms WHERE name = '$2'" | tail -n +2 | tr -d '\r'; }
# launched ROOT VM: "cpus memory" of a running VM's launch.json.
launched() {
    local id
    id=$(col "$1" "$2" id)
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["cpus"], j["memory"])' \
        "$1/run/vm/$id/launch.json"
}

# ---- the registry: the test image and a kernel image ------------------------
PORT=$(REGISTRY_WATCH_PID=$$ bash "$OCI/registry.sh" start "$REG") || {
    bad "registry start"
    finish
    exit 1
}
bash "$OCI/registry.sh" push "$REG" "$TMP/fx/hearth-e2e" 1 test/hearth-e2e:1 || bad "push image"
mkdir -p "$TMP/kroot/boot"
cp "$VMLINUZ" "$TMP/kroot/boot/vmlinuz-$KVER"
cp "$INITRD" "$TMP/kroot/boot/initrd.img-$KVER"
python3 "$OCI/mkimage.py" image "$TMP/klayout" 1 --layer gzip:"$TMP/kroot" >/dev/null ||
    bad "mkimage kernel"
bash "$OCI/registry.sh" push "$REG" "$TMP/klayout" 1 test/hearth-kernel:1 || bad "push kernel"
RIMG="127.0.0.1:$PORT/test/hearth-e2e:1"
RKER="127.0.0.1:$PORT/test/hearth-kernel:1"

# ---- the first root: images and kernels from a registry and from local sources ----
check "pool init" 0 h pool init --driver file
check "image import (registry)" 0 h image import -q "$RIMG"
RIMG_ID=$OUT
check "kernel import (registry)" 0 h kernel import -q "$RKER"
RKER_ID=$OUT
check "image import (layout)" 0 h image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
IMAGE_ID=$OUT
check "kernel import (files)" 0 h kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"
KERNEL_ID=$OUT
check "create reg" 0 h create "$RIMG" --name reg -k "$RKER" "${RUN[@]}"
check "create local" 0 h create "$IMAGE" --name local -k "$KERNEL" "${RUN[@]}"
check "start reg" 0 h start reg "${FC[@]}"
equal "reg runs" "$(col "$ROOT" reg state)" "Running"
check "export" 0 h export
printf '%s\n' "$OUT" >"$TMP/all.yaml"

# ---- restore into an empty root ------------------------------------------------
check "apply the export into an empty root" 0 h2 apply -f "$TMP/all.yaml"
reject "apply: nothing refused" "$OUT" "error"
expect "apply: created" "$OUT" "vm/reg created"
equal "apply: one notice" "$(grep -c 'runtime state of another root' <<<"$ERR")" "1"
expect "notice: devices" "$ERR" "Pool status.devices"
expect "notice: pool paths" "$ERR" "Pool paths of another root"
expect "notice: running vm" "$ERR" "VM status.state of a running VM"
equal "reg recorded stopped" "$(col "$R2" reg state)" "Stopped"
check "pool spec is this root's" 0 h2 export pool
expect "pool data path" "$OUT" "dataPath: $R2/pool/data"
check "kill reg in the first root" 0 h kill reg

# A VM whose image and kernel came from the registry: start pulls them again.
check "start reg in the new root" 0 h2 start reg "${FC[@]}"
expect "image pulled again" "$ERR" "imported image '$RIMG' ($RIMG_ID) again"
expect "kernel pulled again" "$ERR" "imported kernel '$RKER' ($RKER_ID) again"
equal "reg runs in the new root" "$(col "$R2" reg state)" "Running"
check "reg logs" 0 h2 logs reg
expect "reg booted its kernel" "$OUT" "fcfake: booting '$R2/kernel/$RKER_ID/vmlinux'"
expect "reg instance" "$OUT" "is running"
check "kill reg in the new root" 0 h2 kill reg

# A VM whose image came from a layout and kernel from local files: named, with the command.
check "start local: the image" 1 nonet "$HEARTH" --root "$R2" start local "${FC[@]}"
expect "names the image" "$ERR" "image 'localhost/hearth-e2e:1'"
expect "image command" "$ERR" "hearth image import oci-layout:DIR[:TAG]"
check "doctor names the kernel command" 4 h2 doctor
expect "doctor: missing kernel" "$OUT" "missing-kernel-files"
expect "doctor: kernel command" "$OUT" "hearth kernel import --vmlinux PATH [--initrd PATH] [--modules DIR] $KERNEL"
check "image import into the record" 0 h2 image import -q "oci-layout:$TMP/fx/hearth-e2e:1"
equal "the same image id" "$OUT" "$IMAGE_ID"
check "start local: the kernel" 1 nonet "$HEARTH" --root "$R2" start local "${FC[@]}"
expect "names the kernel" "$ERR" "kernel '$KERNEL'"
expect "kernel command" "$ERR" "hearth kernel import --vmlinux PATH"
check "kernel import into the record" 0 h2 kernel import -q --vmlinux "$VMLINUZ" --initrd "$INITRD" "$KERNEL"
equal "the same kernel id" "$OUT" "$KERNEL_ID"
check "start local in the new root" 0 h2 start local "${FC[@]}"
equal "local runs in the new root" "$(col "$R2" local state)" "Running"
check "kill local" 0 h2 kill local
check "doctor clean in the new root" 0 h2 doctor
check "images and kernels of the first root" 0 h export image kernel
A=$OUT
check "images and kernels of the new root" 0 h2 export image kernel
equal "images and kernels export the same" "$OUT" "$A"

# ---- apply of a VM, then start (no create) -------------------------------------------
vmdoc() { # NAME IMAGE CPUS MEMORY DISK
    cat <<DOC
apiVersion: ignite.weave.works/v1alpha1
kind: VM
metadata:
  name: $1
spec:
  image:
    ociClaim:
      ref: $2
  kernel:
    ociClaim:
      ref: $KERNEL
    cmdLine: "$CMDLINE"
  cpus: $3
  memory: $4
  diskSize: $5
DOC
}
vmdoc applied "$IMAGE" 1 128MB 512MB >"$TMP/applied.yaml"
check "apply a vm" 0 h apply -f "$TMP/applied.yaml"
equal "apply a vm output" "$OUT" "vm/applied created"
check "create --config of the applied vm" 1 h create --config "$TMP/applied.yaml"
expect "create says start" "$ERR" "'hearth start applied' starts it"
check "start the applied vm" 0 h start applied "${FC[@]}"
equal "applied runs" "$(col "$ROOT" applied state)" "Running"
equal "applied launched with" "$(launched "$ROOT" applied)" "1 134217728"
check "kill applied" 0 h kill applied
vmdoc applied "$IMAGE" 2 256MB 512MB >"$TMP/applied.yaml"
check "apply cpus and memory" 0 h apply -f "$TMP/applied.yaml"
equal "apply configured" "$OUT" "vm/applied configured"
check "start with the new cpus and memory" 0 h start applied "${FC[@]}"
equal "applied launched with new" "$(launched "$ROOT" applied)" "2 268435456"
check "kill applied again" 0 h kill applied
vmdoc applied "$IMAGE" 2 256MB 1GB >"$TMP/applied.yaml"
check "apply a new disk size" 1 h apply -f "$TMP/applied.yaml"
expect "disk size refused" "$ERR" "spec.diskSize"
expect "disk size: how" "$ERR" "hearth rm applied"
vmdoc applied "$RIMG" 2 256MB 512MB >"$TMP/applied.yaml"
check "apply a new image" 1 h apply -f "$TMP/applied.yaml"
expect "image refused" "$ERR" "spec.image.ociClaim.ref"
equal "disk size kept" "$(col "$ROOT" applied disk_size_bytes)" "536870912"

# ---- local references, no registry reachable --------------------------------------
T0=$(now_ms)
check "create by image id prefix" 0 nonet "$HEARTH" --root "$ROOT" create "${IMAGE_ID:0:6}" \
    --name byid -k "$KERNEL" "${RUN[@]}"
echo "create by id prefix without a registry: $(($(now_ms) - T0)) ms"
equal "id prefix: the image" "$(col "$ROOT" byid image)" "$IMAGE"
check "image import without a tag" 0 h image import "oci-layout:$TMP/fx/hearth-e2e"
expect "named latest" "$OUT" "localhost/hearth-e2e:latest"
check "create localhost/NAME (no tag)" 0 nonet "$HEARTH" --root "$ROOT" create localhost/hearth-e2e \
    --name notag -k "$KERNEL" "${RUN[@]}"
equal "no tag: latest" "$(col "$ROOT" notag image)" "localhost/hearth-e2e:latest"
check "-k a local kernel's full reference" 0 nonet "$HEARTH" --root "$ROOT" create "$IMAGE" \
    --name kref -k "docker.io/library/$KERNEL" "${RUN[@]}"
equal "kernel by reference" "$(col "$ROOT" kref kernel)" "$KERNEL"
check "-k a kernel id prefix" 0 nonet "$HEARTH" --root "$ROOT" create "$IMAGE" \
    --name kid -k "${KERNEL_ID:0:6}" "${RUN[@]}"
equal "kernel by id prefix" "$(col "$ROOT" kid kernel)" "$KERNEL"
check "an image that is nowhere" 1 nonet "$HEARTH" --root "$ROOT" create nosuch-image:1 -k "$KERNEL"
expect "failed pull: nothing here" "$ERR" "no local image matches 'nosuch-image:1'"
check "a kernel that is nowhere" 1 nonet "$HEARTH" --root "$ROOT" create "$IMAGE" -k nosuch
expect "failed pull: no kernel here" "$ERR" "no local kernel matches 'nosuch'"
check "a localhost/ name not here" 1 nonet "$HEARTH" --root "$ROOT" create localhost/hearth-e2e:9
expect "localhost: not pulled" "$ERR" "no local image matches 'localhost/hearth-e2e:9'"
expect "localhost: what is here" "$ERR" "'localhost/hearth-e2e:1'"
check "image import of a layout directory" 1 h image import "$TMP/fx/hearth-e2e"
expect "suggests oci-layout:" "$ERR" "hearth image import oci-layout:$TMP/fx/hearth-e2e"
check "doctor clean" 0 h doctor

finish
