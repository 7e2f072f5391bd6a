#!/usr/bin/env bash
# validate-image.sh -- check an image with several independent validators.
#
# Usage: validate-image.sh IMAGE
#   IMAGE  DIR:TAG | oci:DIR:TAG | oci-archive:FILE | docker-archive:FILE | docker://HOST/REPO:TAG
# A docker-archive is first checked as a tarball (manifest.json, config, and the sha256 of
# each uncompressed layer against the config's diff_ids), then converted by skopeo; a
# docker:// image is first copied by skopeo, which checks every digest, into a temp layout;
# an oci-archive is unpacked as it is. Then, on the layout:
#   check-oci-layout.py     digests, sizes, media types, config, diff_ids, tar paths
#   oci-image-tool validate schemas, digests, sizes, media types
#   skopeo inspect          manifest and config parse
#   umoci unpack            applies the layers; the strictest (catches a wrong diff_id)
# Prints "IMAGE TAG DIGEST" (the manifest checked), "PASS name" or "FAIL name: reason" per check (details of failures go to stderr),
# then "RESULT: VALID" (exit 0) or "RESULT: INVALID" (exit 1).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  '' | -*) die "usage: validate-image.sh IMAGE (see --help)" ;;
esac
[ $# -eq 1 ] || die "give exactly one IMAGE (see --help)"
image=$1
init_workdir
podman_env # for REGISTRY_AUTH_FILE
need skopeo umoci oci-image-tool python3 tar

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# check NAME COMMAND...: run COMMAND, print PASS or FAIL with the last line it printed.
check() {
  local name=$1 reason rc=0
  shift
  "$@" >"$tmp/out" 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then
    echo "PASS $name"
    return 0
  fi
  failed=$((failed + 1))
  # the first line naming an error, else the last line that says anything
  reason=$(grep -m 1 -iE 'error|fatal|mismatch|invalid' "$tmp/out" ||
    grep -v '^[[:space:]]*$' "$tmp/out" | tail -n 1) || true
  reason=$(printf '%s' "$reason" | sed 's/^[[:space:]⨯]*//' | cut -c1-300)
  echo "FAIL $name: ${reason:-exit status $rc}"
  sed "s/^/  $name| /" "$tmp/out" | tail -n 15 >&2
  return 1
}
finish() {
  if [ $failed -eq 0 ]; then echo "RESULT: VALID"; exit 0; fi
  echo "RESULT: INVALID"
  exit 1
}

# ---- bring the image into an OCI layout ($LAYOUT:$TAG) -------------------------------------------
case $image in
  docker://*)
    tls=$(tls_flag src- "$image")
    check "skopeo copy from the registry (digests checked)" \
      skopeo copy -q --preserve-digests ${tls:+"$tls"} "$image" "oci:$tmp/layout:image" || finish
    LAYOUT=$tmp/layout TAG=image ;;
  docker-archive:*)
    file=${image#docker-archive:}
    [ -f "$file" ] || file=${file%:*} # docker-archive:FILE:REF
    check "docker-archive manifest.json and diff_ids" python3 "$TOOLS_HOME/oci_helper.py" docker-archive "$file" || true
    check "skopeo copy docker-archive to layout" skopeo copy -q "$image" "oci:$tmp/layout:image" || finish
    LAYOUT=$tmp/layout TAG=image ;;
  oci-archive:*)
    file=${image#oci-archive:} TAG=
    if [ ! -f "$file" ]; then TAG=${file##*:} file=${file%:*}; fi # oci-archive:FILE:TAG
    mkdir "$tmp/layout"
    check "oci-archive unpacks" tar -xf "$file" -C "$tmp/layout" || finish
    LAYOUT=$tmp/layout
    # An archive with a single untagged image gets a tag in this copy, for the tools below.
    [ -n "$TAG" ] || TAG=$(python3 - "$LAYOUT/index.json" <<'PY'
import json, sys
path = sys.argv[1]
index = json.load(open(path))
key = "org.opencontainers.image.ref.name"
names = {(m.get("annotations") or {}).get(key) for m in index.get("manifests") or []}
if len(index.get("manifests") or []) == 1 and names == {None}:
    index["manifests"][0].setdefault("annotations", {})[key] = "image"
    json.dump(index, open(path, "w"))
    names = {"image"}
print(names.pop() if len(names) == 1 else "")
PY
    )
    [ -n "$TAG" ] || { echo "FAIL oci-archive: it holds several images; name one as oci-archive:FILE:TAG"; failed=1; finish; } ;;
  *)
    if ! (split_layout_ref "$image") >"$tmp/out" 2>&1; then
      echo "FAIL layout: $(tail -n 1 "$tmp/out")"
      failed=1
      finish
    fi
    split_layout_ref "$image" ;;
esac

# The manifest digest the checks below are about.
digest=$(manifest_digest "$LAYOUT" "$TAG" 2>/dev/null) || true
echo "IMAGE $TAG ${digest:-(no manifest with that tag)}"

# ---- the validators ---------------------------------------------------------------------------------
unpack=(umoci unpack)
[ "$(id -u)" = 0 ] || unpack+=(--rootless)
check check-oci-layout.py python3 "$TOOLS_HOME/check-oci-layout.py" "$LAYOUT" "$TAG" || true
check "oci-image-tool validate" oci-image-tool validate --type image --ref "name=$TAG" "$LAYOUT" || true
check "skopeo inspect" sh -c 'skopeo inspect "$1" && skopeo inspect --config "$1"' sh "oci:$LAYOUT:$TAG" || true
check "umoci unpack" "${unpack[@]}" --image "$LAYOUT:$TAG" "$tmp/bundle" || true
finish
