# shellcheck shell=bash disable=SC2034  # LAYOUT and TAG are results for the caller
# lib.sh -- helpers shared by the scripts in tools/. Source it, do not run it:
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It only defines functions and a few variables. Nothing is ever written next to it: tools/
# may be read-only, and every piece of state lives in the work dir ($KILN_TOOLS_DIR).

TOOLS_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

# ---- messages -------------------------------------------------------------------------------
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# Print the usage text: the comment block under the script's shebang line.
usage() { sed -n '1d; /^#/!q; s/^# \{0,1\}//p' "$0"; }

# ---- required commands ------------------------------------------------------------------------
# The Debian package that ships a command (for "install X" hints).
package_of() {
  case $1 in
    htpasswd) echo apache2-utils ;;
    busybox) echo busybox-static ;;
    chroot | env | sha256sum | stat) echo coreutils ;;
    unshare | flock | setsid) echo util-linux ;;
    *) echo "$1" ;;
  esac
}

# need CMD...: die naming the packages to install when any CMD is not on PATH.
need() {
  local c missing=() pkgs=()
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 && continue
    missing+=("$c")
    pkgs+=("$(package_of "$c")")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  die "missing command(s): ${missing[*]}. Install: apt-get install -y ${pkgs[*]} (or: bash $TOOLS_HOME/install-deps.sh)"
}

need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root; run it as root (e.g. sudo bash $0 ...)"; }

