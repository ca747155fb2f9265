#!/usr/bin/env bash
# make demo: run `umt prep` locally (Prism in-process) on the bundled sample — four good videos
# and one truncated file — with the tiny teacher (RANDOM weights, for demonstration only), then
# print the run report and inspect the resulting shards.
#   scripts/demo.sh [OUTPUT_DIR]     (default: out/demo)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${1:-out/demo}"
mkdir -p bin
echo "demo: building bin/umt" >&2
go build -o bin/umt ./cmd/umt
rm -rf "$out"
echo "demo: umt prep testdata/sample/manifest.jsonl -> $out" >&2
bin/umt prep \
  --input testdata/sample/manifest.jsonl \
  --output "$out" \
  --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors \
  --teacher-name "tiny random CLIP (demo only)" \
  --teacher-resolution 64 --size 64 --frames 4 --layout visible:2
echo
echo "demo: run report ($out/prep-report.json):"
cat "$out/prep-report.json"
echo
echo "demo: umt inspect shards $out"
bin/umt inspect shards "$out"
