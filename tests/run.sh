#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test, browser included.
set -euo pipefail
cd "$(dirname "$0")/.."

# Only what the tests need beyond pip: Debian's Chromium for the browser tests, and openssl to
# make a throwaway certificate for the https audio-link tests. The app itself needs no system
# package (ffmpeg comes from the imageio-ffmpeg wheel).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python -m pip install -q -r requirements-dev.txt
# Tests and the processes they start send nothing anywhere but loopback.
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
# Playwright drives Debian's Chromium (/usr/bin/chromium); its own browser download is not needed.
exec python -m pytest "$@"
