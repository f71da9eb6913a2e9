#!/usr/bin/env bash
# Sets up a fresh Debian machine for the platform: nats-server and chromium (it prints invoices
# as PDF) from Debian's packages when missing, npm dependencies when missing or stale, and the
# dashboard build.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "› installing ${need[*]} (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "› installing npm dependencies"
  npm ci --no-audit --no-fund
fi

if [ ! -f dashboard/dist/index.html ] || [ -n "$(find dashboard/src dashboard/index.html -newer dashboard/dist/index.html -print -quit)" ]; then
  echo "› building the dashboard"
  npm run build --silent
fi
