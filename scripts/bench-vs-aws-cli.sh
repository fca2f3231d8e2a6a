#!/usr/bin/env bash
# Full fetch, amiwatch vs the AWS CLI, on the same embedded endpoint (see BENCHMARKS.md).
# Usage: scripts/bench-vs-aws-cli.sh [SIZES...]   (default: 1000 10000 50000; ROUNDS=7)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-7}
VENV=${VENV:-.bench-venv}
cargo build --release --quiet
# GNU time measures each run's CPU and peak memory.
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
if [ ! -x "$VENV/bin/aws" ]; then
  echo "installing the AWS CLI from PyPI into $VENV ..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check awscli
fi
exec python3 scripts/bench_vs_aws_cli.py --amiwatch target/release/amiwatch --aws "$VENV/bin/aws" --rounds "$ROUNDS" "${@:-1000 10000 50000}"
