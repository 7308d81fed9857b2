#!/usr/bin/env bash
# Single-node Apache Kafka for local development and tests.
#
# One JVM runs both KRaft roles (broker + controller), listening on 127.0.0.1
# only. Jars come from Maven Central via ./pom.xml; no tarball, no Docker.
#
# Usage: deploy/kafka/kafka.sh up | down [--purge] | status | logs [-f]
#
#   up             fetch jars (first time), format storage (first time), start,
#                  and wait until the broker is ready. No-op if already running.
#   down           stop gracefully (SIGTERM, then SIGKILL after 30 s). No-op if
#                  not running. --purge also deletes the data directory.
#   status         exit 0 if running, 3 if not.
#   logs [-f]      last 200 lines of the broker log (-f: follow).
#
# Environment (defaults in brackets; <repo> = two levels above this script):
#   CHANGEWARD_KAFKA_HOME             jar cache            [<repo>/.cache/kafka]
#   CHANGEWARD_KAFKA_DATA             data, config, logs   [<repo>/.cache/kafka-data]
#   CHANGEWARD_KAFKA_PORT             client port          [9092]
#   CHANGEWARD_KAFKA_ADVERTISED_PORT  client port the broker tells clients to use, e.g. a
#                                     proxy's in front of it (the fault suite's) [its port]
#   CHANGEWARD_KAFKA_CONTROLLER_PORT  KRaft controller     [9093]
#   CHANGEWARD_KAFKA_START_TIMEOUT    seconds to wait for readiness [90]
#   CHANGEWARD_KAFKA_AUTO_CREATE_TOPICS  broker auto-creates topics [false]
#   JAVA_HOME                         Java >= 17 (else `java` on PATH)
#
# Data directory layout:
#   server.properties, log4j2.xml   generated on every `up`
#   cluster.id                      generated once, used to format storage
#   kraft/                          Kafka's log.dirs (topic + metadata logs)
#   logs/server.log                 broker log (rolling)
#   logs/kafka.out                  JVM stdout/stderr of the last start
#   kafka.pid                       pid of the running broker
set -euo pipefail

readonly KAFKA_VERSION=4.1.1   # keep in sync with kafka.version in pom.xml

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

# Absolute paths: they end up in server.properties and in the broker's command line.
KAFKA_HOME="$(realpath -m "${CHANGEWARD_KAFKA_HOME:-$REPO_ROOT/.cache/kafka}")"
DATA_DIR="$(realpath -m "${CHANGEWARD_KAFKA_DATA:-$REPO_ROOT/.cache/kafka-data}")"
PORT="${CHANGEWARD_KAFKA_PORT:-9092}"
ADVERTISED_PORT="${CHANGEWARD_KAFKA_ADVERTISED_PORT:-$PORT}"
CONTROLLER_PORT="${CHANGEWARD_KAFKA_CONTROLLER_PORT:-9093}"
START_TIMEOUT="${CHANGEWARD_KAFKA_START_TIMEOUT:-90}"
AUTO_CREATE_TOPICS="${CHANGEWARD_KAFKA_AUTO_CREATE_TOPICS:-false}"
readonly HOST=127.0.0.1
readonly STOP_TIMEOUT=30

LIBS_DIR="$KAFKA_HOME/libs"
STAMP_FILE="$KAFKA_HOME/libs.stamp"
CONFIG_FILE="$DATA_DIR/server.properties"
LOG4J_FILE="$DATA_DIR/log4j2.xml"
CLUSTER_ID_FILE="$DATA_DIR/cluster.id"
KRAFT_DIR="$DATA_DIR/kraft"
LOG_DIR="$DATA_DIR/logs"
SERVER_LOG="$LOG_DIR/server.log"
OUT_FILE="$LOG_DIR/kafka.out"
PID_FILE="$DATA_DIR/kafka.pid"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# --------------------------------------------------------------------------
# helpers

