#!/usr/bin/env bash
# make-debian-base.sh -- write a Debian bookworm "slim" run image as an OCI image layout.
#
# Usage: make-debian-base.sh [--packages PKG,PKG...] [DIR] [TAG]
#   DIR  default $KILN_TOOLS_DIR/images/debian-slim (with --packages: debian-slim-HASH)
#   TAG  default bookworm-slim
#   --packages PKG,PKG  also install these Debian packages (debootstrap --include), e.g.
#        python3,make,g++ for a build image with node-gyp's toolchain. The package list
#        (sorted, without duplicates) has its own cached rootfs and default DIR, both named
#        with HASH, the first 12 hex digits of the list's sha256.
# Env: MIRROR  Debian mirror (default http://deb.debian.org/debian)
#      REFRESH=1  debootstrap again instead of reusing the cached rootfs
# The first run does `debootstrap --variant=minbase bookworm` (network, about a minute; more
# with --packages) into $KILN_TOOLS_DIR/cache/debootstrap-bookworm-minbase (with --packages:
# debootstrap-bookworm-minbase-HASH); later runs copy that. The copy is
# slimmed (docs, man pages, locales, apt lists, caches and logs go), gets a cnb user
# (1000:1000) and /workspace, and is packed as one layer keeping ownership and modes.
# For a given cached rootfs the digest is the same on every run. DIR is built aside and
# renamed into place; it must be missing, empty or an OCI layout. Needs root.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

packages='' args=()
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --packages) [ $# -ge 2 ] || die "--packages needs a list (PKG,PKG)"; packages=$2; shift 2 ;;
    --packages=*) packages=${1#--packages=}; shift ;;
    --) shift; args+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
[ $# -le 2 ] || die "too many arguments (see --help)"
# The package list, normalised: sorted, without duplicates or empty names.
if [ -n "$packages" ]; then
  packages=$(tr ',' '\n' <<<"$packages" | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)
  [ -n "$packages" ] || die "--packages lists no package"
  IFS=, read -ra wanted <<<"$packages"
  for p in "${wanted[@]}"; do
    [[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "--packages: $p is not a Debian package name"
  done
fi
need_root "debootstrap (device nodes, file ownership)"
init_workdir
need debootstrap tar gzip sha256sum python3
suffix='' include=()
if [ -n "$packages" ]; then
  suffix=-$(printf '%s' "$packages" | sha256sum | cut -c1-12)
  include=("--include=$packages")
fi
dest=${1:-$W/images/debian-slim$suffix}
tag=${2:-bookworm-slim}
[[ $dest == /* ]] || dest=$PWD/$dest
check_replaceable "$dest"
suite=bookworm mirror=${MIRROR:-http://deb.debian.org/debian}
cache=$W/cache/debootstrap-$suite-minbase$suffix

# ---- 1. the pristine rootfs, made once ----------------------------------------------------------
if [ "${REFRESH:-0}" = 1 ] || [ ! -d "$cache" ]; then
  mkdir -p "$W/cache"
  rm -rf "$cache" "$cache.partial"
  log=$W/cache/debootstrap$suffix.log
  say "debootstrap --variant=minbase ${include[*]+"${include[*]} "}$suite from $mirror (log: $log)"
  if ! debootstrap --variant=minbase "${include[@]+"${include[@]}"}" "$suite" "$cache.partial" "$mirror" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -rf "$cache.partial"
    die "debootstrap failed; is $mirror reachable? (set MIRROR=http://YOUR-MIRROR/debian)"
  fi
  mv "$cache.partial" "$cache"
fi

work=$(mktemp -d)
new=
trap 'rm -rf "$work" ${new:+"$new"}' EXIT
root=$work/rootfs
cp -a "$cache" "$root"

# ---- 2. slim it --------------------------------------------------------------------------------------
# Keep later `apt-get install`s slim too.
cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
# documentation, manuals and translations are left out (kiln tools/make-debian-base.sh)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/slim-no-languages"
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$root"/usr/share/{man,info,groff,lintian,linda}/* \
  "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/var/cache/ldconfig/aux-cache \
  "$root"/tmp/* "$root"/var/tmp/*
find "$root/var/log" -type f -exec truncate -s 0 {} +
# Runtimes provide these; the host's resolv.conf and name do not belong in an image.
rm -rf "${root:?}"/dev/* "${root:?}"/proc/* "${root:?}"/sys/* "${root:?}"/run/*
: >"$root/etc/resolv.conf" && chmod 0644 "$root/etc/resolv.conf"
: >"$root/etc/machine-id"
echo localhost >"$root/etc/hostname"

# ---- 3. the cnb user and /workspace --------------------------------------------------------------------
# (written by hand: useradd would stamp today's date into /etc/shadow)
grep -q '^cnb:' "$root/etc/group" || echo 'cnb:x:1000:' >>"$root/etc/group"
grep -q '^cnb:' "$root/etc/gshadow" || echo 'cnb:!::' >>"$root/etc/gshadow"
grep -q '^cnb:' "$root/etc/passwd" || echo 'cnb:x:1000:1000:cnb:/home/cnb:/bin/bash' >>"$root/etc/passwd"
grep -q '^cnb:' "$root/etc/shadow" || echo 'cnb:*:0:0:99999:7:::' >>"$root/etc/shadow"
install -d -m 0755 -o 1000 -g 1000 "$root/home/cnb"
install -d -m 0755 "$root/workspace"

# ---- 4. pack ----------------------------------------------------------------------------------------------
# The CNB distro labels come from the rootfs's os-release (buildpacks pick per-distro
# artefacts by them, e.g. the glibc version of Python wheels).
os_id=$(. "$root/etc/os-release" && echo "$ID")
os_version=$(. "$root/etc/os-release" && echo "$VERSION_ID")
config='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"],"WorkingDir":"/","Labels":{"io.buildpacks.base.distro.name":"'$os_id'","io.buildpacks.base.distro.version":"'$os_version'"}}'
new=$(new_sibling_dir "$dest")
chmod 0755 "$new"
created="make-debian-base.sh ($suite minbase, slim)"
[ -z "$packages" ] || created="make-debian-base.sh ($suite minbase, slim, with $packages)"
digest=$(pack_rootfs "$root" "$new" "$tag" "$config" "$created" keep-owner)
move_into_place "$new" "$dest"
new=
say "rootfs $(du -sm "$root" | cut -f1) MB, layout $(du -sm "$dest" | cut -f1) MB"
echo "$digest  $dest:$tag"
