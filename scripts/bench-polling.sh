#!/usr/bin/env bash
# Requests per hour, old full polls vs sweeps + fast polls (see BENCHMARKS.md, "Polling").
# Usage: scripts/bench-polling.sh [SECONDS]   (default 600: two sweeps of the new way)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/bench_polling.py --amiwatch target/release/amiwatch --seconds "${1:-600}"
