#!/usr/bin/env bash
# start-registry.sh -- run a local distribution registry on 127.0.0.1:PORT (plain HTTP).
#
# Usage: start-registry.sh [PORT] [--auth USER:PASS]
#   PORT    default $REGISTRY_PORT, else 5000
#   --auth  require HTTP basic auth for USER:PASS (bcrypt htpasswd, from apache2-utils)
# The registry is Debian's docker-registry (/usr/bin/docker-registry), with deletes enabled.
# Its state is in $KILN_TOOLS_DIR/registry/PORT/: data/, config.yml, registry.pid,
# registry.log and htpasswd; registries on different ports are independent.
# Waits until /v2/ answers, then prints 127.0.0.1:PORT, and nothing else, on stdout.
# If our registry already runs on PORT in the same mode (with or without auth) it just prints
# the address (with --auth, the password file is rewritten first); in the other mode it is
# an error. Stop it with stop-registry.sh PORT.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${REGISTRY_PORT:-5000} auth='' have_port=0
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --auth) [ $# -ge 2 ] || die "--auth needs USER:PASS"; auth=$2; shift 2 ;;
    --auth=*) auth=${1#*=}; shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ $have_port = 0 ] || die "one PORT only (see --help)"; port=$1 have_port=1; shift ;;
  esac
done
if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  die "PORT must be a number from 1 to 65535, not '$port'"
fi
if [ -n "$auth" ]; then
  user=${auth%%:*} pass=${auth#*:}
  [[ $auth == *:* && -n $user && -n $pass ]] || die "--auth wants USER:PASS, both non-empty"
  need htpasswd
  mode=htpasswd
else
  mode=none
fi
need docker-registry curl setsid
init_workdir

dir=$W/registry/$port
conf=$dir/config.yml pidfile=$dir/registry.pid addr=127.0.0.1:$port
mkdir -p "$dir/data"

# our_pid: the registry PID from registry.pid, if that process still serves our config.
our_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF "$conf" && echo "$pid"
}
write_htpasswd() {
  (umask 077 && printf '%s' "$pass" | htpasswd -niB "$user" | grep . >"$dir/htpasswd.new") ||
    die "htpasswd could not hash the password"
  mv -f "$dir/htpasswd.new" "$dir/htpasswd"
}

if pid=$(our_pid); then
  running=none
  grep -q '^auth:' "$conf" && running=htpasswd
  [ "$running" = "$mode" ] ||
    die "the registry on $addr runs with auth '$running', not '$mode'; stop it first: bash $TOOLS_HOME/stop-registry.sh $port"
  [ "$mode" = none ] || write_htpasswd
  say "already running on $addr (pid $pid)"
  echo "$addr"
  exit 0
fi
rm -f "$pidfile"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "something else listens on $addr; choose another PORT (a Debian docker-registry service? systemctl disable --now docker-registry)"
fi

[ "$mode" = none ] || write_htpasswd
{
  echo "# Written by kiln tools/start-registry.sh for $addr."
  cat <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: "$dir/data"
  delete:
    enabled: true
http:
  addr: "$addr"
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  if [ "$mode" = htpasswd ]; then
    printf 'auth:\n  htpasswd:\n    realm: "kiln registry %s"\n    path: "%s"\n' "$port" "$dir/htpasswd"
  fi
} >"$conf"

# env -i: distribution reads every REGISTRY_* variable (REGISTRY_AUTH_FILE, REGISTRY_PORT, ...)
# as a configuration override. setsid: the registry outlives this script and its session.
# (A background job of a script is no process group leader, so setsid execs without forking:
# $! is the registry itself.)
echo "--- $(date -u +%FT%TZ) starting on $addr, auth $mode" >>"$dir/registry.log"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid "$(command -v docker-registry)" serve "$conf" \
  >>"$dir/registry.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pidfile"

for _ in $(seq 200); do
  kill -0 "$pid" 2>/dev/null || break
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$addr/v2/" || true)
  if [ "$code" = 200 ] || { [ "$mode" = htpasswd ] && [ "$code" = 401 ]; }; then
    podman_env # list the new port in registries.conf
    say "registry up on $addr (pid $pid, auth $mode, data in $dir/data)"
    echo "$addr"
    exit 0
  fi
  sleep 0.1
done
tail -n 15 "$dir/registry.log" >&2
kill "$pid" 2>/dev/null || true
rm -f "$pidfile"
die "the registry did not answer on http://$addr/v2/ within 20 s; its log: $dir/registry.log"
