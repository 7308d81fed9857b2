#!/usr/bin/env bash
# Stops what deploy/local/up.sh started.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA_DIR=${CHANGEWARD_DATA_DIR:-.changeward}
RUN_DIR=$DATA_DIR/run

for pid_file in "$RUN_DIR"/*.pid; do
  [[ -e $pid_file ]] || continue
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    echo "down: stopped $(basename "$pid_file" .pid)"
  fi
  rm -f "$pid_file"
done

if [[ -f $RUN_DIR/embedded-postgres ]]; then
  .venv/bin/changeward postgres stop
  rm -f "$RUN_DIR/embedded-postgres"
  echo "down: stopped the embedded PostgreSQL"
fi
bash deploy/kafka/kafka.sh down
