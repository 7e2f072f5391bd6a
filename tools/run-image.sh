#!/usr/bin/env bash
# run-image.sh -- run an image's Entrypoint+Cmd here, like `docker run --rm IMAGE [ARGS...]`.
#
# Usage: run-image.sh [--via auto|runc|crun|podman|chroot] [--user U[:G]] [-e K=V]...
#                     [--entrypoint PATH] IMAGE [ARGS...]
#   IMAGE  DIR:TAG | oci:DIR:TAG | oci-archive:FILE | docker-archive:FILE |
#          docker://HOST/REPO:TAG (127.0.0.1 and localhost are plain HTTP; for a registry
#          with auth, `skopeo login` first, with REGISTRY_AUTH_FILE from env.sh)
#   ARGS   replace the image's Cmd. --entrypoint replaces the Entrypoint and drops the Cmd,
#          as `docker run --entrypoint` does. -e adds or overrides one variable of the
#          image's Env; --user (names or numbers) overrides the image's User. WorkingDir is kept.
#   --via  how to run it (default $KILN_RUN_VIA, else auto):
#     runc    `umoci unpack` (checks digests and diff_ids) into a bundle, then `runc run`
#     crun    the same bundle, with crun inside `unshare -m` where /sys/fs/cgroup/unified is
#             unmounted (crun 1.8 refuses this host's hybrid cgroup setup)
#     podman  `podman run --rm` with the configuration of env.sh
#     chroot  the unpacked rootfs with `env -i` + `chroot --userspec`: no namespaces at all
#     auto    the first of runc, podman, chroot that runs a static busybox here; probed once
#             per boot, the answer kept in $KILN_TOOLS_DIR/cache/run-via.<boot id>
# stdout and stderr pass through, stdin is not attached, and the exit code is the
# command's. The bundle (under $KILN_TOOLS_DIR/tmp) is removed afterwards. Needs root.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

via=${KILN_RUN_VIA:-auto} user='' entrypoint='' has_entrypoint=0 envs=()
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --via | --user | -u | -e | --env | --entrypoint) [ $# -ge 2 ] || die "$1 needs a value (see --help)" ;;&
    --via) via=$2; shift 2 ;;
    --via=*) via=${1#*=}; shift ;;
    --user | -u) user=$2; shift 2 ;;
    --user=*) user=${1#*=}; shift ;;
    -e | --env) envs+=("$2"); shift 2 ;;
    --env=*) envs+=("${1#*=}"); shift ;;
    --entrypoint) entrypoint=$2 has_entrypoint=1; shift 2 ;;
    --entrypoint=*) entrypoint=${1#*=} has_entrypoint=1; shift ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "no IMAGE given (see --help)"
image=$1
shift
case $via in auto | runc | crun | podman | chroot) ;; *) die "--via must be auto, runc, crun, podman or chroot, not '$via'" ;; esac
need_root "running a container"
init_workdir
podman_env

# probe OUT: write to OUT the first runtime that starts a container holding only a static busybox
probe() {
  local p id=kiln-probe-$$ found=chroot
  p=$(mktemp -d)
  mkdir -p "$p/rootfs/bin"
  if cp /bin/busybox "$p/rootfs/bin/busybox" 2>/dev/null; then
    if command -v runc >/dev/null && runc spec --bundle "$p" &&
      python3 "$TOOLS_HOME/oci_helper.py" runtime-config "$p" -- /bin/busybox true &&
      runc --root "$p/state" run --bundle "$p" "$id" </dev/null >/dev/null 2>&1; then
      found=runc
    elif command -v podman >/dev/null &&
      podman run --rm --rootfs "$p/rootfs" /bin/busybox true </dev/null >/dev/null 2>&1; then
      found=podman
    fi
    runc --root "$p/state" delete -f "$id" >/dev/null 2>&1 || true
  elif command -v runc >/dev/null; then # nothing to try it with: take runc on trust
    found=runc
  fi
  rm -rf "$p"
  echo "$found" >"$1"
}

if [ "$via" = auto ]; then
  mkdir -p "$W/cache"
  cached=$W/cache/run-via.$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown-boot)
  exec 9>"$W/cache/run-via.lock" # one probe at a time; the others wait for its answer
  flock 9
  if [ ! -s "$cached" ]; then
    probe "$cached.tmp"
    mv -f "$cached.tmp" "$cached"
  fi
  exec 9>&-
  via=$(cat "$cached")
fi

case $via in
  podman) need podman ;;
  crun) need umoci python3 crun unshare ;;
  *) need umoci python3 "$via" ;;
esac

# ---- podman: it reads every IMAGE form itself ---------------------------------------------------
if [ "$via" = podman ]; then
  case $image in
    oci-archive:* | docker-archive:* | docker://*) ref=$image ;;
    *) split_layout_ref "$image"; ref=oci:$LAYOUT:$TAG ;;
  esac
  opts=(--rm -q --pull=always)
  tls=$(tls_flag '' "$ref")
  [ -z "$tls" ] || opts+=("$tls")
  [ -z "$user" ] || opts+=(--user "$user")
  [ $has_entrypoint = 0 ] || opts+=(--entrypoint "$entrypoint")
  for e in ${envs[@]+"${envs[@]}"}; do opts+=(-e "$e"); done
  exec podman run "${opts[@]}" "$ref" "$@" </dev/null
fi

# ---- runc, crun, chroot: unpack into a bundle first ----------------------------------------------
tmp=$(mktemp -d)
id=kiln-run-$$
cleanup() {
  case $via in runc | crun) "$via" --root "$tmp/state" delete -f "$id" >/dev/null 2>&1 || true ;; esac
  rm -rf "$tmp"
}
trap cleanup EXIT
fetch_to_layout "$image" "$tmp/layout"
umoci unpack --image "$LAYOUT:$TAG" "$tmp/bundle" >"$tmp/unpack.log" 2>&1 || {
  tail -n 5 "$tmp/unpack.log" >&2
  die "umoci unpack of $image failed: the image is broken or unreadable (bash $TOOLS_HOME/validate-image.sh $image tells more)"
}
settings=(--layout "$LAYOUT" --tag "$TAG")
[ $has_entrypoint = 0 ] || settings+=("--entrypoint=$entrypoint")
[ -z "$user" ] || settings+=("--user=$user")
for e in ${envs[@]+"${envs[@]}"}; do settings+=("--env=$e"); done
python3 "$TOOLS_HOME/oci_helper.py" runtime-config "$tmp/bundle" "${settings[@]}" -- "$@"

set +e
case $via in
  runc)
    runc --root "$tmp/state" --rootless false run --bundle "$tmp/bundle" "$id" </dev/null ;;
  crun)
    # A private mount namespace in which crun does not see the cgroup v2 "unified" mount.
    unshare -m --propagation private sh -c '
      if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 125; fi
      exec crun --root "$1/state" run --bundle "$1/bundle" "$2"' sh "$tmp" "$id" </dev/null ;;
  chroot)
    mapfile -d '' -t cmd < <(python3 "$TOOLS_HOME/oci_helper.py" chroot-argv "$tmp/bundle" "$(command -v chroot)")
    [ ${#cmd[@]} -gt 0 ] || die "could not work out the chroot command"
    "${cmd[@]}" </dev/null ;;
esac
rc=$?
set -e
exit $rc
