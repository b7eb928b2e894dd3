#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Streamline needs, only those missing.
#   scripts/install-deps.sh runtime   build + run the server and the mock SFU
#   scripts/install-deps.sh test      runtime + what the test suite uses
# Runs apt-get as root, or through sudo. Never prompts (CI has no stdin).
set -euo pipefail

profile=${1:-runtime}
runtime_pkgs=(
  gcc pkg-config make
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x gstreamer1.0-tools
  graphviz curl ca-certificates
)
test_pkgs=(ffmpeg redis-server procps chromium nginx libnginx-mod-rtmp)

case "$profile" in
  runtime) want=("${runtime_pkgs[@]}") ;;
  test) want=("${runtime_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 runtime|test" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing missing packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
    if ! sudo -n true 2>/dev/null; then SUDO=(sudo); fi
  else
    echo "error: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: the toolchain named in go.mod. Debian's golang-go is older, but any Go
# from 1.21 on fetches the right toolchain itself (GOTOOLCHAIN=auto).
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "note: Go found at /usr/local/go/bin; add it to PATH (the Makefile does)" >&2
elif ! command -v go >/dev/null 2>&1; then
  echo "==> installing Go from the distribution (it fetches the go.mod toolchain itself)"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq golang-go >/dev/null; else sudo apt-get install -y -qq golang-go >/dev/null; fi
fi
