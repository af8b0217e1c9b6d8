#!/usr/bin/env bash
# Starts NATS (with JetStream), Redis, PostgreSQL and Cassandra on 127.0.0.1 for development and the local
# cluster, with their data under .services/ and logs under .services/logs/. Idempotent: an engine
# that is already running (ours, by its pid file) is left alone.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mkdir -p "$LOGS" "$SERVICES/nats" "$SERVICES/redis"

start_nats() {
  local pid
  if pid="$(our_pid "$NATS_PID" nats-server)"; then
    say "nats: already running (pid $pid) on $HOST:$NATS_PORT"
    return
  fi
  port_free_or_die "$NATS_PORT" nats
  local bin
  bin="$(bash "$ROOT/infra/services/install-nats.sh")"
  # JetStream fsyncs before every publish ack, as in production; the option has no flag.
  printf 'jetstream { store_dir: "%s", sync_interval: always }\n' "$SERVICES/nats" >"$SERVICES/nats.conf"
  # setsid: its own session, so a Ctrl-C in this terminal later does not reach it.
  setsid "$bin" -c "$SERVICES/nats.conf" -a "$HOST" -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
    -P "$NATS_PID" -l "$LOGS/nats.log" </dev/null >/dev/null 2>&1 &
  wait_port "$NATS_PORT" nats
  say "nats: started on $HOST:$NATS_PORT (monitoring http://$HOST:$NATS_MONITOR_PORT)"
}

start_redis() {
  local pid
  if pid="$(our_pid "$REDIS_PID" redis-server)"; then
    say "redis: already running (pid $pid) on $HOST:$REDIS_PORT"
    return
  fi
  port_free_or_die "$REDIS_PORT" redis
  command -v redis-server >/dev/null || die "redis: redis-server not installed; run infra/services/install.sh"
  # Presence and tickets are soft state: no snapshots, no append-only file.
  redis-server --bind "$HOST" --port "$REDIS_PORT" --daemonize yes --pidfile "$REDIS_PID" \
    --logfile "$LOGS/redis.log" --dir "$SERVICES/redis" --save '' --appendonly no
  wait_port "$REDIS_PORT" redis
  say "redis: started on $HOST:$REDIS_PORT"
}

start_postgres() {
  local pid bin
  if pid="$(our_pid "$PG_PID" postgres)"; then
    say "postgres: already running (pid $pid) on $HOST:$PG_PORT"
  else
    port_free_or_die "$PG_PORT" postgres
    bin="$(pg_bindir)"
    [[ -n "$bin" ]] || die "postgres: PostgreSQL not installed; run infra/services/install.sh"
    if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
      mkdir -p "$PG_DATA"
      chown "$PG_USER" "$PG_DATA"
      chmod 700 "$PG_DATA"
      as_pg test -w "$PG_DATA" || die "postgres: user $PG_USER cannot write $PG_DATA (is a parent directory closed to it?)"
      # Trust on loopback: a development database that only this machine can reach.
      as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=trust -E UTF8 --locale=C \
        >"$LOGS/initdb.log" 2>&1 || die "postgres: initdb failed; see $LOGS/initdb.log"
      # TCP on loopback only, no Unix socket (the default socket directory belongs to Debian's own cluster).
      printf "listen_addresses = '%s'\nport = %s\nunix_socket_directories = ''\n" "$HOST" "$PG_PORT" >>"$PG_DATA/postgresql.conf"
      say "postgres: initialized $PG_DATA"
    fi
    touch "$LOGS/postgres.log"
    chown "$PG_USER" "$LOGS/postgres.log"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 60 start >/dev/null ||
      die "postgres: did not start; see $LOGS/postgres.log"
    say "postgres: started on $HOST:$PG_PORT"
  fi
  ensure_msgr_database
}

ensure_msgr_database() {
  local sql=(psql -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAq)
  if [[ "$("${sql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'msgr'")" != 1 ]]; then
    "${sql[@]}" -c "CREATE ROLE msgr LOGIN"
    say "postgres: created role msgr"
  fi
  if [[ "$("${sql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'msgr'")" != 1 ]]; then
    "${sql[@]}" -c "CREATE DATABASE msgr OWNER msgr"
    say "postgres: created database msgr"
  fi
}

start_nats
start_redis
start_postgres
# The history store for backends.messages = "jetstream" (idempotent; data in .services/cassandra).
bash "$ROOT/infra/services/cassandra.sh" start "$CASSANDRA_DIR" "$CASSANDRA_PORT"
say "logs: $LOGS (cassandra: $CASSANDRA_DIR/logs)"
