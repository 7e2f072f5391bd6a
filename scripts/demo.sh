#!/usr/bin/env bash
# The main job on its embedded defaults: build examples/procfile-hello with the buildpack
# embedded in kiln, on the empty `scratch` base, into an OCI layout, then inspect it.
# Offline: no registry, no daemon, no container runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/demo/image}
rm -rf "$OUT"
cargo run --quiet --locked -p kiln -- build "oci:$OUT:latest" --path examples/procfile-hello
cargo run --quiet --locked -p kiln -- inspect "oci:$OUT:latest"
