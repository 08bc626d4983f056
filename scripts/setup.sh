#!/usr/bin/env bash
# Create .venv and install melgan-hf into it (editable) with the extras given as $1 (default: dev).
# Torch first: machines with an NVIDIA GPU get the default (CUDA) build; CPU-only machines get the pinned
# CPU build, which these project machines install from local disk in seconds (an unpinned torch would pull
# several GB of CUDA libraries for nothing). Set MELGAN_TORCH to choose another torch requirement.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
python="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)

if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if [ -n "${MELGAN_TORCH:-}" ]; then
    torch_requirement="$MELGAN_TORCH"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    torch_requirement="torch>=2.4"
  else
    torch_requirement="torch==2.13.0"
  fi
  echo "setup: installing $torch_requirement"
  "${pip[@]}" install --quiet "$torch_requirement"
fi
# The corpus tools the data scripts (and their tests) drive, and the speech synthesizers the app makes its example
# clips with; installed where this runs as root with apt.
packages=()
[[ "$extras" == *dev* || "$extras" == *data* ]] && packages=(flite espeak-ng festival festvox-kdlpc16k fluidsynth fluid-soundfont-gm)
[[ "$extras" == *app* && ${#packages[@]} -eq 0 ]] && packages=(flite espeak-ng)
if [ "${#packages[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
      echo "setup: could not install ${missing[*]}; the tests that need them will be skipped" >&2
  fi
fi
echo "setup: installing melgan-hf[$extras]"
"${pip[@]}" install --quiet -e ".[$extras]"
if [[ "$extras" == *dev* || "$extras" == *eval* ]]; then
  # resemblyzer (speaker similarity) without its dependencies: its webrtcvad needs pkg_resources, and the [eval]
  # extra brings webrtcvad-wheels, which provides the same module.
  "${pip[@]}" install --quiet --no-deps "resemblyzer>=0.1.4"
fi
