#!/usr/bin/env bash
# Builds Temper (release) and runs the durable server on embedded SQLite at localhost:7233.
# Extra arguments go to `temper server start` (e.g. --port 7234 --data-dir /var/lib/temper).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
cargo build --release -p temper
exec target/release/temper server start "$@"
