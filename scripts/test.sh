#!/usr/bin/env bash
# The test command: installs what the suite needs into .venv, then runs ruff and the whole pytest suite
# (unit and integration; integration tests use a real Kafka-protocol broker and a real Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
touch .venv/.streamapp-installed
.venv/bin/python -m streamapp.warm  # numba kernels compiled once, into the user cache
# Debian packages the suite uses: redis-server (started by the suite when nothing answers on REDIS_URL),
# chromium (the web page's end-to-end test), the DejaVu fonts (TrueType captions: Latin, Greek,
# Cyrillic, Arabic) and Noto CJK (Chinese, Japanese, Korean captions), espeak-ng (speech with
# exact sentence times for the clip-edge tests) and ffmpeg (an independent loudness meter to check ours).
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || missing+=(fonts-noto-cjk)  # Chinese/Japanese/Korean captions
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  ($sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "could not install ${missing[*]}"
fi
.venv/bin/ruff check streamapp tests
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
