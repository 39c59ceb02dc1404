#!/usr/bin/env bash
# Installs what `make run` (deps.sh run), `make test` (deps.sh test) or
# `make bench` (deps.sh load) needs: the npm packages pinned by each
# package-lock.json, and for tests Debian's Chromium for the page tests and
# Debian's redis-server for the cluster tests.
# The load tool (cmd/vicinity-load) holds up to 19,000 connections, and so
# does its target server: each needs an open-files limit above that
# (`ulimit -n 20000`; the tool raises its soft limit to the hard one).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}

need() { command -v "$1" >/dev/null 2>&1 || { echo "deps: $1 is required but not installed" >&2; exit 1; }; }
need go
need node
need npm

npm_ci() {
  local dir=$1
  if [ -f "$dir/package-lock.json" ]; then
    # reinstall only when the lock file changed since the last install
    local stamp="$dir/node_modules/.lock-stamp"
    if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      cp "$dir/package-lock.json" "$stamp"
    fi
  fi
}

for lock in $(git ls-files '*package-lock.json'); do
  dir=$(dirname "$lock")
  case "$mode" in
    run) case "$dir" in examples/*) npm_ci "$dir" ;; esac ;;
    load) case "$dir" in cmd/*) npm_ci "$dir" ;; esac ;;
    *) npm_ci "$dir" ;;
  esac
done

# Debian packages the tests need: Chromium for the page tests, redis-server
# for the cluster tests (which start their own instances on free ports).
if [ "$mode" = test ]; then
  pkgs=()
  [ -x /usr/bin/chromium ] || pkgs+=(chromium)
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  if [ ${#pkgs[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
fi
