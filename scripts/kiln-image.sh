#!/usr/bin/env bash
# Build Kiln's own container image with Kiln (dogfooding): the `kiln` binary, linked
# statically for musl, as the app, on a busybox run image, with the CNB launcher Kiln puts in
# every image. Its default process is `kiln` itself, so the Kubernetes objects of
# `kiln image k8s` (args `image reconcile ...`) or `docker run IMAGE build ...` run it.
#
#   scripts/kiln-image.sh [OUT]        OUT: an oci:DIR:TAG or registry reference
#                                      (default oci:target/kiln-image:latest)
#
# Needs: scripts/setup.sh (the musl target), musl-tools (musl-gcc, for the C parts of the
# TLS and zstd crates; installed here with apt-get when missing), busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-oci:$PWD/target/kiln-image:latest}
target=x86_64-unknown-linux-musl

bash scripts/setup.sh
if ! command -v musl-gcc >/dev/null; then
  echo "kiln-image: installing musl-tools (musl-gcc)" >&2
  apt-get install -y --no-install-recommends musl-tools >&2
fi
export CC_x86_64_unknown_linux_musl=musl-gcc
cargo build --locked --release -p kiln --target "$target"
cargo build --locked -p kiln            # the kiln that builds the image (any build will do)

stage=target/kiln-image-app
rm -rf "$stage" && mkdir -p "$stage/bin"
cp "target/$target/release/kiln" "$stage/bin/kiln"
# `web` is the default process. A Procfile process runs as `/bin/sh -c LINE ARGS...`, so
# the container's args arrive as "$0" "$@"; with none, "$0" is the shell itself.
printf '%s\n' 'web: if [ "$0" = /bin/sh ]; then exec /workspace/bin/kiln; else exec /workspace/bin/kiln "$0" "$@"; fi' >"$stage/Procfile"

# make-busybox-base.sh prints "DIGEST  DIR:TAG".
base=$(bash tools/make-busybox-base.sh | tail -n 1 | awk '{print $2}')
target/debug/kiln build "$out" --path "$stage" --run-image "oci:$base"
