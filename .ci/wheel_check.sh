#!/usr/bin/env bash
# Build the sdist and the wheel, check their metadata, install the wheel in a
# clean virtual environment outside the source tree and smoke-test it there.
# Usage: .ci/wheel_check.sh PYTHON  (a Python with `build` and `twine`)
set -euo pipefail
python=$1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rm -rf dist
"$python" -m build --outdir dist . >/dev/null
"$python" -m twine check --strict dist/*
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet dist/*.whl
cd "$scratch"
"$scratch/venv/bin/python" "$root/.ci/smoke_wheel.py" "$root"/dist/*.whl
