#!/usr/bin/env bash
# Install what the tests need (scripts/setup.sh --test: the Rust targets and components of
# rust-toolchain.toml, the image tools and Node.js from Debian), then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export KILN_TOOLS_DIR=${KILN_TOOLS_DIR:-$PWD/target/kiln-tools}
cargo test --workspace --locked
