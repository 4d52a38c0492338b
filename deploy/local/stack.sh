#!/usr/bin/env bash
# The no-Docker local stack: the broker (deploy/kafka/kafka.sh), newsflow's topics, and the four services as
# background processes. Logs in .data/logs/<process>.log, pids in .data/run/<process>.pid; each process
# announces its metrics endpoint in .data/targets/<service>-<pid>.json (read by Prometheus and newsflow status).
# The extractor, the slowest stage, runs as two processes (extractor, extractor-2) when the machine has two
# cores or more: EXTRACTORS=1 (or 3...) to choose.
#
#   deploy/local/stack.sh up      start what is not running, wait until every service serves its metrics
#   deploy/local/stack.sh down    stop the services (SIGTERM: they commit and exit), then the broker
#   deploy/local/stack.sh status  what runs, and where (HALTED: a service that stopped taking messages)
#   deploy/local/stack.sh restart SERVICE
#                                 stop every process of SERVICE (fetcher, cleaner, extractor, indexer; or one
#                                 process, e.g. extractor-2) and start it again, e.g. after fixing what halted
#                                 it (`newsflow status` says HALTED): it resumes at the message it halted at
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
py=${PYTHON:-$root/.venv/bin/python}
# The services' default metrics ports: services/runtime/settings.py STAGE_DEFAULTS (tests/deploy/test_ports.py
# checks this line against it; bash cannot import it, and PYTHON may be a stand-in).
declare -A ports=([fetcher]=9101 [cleaner]=9102 [extractor]=9103 [indexer]=9104)
extractors=${EXTRACTORS:-$( [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] && echo 2 || echo 1 )}
services=(fetcher cleaner extractor)
for i in $(seq 2 "$extractors"); do services+=("extractor-$i"); done
services+=(indexer)
mkdir -p .data/logs .data/run .data/targets

alive() { [ -f ".data/run/$1.pid" ] && kill -0 "$(cat ".data/run/$1.pid")" 2>/dev/null; }

service_of() { echo "${1%%-*}"; }  # extractor-2 -> extractor

# The port a process serves its metrics on: from its announced target file, else its service's setting.
port_of() {
  local svc; svc=$(service_of "$1")
  if [ -f ".data/run/$1.pid" ]; then
    local file=".data/targets/$svc-$(cat ".data/run/$1.pid").json"
    if [ -f "$file" ]; then sed -E 's/.*:([0-9]+)".*/\1/' "$file" | head -1; return; fi
  fi
  local var="NEWSFLOW_${svc^^}_METRICS_PORT"; echo "${!var:-${ports[$svc]}}"
}

start() {  # start process $1 in the background
  nohup "$py" -m "services.$(service_of "$1")" >> ".data/logs/$1.log" 2>&1 &
  echo $! > ".data/run/$1.pid"
}

wait_ready() {  # until process $1 serves its metrics with its partitions assigned (the lag gauge has a series)
  local port
  for _ in $(seq 1 240); do
    port=$(port_of "$1")
    if curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^newsflow_consumer_lag{'; then break; fi
    alive "$1" || { echo "$1 exited; last lines of .data/logs/$1.log:" >&2; tail -30 ".data/logs/$1.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "$1: up (pid $(cat ".data/run/$1.pid"), metrics http://127.0.0.1:$port/metrics, log .data/logs/$1.log)"
}

stop() {  # SIGTERM process $1 (it commits and exits; a halted one exits at once with status 3), SIGKILL after 30 s
  if alive "$1"; then
    local pid; pid=$(cat ".data/run/$1.pid"); kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    echo "$1: stopped"
  fi
  rm -f ".data/run/$1.pid"
}

up() {
  deploy/kafka/kafka.sh start
  "$py" -m services.cli topics create
  for s in "${services[@]}"; do
    if alive "$s"; then echo "$s: already running (pid $(cat ".data/run/$s.pid"))"; continue; fi
    start "$s"
  done
  for s in "${services[@]}"; do wait_ready "$s"; done
}

running() {  # every process with a pid file (whatever EXTRACTORS was when it started), then the configured ones
  { for f in .data/run/*.pid; do [ -e "$f" ] && basename "$f" .pid; done; printf '%s\n' "${services[@]}"; } | awk '!seen[$0]++'
}

down() {
  for s in $(running); do stop "$s"; done
  "$py" -c 'import sys; from pathlib import Path; from services.runtime.discovery import prune; prune(Path(sys.argv[1]))' \
    .data/targets 2>/dev/null || true  # target files of processes that had to be killed
  deploy/kafka/kafka.sh stop
}

restart() {  # every process of service $1 (its own name, extractor, and extractor-2, ...), or the one process $1
  local name=${1:-} chosen=()
  case "$name" in
    fetcher|cleaner|extractor|indexer)
      for s in $(running); do [ "$(service_of "$s")" = "$name" ] && chosen+=("$s"); done ;;
    fetcher-*|cleaner-*|extractor-*|indexer-*) chosen=("$name") ;;
    *) echo "restart what? SERVICE=fetcher, cleaner, extractor, indexer (or one process, e.g. extractor-2)" >&2; exit 2 ;;
  esac
  for s in "${chosen[@]}"; do stop "$s"; done
  for s in "${chosen[@]}"; do start "$s"; done
  for s in "${chosen[@]}"; do wait_ready "$s"; done
}

halted() {  # process $1 says it is halted (newsflow_circuit_open 1 on its /metrics)
  local text; text=$(curl -fsS "http://127.0.0.1:$(port_of "$1")/metrics" 2>/dev/null) || return 1
  grep -qE '^newsflow_circuit_open\{.*\} 1(\.0)?$' <<< "$text"
}

status() {
  if deploy/kafka/kafka.sh status; then echo "kafka: up"; else echo "kafka: down"; fi
  for s in $(running); do
    if ! alive "$s"; then echo "$s: stopped"; continue; fi
    local state=running; halted "$s" && state=HALTED
    echo "$s: $state (pid $(cat ".data/run/$s.pid"), port $(port_of "$s"))"
    if [ "$state" = HALTED ]; then
      echo "  it takes no message: \`.venv/bin/newsflow status\` says where and why; after the fix: make restart SERVICE=$(service_of "$s")"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  restart) restart "${2:-}" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
