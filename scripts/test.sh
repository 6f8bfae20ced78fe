#!/usr/bin/env bash
# The whole test suite: install what is missing, then lint, types and every test (unit, golden,
# real Kafka, compiled binary). Last line: "N passed, N failed, N skipped".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! scripts/setup.sh; then echo "0 passed, 1 failed"; exit 1; fi
exec node_modules/.bin/bun run scripts/test.ts "$@"
