#!/usr/bin/env bash
# Idempotent install of every Debian package that ibllm's build, tests and demo need.
# Runs `apt-get update` at most once, and only when something is missing.
# Usage: launch/install_deps.sh [--dev]   (--dev adds python3-torch for regenerating fixtures)
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libgloo-dev libopenblas0-pthread
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-videoio-dev
  libsentencepiece-dev sentencepiece
  libyaml-cpp-dev libspdlog-dev libfmt-dev catch2 nlohmann-json3-dev
  libsndfile1-dev zlib1g-dev
)
if [[ "${1:-}" == "--dev" ]]; then
  PKGS+=(python3-torch python3-numpy python3-protobuf python3-pil python3-torchaudio python3-torchvision)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install_deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install_deps: missing packages (${missing[*]}) and not root; install them as root" >&2
    exit 1
  fi
fi
echo "install_deps: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install_deps: done"
