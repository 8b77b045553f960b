# Sourced before lib/assert.sh by the tests that boot the Debian test image
# (not run). As root, it builds the image (tests/vm/mkdebian.sh, rebuilt only
# when that script changed) into $HEARTH_DEBIAN_CACHE (ctest sets the
# checkout's .cache/debian) while the script is still in the machine's
# network namespace: debootstrap fetches from the Debian mirror, as
# scripts/install-deps fetches packages. lib/assert.sh then moves the script
# into a namespace of its own for everything else, and debian_image checks
# the outcome, which goes along in HEARTH_DEBIAN_BUILD.
if [ "$(id -u)" = 0 ] && [ -z "${HEARTH_TEST_NETNS:-}" ]; then
    _src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
    export HEARTH_DEBIAN_CACHE=${HEARTH_DEBIAN_CACHE:-$_src/.cache/debian}
    _log=$(mktemp)
    _t0=$(date +%s%N)
    if bash "$_src/tests/vm/mkdebian.sh" "$HEARTH_DEBIAN_CACHE" >"$_log" 2>&1; then
        export HEARTH_DEBIAN_BUILD="ok $(tail -1 "$_log") ($((($(date +%s%N) - _t0) / 1000000)) ms)"
        rm -f "$_log"
    else
        export HEARTH_DEBIAN_BUILD="failed $_log"
    fi
fi

# debian_image: the image is there (says how long its build took), else the
# build's log and a failure that ends the script.
debian_image() {
    case "${HEARTH_DEBIAN_BUILD:-}" in
    ok*) echo "${HEARTH_DEBIAN_BUILD#ok }" ;;
    failed*)
        cat "${HEARTH_DEBIAN_BUILD#failed }" >&2
        rm -f "${HEARTH_DEBIAN_BUILD#failed }"
        bad "tests/vm/mkdebian.sh $HEARTH_DEBIAN_CACHE failed (its log above)"
        finish
        exit 1
        ;;
    *)
        bad "the Debian image was not built (lib/debian.sh must be sourced before lib/assert.sh)"
        finish
        exit 1
        ;;
    esac
}
