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
# Reference tensors from the official PyTorch code: the stage-1 files are small and copied
# whole; of the stage-2 set (about 30 MB) the tests need the weights and the video and image
# batches, so the retrieval and the AdamW-step files stay behind (UMT_REFDATA=../shared/...
# runs the same tests on all of them).
rm -rf "$root/testdata/refdata/umt"
mkdir -p "$root/testdata/refdata"
cp -r "$shared/refdata/umt" "$root/testdata/refdata/umt"
for f in stage2_retrieval stage2_adamw_step; do
  rm -f "$root/testdata/refdata/umt/$f.safetensors" "$root/testdata/refdata/umt/$f.json"
done
# The video corpus: every manifest entry is checked by the tests, so the whole corpus
# (about 20 MB, with reference frames) is copied; the generators come along for provenance.
rm -rf "$root/testdata/videos"
cp -r "$shared/testdata/videos" "$root/testdata/videos"
chmod -R u+w "$root/testdata"
echo "refresh-testdata: copied $(du -sh "$root/testdata" | cut -f1) into testdata/"
