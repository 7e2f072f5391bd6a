#!/usr/bin/env bash
# The main job on its embedded defaults: build examples/procfile-hello with the Procfile
# buildpack embedded in kiln into an OCI layout (target/demo/image), inspect it, and run it.
#
# The run image is a busybox base that tools/make-busybox-base.sh packs from Debian's
# busybox-static, offline and with the same digest every time (the processes need /bin/sh).
# No registry, no daemon; running the image needs runc (or crun, podman), which setup.sh
# installs; without one, the last step says how to run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

OUT=${1:-target/demo/image}
export KILN_TOOLS_DIR=${KILN_TOOLS_DIR:-$PWD/target/kiln-tools}
bash tools/make-busybox-base.sh >/dev/null
BASE="oci:$KILN_TOOLS_DIR/images/busybox:latest"

cargo build --quiet --locked -p kiln
KILN=target/debug/kiln
rm -rf "$OUT"
"$KILN" build "oci:$OUT:latest" --path examples/procfile-hello --run-image "$BASE"
"$KILN" inspect "oci:$OUT:latest"

echo
if command -v runc >/dev/null || command -v crun >/dev/null || command -v podman >/dev/null; then
  echo "Running the image (web process):"
  bash tools/run-image.sh "$OUT:latest"
else
  echo "No container runtime found (runc, crun or podman). Install one, e.g." >&2
  echo "  sudo apt-get install runc umoci" >&2
  echo "then run the image with: bash tools/run-image.sh $OUT:latest" >&2
fi
