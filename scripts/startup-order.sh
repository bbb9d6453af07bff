#!/usr/bin/env bash
# Regenerates crates/temper/startup-order.txt: the functions the release server runs from
# start-up to its first calls and a few idle seconds, which its link places together (see
# crates/temper/build.rs), so that an idle server maps little of its code. Run it after
# upgrading dependencies or the toolchain, or after large changes to start-up: the file names
# symbols as the release build mangles them, and names a build no longer has are skipped, so
# idle RSS creeps back up (`temper-bench footprint` shows it). Then rebuild the release binary.
# Needs valgrind and the venv scripts/test.sh makes (.venv/bin/temporal).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
binary=target/release/temper
cargo build --release -p temper --bin temper

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    "$binary" server start-dev --headless -f "$work/temper.db" --port "$port" \
    > "$work/server.log" 2>&1 &
server=$!
temporal=(.venv/bin/temporal --address "127.0.0.1:$port")
for _ in $(seq 120); do
    "${temporal[@]}" operator namespace list > /dev/null 2>&1 && break
    sleep 0.5
done
"${temporal[@]}" workflow list > /dev/null
"${temporal[@]}" workflow count > /dev/null
sleep 5
kill -INT "$server"
wait "$server" || true

# Every function callgrind saw run (`fn=` and `cfn=` lines name them the first time), kept
# when the binary defines it.
sed -n 's/^c\{0,1\}fn=([0-9]*) //p' "$work/callgrind.out" | sort -u > "$work/ran"
nm --defined-only "$binary" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u > "$work/defined"
comm -12 "$work/ran" "$work/defined" > crates/temper/startup-order.txt
echo "$(wc -l < crates/temper/startup-order.txt) functions in crates/temper/startup-order.txt;" \
    "rebuild: cargo build --release -p temper"
