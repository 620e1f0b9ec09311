#!/usr/bin/env bash
# Run the streamapp CLI from this checkout, installing it into .venv first if needed.
#   bash scripts/run.sh process video.mp4 --out clips
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python=${PYTHON:-python3}
[ -x "$root/.venv/bin/python" ] || "$python" -m venv "$root/.venv"
stamp="$root/.venv/.streamapp-installed"
if [ ! -f "$stamp" ] || [ "$root/constraints.txt" -nt "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] \
   || [ "$root/requirements-nodeps.txt" -nt "$stamp" ]; then
  echo "installing streamapp into .venv (first run only)..." >&2
  "$root/.venv/bin/python" -m pip install -q --disable-pip-version-check -c "$root/constraints.txt" -e "$root" >&2
  "$root/.venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$root/requirements-nodeps.txt" >&2
  "$root/.venv/bin/python" -m streamapp.warm >&2  # compile kernels now: the first run is as fast as the tenth
  touch "$stamp"
fi
exec "$root/.venv/bin/streamapp" "$@"
