#!/usr/bin/env bash
# make worker: build the Beam worker binary remote runners (Dataflow, Flink with Docker) stage
# through --worker_binary. It is the umt binary itself (main routes --worker invocations to the
# Beam harness), built for linux/amd64 with cgo, because FFmpeg (go-astiav) and OpenBLAS are
# linked through cgo and Beam's own cross-compile uses CGO_ENABLED=0.
#
# It must run against the same glibc and FFmpeg 5.1 libraries as the worker image
# (runners/container/Dockerfile, Debian 12). On a Debian 12 amd64 host this script builds
# natively; elsewhere run it inside the image's builder stage (see docs/RUNNERS.md).
#   scripts/build-worker.sh [OUTPUT]     (default: bin/umt-worker)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${1:-bin/umt-worker}"

if [[ "$(uname -s)" != Linux || "$(uname -m)" != x86_64 ]]; then
  echo "build-worker: this host is $(uname -s)/$(uname -m); the worker must be built on linux/amd64" >&2
  echo "  build it in the worker image's builder: docker build --target builder -t umt-builder -f runners/container/Dockerfile ." >&2
  echo "  then: docker run --rm -v \"\$PWD\":/src -w /src umt-builder scripts/build-worker.sh" >&2
  exit 1
fi
if ! grep -q 'VERSION_ID="12"' /etc/os-release 2>/dev/null; then
  echo "build-worker: warning: not Debian 12; the worker image is Debian 12 (glibc 2.36, FFmpeg 5.1) and the binary must link the same libraries" >&2
fi
for pc in libavcodec libavformat libavutil libswscale; do
  if ! pkg-config --exists "$pc"; then
    echo "build-worker: $pc development files are missing; run scripts/setup.sh" >&2
    exit 1
  fi
done

mkdir -p "$(dirname "$out")"
echo "build-worker: go build (linux/amd64, cgo) -> $out" >&2
# -s -w keeps the staged artifact small (~60 MB); every DoFn and function is registered with
# beam/register, which stripped binaries need.
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags="-s -w" -o "$out" ./cmd/umt

# The binary must start as a worker and find its shared libraries.
if ldd "$out" | grep -q "not found"; then
  echo "build-worker: missing shared libraries:" >&2
  ldd "$out" | grep "not found" >&2
  exit 1
fi
"$out" version >/dev/null
echo "build-worker: ok: $(du -h "$out" | cut -f1) $out; libraries it needs in the image:" >&2
ldd "$out" | awk '/=>/ {print "  " $1}' | grep -E 'libav|libsw|openblas' >&2 || true
