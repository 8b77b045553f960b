# Shared by the VM integration tests (sourced after assert.sh, not run):
# the processes of the test root and their cleanup (procs.sh), the fixtures
# of tests/vm (a busybox image as an OCI layout in $TMP/fx and a kernel with
# its initrd, kernel.env; QEMU, busybox or a kernel missing fails the test),
# and small helpers.
VMT="$HEARTH_SRC/tests/vm"

. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"

need qemu-system-x86_64 qemu-system-x86
if ! bash "$VMT/mkfixtures.sh" "$TMP/fx" 2>"$TMP/fx.err"; then
    cat "$TMP/fx.err" >&2
    echo "FAIL: tests/vm/mkfixtures.sh"
    exit 1
fi
. "$TMP/fx/kernel.env"
IMAGE=localhost/hearth-e2e:1
KERNEL=hearth-e2e-kernel:1

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# sqlv SQL: one value, no header.
sqlv() { h sql -o csv "$1" | tail -n +2 | tr -d '\r'; }
