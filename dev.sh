#!/usr/bin/env bash
# One command per job on a fresh machine: `./dev.sh app` (set up, open the app) and
# `./dev.sh test` (set up, run the whole test suite). Extra arguments go to streamlit / pytest.
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  # torch>=2.3,<2.14 resolves to the local CPU wheel of 2.13.0 where it exists (no CUDA download).
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
}

case "${1:-}" in
  app)
    setup
    exec .venv/bin/streamlit run app.py "${@:2}"
    ;;
  test)
    setup
    exec .venv/bin/python -m pytest "${@:2}"
    ;;
  *)
    echo "usage: ./dev.sh app | ./dev.sh test" >&2
    exit 2
    ;;
esac
