#!/usr/bin/env bash
# Runs every Fuzz target in the module for a fixed time each: scripts/fuzz.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-30s}"
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  pkg="./$(dirname "${f#./}")"
  for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz: $pkg $fn for $dur"
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$dur" "$pkg"
  done
done
