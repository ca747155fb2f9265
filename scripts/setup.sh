#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and demo umt. Idempotent and fast
# when everything is present: it checks before it installs. Run as root (or with sudo on PATH).
#
# What it installs:
#   - FFmpeg 5.1 development libraries + pkg-config (go-astiav v0.16.0 links them through cgo)
#   - the ffmpeg/ffprobe CLI (tests compare against it and make fixtures)
#   - Go module downloads (go mod download), so tests do not fetch lazily under a deadline
#   - whatever each area adds in scripts/setup.d/*.sh (sourced in name order)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

apt_updated=0
# need_pkgs PKG... installs the Debian packages that are not installed yet.
need_pkgs() {
  local missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]})); then
    if ((apt_updated == 0)); then
      echo "setup: apt-get update" >&2
      $SUDO apt-get update -qq
      apt_updated=1
    fi
    echo "setup: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

need_pkgs pkg-config gcc libc6-dev \
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev \
  libswresample-dev ffmpeg

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not on PATH; install Go >= 1.26 (https://go.dev/dl) and rerun" >&2
  exit 1
fi

for f in "$root"/scripts/setup.d/*.sh; do
  [[ -e "$f" ]] || continue
  # shellcheck source=/dev/null
  source "$f"
done

go mod download
echo "setup: ok" >&2
