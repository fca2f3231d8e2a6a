#!/usr/bin/env bash
# Times what a newcomer waits for (see BENCHMARKS.md, "Build and install"): the README's two
# commands on a fresh clone with the crate cache warm and an empty target folder, ROUNDS times;
# then one release build, its size, and `cargo install --path . --locked`.
# Usage: scripts/bench-build.sh [ROUNDS]   (default 3). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SRC=$(pwd)
WORK=$(mktemp -d /tmp/amiwatch-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cargo fetch --quiet   # the crate cache is warm: downloads are not build time
secs() { local t0=$SECONDS; "$@" >/dev/null 2>&1; echo $((SECONDS - t0)); }
echo "round  cargo-build(s)  cargo-test-build(s)  total(s)"
for r in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/clone"
  git clone --quiet "$SRC" "$WORK/clone"
  cd "$WORK/clone"
  # `cargo run -- --demo` builds exactly what `cargo build` builds, then starts the dashboard.
  a=$(secs cargo build)
  b=$(secs cargo test --no-run)
  echo "$r      $a              $b                   $((a + b))"
  cd "$SRC"
done
cd "$WORK/clone"
rel=$(secs cargo build --release)
echo "release build: ${rel}s; binary: $(du -h target/release/amiwatch | cut -f1) ($(stat -c %s target/release/amiwatch) bytes)"
inst=$(secs cargo install --path . --locked --root "$WORK/root")
echo "cargo install --path . --locked: ${inst}s (reuses nothing: its own target folder); installed: $(du -h "$WORK/root/bin/amiwatch" | cut -f1)"
