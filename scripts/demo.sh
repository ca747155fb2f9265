#!/usr/bin/env bash
# make demo: the first run of umt, end to end on the bundled sample (four good videos and one
# truncated file), locally: `umt prep` on Prism in-process with the tiny teacher (RANDOM
# weights, for demonstration only) and the captions tokenized, a few stage-1 training steps on
# the dataset it wrote, a few stage-2 (video-language) steps from that student with the
# reference set's tiny text encoder (random weights too), and zero-shot retrieval on the sample.
# It prints the run report, the dataset summary, and where the checkpoints and loss plots are.
#   scripts/demo.sh [OUTPUT_DIR]     (default: out/demo; the stage-1 run goes to OUTPUT_DIR-run,
#                                     the stage-2 run to OUTPUT_DIR-stage2)
# UMT_BIN names a umt binary to use instead of building bin/umt (tests set it).
# The commands between "demo-commands" markers are the ones README.md shows; a test runs them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${1:-out/demo}"
run="$out-run"
s2="$out-stage2"
umt="${UMT_BIN:-bin/umt}"
if [[ -z "${UMT_BIN:-}" ]]; then
  mkdir -p bin
  echo "demo: building bin/umt" >&2
  go build -o bin/umt ./cmd/umt
fi
rm -rf "$out" "$run" "$s2"
echo "demo: umt prep testdata/sample/manifest.jsonl -> $out" >&2
# demo-commands begin
"$umt" prep --input testdata/sample/manifest.jsonl --output "$out" \
  --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors \
  --teacher-name "tiny random CLIP (demo only)" \
  --teacher-resolution 64 --size 64 --frames 4 --layout visible:2 \
  --tokenizer testdata/refdata/umt/bert-base-uncased
"$umt" inspect shards "$out"
"$umt" train stage1 --data "$out" --config tiny --output "$run" --max-steps 20 --log-every 5
"$umt" train stage2 --data "$out" --init "$run"/checkpoints \
  --text testdata/refdata/umt/stage2_tiny_weights.safetensors \
  --config tiny --set vision.return_layers=3 --output "$s2" --max-steps 4 --log-every 2
"$umt" eval retrieval --data "$out" --weights "$s2"/checkpoints
# demo-commands end
echo
echo "demo: run report:  $out/prep-report.json (drawn in $out/prep-report.png)"
echo "demo: checkpoint:  $run/checkpoints/$(cat "$run/checkpoints/latest")"
echo "demo: loss plot:   $run/loss.png"
echo "demo: metrics:     $run/metrics.jsonl"
echo "demo: stage 2:     $s2/checkpoints/$(cat "$s2/checkpoints/latest") (official multi_modality state dict), $s2/loss.png"
