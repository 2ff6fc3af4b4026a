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

# The end-to-end tests (tests/e2e) drive Debian's chromium through Playwright; Playwright's own
# browser download is not used. Without a way to install it, those tests skip and say why.
setup_browser() {
  if [ -x /usr/bin/chromium ]; then
    return
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "dev.sh: /usr/bin/chromium is missing and there is no root or sudo to install it; e2e tests will skip" >&2
      return
    fi
    sudo="sudo"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: /usr/bin/chromium is missing and apt-get is not available; e2e tests will skip" >&2
    return
  fi
  echo "dev.sh: installing chromium for the end-to-end tests (about a minute)" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

case "${1:-}" in
  app)
    setup
    # the system allocator, whose freed pages the memory budget hands back (README, "Memory and time")
    PYTHONMALLOC="${PYTHONMALLOC:-malloc}" exec .venv/bin/streamlit run app.py "${@:2}"
    ;;
  test)
    setup
    setup_browser
    # the linter and the formatter hold the code's shape (pyproject.toml [tool.ruff])
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    exec .venv/bin/python -m pytest "${@:2}"
    ;;
  *)
    echo "usage: ./dev.sh app | ./dev.sh test" >&2
    exit 2
    ;;
esac
