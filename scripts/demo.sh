#!/usr/bin/env bash
# Local demo: starts a real Kafka (KRaft, loopback), a producer and lagging consumer groups, and
# the exporter on http://127.0.0.1:${PORT:-8000}/metrics. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
dir="$root/.cache/demo"
mkdir -p "$dir"
bootstrap=$(scripts/kafka/cluster.sh start "$dir/kafka" 1 | tail -n1)
workload_pid=""
cleanup() {
  [ -n "$workload_pid" ] && kill "$workload_pid" 2>/dev/null && wait "$workload_pid" 2>/dev/null || true
  scripts/kafka/cluster.sh stop "$dir/kafka"
}
trap cleanup EXIT INT TERM
node_modules/.bin/bun run scripts/demo-workload.ts "$bootstrap" &
workload_pid=$!
cat > "$dir/config.toml" <<TOML
[exporter]
poll_interval = "5s"
http_port = ${PORT:-8000}
http_host = "127.0.0.1"
granularity = "partition"

[exporter.timestamp_sampling]
enabled = true
mode = "hybrid"

[[clusters]]
name = "demo"
bootstrap_servers = "$bootstrap"
group_whitelist = ["^demo-"]

[clusters.labels]
environment = "demo"
TOML
echo "Kafka at $bootstrap; exporter metrics at http://127.0.0.1:${PORT:-8000}/metrics (status page at /). Ctrl-C to stop." >&2
node_modules/.bin/bun run src/main.ts run --config "$dir/config.toml" ${DEMO_ARGS:-}
