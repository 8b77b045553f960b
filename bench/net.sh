#!/usr/bin/env bash
# Port maps in table inet hearth: the cost of one net_nft_add + net_nft_del
# pair (median of COUNT), and of one net_nft_add with FILL maps present
# against one present (bench/net_nft.c does the measuring, in a network
# namespace of its own: needs root).
#
# Usage: bench/net.sh; knobs: COUNT=100 FILL=1000.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/net.sh: needs root (a network namespace)" >&2; exit 1; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-bench -j2 --target bench_net_nft >/dev/null
build-bench/bench_net_nft "${COUNT:-100}" "${FILL:-1000}"
