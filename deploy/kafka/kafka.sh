#!/usr/bin/env bash
# The local single-node Apache Kafka broker (KRaft, combined broker + controller) on 127.0.0.1.
#
#   deploy/kafka/kafka.sh fetch   download the broker's jars from Maven Central once (cached in .cache/kafka/)
#   deploy/kafka/kafka.sh start   format the data folder if new, start the broker, wait until it answers
#   deploy/kafka/kafka.sh stop    stop it (SIGTERM, then SIGKILL after a grace period)
#   deploy/kafka/kafka.sh status  exit 0 when it answers on its port
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_DATA (.data/kafka-$KAFKA_PORT),
# KAFKA_VERSION (from pom.xml), KAFKA_HEAP (512m), NEWSFLOW_PYTHON (.venv/bin/python: reads the message size limit,
# message.max.bytes, from the topic registry, schemas/topics.py).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")}
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
data=${KAFKA_DATA:-$root/.data/kafka-$port}
libs=$root/.cache/kafka/$version/libs
pidfile=$data/broker.pid
python=${NEWSFLOW_PYTHON:-$root/.venv/bin/python}

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  echo "kafka: fetching Apache Kafka $version from Maven Central into $libs" >&2
  mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" -Dkafka.version="$version" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  touch "$libs/.complete"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

jopts=(-Xms"${KAFKA_HEAP:-512m}" -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC -Djava.awt.headless=true
  -Dkafka.logs.dir="$data/logs" -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*")

# The largest message any topic takes, as the topic registry declares it (one source for the limit).
message_max_bytes() {
  (cd "$root" && "$python" -c 'from schemas.topics import TOPICS; print(TOPICS.max_message_bytes)')
}

write_config() {
  local max_bytes; max_bytes=$(message_max_bytes)
  mkdir -p "$data/logs"
  cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/log
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
message.max.bytes=$max_bytes
PROPS
}

start() {
  fetch
  if running && answers; then echo "kafka: already running on 127.0.0.1:$port" >&2; return 0; fi
  write_config
  if [ ! -f "$data/log/meta.properties" ]; then
    [ -s "$data/cluster.id" ] || java "${jopts[@]}" kafka.tools.StorageTool random-uuid > "$data/cluster.id"
    java "${jopts[@]}" kafka.tools.StorageTool format -t "$(cat "$data/cluster.id")" \
      -c "$data/server.properties" >"$data/logs/format.log" 2>&1 \
      || { cat "$data/logs/format.log" >&2; exit 1; }
  fi
  nohup java "${jopts[@]}" kafka.Kafka "$data/server.properties" >"$data/logs/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 240); do
    if answers; then echo "kafka: Apache Kafka $version up on 127.0.0.1:$port (data in $data)" >&2; return 0; fi
    running || { echo "kafka: broker exited; see $data/logs/" >&2; tail -20 "$data/logs/stdout.log" >&2; exit 1; }
    sleep 0.25
  done
  echo "kafka: broker did not answer within 60 s; see $data/logs/" >&2; exit 1
}

stop() {
  running || { rm -f "$pidfile"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka: stopped" >&2; return 0; }; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$pidfile"; echo "kafka: killed after 30 s" >&2
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
