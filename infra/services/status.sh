#!/usr/bin/env bash
# Shows whether our NATS, Redis, PostgreSQL, Cassandra and MinIO run and answer, over TLS.
# Exit status 0 when all do, 3 (as LSB init scripts do for "not running") otherwise.
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

# A TLS handshake that verifies the server's certificate against our CA.
tls_answers() { openssl s_client -connect "$HOST:$1" -CAfile "$CERTS/ca.pem" -verify_return_error -brief </dev/null >/dev/null 2>&1; }
# Redis: PING as msgr (REDISCLI_AUTH keeps the password off the command line).
redis_pings() {
  [[ "$(REDISCLI_AUTH="$(cat "$SECRETS/redis.password")" redis-cli --tls --cacert "$CERTS/ca.pem" -h "$HOST" -p "$REDIS_PORT" --user msgr --no-auth-warning ping)" == PONG ]]
}

# NATS speaks first in plain text on its client port (INFO, then TLS): check its HTTPS monitoring port.
report nats "$NATS_PID" nats-server "$NATS_PORT" tls_answers "$NATS_MONITOR_PORT"
report redis "$REDIS_PID" redis-server "$REDIS_PORT" redis_pings
report postgres "$PG_PID" postgres "$PG_PORT" pg_isready -q -h "$HOST" -p "$PG_PORT" -d msgr -U msgr
report cassandra "$CASSANDRA_DIR/cassandra.pid" java "$CASSANDRA_PORT" tls_answers "$CASSANDRA_PORT"
report minio "$MINIO_PID" minio "$MINIO_PORT" tls_answers "$MINIO_PORT"
say "data: $SERVICES   logs: $LOGS   CA: $CERTS/ca.pem"
((down == 0)) || exit 3
