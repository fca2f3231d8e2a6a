#!/usr/bin/env bash
# The dashboard over an organisation: 1, 20, 80 and 340 feeds x 1,000 tasks and 1 x 100,000,
# in a 200x50 pseudo-terminal against `amiwatch simulate --accounts-by-key` (see issue 17 and
# BENCHMARKS.md). One table row a size: CPU, RSS, first complete screen, key to screen p50/p99,
# q and SIGTERM to exit, requests a minute. About 10 minutes; with --long (RSS at 300 s and the
# steady CPU between 240 and 300 s) 30.
# Usage: scripts/bench-org.sh [--long [--minutes N]] [--sizes 1x1000,340x1000] [BINARY]
#   --minutes N: with --long, each size runs N minutes (RSS at the end, CPU over the last one).
#   BINARY: the release binary to measure; without it this builds target/release/amiwatch.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --long) args+=("--long") ;;
    --sizes) args+=("--sizes" "${2:?--sizes needs a list, e.g. 1x1000,340x1000}"); shift ;;
    --sizes=*) args+=("$1") ;;
    --minutes) args+=("--minutes" "${2:?--minutes needs a number}"); shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench-org.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$binary" ] || { echo "bench-org.sh: one binary only" >&2; exit 2; }; binary="$1" ;;
  esac
  shift
done
if [ -z "$binary" ]; then
  timeout 1h cargo build --release --quiet
  binary=target/release/amiwatch
fi
exec python3 scripts/bench_org.py --amiwatch "$binary" "${args[@]}"
