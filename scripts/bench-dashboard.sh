#!/usr/bin/env bash
# CPU, memory and start-up of the live dashboard in a pseudo-terminal (see BENCHMARKS.md).
# Usage: scripts/bench-dashboard.sh   (SECONDS_PER_RUN=30)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/bench_dashboard.py --amiwatch target/release/amiwatch --seconds "${SECONDS_PER_RUN:-30}"
