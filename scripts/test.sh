#!/usr/bin/env bash
# Runs every test on a fresh machine: formatting and lint checks, the Rust unit and
# conformance tests, then the end-to-end suite (official Python SDK against the real binary).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh

echo "== setting up the Python environment"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt

# The Web UI tests drive Debian's Chromium through its ChromeDriver (browser builds cannot be
# downloaded here, so Selenium is pointed at these).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "== installing Debian's chromium and chromium-driver for the Web UI tests"
    as_root=""
    if [ "$(id -u)" != 0 ]; then as_root="sudo"; fi
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# Exports TEMPER_TEST_POSTGRES for the Rust tests and the e2e suite (starting a private
# server, stopped on exit, when the machine has none).
source scripts/postgres.sh

echo "== cargo test"
cargo test --workspace --quiet

cargo build --quiet -p temper
echo "== end-to-end tests (TypeScript SDK against target/debug/temper)"
scripts/test-typescript.sh

# The SQLite and PostgreSQL passes of the Python SDK suite run side by side: their tests wait
# on servers, timers and workers far more than they compute, so two at once take about as
# long as one (each pass has its own base directory; the PostgreSQL pass reports after).
echo "== end-to-end tests (Python SDK against target/debug/temper): SQLite and PostgreSQL passes at once"
cd tests/e2e
runs=$(mktemp -d)
# Each pass takes its servers' ports from a range of its own (conftest.py, `free_port`).
TEMPER_E2E_STORE=postgres TEMPER_E2E_PORTS=21000-31999 ../../.venv/bin/python -m pytest -q \
    -p no:cacheprovider --basetemp="$runs/postgres" "$@" >"$runs/postgres.log" 2>&1 &
postgres_pass=$!
sqlite_status=0
TEMPER_E2E_PORTS=10000-20999 ../../.venv/bin/python -m pytest -q -p no:cacheprovider \
    --basetemp="$runs/sqlite" "$@" || sqlite_status=$?
postgres_status=0
wait "$postgres_pass" || postgres_status=$?
echo "== end-to-end tests again with the servers on PostgreSQL ($TEMPER_TEST_POSTGRES)"
cat "$runs/postgres.log"
rm -rf "$runs"
if [ "$sqlite_status" != 0 ] || [ "$postgres_status" != 0 ]; then
    echo "end-to-end tests failed (SQLite pass: $sqlite_status, PostgreSQL pass: $postgres_status)"
    exit 1
fi