log() { echo "kafka: $*"; }
die() { echo "kafka: error: $*" >&2; exit 1; }

usage() {
  sed -n '/^# Usage:/,/^#   logs/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Create a directory that git must never pick up, even if the repository's
# .gitignore does not list it.
make_private_dir() {
  mkdir -p "$1"
  [[ -e "$1/.gitignore" ]] || echo '*' >"$1/.gitignore"
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bash built-in).
port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# True if process $1 exists and is not a zombie. (`kill -0` alone is not
# enough: a broker that dies during `up` stays a zombie child of this shell.)
is_alive() {
  local state
  state="$(ps -p "$1" -o stat= 2>/dev/null)" || return 1
  [[ "$state" != Z* ]]
}

# SIGTERM (Kafka's shutdown hook does a controlled shutdown), then SIGKILL
# after $STOP_TIMEOUT seconds.
stop_pid() {
  local pid="$1" deadline=$((SECONDS + STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || true
  while is_alive "$pid" && (( SECONDS < deadline )); do
    sleep 0.5
  done
  if is_alive "$pid"; then
    log "still running after ${STOP_TIMEOUT} s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while is_alive "$pid"; do sleep 0.2; done
  fi
}

# Print the pid of our broker if it is running; fail otherwise. Guards against
# stale pid files and pid reuse by checking the command line.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(<"$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && is_alive "$pid" || return 1
  ps -ww -p "$pid" -o args= 2>/dev/null | grep -qF "kafka.Kafka $CONFIG_FILE" || return 1
  echo "$pid"
}

# Print what the current start wrote to the logs (server.log from byte
# offset $1 on, since it is appended to across restarts).
show_startup_log() {
  local offset="$1"
  echo "---- last 40 lines of $SERVER_LOG (this start) ----" >&2
  tail -c "+$((offset + 1))" "$SERVER_LOG" 2>/dev/null | tail -n 40 >&2 || true
  if [[ -s "$OUT_FILE" ]]; then
    echo "---- last 20 lines of $OUT_FILE ----" >&2
    tail -n 20 "$OUT_FILE" >&2
  fi
}

# Serialise up/down (e.g. parallel test jobs) on a lock in the data dir.
# The lock is held on fd 9 until this script exits.
take_lock() {
  make_private_dir "$DATA_DIR"
  exec 9>"$DATA_DIR/.lock"
  flock -w 180 9 || die "timed out waiting for another kafka.sh in $DATA_DIR"
}

# --------------------------------------------------------------------------
# setup steps

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (install Java 17+ or set JAVA_HOME)"
  local major
  major="$("$JAVA" -XshowSettings:properties -version 2>&1 |
           sed -n 's/^ *java\.specification\.version = //p')"
  [[ "${major%%.*}" -ge 17 ]] 2>/dev/null ||
    die "Kafka $KAFKA_VERSION needs Java 17+, found '${major:-unknown}' ($JAVA)"
}

# Download the broker's jars into $LIBS_DIR, unless the stamp says they are
# already there for this exact pom.xml.
fetch_jars() {
  local want
  want="kafka=$KAFKA_VERSION pom-sha256=$(sha256sum "$SCRIPT_DIR/pom.xml" | cut -d' ' -f1)"
  [[ -f "$STAMP_FILE" && "$(<"$STAMP_FILE")" == "$want" ]] && return 0

  command -v mvn >/dev/null || die "mvn not found: needed once to fetch Kafka jars"
  make_private_dir "$KAFKA_HOME"
  # Brokers with different data dirs share this cache, so fetch under a lock
  # (fd 8, released when the subshell ends).
  (
    flock -w 600 8 || die "timed out waiting for another fetch into $KAFKA_HOME"
    [[ -f "$STAMP_FILE" && "$(<"$STAMP_FILE")" == "$want" ]] && exit 0  # fetched while we waited

    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR"
    local tmp mvn_log="$KAFKA_HOME/mvn.log"
    tmp="$(mktemp -d "$KAFKA_HOME/libs.tmp.XXXXXX")"
    if ! mvn -B --no-transfer-progress -f "$SCRIPT_DIR/pom.xml" \
          dependency:copy-dependencies -DincludeScope=runtime \
          -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
      tail -n 30 "$mvn_log" >&2
      rm -rf "$tmp"
      die "maven failed (full log: $mvn_log)"
    fi
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] ||
      die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch; is pom.xml in sync with KAFKA_VERSION?"
    rm -rf "$LIBS_DIR"
    mv "$tmp" "$LIBS_DIR"
    echo "$want" >"$STAMP_FILE"
    log "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars"
  ) 8>"$KAFKA_HOME/.lock"
}

