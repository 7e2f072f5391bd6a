#!/usr/bin/env bash
# Install what the tests need (Debian packages via the shared tools, the pinned Rust toolchain
# and its wasm32-wasip2 target), then run every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${KILN_SHARED_TOOLS:-$(cd .. && pwd)/shared/tools}
if [ -f "$TOOLS/install-deps.sh" ]; then
  bash "$TOOLS/install-deps.sh"
else
  echo "note: $TOOLS/install-deps.sh not found; image-tool tests need skopeo, umoci, oci-image-tool, runc" >&2
fi
# The Node.js tests put the machine's own `node` into an image and compare with `npm ci`.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  "${SUDO[@]}" apt-get install -y --no-install-recommends nodejs npm
fi
# The first cargo call installs the toolchain pinned in rust-toolchain.toml (with its targets);
# the target add is a no-op then, and covers an older rustup that skipped the targets.
cargo --version >/dev/null
rustup target add wasm32-wasip2 >/dev/null
export KILN_SHARED_TOOLS=$TOOLS
export KILN_TOOLS_DIR=${KILN_TOOLS_DIR:-$PWD/target/kiln-tools}
cargo test --workspace --locked
