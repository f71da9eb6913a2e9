#!/usr/bin/env bash
# The test command: typecheck, build the dashboard, run every test (unit, integration
# against a real nats-server and chDB, end to end, fault, browser), then one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run --silent typecheck || exit 1
npm run --silent build >/dev/null || { echo "dashboard build failed"; exit 1; }
results=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile="$results" "$@"
code=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" 2>/dev/null || true
rm -f "$results"
exit $code
