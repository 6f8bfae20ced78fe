#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh Debian machine with Node, Java 17
# and Maven: npm packages (Bun included, pinned), Apache Kafka jars (Maven Central), and
# Debian's prometheus package (promtool + server) when missing. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
node_modules/.bin/bun --version >/dev/null
# Debian packages: prometheus (promtool + server for the scrape and alert tests) and
# qemu-user-static (runs the arm64 binary in its root filesystem).
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2
  else
    echo "missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
scripts/kafka/fetch.sh >/dev/null
