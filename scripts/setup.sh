#!/usr/bin/env bash
# Sets up a fresh Debian machine for the platform: nats-server from Debian's packages when
# missing, npm dependencies when missing or stale, and the dashboard build.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v nats-server >/dev/null 2>&1; then
  echo "› installing nats-server (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "› installing npm dependencies"
  npm ci --no-audit --no-fund
fi

if [ ! -f dashboard/dist/index.html ] || [ -n "$(find dashboard/src dashboard/index.html -newer dashboard/dist/index.html -print -quit)" ]; then
  echo "› building the dashboard"
  npm run build --silent
fi
