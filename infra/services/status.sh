#!/usr/bin/env bash
# Shows whether our NATS, Redis, PostgreSQL and Cassandra run and answer. Exit status 0 when all do,
# 3 (as LSB init scripts do for "not running") otherwise.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

down=0

# $1 name, $2 pid file, $3 process name, $4 port, $5 a command that checks it answers.
report() {
  local pid
  if ! pid="$(our_pid "$2" "$3")"; then
    say "$1: stopped"
    down=1
  elif "${@:5}" >/dev/null 2>&1; then
    say "$1: running (pid $pid) on $HOST:$4"
  else
    say "$1: running (pid $pid) but not answering on $HOST:$4; see $LOGS/$1.log"
    down=1
  fi
}

report nats "$NATS_PID" nats-server "$NATS_PORT" port_open "$NATS_PORT"
report redis "$REDIS_PID" redis-server "$REDIS_PORT" redis-cli -h "$HOST" -p "$REDIS_PORT" ping
report postgres "$PG_PID" postgres "$PG_PORT" pg_isready -q -h "$HOST" -p "$PG_PORT" -d msgr -U msgr
report cassandra "$CASSANDRA_DIR/cassandra.pid" java "$CASSANDRA_PORT" port_open "$CASSANDRA_PORT"
say "data: $SERVICES   logs: $LOGS"
((down == 0)) || exit 3
