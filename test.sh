#!/usr/bin/env bash
# Install everything (idempotent) and run the whole test suite under Xvfb.
# Extra arguments go to pytest. pytest's exit code is this script's exit code.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# the tests also need Chromium (the batch report is checked in a headless browser)
FACESTUDIO_TEST_BROWSER=1 bash "$ROOT/scripts/install.sh"
cd "$ROOT"
set +e
xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest "$@"
rc=$?
set -e
exit $rc
