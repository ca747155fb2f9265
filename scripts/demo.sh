#!/usr/bin/env bash
# make demo: the first run of umt, end to end on the bundled sample (four good videos and one
# truncated file), locally: `umt prep` on Prism in-process with the tiny teacher (RANDOM
# weights, for demonstration only), then a few stage-1 training steps on the dataset it wrote.
# It prints the run report, the dataset summary, and where the checkpoint and loss plot are.
#   scripts/demo.sh [OUTPUT_DIR]     (default: out/demo; the training run goes to OUTPUT_DIR-run)
# UMT_BIN names a umt binary to use instead of building bin/umt (tests set it).
# The commands between "demo-commands" markers are the ones README.md shows; a test runs them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${1:-out/demo}"
run="$out-run"
umt="${UMT_BIN:-bin/umt}"
if [[ -z "${UMT_BIN:-}" ]]; then
  mkdir -p bin
  echo "demo: building bin/umt" >&2
  go build -o bin/umt ./cmd/umt
fi
rm -rf "$out" "$run"
echo "demo: umt prep testdata/sample/manifest.jsonl -> $out" >&2
# demo-commands begin
"$umt" prep --input testdata/sample/manifest.jsonl --output "$out" \
  --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors \
  --teacher-name "tiny random CLIP (demo only)" \
  --teacher-resolution 64 --size 64 --frames 4 --layout visible:2
"$umt" inspect shards "$out"
"$umt" train stage1 --data "$out" --config tiny --output "$run" --max-steps 20 --log-every 5
# demo-commands end
echo
echo "demo: run report:  $out/prep-report.json (drawn in $out/prep-report.png)"
echo "demo: checkpoint:  $run/checkpoints/$(cat "$run/checkpoints/latest")"
echo "demo: loss plot:   $run/loss.png"
echo "demo: metrics:     $run/metrics.jsonl"
