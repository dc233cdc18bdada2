#!/usr/bin/env bash
# Builds Rasa Open Source 3.6.21 in .rasa-env with the Python 3.10 interpreter from pyenv (Rasa 3.6 runs on
# Python <= 3.10). About 80-100 s and 2.7 GB. Used by benchmarks/rasa_side_by_side.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY310=$(ls -d "$HOME"/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null | tail -n 1 || true)
if [ -z "$PY310" ]; then
  echo "SKIP: no Python 3.10 in ~/.pyenv/versions; Rasa 3.6 needs it" >&2
  exit 0
fi
ENV_DIR=${BANKBOT_RASA_ENV:-.rasa-env}
if [ ! -x "$ENV_DIR/bin/rasa" ]; then
  "$PY310" -m venv "$ENV_DIR"
  "$ENV_DIR/bin/pip" install --quiet --upgrade pip
  "$ENV_DIR/bin/pip" install --quiet rasa==3.6.21 jieba==0.42.1
fi
RASA_TELEMETRY_ENABLED=false "$ENV_DIR/bin/rasa" --version 2>/dev/null | sed -n 1,3p
