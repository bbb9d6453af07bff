#!/usr/bin/env bash
# End-to-end tests with the official Temporal TypeScript SDK (tests/sdk-typescript): its client,
# worker and test environments against the temper binary (target/debug/temper, or $TEMPER_BIN).
# node_modules is installed with `npm ci` only when missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

export TEMPER_BIN="${TEMPER_BIN:-$PWD/target/debug/temper}"
if [ ! -x "$TEMPER_BIN" ]; then
    echo "$TEMPER_BIN is missing: build it with \`cargo build -p temper\`" >&2
    exit 1
fi

cd tests/sdk-typescript
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "== npm ci (tests/sdk-typescript)"
    npm ci --no-audit --no-fund --ignore-scripts
fi

echo "== compiling the TypeScript suite"
rm -rf dist
node_modules/.bin/tsc -p .

echo "== TypeScript SDK tests against $TEMPER_BIN"
# Each test file runs in its own node process, one at a time; every test has its own timeout,
# and the outer timeout ends a run whose process would not exit.
timeout --kill-after=10 600 \
    node --test --test-concurrency=1 --test-reporter=spec "$@" dist/*.test.js
