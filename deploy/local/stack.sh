#!/usr/bin/env bash
# The no-Docker local stack: the broker (deploy/kafka/kafka.sh), newsflow's topics, and the four services as
# background processes. Logs in .data/logs/<service>.log, pids in .data/run/<service>.pid.
#
#   deploy/local/stack.sh up      start what is not running, wait until every service serves its metrics
#   deploy/local/stack.sh down    stop the services (SIGTERM: they commit and exit), then the broker
#   deploy/local/stack.sh status  what runs, and where
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
py=${PYTHON:-$root/.venv/bin/python}
services=(fetcher cleaner extractor indexer)
declare -A ports=([fetcher]=9101 [cleaner]=9102 [extractor]=9103 [indexer]=9104)
mkdir -p .data/logs .data/run

alive() { [ -f ".data/run/$1.pid" ] && kill -0 "$(cat ".data/run/$1.pid")" 2>/dev/null; }

port_of() { local var="NEWSFLOW_${1^^}_METRICS_PORT"; echo "${!var:-${ports[$1]}}"; }

up() {
  deploy/kafka/kafka.sh start
  "$py" -m services.cli topics create
  for s in "${services[@]}"; do
    if alive "$s"; then echo "$s: already running (pid $(cat ".data/run/$s.pid"))"; continue; fi
    nohup "$py" -m "services.$s" >> ".data/logs/$s.log" 2>&1 &
    echo $! > ".data/run/$s.pid"
  done
  for s in "${services[@]}"; do
    local port; port=$(port_of "$s")
    for _ in $(seq 1 240); do
      if curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^newsflow_consumer_lag{'; then break; fi
      alive "$s" || { echo "$s exited; last lines of .data/logs/$s.log:" >&2; tail -30 ".data/logs/$s.log" >&2; exit 1; }
      sleep 0.5
    done
    echo "$s: up (pid $(cat ".data/run/$s.pid"), metrics http://127.0.0.1:$port/metrics, log .data/logs/$s.log)"
  done
}

down() {
  for s in "${services[@]}"; do
    if alive "$s"; then
      local pid; pid=$(cat ".data/run/$s.pid"); kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
      echo "$s: stopped"
    fi
    rm -f ".data/run/$s.pid"
  done
  deploy/kafka/kafka.sh stop
}

status() {
  if deploy/kafka/kafka.sh status; then echo "kafka: up"; else echo "kafka: down"; fi
  for s in "${services[@]}"; do
    if alive "$s"; then echo "$s: running (pid $(cat ".data/run/$s.pid"), port $(port_of "$s"))"; else echo "$s: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
