#!/bin/sh
# The cost of at-rest encryption (issue #24), side by side in one run: builds
# bench/src/bin/at_rest_cost.rs (public API only) against the last commit before at-rest
# encryption and against the working tree, then runs them alternately, twice each, so
# the machine's drift hits both alike. Prints the figures for BENCHMARKS.md.
# Usage: scripts/at-rest-cost.sh [ROUNDS]   (run from the repository root)
set -eu
rounds=${1:-5}
root=$(pwd)
first=$(git log --diff-filter=A --format=%H -- core/src/store/cipher.rs | tail -1)
before=$(git rev-parse "$first^")
wt=$(mktemp -d)
trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"' EXIT
git worktree add --detach -q "$wt" "$before"
mkdir -p "$wt/bench/src/bin"
cp bench/src/bin/at_rest_cost.rs "$wt/bench/src/bin/"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd "$wt" && cargo build -q --release --ignore-rust-version -p fieldsync-bench --bin at_rest_cost)
cp "$CARGO_TARGET_DIR/release/at_rest_cost" "$wt/cost-before"
cargo build -q --release --ignore-rust-version -p fieldsync-bench --bin at_rest_cost
cp "$CARGO_TARGET_DIR/release/at_rest_cost" "$wt/cost-after"
for pass in 1 2; do
  for which in before after; do
    echo "== $which (pass $pass, $(git rev-parse --short HEAD) vs ${before%"${before#???????}"})"
    "$wt/cost-$which" "$rounds"
  done
done
