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
rustup toolchain install 1.95.0 --profile minimal --target wasm32-wasip2 --component rustfmt,clippy >/dev/null
export KILN_SHARED_TOOLS=$TOOLS
export KILN_TOOLS_DIR=${KILN_TOOLS_DIR:-$PWD/target/kiln-tools}
cargo test --workspace --locked
