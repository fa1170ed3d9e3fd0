#!/usr/bin/env bash
# Idempotent install of everything ibllm's build, tests and demo need:
#   1. the Debian packages (apt-get runs only when one is missing, `apt-get update` at most once),
#   2. LibTorch 2.x + CUDA as the PyTorch wheel ships it, pinned, into the project-local virtual
#      environment .venv/ (git-ignored), where CMake finds it without any exported variable.
# A second run checks both and returns in about a second. docs/gpu.md says why this torch and why
# the wheel's own CUDA libraries (not the toolkit's).
# Usage: launch/install_deps.sh [--dev]   (numpy always; --dev adds pillow to the venv for the
#        image fixture generators in tests/golden/gen/)
# Environment: IBLLM_VENV (default <repo>/.venv), IBLLM_PYTHON (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The pinned torch: the newest release whose CUDA major (13) matches the toolkit on our machines.
# CMakeLists.txt accepts IBLLM_TORCH_MIN..IBLLM_TORCH_MAX (2.11, the GPU machine, .. 2.15).
TORCH_SPEC="torch==2.15.0"

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git binutils
  libgloo-dev libopenblas0-pthread
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-videoio-dev
  libsentencepiece-dev sentencepiece
  libyaml-cpp-dev libspdlog-dev libfmt-dev catch2 nlohmann-json3-dev
  libsndfile1-dev zlib1g-dev
)
DEV=0
if [[ "${1:-}" == "--dev" ]]; then DEV=1; fi

# ---------------------------------------------------------------- Debian packages
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install_deps: all ${#PKGS[@]} Debian packages present"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
      echo "install_deps: missing Debian packages (${missing[*]}) and not root; install them as root" >&2
      exit 1
    fi
  fi
  echo "install_deps: installing ${#missing[@]} missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- torch wheel in .venv
VENV="${IBLLM_VENV:-$PWD/.venv}"
PY="${IBLLM_PYTHON:-python3}"
STAMP="$VENV/.ibllm-torch"
extra=(numpy)   # the tests' torch.load / generator cross-checks (tests/golden/gen/*.py) need it
if [[ $DEV -eq 1 ]]; then extra+=(pillow); fi
want="$TORCH_SPEC ${extra[*]}"
site_torch() { compgen -G "$VENV/lib/python3*/site-packages/torch/version.py" | head -n 1; }
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -n "$(site_torch)" ]]; then
  echo "install_deps: $TORCH_SPEC present in $VENV ($(grep -o "__version__ = '[^']*'" "$(site_torch)" | cut -d"'" -f2))"
  exit 0
fi
if ! command -v "$PY" >/dev/null; then
  echo "install_deps: no '$PY' found; install Python 3.10+ (Debian: apt-get install python3 python3-venv) or set IBLLM_PYTHON" >&2
  exit 1
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "install_deps: creating the virtual environment $VENV ($("$PY" --version 2>&1))"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    # Debian's own python3 needs python3-venv for `-m venv`.
    rm -rf "$VENV"
    if [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq --no-install-recommends python3-venv; fi
    "$PY" -m venv "$VENV"
  fi
fi
echo "install_deps: pip install $TORCH_SPEC ${extra[*]:-} into $VENV (about 5 GB with its CUDA libraries; cached by pip after the first time)"
t0=$SECONDS
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile "$TORCH_SPEC" "${extra[@]}"
echo "$want" > "$STAMP"
echo "install_deps: torch $(grep -o "__version__ = '[^']*'" "$(site_torch)" | cut -d"'" -f2) installed in $((SECONDS - t0)) s"
