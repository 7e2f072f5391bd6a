#!/usr/bin/env bash
# push-image.sh -- push an image to a registry with skopeo, keeping its digests.
#
# Usage: push-image.sh [--creds USER:PASS] SRC [HOST:PORT/]REPO[:TAG]
#   SRC   DIR:TAG | oci:DIR:TAG | oci-archive:FILE | docker-archive:FILE
#   DEST  a first path part with a '.' or ':', or "localhost", is the registry; otherwise
#         the registry is $REGISTRY, else 127.0.0.1:$REGISTRY_PORT (default port 5000).
#         TAG defaults to latest.
#   --creds USER:PASS  for a registry started with --auth (without it, skopeo uses
#         $REGISTRY_AUTH_FILE, filled by `skopeo login`)
# Runs `skopeo copy --preserve-digests --dest-tls-verify=false`, then prints the pushed
# manifest digest and the reference:  sha256:...  HOST:PORT/REPO:TAG
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

creds=
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --creds) [ $# -ge 2 ] || die "--creds needs USER:PASS"; creds=$2; shift 2 ;;
    --creds=*) creds=${1#*=}; shift ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || die "usage: push-image.sh [--creds USER:PASS] SRC [HOST:PORT/]REPO[:TAG]"
src=$1 dest=$2
init_workdir
podman_env # REGISTRY_AUTH_FILE
need skopeo

case $src in
  oci-archive:* | docker-archive:* | docker://*) ;;
  *) split_layout_ref "$src"; src=oci:$LAYOUT:$TAG ;;
esac
host=${dest%%/*}
if [ "$host" != "$dest" ] && [[ $host == *[.:]* || $host == localhost ]]; then
  dest=${dest#*/}
else
  host=${REGISTRY:-127.0.0.1:${REGISTRY_PORT:-5000}}
fi
[[ ${dest##*/} == *[:@]* ]] || dest=$dest:latest
[[ $dest =~ ^[a-z0-9._/-]+[:@][A-Za-z0-9._:-]+$ ]] || die "bad destination repository '$2' (lower-case REPO[:TAG])"

opts=(--preserve-digests --dest-tls-verify=false --digestfile "$TMPDIR/push.$$.digest")
[ -z "$creds" ] || opts+=(--dest-creds "$creds")
tls=$(tls_flag src- "$src")
[ -z "$tls" ] || opts+=("$tls")
trap 'rm -f "$TMPDIR/push.$$.digest"' EXIT
skopeo copy -q "${opts[@]}" "$src" "docker://$host/$dest" >&2 ||
  die "pushing $src to $host/$dest failed (is the registry up? bash $TOOLS_HOME/start-registry.sh; auth: --creds USER:PASS)"
echo "$(cat "$TMPDIR/push.$$.digest")  $host/$dest"
