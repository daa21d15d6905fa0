#!/usr/bin/env bash
# EdgeFold set-up on a fresh Debian machine (root or sudo, display optional).
#
#   bash scripts/setup.sh app  [ARGS...]   install the app (no torch) and run `python -m app ARGS`
#   bash scripts/setup.sh test [PYTEST ARGS...]  install app+exporter+dev and run the test suite
#   bash scripts/setup.sh deps             only the Debian libraries Qt/QtWebEngine need
#
# Environment: PYTHON (interpreter to use, default python3), EDGEFOLD_VENV (virtualenv to create
# when that interpreter is externally managed, as Debian's own python3 is; default
# ~/.local/share/edgefold/venv), EDGEFOLD_SKIP_APT=1 (never call apt-get).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Shared libraries that PySide6's wheels (QtWebEngineCore, QtWebEngineProcess, the xcb and
# offscreen platform plugins) link against; checked with ldd on a bare Debian 12 (see README).
QT_DEBS=(
  libegl1 libgl1 libgbm1 libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6 libexpat1
  libbrotli1 libgssapi-krb5-2 libnss3 libnspr4 libasound2
  libx11-6 libx11-xcb1 libxext6 libxfixes3 libxcomposite1 libxdamage1 libxrandr2 libxtst6
  libxkbfile1 libxkbcommon0 libxkbcommon-x11-0
  libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1
  libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libxcb-dri3-0 libxcb-glx0
)
PY_DEBS=(python3 python3-venv python3-pip)
XVFB_DEBS=(xvfb xauth)
# The test suite's privacy run (scripts/privacy_check.py) traces the app with strace, the GUI under Xvfb.
TEST_DEBS=(strace xvfb xauth)

log() { echo "[setup] $*" >&2; }
die() { echo "[setup] error: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0

# Print the packages of "$@" that dpkg does not list as installed (a t64-renamed one counts).
missing_debs() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' &&
       ! dpkg-query -W -f='${db:Status-Abbrev}' "${pkg}t64" 2>/dev/null | grep -q '^ii'; then
      echo "$pkg"
    fi
  done
}

# apt-get install whichever of "$@" are missing; apt-get update at most once per run.
apt_install() {
  if [ "${EDGEFOLD_SKIP_APT:-0}" = "1" ]; then log "EDGEFOLD_SKIP_APT=1: not installing $*"; return 0; fi
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    log "not a Debian system: install the equivalents of these yourself: $*"; return 0
  fi
  local missing
  missing=$(missing_debs "$@" | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then return 0; fi
  log "apt-get install $missing"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing </dev/null
}

# Pick a Python >= 3.10; use a virtualenv when that interpreter refuses pip (PEP 668).
select_python() {
  local py="${PYTHON:-}"
  if [ -z "$py" ]; then
    for cand in python3 python; do
      if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        py="$cand"; break
      fi
    done
  fi
  if [ -z "$py" ]; then
    apt_install "${PY_DEBS[@]}"
    py=python3
  fi
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$py is older than Python 3.10"
  local managed
  managed=$("$py" -c 'import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print(int(os.path.exists(marker) and not in_venv))')
  if [ "$managed" = 1 ]; then
    local venv="${EDGEFOLD_VENV:-$HOME/.local/share/edgefold/venv}"
    if [ ! -x "$venv/bin/python" ]; then
      "$py" -c 'import venv, ensurepip' 2>/dev/null || apt_install "${PY_DEBS[@]}"
      log "$py is externally managed: creating virtualenv $venv"
      "$py" -m venv "$venv"
    fi
    py="$venv/bin/python"
  fi
  PY="$py"
  log "python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
}

pip_install() {
  # --progress-bar off: CI logs; torch comes only from the extras' pin (torch==2.13.0).
  "$PY" -m pip install --progress-bar off --root-user-action=ignore -q "$@" </dev/null
}

# Refuse a torch other than the pinned one (an unpinned torch means GBs of CUDA wheels).
check_torch_pin() {
  "$PY" - <<'EOF'
import importlib.metadata as md, sys
try:
    version = md.version("torch")
except md.PackageNotFoundError:
    sys.exit("[setup] error: torch is not installed after pip install")
if not version.startswith("2.13.0"):
    sys.exit(f"[setup] error: torch {version} installed, expected the pinned 2.13.0")
print(f"[setup] torch {version}", file=sys.stderr)
EOF
}

# With no X display, run on a virtual one (Xvfb) so the window and its WebGL viewer still work.
ensure_display() {
  if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ -n "${QT_QPA_PLATFORM:-}" ]; then return 0; fi
  apt_install "${XVFB_DEBS[@]}"
  command -v Xvfb >/dev/null || die "no display and no Xvfb: set DISPLAY or install xvfb"
  local n=99
  while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
  Xvfb ":$n" -screen 0 1280x900x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  trap 'kill "$XVFB_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
  export DISPLAY=":$n"
  # SwiftShader WebGL under Xvfb (see docs): without gpu-compositing off the web view stays blank.
  export QTWEBENGINE_CHROMIUM_FLAGS="${QTWEBENGINE_CHROMIUM_FLAGS:---disable-gpu-compositing --ignore-gpu-blocklist --enable-unsafe-swiftshader}"
  log "no display found: running on virtual display $DISPLAY (screenshot: DISPLAY=$DISPLAY import -window root shot.png)"
}

main() {
  local mode="${1:-}"
  shift || true
  case "$mode" in
    deps)
      apt_install "${QT_DEBS[@]}"
      ;;
    app)
      apt_install "${QT_DEBS[@]}"
      select_python
      pip_install -e ".[app]"  # the app extra pins onnxruntime, PySide6 and dask/distributed (--scheduler)
      ensure_display
      # Chromium (QtWebEngine) refuses to start as root with its sandbox on.
      if [ "$(id -u)" -eq 0 ]; then export QTWEBENGINE_DISABLE_SANDBOX=1; fi
      log "python -m app $*"
      "$PY" -m app "$@"
      ;;
    test)
      apt_install "${QT_DEBS[@]}" "${TEST_DEBS[@]}"
      select_python
      pip_install -e ".[app,export,dev]"
      check_torch_pin
      export QT_QPA_PLATFORM=offscreen
      if [ "$(id -u)" -eq 0 ]; then export QTWEBENGINE_DISABLE_SANDBOX=1; fi
      log "python -m pytest $*"
      local rc=0
      "$PY" -m pytest "$@" || rc=$?
      if [ "$rc" = 5 ]; then log "pytest collected no tests: counted as a failure"; fi
      return "$rc"
      ;;
    *)
      echo "usage: bash scripts/setup.sh app|test|deps [ARGS...]" >&2
      return 2
      ;;
  esac
}

main "$@"
