#!/usr/bin/env bash
# One setup step for both README commands (demo.sh and test.sh run it first).
#
#   scripts/setup.sh          the pinned Rust toolchain with every component and target that
#                             rust-toolchain.toml lists, and the Debian packages the demo uses
#                             (busybox-static for its run image; runc and umoci to run it)
#   scripts/setup.sh --test   the same, plus everything the test suite uses
#
# rust-toolchain.toml is the only list of targets: they are read from it here. rustup adds
# them by itself only when it installs the toolchain, not when a toolchain of that name
# already exists, which is the case on machines whose system toolchain has the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
case "${1:-}" in
  --test) want_tests=true ;;
  "") ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

if ! command -v rustup >/dev/null; then
  echo "setup.sh: rustup is not installed; install it from https://rustup.rs and run this again" >&2
  exit 1
fi

# `toolchain.<key>` of rust-toolchain.toml, one value per line (python3's tomllib).
toolchain_field() {
  python3 - "$1" <<'PY'
import sys, tomllib
with open("rust-toolchain.toml", "rb") as f:
    value = tomllib.load(f).get("toolchain", {}).get(sys.argv[1], [])
print("\n".join(value if isinstance(value, list) else [value]))
PY
}

channel=$(toolchain_field channel)
profile=$(toolchain_field profile)
mapfile -t targets < <(toolchain_field targets)
mapfile -t components < <(toolchain_field components)

if ! rustup run "$channel" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$channel" --profile "${profile:-minimal}"
fi
# missing INSTALLED PATTERN ITEM...: the items with no line of INSTALLED matching PATTERN
# (where `@` stands for the item).
missing() {
  local have=$1 pattern=$2 item
  shift 2
  for item in "$@"; do
    [ -n "$item" ] && ! grep -q "${pattern//@/$item}" <<<"$have" && echo "$item"
  done
  return 0
}
mapfile -t missing_targets < <(missing "$(rustup target list --installed --toolchain "$channel")" '^@$' "${targets[@]}")
if [ ${#missing_targets[@]} -gt 0 ]; then
  echo "setup: adding Rust targets ${missing_targets[*]} to $channel" >&2
  rustup target add --toolchain "$channel" "${missing_targets[@]}"
fi
mapfile -t missing_components < <(missing "$(rustup component list --installed --toolchain "$channel")" '^@-' "${components[@]}")
if [ ${#missing_components[@]} -gt 0 ]; then
  echo "setup: adding Rust components ${missing_components[*]} to $channel" >&2
  rustup component add --toolchain "$channel" "${missing_components[@]}"
fi

if $want_tests; then
  # The image tools the end-to-end tests validate and run images with, and the machine's
  # Node.js and npm (the Node.js tests package the machine's node and compare with npm ci).
  bash tools/install-deps.sh
  # Only when the commands are missing: a machine may have Node.js from elsewhere (its
  # `nodejs` package then conflicts with Debian's `npm`).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    bash tools/install-deps.sh nodejs npm
  fi
  # The real TypeScript compiler, for the test whose build script runs tsc (the tests serve
  # it from their own registry; they never reach one). Pinned by its sha256.
  ts=target/kiln-test-npm/typescript-5.6.3.tgz
  ts_sha256=ef67f8d8ad895858024b7339d3e34bf112cae3c5db1f538c3079038b17ae30fa
  if ! echo "$ts_sha256  $ts" | sha256sum --check --status 2>/dev/null; then
    mkdir -p "${ts%/*}"
    npm pack --silent typescript@5.6.3 --pack-destination "${ts%/*}" >/dev/null
    echo "$ts_sha256  $ts" | sha256sum --check --status ||
      { echo "setup.sh: $ts does not have the pinned sha256" >&2; exit 1; }
  fi
else
  bash tools/install-deps.sh busybox-static runc umoci
fi
