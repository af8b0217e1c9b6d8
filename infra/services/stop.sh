#!/usr/bin/env bash
# Stops the NATS, Redis, PostgreSQL, Cassandra and MinIO that start.sh started, found by their pid files under
# .services/; never touches other instances (such as the Debian packages' own services).
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || {
      say "$name: stopped"
      return
    }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  say "$name: killed (did not stop within 10 s)"
}

if pid="$(our_pid "$NATS_PID" nats-server)"; then
  stop_pid nats "$pid"
else
  say "nats: not running"
fi
rm -f "$NATS_PID"

if pid="$(our_pid "$REDIS_PID" redis-server)"; then
  stop_pid redis "$pid"
else
  say "redis: not running"
fi
rm -f "$REDIS_PID"

if our_pid "$PG_PID" postgres >/dev/null; then
  # Fast shutdown: roll back open transactions, checkpoint, exit; committed data is kept.
  as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  say "postgres: stopped"
else
  say "postgres: not running"
fi

bash "$ROOT/infra/services/cassandra.sh" stop "$CASSANDRA_DIR"

if pid="$(our_pid "$MINIO_PID" minio)"; then
  stop_pid minio "$pid"
else
  say "minio: not running"
fi
rm -f "$MINIO_PID"
