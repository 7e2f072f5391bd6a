# shellcheck shell=bash
# env.sh -- source it (`. tools/env.sh`) to use podman, buildah and skopeo by hand with the
# configuration the scripts use. Exports:
#   KILN_TOOLS_DIR              the work dir (default ${TMPDIR:-/tmp}/kiln-tools)
#   CONTAINERS_CONF             $KILN_TOOLS_DIR/conf/containers.conf: runtime runc, cgroupfs,
#                               ulimits nofile/nproc 1024, no network namespace setup
#   CONTAINERS_STORAGE_CONF     storage under $KILN_TOOLS_DIR/podman (overlay; vfs on overlayfs)
#   CONTAINERS_REGISTRIES_CONF  127.0.0.1 and localhost registries are plain HTTP
#   REGISTRY_AUTH_FILE          $KILN_TOOLS_DIR/auth.json unless already set (created if missing)
# Your shell options and TMPDIR are left alone. skopeo ignores the registries file: give it
# --tls-verify=false for a local registry.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "env.sh: source this file from bash" >&2
else
  # The setup runs in a child bash (strict mode there, none here); it prints the exports.
  if _kiln_exports=$(bash -c '
      set -euo pipefail
      . "$1/lib.sh"
      init_workdir
      podman_env
      for v in KILN_TOOLS_DIR CONTAINERS_CONF CONTAINERS_STORAGE_CONF CONTAINERS_REGISTRIES_CONF REGISTRY_AUTH_FILE; do
        printf "export %s=%q\n" "$v" "${!v}"
      done' env.sh "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"); then
    eval "$_kiln_exports"
    echo "kiln tools environment: KILN_TOOLS_DIR=$KILN_TOOLS_DIR"
  else
    echo "env.sh: setup failed (see the message above); nothing was exported" >&2
  fi
  unset _kiln_exports
fi
