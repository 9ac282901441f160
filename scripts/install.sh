#!/usr/bin/env bash
# Idempotent installer: system packages (Xvfb, Qt's xcb needs, EGL), the
# virtual environment at .venv/, pinned Python packages, and the tracker model
# (checked by sha256). Safe to run again; does nothing that is already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(xvfb xauth libegl1 libgl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-keysyms1 libxcb-shape0 libglib2.0-0 libfontconfig1 libdbus-1-3)
# Chromium only for the tests (tests/test_batch.py opens the batch report in a headless browser;
# ~290 MB installed): test.sh sets FACESTUDIO_TEST_BROWSER=1; CI=true also asks for it.
if [ "${CI:-}" = "true" ] || [ "${FACESTUDIO_TEST_BROWSER:-}" = "1" ]; then
  APT_PACKAGES+=(chromium)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install] apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv"
  "$PY" -m venv .venv
fi
# pip warns about this machine's local index folders it cannot use: hide that noise only
pipi() { .venv/bin/python -m pip install -q --progress-bar off "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }
STAMP=.venv/.facestudio-installed
REQ_HASH="$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$REQ_HASH" ]; then
  echo "[install] python packages"
  pipi --upgrade pip
  pipi -r requirements.txt
  pipi --no-deps -r requirements-nodeps.txt
  # exactly one OpenCV, without Qt 5
  for bad in opencv-python opencv-contrib-python opencv-contrib-python-headless; do
    if .venv/bin/python -m pip show -q "$bad" >/dev/null 2>&1; then
      echo "[install] removing $bad (bundles Qt 5 / duplicates cv2)"; .venv/bin/python -m pip uninstall -y -q "$bad"
      pipi --force-reinstall --no-deps opencv-python-headless==5.0.0.93
    fi
  done
  echo "$REQ_HASH" > "$STAMP"
fi
# The tracker model: verified every time (cheap) so a corrupt install is caught here.
.venv/bin/python -c 'import sys; from core.tracking.model_file import _main; sys.exit(_main(["--verify"]))'
