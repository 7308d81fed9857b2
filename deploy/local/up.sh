#!/usr/bin/env bash
# Starts the distributed mode on this machine: Kafka, PostgreSQL (embedded unless
# CHANGEWARD_DATABASE_URL is set) and the five services on ports 8081-8085.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=.venv/bin
DATA_DIR=${CHANGEWARD_DATA_DIR:-.changeward}
RUN_DIR=$DATA_DIR/run
LOG_DIR=$DATA_DIR/logs
mkdir -p "$RUN_DIR" "$LOG_DIR"

bash deploy/kafka/kafka.sh up
export CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS=${CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${CHANGEWARD_KAFKA_PORT:-9092}}

if [[ -z "${CHANGEWARD_DATABASE_URL:-}" ]]; then
  CHANGEWARD_DATABASE_URL=$("$BIN/changeward" postgres start)
  export CHANGEWARD_DATABASE_URL
  touch "$RUN_DIR/embedded-postgres"
fi

# One secret for the five services, so a token minted once works everywhere.
if [[ -z "${CHANGEWARD_JWT_SECRET:-}" ]]; then
  CHANGEWARD_JWT_SECRET=$("$BIN/changeward" token secret)
  export CHANGEWARD_JWT_SECRET
fi

port=8081
for service in intake review execution audit notify; do
  pid_file=$RUN_DIR/$service.pid
  if [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "up: $service already running (pid $(cat "$pid_file"))"
  else
    nohup "$BIN/changeward" serve "$service" --port "$port" >"$LOG_DIR/$service.log" 2>&1 &
    echo $! >"$pid_file"
    echo "up: $service starting on http://127.0.0.1:$port (log $LOG_DIR/$service.log)"
  fi
  port=$((port + 1))
done

for port in 8081 8082 8083 8084 8085; do
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then continue 2; fi
    sleep 0.5
  done
  echo "up: the service on port $port is not ready; see $LOG_DIR/" >&2
  exit 1
done
echo "up: ready. intake :8081, review :8082, execution :8083, audit :8084, notify :8085"
echo "up: a token: $BIN/changeward token mint --sub alice --roles requester"
