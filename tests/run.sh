#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test, browser included.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
if ((${#missing[@]})); then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python -m pip install -q -r requirements-dev.txt
# Playwright drives Debian's Chromium (/usr/bin/chromium); its own browser download is not needed.
exec python -m pytest "$@"
