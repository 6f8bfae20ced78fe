#!/usr/bin/env bash
# Starts or stops a local Apache Kafka cluster in KRaft mode on loopback.
#   cluster.sh start DIR [BROKERS=1] [EXTRA_PROPERTIES_FILE]   → DIR/bootstrap holds host:port,...
#   cluster.sh stop DIR
# Each node is a combined broker+controller. Ports are free loopback ports picked at start.
# Idempotent: start on a running DIR prints its bootstrap; stop on a stopped DIR does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: cluster.sh start|stop DIR [BROKERS] [EXTRA_PROPERTIES_FILE]}
dir=${2:?usage: cluster.sh start|stop DIR [BROKERS] [EXTRA_PROPERTIES_FILE]}
brokers=${3:-1}
extra=${4:-}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

stop_cluster() {
  [ -d "$dir" ] || return 0
  for pidfile in "$dir"/node-*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
  done
  for pidfile in "$dir"/node-*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  rm -f "$dir/bootstrap"
}

running() {
  [ -f "$dir/bootstrap" ] || return 1
  for pidfile in "$dir"/node-*.pid; do
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null || return 1
  done
}

case "$cmd" in
  stop) stop_cluster; exit 0 ;;
  start) ;;
  *) echo "unknown command: $cmd (use start or stop)" >&2; exit 2 ;;
esac

mkdir -p "$dir"
# Concurrent starters of the same DIR (parallel test processes) wait for one another.
exec 9>"$dir.lock"
flock 9
if running; then cat "$dir/bootstrap"; exit 0; fi
stop_cluster
lib=$("$here/fetch.sh")
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cluster_id=$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)

cat > "$dir/log4j2.properties" <<'LOG'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
LOG

declare -a ports cports
voters=""
for i in $(seq 1 "$brokers"); do
  ports[$i]=$(free_port); cports[$i]=$(free_port)
  voters+="${voters:+,}$i@127.0.0.1:${cports[$i]}"
done
rf=$(( brokers < 3 ? brokers : 3 ))

bootstrap=""
for i in $(seq 1 "$brokers"); do
  node="$dir/node-$i"
  rm -rf "$node"; mkdir -p "$node/data"
  cat > "$node/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[$i]},CONTROLLER://127.0.0.1:${cports[$i]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[$i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$node/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=500
log.retention.check.interval.ms=1000
log.cleaner.backoff.ms=500
log.cleaner.dedupe.buffer.size=8388608
log.segment.delete.delay.ms=100
file.delete.delay.ms=100
transaction.abort.timed.out.transaction.cleanup.interval.ms=600000
delete.topic.enable=true
PROPS
  if [ -n "$extra" ]; then cat "$extra" >> "$node/server.properties"; fi
  java -cp "$lib/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$node/server.properties" >"$node/format.log" 2>&1 \
    || { cat "$node/format.log" >&2; exit 1; }
  bootstrap+="${bootstrap:+,}127.0.0.1:${ports[$i]}"
done

for i in $(seq 1 "$brokers"); do
  node="$dir/node-$i"
  # setsid: the broker outlives neither stop nor the harness, but ignores the caller's job-control signals.
  setsid java -Xms128m -Xmx${KLAG_KAFKA_HEAP:-512m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Djava.awt.headless=true \
    -cp "$lib/*" kafka.Kafka "$node/server.properties" >"$node/server.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$dir/node-$i.pid"
done

deadline=$(( $(date +%s) + 120 ))
for i in $(seq 1 "$brokers"); do
  until (exec 3<>/dev/tcp/127.0.0.1/"${ports[$i]}") 2>/dev/null; do
    if ! kill -0 "$(cat "$dir/node-$i.pid")" 2>/dev/null; then
      echo "kafka node $i exited during start; log follows" >&2; tail -n 40 "$dir/node-$i/server.log" >&2; stop_cluster; exit 1
    fi
    if [ "$(date +%s)" -gt "$deadline" ]; then echo "kafka node $i did not open port ${ports[$i]} in 120 s" >&2; stop_cluster; exit 1; fi
    sleep 0.2
  done
done
echo "$bootstrap" > "$dir/bootstrap"
echo "$lib" > "$dir/lib"
echo "$bootstrap"
