#!/usr/bin/env bash
# Builds Temper (release) and runs the durable server on embedded SQLite at localhost:7233,
# with the Web UI at http://localhost:8233 ($TEMPER_UI_PORT picks another port; set it empty
# for none). Extra arguments go to `temper server start` (e.g. --port 7234 --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
cargo build --release -p temper
ui=()
if [ -n "${TEMPER_UI_PORT-8233}" ]; then
    ui=(--ui-port "${TEMPER_UI_PORT-8233}")
fi
exec target/release/temper server start "${ui[@]}" "$@"
