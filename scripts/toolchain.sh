#!/usr/bin/env bash
# Sourced by the other scripts: makes the toolchain pinned in rust-toolchain.toml available.
# Machines of this kind carry one rustup toolchain, named "stable"; when it is the pinned
# version but rustup does not know it under the pinned name, link it (no download needed).
pinned=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup run "$pinned" rustc --version >/dev/null 2>&1; then
    stable_dir=$(rustup run stable rustc --print sysroot)
    if rustup run stable rustc --version | grep -q "^rustc $pinned "; then
        rustup toolchain link "$pinned" "$stable_dir"
    else
        echo "rust-toolchain.toml pins $pinned, which this machine does not have" >&2
        exit 1
    fi
fi

# Every package of the lock file, for every platform: crates/api's build script reads the
# protos through `cargo metadata --frozen`, which needs them all and must not download.
cargo fetch --locked --quiet
