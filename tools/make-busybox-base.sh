#!/usr/bin/env bash
# make-busybox-base.sh -- write a tiny run image (static busybox) as an OCI image layout.
#
# Usage: make-busybox-base.sh [DIR] [TAG] [--variant NAME]
#   DIR   default $KILN_TOOLS_DIR/images/busybox       TAG  default latest
#   --variant NAME  also write NAME into /etc/base-variant: another deterministic layer that
#                   behaves the same (a "v2" run image for rebase tests)
# The rootfs: /bin/busybox from Debian's busybox-static and a symlink per applet, /etc/passwd
# and /etc/group (root 0, cnb 1000, nobody), /workspace, /tmp (1777). Config: os linux, this
# machine's architecture, Env PATH, Cmd ["/bin/sh"].
# Reproducible: the same busybox gives the same digest on every run (SOURCE_DATE_EPOCH,
# default 0, sets every timestamp). DIR is built aside and renamed into place; it must be
# missing, empty or an OCI layout. Prints the manifest digest.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pos=() variant=
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --variant) [ $# -ge 2 ] || die "--variant needs a NAME"; variant=$2; shift 2 ;;
    --variant=*) variant=${1#*=}; shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ ${#pos[@]} -le 2 ] || die "too many arguments (see --help)"
init_workdir
need tar gzip sha256sum python3
dest=${pos[0]:-$W/images/busybox}
tag=${pos[1]:-latest}
[[ $dest == /* ]] || dest=$PWD/$dest
check_replaceable "$dest"

bb=/bin/busybox
[ -x "$bb" ] || die "$bb is missing: apt-get install -y busybox-static"
# Debian's dynamically linked "busybox" package also installs /bin/busybox.
if ldd "$bb" >/dev/null 2>&1; then # ldd fails on a static binary
  die "$bb is dynamically linked; install the static one: apt-get install -y busybox-static"
fi

umask 022 # file modes are part of the layer
work=$(mktemp -d)
new=
trap 'rm -rf "$work" ${new:+"$new"}' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,dev,proc,sys,root,home/cnb,tmp,var/tmp,workspace}
chmod 0700 "$root/root"
chmod 1777 "$root/tmp" "$root/var/tmp"
install -m 0755 "$bb" "$root/bin/busybox"
for applet in $("$bb" --list-full); do # e.g. bin/sh, usr/bin/env, sbin/ip
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$root/${applet%/*}"
  ln -s /bin/busybox "$root/$applet"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'cnb:x:1000:1000:cnb:/home/cnb:/bin/sh' \
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'cnb:x:1000:' 'nogroup:x:65534:' >"$root/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
[ -z "$variant" ] || printf '%s\n' "$variant" >"$root/etc/base-variant"

config='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"}'
new=$(new_sibling_dir "$dest")
chmod 0755 "$new"
digest=$(pack_rootfs "$root" "$new" "$tag" "$config" "make-busybox-base.sh${variant:+ --variant $variant}")
move_into_place "$new" "$dest"
new=
echo "$digest  $dest:$tag"