write_config() {
  mkdir -p "$LOG_DIR" "$KRAFT_DIR"

  cat >"$CONFIG_FILE" <<EOF
# Generated by deploy/kafka/kafka.sh on every 'up'; edits here are overwritten.

# --- KRaft: one process is both broker and the (only) controller.
process.roles=broker,controller
node.id=1
# Dynamic quorum (KIP-853): storage is formatted with --standalone, which
# needs controller.quorum.bootstrap.servers rather than controller.quorum.voters.
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER

# --- Listeners: loopback only.
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$ADVERTISED_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT

# --- Storage.
log.dirs=$KRAFT_DIR

# --- Single node: every internal topic gets replication factor 1.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# --- Topics.
num.partitions=3
# Off by default: code and tests must create their topics explicitly, as in
# production, so a misspelt topic name fails fast instead of silently creating
# a new topic. Set CHANGEWARD_KAFKA_AUTO_CREATE_TOPICS=true to turn it on.
auto.create.topics.enable=$AUTO_CREATE_TOPICS
delete.topic.enable=true

# --- Consumer groups: no 3 s wait before the first rebalance (faster tests).
group.initial.rebalance.delay.ms=0

# --- A broker restarted after kill -9 may register again only once its old
# incarnation's session has expired: 9 s by default, during which nothing is
# served. On loopback, 4 s is a safe margin over a 1 s heartbeat.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

# --- Small, short-lived logs for a dev box.
log.segment.bytes=16777216
log.retention.hours=24
log.retention.bytes=268435456
log.retention.check.interval.ms=60000

# --- Modest thread counts for a 2-core machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF

  cat >"$LOG4J_FILE" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/kafka/kafka.sh on every 'up'. -->
<!-- shutdownHook="disable": keep logging while Kafka runs its own shutdown hook. -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <RollingFile name="server" fileName="$SERVER_LOG" filePattern="$SERVER_LOG.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="20 MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <!-- Per-request and per-partition chatter. -->
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log" level="WARN"/>
    <Logger name="org.apache.kafka.coordinator.common.runtime" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

# Format the storage directory once. The cluster id is generated the first
# time and kept, so a wiped kraft/ is re-formatted with the same id.
format_storage() {
  [[ -f "$KRAFT_DIR/meta.properties" ]] && return 0

  if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
    "$JAVA" -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$LOG4J_FILE" \
      kafka.tools.StorageTool random-uuid >"$CLUSTER_ID_FILE"
  fi
  local cluster_id
  cluster_id="$(<"$CLUSTER_ID_FILE")"
  log "formatting storage in $KRAFT_DIR (cluster id $cluster_id)"
  "$JAVA" -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$LOG4J_FILE" \
    kafka.tools.StorageTool format --standalone \
    -t "$cluster_id" -c "$CONFIG_FILE" >"$LOG_DIR/format.out" 2>&1 ||
    { cat "$LOG_DIR/format.out" >&2; die "storage format failed"; }
}

# Block until the broker has logged that it started and accepts connections.
wait_until_ready() {
  local pid="$1" log_offset="$2" start=$SECONDS
  while :; do
    if ! is_alive "$pid"; then
      show_startup_log "$log_offset"
      rm -f "$PID_FILE"
      die "broker exited during startup (logs in $LOG_DIR)"
    fi
    # Only look at what this start wrote, not at earlier runs' lines
    # (unless server.log was just rolled over and is shorter than before).
    if [[ -f "$SERVER_LOG" ]] && (( $(wc -c <"$SERVER_LOG") < log_offset )); then
      log_offset=0
    fi
    if tail -c "+$((log_offset + 1))" "$SERVER_LOG" 2>/dev/null |
         grep -q 'Kafka Server started' && port_open "$PORT"; then
      log "ready on $HOST:$PORT (pid $pid, $((SECONDS - start)) s)"
      return 0
    fi
    if (( SECONDS - start >= START_TIMEOUT )); then
      show_startup_log "$log_offset"
      log "not ready after ${START_TIMEOUT} s, stopping it"
      stop_pid "$pid"
      rm -f "$PID_FILE"
      die "broker did not become ready within ${START_TIMEOUT} s (logs in $LOG_DIR)"
    fi
    sleep 0.5
  done
}

# --------------------------------------------------------------------------
# subcommands

cmd_up() {
  take_lock
  local pid
  if pid="$(running_pid)"; then
    log "already running on $HOST:$PORT (pid $pid)"
    return 0
  fi
  rm -f "$PID_FILE"

  check_java
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    ! port_open "$p" || die "port $HOST:$p is already in use by another process"
  done

  fetch_jars
  write_config
  format_storage

  local log_offset=0
  [[ -f "$SERVER_LOG" ]] && log_offset="$(wc -c <"$SERVER_LOG")"

  log "starting Kafka $KAFKA_VERSION (data: $DATA_DIR)"
  # JVM flags follow Kafka's own kafka-server-start.sh / kafka-run-class.sh,
  # with a smaller heap. The broker runs in $DATA_DIR (so a JVM crash file
  # lands there) and must not inherit our lock on fd 9.
  cd "$DATA_DIR"
  nohup "$JAVA" \
    -Xms256m -Xmx512m \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOG_DIR" \
    -Dlog4j2.configurationFile="$LOG4J_FILE" \
    -cp "$LIBS_DIR/*" \
    kafka.Kafka "$CONFIG_FILE" \
    >"$OUT_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  wait_until_ready "$pid" "$log_offset"
}

cmd_down() {
  local purge=false
  case "${1:-}" in
    "") ;;
    --purge) purge=true ;;
    *) usage ;;
  esac

  if [[ ! -d "$DATA_DIR" ]]; then
    log "not running (no data directory $DATA_DIR)"
    return 0
  fi
  take_lock
  local pid
  if pid="$(running_pid)"; then
    log "stopping (pid $pid)"
    stop_pid "$pid"
    log "stopped"
  else
    log "not running"
  fi
  rm -f "$PID_FILE"

  if $purge; then
    # Refuse to delete anything that does not look like our data directory.
    [[ -f "$CLUSTER_ID_FILE" || -f "$CONFIG_FILE" ]] || {
      log "nothing to purge in $DATA_DIR"
      return 0
    }
    rm -rf "$DATA_DIR"
    log "purged $DATA_DIR"
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if port_open "$PORT"; then
      log "running on $HOST:$PORT (pid $pid)"
    else
      log "running (pid $pid) but $HOST:$PORT is not accepting connections yet"
    fi
    return 0
  fi
  log "not running"
  return 3
}

cmd_logs() {
  [[ -f "$SERVER_LOG" ]] || die "no log yet at $SERVER_LOG"
  case "${1:-}" in
    "") tail -n 200 "$SERVER_LOG" ;;
    -f) tail -n 200 -F "$SERVER_LOG" ;;
    *) usage ;;
  esac
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    logs) cmd_logs "$@" ;;
    *) usage ;;
  esac
}

main "$@"
