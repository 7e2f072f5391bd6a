#!/usr/bin/env bash
# install-deps.sh -- install the Debian packages the tools need, if missing.
#
# Usage: install-deps.sh [--check] [PACKAGE...]
#   PACKAGE...  install these instead of the full list (e.g. busybox-static runc umoci)
#   --check     only report what is missing; exit 1 if anything is
# The full list: skopeo umoci oci-image-tool podman buildah runc crun docker-registry
# busybox-static debootstrap jq python3 curl apache2-utils bubblewrap golang-go pigz.
# `apt-get update` runs only when something is missing. apt's output goes to
# $KILN_TOOLS_DIR/install-deps.log; its tail is shown on failure. Needs root or sudo.
# Where systemd runs, Debian's docker-registry service (it listens on :5000, the default
# port of start-registry.sh) is stopped and disabled.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_only=0 pkgs=()
for a in "$@"; do
  case $a in
    -h | --help) usage; exit 0 ;;
    --check) check_only=1 ;;
    -*) die "unknown option $a (see --help)" ;;
    *) pkgs+=("$a") ;;
  esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(skopeo umoci oci-image-tool podman buildah runc crun docker-registry
  busybox-static debootstrap jq python3 curl apache2-utils bubblewrap golang-go pigz)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done

if [ $check_only = 1 ]; then
  [ ${#missing[@]} -eq 0 ] || { echo "missing: ${missing[*]}"; exit 1; }
  echo "all installed: ${pkgs[*]}"
  exit 0
fi

as_root=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "apt-get needs root: run this as root, or install sudo"
  as_root=(sudo -n)
fi

if [ ${#missing[@]} -gt 0 ]; then
  init_workdir
  log=$W/install-deps.log
  : >"$log"
  # apt_quiet ARGS...: apt-get, output to the log; on failure show its tail and stop.
  apt_quiet() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >>"$log" 2>&1 && return
    tail -n 25 "$log" >&2
    die "apt-get $1 failed (network, apt sources or package names?); full log: $log"
  }
  say "installing: ${missing[*]}"
  apt_quiet update
  apt_quiet install "${missing[@]}"
  for p in "${missing[@]}"; do installed "$p" || die "$p is still not installed; see $log"; done
fi

# Debian's docker-registry package enables a system registry on port 5000.
if [ -d /run/systemd/system ] && installed docker-registry &&
  { systemctl is-active --quiet docker-registry || systemctl is-enabled --quiet docker-registry; } 2>/dev/null; then
  "${as_root[@]}" systemctl disable --now docker-registry >/dev/null 2>&1 ||
    die "could not stop the docker-registry service, which holds port 5000: run systemctl disable --now docker-registry"
  say "stopped and disabled the docker-registry system service (port 5000)"
fi
echo "ok: ${pkgs[*]}"
