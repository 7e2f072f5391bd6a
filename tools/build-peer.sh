#!/usr/bin/env bash
# build-peer.sh -- the benchmark's peer baseline: build a context dir with buildah, as a
# Dockerfile user would, and push the result to an OCI layout.
#
# Usage: build-peer.sh CONTEXT OUT [TAG]
#   CONTEXT  a dir with a Dockerfile that starts `ARG BASE` / `FROM ${BASE}`
#   OUT      the OCI layout to write (TAG default latest)
# BASE (env) is any transport buildah takes; default: the busybox layout of
# make-busybox-base.sh. It is pulled and tagged localhost/kiln-peer-base:latest first, so the
# base name buildah records does not depend on where the base came from. `--timestamp 0`
# makes the result reproducible.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in -h | --help) usage; exit 0 ;; esac
[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: build-peer.sh CONTEXT OUT [TAG] (see --help)"
ctx=$1 out=$2 tag=${3:-latest}
[ -f "$ctx/Dockerfile" ] || die "$ctx has no Dockerfile"
init_workdir
podman_env
need buildah
base=${BASE:-}
if [ -z "$base" ]; then
  [ -f "$W/images/busybox/index.json" ] || bash "$TOOLS_HOME/make-busybox-base.sh" >/dev/null
  base=oci:$W/images/busybox:latest
fi
buildah tag "$(buildah pull -q "$base")" localhost/kiln-peer-base:latest
image=$(buildah bud -q --format oci --timestamp 0 \
  --build-arg BASE=localhost/kiln-peer-base:latest "$ctx")
rm -rf "$out"
buildah push -q "$image" "oci:$out:$tag" >/dev/null
manifest_digest "$out" "$tag"