# ---- the work dir -------------------------------------------------------------------------------
# init_workdir: resolve KILN_TOOLS_DIR (default ${TMPDIR:-/tmp}/kiln-tools), create it, export
# it (so the scripts we call agree), set W to it and point TMPDIR at $W/tmp.
init_workdir() {
  local w=${KILN_TOOLS_DIR:-${TMPDIR:-/tmp}/kiln-tools}
  [[ $w == /* ]] || w=$PWD/$w
  # The path ends up inside generated TOML/YAML files, quoted.
  [[ $w != *[\"\\$'\n']* ]] || die "KILN_TOOLS_DIR must not contain quotes, backslashes or newlines"
  mkdir -p "$w/tmp" 2>/dev/null || die "cannot create the work dir $w; set KILN_TOOLS_DIR to a writable directory"
  W=$(cd "$w" && pwd -P)
  case $W/ in "$TOOLS_HOME"/*) die "the work dir $W is inside $TOOLS_HOME; set KILN_TOOLS_DIR elsewhere" ;; esac
  export KILN_TOOLS_DIR=$W TMPDIR=$W/tmp
  # runc, chroot and debootstrap live in sbin, which a non-login root shell may lack.
  case :$PATH: in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin ;; esac
}

# ---- directories ----------------------------------------------------------------------------------
is_layout() { [ -f "$1/oci-layout" ] && [ -f "$1/index.json" ]; }

# check_replaceable DIR: only a missing path, an empty directory or an OCI layout may be
# replaced or deleted by these scripts; anything else is somebody's data.
check_replaceable() {
  [ -e "$1" ] || [ -L "$1" ] || return 0
  if [ -d "$1" ] && [ ! -L "$1" ] && { is_layout "$1" || [ -z "$(ls -A "$1")" ]; }; then return 0; fi
  die "refusing to replace $1: it is not an OCI image layout or an empty directory (remove it yourself or choose another path)"
}

# new_sibling_dir DEST: a fresh temp dir next to DEST (same file system, so it can be renamed).
new_sibling_dir() {
  mkdir -p "$(dirname "$1")"
  mktemp -d "$(dirname "$1")/.${1##*/}.new.XXXXXX"
}

# move_into_place NEW DEST: replace DEST by the finished directory NEW, by renames. A lock on
# the parent directory keeps two scripts writing the same DEST at once from colliding.
move_into_place() {
  local old=
  (
    flock 8
    check_replaceable "$2"
    if [ -e "$2" ]; then old=$(mktemp -u "$(dirname "$2")/.${2##*/}.old.XXXXXX") && mv -T "$2" "$old"; fi
    mv -T "$1" "$2"
    [ -z "$old" ] || rm -rf "$old"
  ) 8<"$(dirname "$2")"
}

# ---- deterministic packing --------------------------------------------------------------------------
# pack_rootfs ROOTFS LAYOUT TAG CONFIG_JSON CREATED_BY [keep-owner]
# Writes a one-layer OCI image of ROOTFS into the (new or existing) layout LAYOUT under TAG.
# The layer is a sorted GNU tar with fixed mtimes and owner 0 (ownership kept with keep-owner),
# posix format without atime/ctime records, gzip -n: the same rootfs gives the same bytes.
pack_rootfs() {
  local rootfs=$1 layout=$2 tag=$3 config=$4 created_by=$5 keep=${6:-} tmp
  local owner=(--owner=0 --group=0)
  [ "$keep" = keep-owner ] && owner=()
  tmp=$(mktemp -d)
  # Top-level names sorted bytewise; --sort=name orders everything below them.
  (cd "$rootfs" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | LC_ALL=C sort -z |
    LC_ALL=C tar --null --files-from=- --sort=name --format=posix \
      --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
      --mtime="@${SOURCE_DATE_EPOCH:-0}" --numeric-owner "${owner[@]}" \
      --no-acls --no-xattrs --no-selinux -cf -) >"$tmp/layer.tar"
  local diff_id
  diff_id=sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
  gzip -n -6 -c "$tmp/layer.tar" >"$tmp/layer.tar.gz"
  python3 "$TOOLS_HOME/oci_helper.py" write-image "$layout" "$tag" "$tmp/layer.tar.gz" "$diff_id" \
    "$config" "$created_by"
  rm -rf "$tmp"
}

# manifest_digest LAYOUT TAG: the digest index.json gives for TAG.
manifest_digest() { python3 "$TOOLS_HOME/oci_helper.py" digest "$1" "$2"; }

# ---- image references --------------------------------------------------------------------------------
# split_layout_ref REF: REF is DIR:TAG, oci:DIR:TAG, or a layout DIR holding one tag.
# Sets LAYOUT and TAG.
split_layout_ref() {
  local s=${1#oci:}
  if is_layout "$s"; then
    LAYOUT=$s
    TAG=$(python3 "$TOOLS_HOME/oci_helper.py" only-tag "$s") || exit 1
  else
    [[ $s == *:* ]] || die "$1: not an OCI layout; write DIR:TAG"
    LAYOUT=${s%:*} TAG=${s##*:}
    is_layout "$LAYOUT" || die "$LAYOUT is not an OCI image layout (no oci-layout/index.json); IMAGE is DIR:TAG, oci:DIR:TAG, oci-archive:FILE, docker-archive:FILE or docker://HOST/REPO:TAG"
  fi
}

# tls_flag PREFIX REF: skopeo's "--PREFIXtls-verify=false" for a registry on the loopback
# (plain HTTP), nothing otherwise.
tls_flag() {
  local host=${2#docker://}
  host=${host%%/*}
  case ${host%:*} in 127.0.0.1 | localhost | '[::1]') echo "--${1}tls-verify=false" ;; esac
}

# fetch_to_layout IMAGE DEST: copy a non-layout IMAGE (oci-archive:, docker-archive:, docker://)
# into the new layout DEST with skopeo, which checks every blob's digest; sets LAYOUT and TAG.
# Layout references (DIR:TAG, oci:DIR:TAG) are used in place.
fetch_to_layout() {
  case $1 in
    oci-archive:* | docker-archive:* | docker://*)
      need skopeo
      local tls
      tls=$(tls_flag src- "$1")
      skopeo copy -q ${tls:+"$tls"} "$1" "oci:$2:image" >&2 ||
        die "skopeo could not copy $1 (file present? registry up? for auth: skopeo login, or REGISTRY_AUTH_FILE)"
      LAYOUT=$2 TAG=image ;;
    *) split_layout_ref "$1" ;;
  esac
}

# ---- podman / buildah configuration ---------------------------------------------------------------------
# write_if_changed FILE: stdin becomes FILE, atomically, unless FILE already says the same.
write_if_changed() {
  local t
  t=$(mktemp "$1.XXXXXX")
  cat >"$t"
  if cmp -s "$t" "$1"; then rm -f "$t"; else chmod 0644 "$t" && mv -f "$t" "$1"; fi
}

storage_driver() {
  if [ -n "${KILN_STORAGE_DRIVER:-}" ]; then echo "$KILN_STORAGE_DRIVER"; return; fi
  # overlay cannot sit on top of overlayfs (a work dir inside a container).
  case $(stat -f -c %T "$W") in overlay*) echo vfs ;; *) echo overlay ;; esac
}

# podman_env: generate $W/conf/{containers,storage,registries}.conf and export the variables
# that make podman, buildah and skopeo use them (plus REGISTRY_AUTH_FILE).
podman_env() {
  local c=$W/conf p
  mkdir -p "$c" "$W/podman/graphroot" "$W/podman/runroot" "$W/podman/tmp"
  write_if_changed "$c/containers.conf" <<EOF
# Generated by kiln tools/lib.sh.
[containers]
# The hard nofile limit is 20000 and CAP_SYS_RESOURCE is missing: podman's default (1048576)
# would make the runtime's setrlimit fail.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
log_driver = "k8s-file"

[engine]
# crun 1.8 rejects this host's hybrid (v1 + v2 "unified") cgroups; runc with cgroupfs works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/podman/tmp/events.log"
tmp_dir = "$W/podman/tmp"
image_copy_tmp_dir = "$W/tmp"
EOF
  write_if_changed "$c/storage.conf" <<EOF
# Generated by kiln tools/lib.sh: images and containers live in the work dir.
[storage]
driver = "$(storage_driver)"
graphroot = "$W/podman/graphroot"
runroot = "$W/podman/runroot"
EOF
  # Loopback registries speak plain HTTP. A bare host matches every port today, but that is
  # documented as unreliable, so the ports of our registries are listed as well.
  local ports=5000 h
  for p in "$W"/registry/*/; do
    p=${p%/}
    p=${p##*/}
    [[ $p =~ ^[0-9]+$ ]] && [ "$p" != 5000 ] && ports="$ports $p"
  done
  {
    echo '# Generated by kiln tools/lib.sh.'
    echo 'unqualified-search-registries = []'
    for h in 127.0.0.1 localhost; do
      for p in '' $ports; do
        printf '\n[[registry]]\nlocation = "%s%s"\ninsecure = true\n' "$h" "${p:+:$p}"
      done
    done
  } | write_if_changed "$c/registries.conf"
  export CONTAINERS_CONF=$c/containers.conf CONTAINERS_STORAGE_CONF=$c/storage.conf \
    CONTAINERS_REGISTRIES_CONF=$c/registries.conf
  export REGISTRY_AUTH_FILE=${REGISTRY_AUTH_FILE:-$W/auth.json}
  # podman and buildah refuse an auth file that does not exist.
  [ -s "$REGISTRY_AUTH_FILE" ] || (umask 077 && echo '{"auths":{}}' >"$REGISTRY_AUTH_FILE")
}
