#!/usr/bin/env bash
# `amiwatch export` of a 40-AMI plan on the embedded endpoint (issue 19, BENCHMARKS.md section 9):
# wall time against the endpoint's own ideal schedule under the 600 GB quota, EC2 requests a
# minute, refusals, and the marketplace and fail-once AMIs handled. --interval 1s and 5s, 3 runs
# each, about 25 minutes at the default 15 GB/s. Raw output in bench-export.txt (or --raw FILE).
# Usage: scripts/bench-export.sh [--rate GB_PER_SEC] [--runs N] [--raw FILE] [BINARY]
#        scripts/bench-export.sh --from-raw FILE    # the table again from a raw output, runs nothing
#   BINARY: the amiwatch to measure; without it this builds target/debug/amiwatch (the figures
#   are the endpoint's schedule and the poll interval, not CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rate|--runs|--raw|--intervals) args+=("$1" "${2:?$1 needs a value}"); shift ;;
    --from-raw) exec python3 scripts/bench_export.py --from-raw "${2:?--from-raw needs a file}" ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench-export.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$binary" ] || { echo "bench-export.sh: one binary only" >&2; exit 2; }; binary="$1" ;;
  esac
  shift
done
if [ -z "$binary" ]; then
  timeout 1h cargo build --quiet
  binary=target/debug/amiwatch
fi
exec python3 scripts/bench_export.py --amiwatch "$binary" "${args[@]}"
