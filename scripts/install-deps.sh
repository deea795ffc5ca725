#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages prefopt-mpi needs to build, test and benchmark.
# Does nothing when everything is already present. Needs root (or sudo) only when
# something is missing.
set -euo pipefail

# Build and run-time libraries, tools, and the Python stack for parity tests/plots.
PACKAGES=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libopenblas-dev
  libhdf5-dev hdf5-tools
  libcjson-dev
  libcunit1-dev
  clang libclang-rt-14-dev clang-format clang-tidy cppcheck shellcheck
  python3 python3-numpy python3-h5py python3-torch python3-matplotlib python3-regex
)
# node and npm for the tokenizer parity test; any install providing both commands will do
# (NodeSource's nodejs package bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi
# A one-node Slurm for tests/e2e/slurm_e2e.sh: scripts/test.sh (CI) sets PREFOPT_WITH_SLURM=1;
# the container recipes (docker/) leave it out.
if [ "${PREFOPT_WITH_SLURM:-0}" = 1 ]; then
  PACKAGES+=(slurmctld slurmd slurm-client munge)
fi
if [ "${PREFOPT_WITH_BENCH:-0}" = 1 ]; then
  PACKAGES+=(hyperfine)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing+=("$p") ;;
  esac
done

if [ ${#missing[@]} -eq 0 ]; then
  # npm packages for the tokenizer parity test (nothing when present)
  exec "$(dirname "$0")/install-npm-deps.sh"
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing packages (${missing[*]}) and no apt-get; install them by hand" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# npm packages for the tokenizer parity test (nothing when present)
"$(dirname "$0")/install-npm-deps.sh"
