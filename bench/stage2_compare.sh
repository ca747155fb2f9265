#!/usr/bin/env bash
# Interleaved CPU comparison of umt's stage-2 training step with PyTorch at the same thread count
# (docs/bench/stage2.md): each round runs Go tiny, PyTorch tiny, Go ViT-B/16, PyTorch ViT-B/16
# back to back, so a shared machine's load hits both sides of a ratio alike.
#   bench/stage2_compare.sh [rounds] [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
go test -c -o /tmp/umt-stage2.test ./training/stage2
cd training/stage2
for r in $(seq "$rounds"); do
  echo "== round $r ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
  GOMAXPROCS=$threads UMT_BENCH_THREADS=$threads /tmp/umt-stage2.test -test.run '^$' -test.bench 'Stage2Step/tiny' -test.benchtime 20x | grep Benchmark
  /usr/bin/python3 ../../bench/stage2_cpu.py --preset tiny --batch 4 --steps 10 --threads "$threads"
  GOMAXPROCS=$threads UMT_BENCH_THREADS=$threads /tmp/umt-stage2.test -test.run '^$' -test.bench 'Stage2Step/b16' -test.benchtime 2x | grep Benchmark
  /usr/bin/python3 ../../bench/stage2_cpu.py --preset b16 --batch 2 --steps 2 --threads "$threads"
done
