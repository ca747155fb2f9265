# kernels/cuda compiles its embedded CUDA C with NVRTC at run time. On a GPU machine NVRTC comes
# with the CUDA install (or pip's nvidia-cuda-nvrtc wheel); on this CPU-only Debian 12 machine we
# install just Debian's NVRTC 11.8 (non-free, package libnvrtc11.2, ~40 MB with its builtins) so
# that kernels/cuda's TestNVRTCCompilesEveryKernel really compiles every kernel to PTX for
# compute_90. NVRTC 11.8 predates sm_90a, so that test targets compute_90. No driver, no cuBLAS,
# no toolkit (the full nvidia-cuda-toolkit is 2.4 GB; see DEPENDENCIES.md gotcha 10).
# Set UMT_SKIP_NVRTC=1 to skip; the test then skips with a message.
if [[ "${UMT_SKIP_NVRTC:-0}" != 1 ]] && ! ldconfig -p 2>/dev/null | grep 'libnvrtc\.so' >/dev/null; then
  nonfree=/etc/apt/sources.list.d/umt-nonfree.sources
  if [[ ! -e $nonfree ]]; then
    echo "setup: enabling Debian bookworm contrib/non-free for libnvrtc11.2 ($nonfree)" >&2
    $SUDO tee "$nonfree" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_updated=0 # the new components need a fresh package list
  fi
  if ((apt_updated == 0)); then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  if apt-cache show libnvrtc11.2 >/dev/null 2>&1; then
    need_pkgs libnvrtc11.2
  else
    echo "setup: libnvrtc11.2 not available from the apt sources; kernels/cuda's NVRTC test will skip" >&2
  fi
fi
