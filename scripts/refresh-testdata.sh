#!/usr/bin/env bash
# Refreshes the project's lean copy of the shared fixtures into testdata/.
# Tests never read ../shared: they read testdata/ (or UMT_REFDATA / UMT_VIDEOS when set).
# Usage: scripts/refresh-testdata.sh [SHARED_DIR]   (default: ../shared next to the repo)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${1:-$root/../shared}"
if [[ ! -d "$shared/refdata/umt" || ! -d "$shared/testdata/videos" ]]; then
  echo "refresh-testdata: $shared has no refdata/umt or testdata/videos; pass the shared folder as the first argument" >&2
  exit 1
fi
# Reference tensors from the official PyTorch code: all small (about 4 MB), copied whole.
rm -rf "$root/testdata/refdata/umt"
mkdir -p "$root/testdata/refdata"
cp -r "$shared/refdata/umt" "$root/testdata/refdata/umt"
# The video corpus: every manifest entry is checked by the tests, so the whole corpus
# (about 20 MB, with reference frames) is copied; the generators come along for provenance.
rm -rf "$root/testdata/videos"
cp -r "$shared/testdata/videos" "$root/testdata/videos"
chmod -R u+w "$root/testdata"
echo "refresh-testdata: copied $(du -sh "$root/testdata" | cut -f1) into testdata/"
