#!/usr/bin/env bash
# stop-registry.sh -- stop a registry that start-registry.sh started.
#
# Usage: stop-registry.sh [PORT | --all] [--purge]
#   PORT     default $REGISTRY_PORT, else 5000
#   --all    every registry under $KILN_TOOLS_DIR/registry/
#   --purge  also delete its stored images (data/) and htpasswd
# Only the PID in registry.pid is signalled, and only while /proc/PID/cmdline still names
# that registry's config.yml (a PID can be reused): TERM, then KILL after 5 s.
# Stopping a registry that is not running is not an error.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ports=() all=0 purge=0
for a in "$@"; do
  case $a in
    -h | --help) usage; exit 0 ;;
    --all) all=1 ;;
    --purge) purge=1 ;;
    -*) die "unknown option $a (see --help)" ;;
    *) [[ $a =~ ^[0-9]+$ ]] || die "PORT must be a number, not '$a'"; ports+=("$a") ;;
  esac
done
init_workdir
if [ $all = 1 ]; then
  for d in "$W"/registry/*/; do
    p=${d%/}
    p=${p##*/}
    [[ $p =~ ^[0-9]+$ ]] && ports+=("$p")
  done
fi
[ $all = 1 ] || [ ${#ports[@]} -gt 0 ] || ports=("${REGISTRY_PORT:-5000}")

# serves PID CONF: is PID a live process started with CONF? (a zombie has no cmdline)
serves() { [[ $1 =~ ^[0-9]+$ ]] && tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -qxF "$2"; }

for port in ${ports[@]+"${ports[@]}"}; do
  dir=$W/registry/$port
  pid=$(cat "$dir/registry.pid" 2>/dev/null || true)
  if serves "$pid" "$dir/config.yml"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do serves "$pid" "$dir/config.yml" || break; sleep 0.1; done
    ! serves "$pid" "$dir/config.yml" || kill -KILL "$pid" 2>/dev/null || true
    say "stopped the registry on 127.0.0.1:$port (pid $pid)"
  else
    say "no registry of ours runs on 127.0.0.1:$port"
  fi
  rm -f "$dir/registry.pid"
  if [ $purge = 1 ] && [ -d "$dir" ]; then
    rm -rf "$dir/data" "$dir/htpasswd"
    say "purged $dir/data"
  fi
done
