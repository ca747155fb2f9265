#!/usr/bin/env bash
# Interleaved CPU comparison of umt's CLIP teacher and GEMM with PyTorch at the same thread count
# (docs/bench/teacher.md). Each round runs Go then PyTorch back to back; report the best of the
# rounds for each, since other work on a shared machine only ever slows a run down.
#   bench/teacher_compare.sh [rounds] [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
go test -c -o /tmp/umt-clip.test ./models/clip
go test -c -o /tmp/umt-cpu.test ./kernels/cpu
for r in $(seq "$rounds"); do
  echo "== round $r ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
  GOMAXPROCS=$threads /tmp/umt-cpu.test -test.run XXX -test.bench 'Sgemm/n=1024/default' -test.benchtime 20x | grep Benchmark
  # one timed Encode per line, two lines: the best one is comparable with PyTorch's best of 2
  GOMAXPROCS=$threads /tmp/umt-clip.test -test.run XXX -test.bench 'TeacherViTB16/openblas' -test.benchtime 1x -test.count 2 | grep Benchmark
  /usr/bin/python3 bench/teacher_cpu.py bench --threads "$threads" --reps 2 --gemm-reps 3
done
echo "== pure-Go fallback ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
GOMAXPROCS=$threads /tmp/umt-cpu.test -test.run XXX -test.bench 'Sgemm/n=1024/purego' -test.benchtime 2x | grep Benchmark
