#!/usr/bin/env bash
# Starts NATS (with JetStream), Redis, PostgreSQL, Cassandra and MinIO on 127.0.0.1 for
# development and the local cluster, with their data under .services/ and logs under
# .services/logs/. Idempotent: an engine that is already running (ours, by its pid file) is left
# alone (after upgrading from a version without TLS, run stop.sh first).
#
# Every link is authenticated and encrypted, as in production (docs/self-hosting.md, Security):
#   NATS        TLS; one account whose only users are the edge and worker nkeys (msgr nats-auth),
#               each limited to its role's subjects
#   Redis       TLS only (no plain port); the default user is off, msgr has an ACL user
#   PostgreSQL  TLS and scram-sha-256 for role msgr, nothing else over TCP; the superuser only
#               over a private Unix socket
#   Cassandra   client encryption required; PasswordAuthenticator + CassandraAuthorizer, the
#               default superuser replaced (cassandra-roles.ts)
#   MinIO       HTTPS only
# The CA and certificate are in .services/certs (certs.sh), the passwords and nkeys in
# .services/secrets (0600 files, made once). Needs `npm ci` (bun runs msgr nats-auth and
# cassandra-roles.ts).
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ -x "$BUN" ]] || die "no $BUN; run npm ci first"
mkdir -p "$LOGS" "$SERVICES/nats" "$SERVICES/redis"

# A password file: 24 random bytes, hex (safe in every config syntax), made once, owner-only.
secret() {
  local file="$SECRETS/$1"
  [[ -s "$file" ]] || (umask 077 && openssl rand -hex 24 >"$file")
  printf '%s\n' "$file"
}

prepare_security() {
  bash "$ROOT/infra/services/certs.sh" "$CERTS"
  mkdir -p "$SECRETS"
  chmod 700 "$SECRETS"
  secret redis.password >/dev/null
  secret postgres.password >/dev/null
  secret cassandra.password >/dev/null
  secret cassandra-admin.password >/dev/null
  secret minio.password >/dev/null
  # The edge and worker nkeys (made once) and the NATS account that lists them with their permissions.
  (cd "$ROOT" && "$BUN" src/cli/main.ts nats-auth --out "$NATS_KEYS" >/dev/null)
}

start_nats() {
  local pid
  if pid="$(our_pid "$NATS_PID" nats-server)"; then
    say "nats: already running (pid $pid) on $HOST:$NATS_PORT"
    return
  fi
  port_free_or_die "$NATS_PORT" nats
  local bin
  bin="$(bash "$ROOT/infra/services/install-nats.sh")"
  # JetStream fsyncs before every publish ack, as in production; the option has no flag. The
  # monitoring port serves HTTPS with the same certificate.
  cat >"$SERVICES/nats.conf" <<EOF
jetstream { store_dir: "$SERVICES/nats", sync_interval: always }
tls { cert_file: "$CERTS/server.pem", key_file: "$CERTS/server.key", timeout: 2 }
https: "$HOST:$NATS_MONITOR_PORT"
include "secrets/nats/msgr-accounts.conf"
EOF
  # setsid: its own session, so a Ctrl-C in this terminal later does not reach it.
  setsid "$bin" -c "$SERVICES/nats.conf" -a "$HOST" -p "$NATS_PORT" \
    -P "$NATS_PID" -l "$LOGS/nats.log" </dev/null >/dev/null 2>&1 &
  wait_port "$NATS_PORT" nats
  say "nats: started on $HOST:$NATS_PORT, TLS and nkeys (monitoring https://$HOST:$NATS_MONITOR_PORT)"
}

start_redis() {
  local pid
  if pid="$(our_pid "$REDIS_PID" redis-server)"; then
    say "redis: already running (pid $pid) on $HOST:$REDIS_PORT"
    return
  fi
  port_free_or_die "$REDIS_PORT" redis
  command -v redis-server >/dev/null || die "redis: redis-server not installed; run infra/services/install.sh"
  local password hash rules
  password="$(cat "$(secret redis.password)")"
  # Only the password's hash goes into the config (printf is a shell builtin: no command line shows it).
  hash="$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)"
  rules="$(cd "$ROOT" && "$BUN" -e 'console.log((await import("./src/connect/redis.ts")).redisAclRules())')"
  # Presence and tickets are soft state: no snapshots, no append-only file. TLS only: port 0.
  (
    umask 077
    cat >"$SERVICES/redis/redis.conf" <<EOF
bind $HOST
port 0
tls-port $REDIS_PORT
tls-cert-file $CERTS/server.pem
tls-key-file $CERTS/server.key
tls-ca-cert-file $CERTS/ca.pem
tls-auth-clients no
daemonize yes
pidfile $REDIS_PID
logfile $LOGS/redis.log
dir $SERVICES/redis
save ""
appendonly no
user default off
user msgr on #$hash $rules
EOF
  )
  redis-server "$SERVICES/redis/redis.conf"
  wait_port "$REDIS_PORT" redis
  say "redis: started on $HOST:$REDIS_PORT, TLS only, ACL user msgr"
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
      as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C \
        >"$LOGS/initdb.log" 2>&1 || die "postgres: initdb failed; see $LOGS/initdb.log"
      printf "listen_addresses = '%s'\nport = %s\n" "$HOST" "$PG_PORT" >>"$PG_DATA/postgresql.conf"
      say "postgres: initialized $PG_DATA"
    fi
    # Rewritten at every start, so that a data directory from before TLS gets it too.
    grep -q "^include_if_exists 'msgr-security.conf'" "$PG_DATA/postgresql.conf" ||
      printf "include_if_exists 'msgr-security.conf'\n" >>"$PG_DATA/postgresql.conf"
    mkdir -p "$PG_RUN"
    chown "$PG_USER" "$PG_RUN"
    chmod 700 "$PG_RUN"
    cat >"$PG_DATA/msgr-security.conf" <<EOF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
password_encryption = 'scram-sha-256'
unix_socket_directories = '$PG_RUN'
unix_socket_permissions = 0700
EOF
    # TCP: role msgr, database msgr, TLS and a scram-sha-256 password; no other line, so
    # anything else over TCP (no TLS, another role) is refused. The superuser: the socket only.
    cat >"$PG_DATA/pg_hba.conf" <<EOF
local   all   postgres                trust
hostssl msgr  msgr      $HOST/32    scram-sha-256
EOF
    # PostgreSQL reads its key only when it owns it and no one else may read it.
    install -o "$PG_USER" -m 600 "$CERTS/server.pem" "$PG_DATA/server.crt"
    install -o "$PG_USER" -m 600 "$CERTS/server.key" "$PG_DATA/server.key"
    chown "$PG_USER" "$PG_DATA/msgr-security.conf" "$PG_DATA/pg_hba.conf"
    touch "$LOGS/postgres.log"
    chown "$PG_USER" "$LOGS/postgres.log"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 60 start >/dev/null ||
      die "postgres: did not start; see $LOGS/postgres.log"
    say "postgres: started on $HOST:$PG_PORT, TLS and scram-sha-256"
  fi
  ensure_msgr_database
}

ensure_msgr_database() {
  local sql=(psql -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAq)
  if [[ "$("${sql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'msgr'")" != 1 ]]; then
    "${sql[@]}" -c "CREATE ROLE msgr LOGIN"
    say "postgres: created role msgr"
  fi
  # The password goes in on stdin, not on a command line; the server stores its scram hash.
  printf "ALTER ROLE msgr PASSWORD '%s';\n" "$(cat "$(secret postgres.password)")" | "${sql[@]}" -f -
  if [[ "$("${sql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'msgr'")" != 1 ]]; then
    "${sql[@]}" -c "CREATE DATABASE msgr OWNER msgr"
    say "postgres: created database msgr"
  fi
}

start_cassandra() {
  # The history store for backends.messages = "jetstream" (idempotent; data in .services/cassandra).
  MSGR_CASSANDRA_AUTH=password MSGR_CASSANDRA_TLS_CERT="$CERTS/server.pem" MSGR_CASSANDRA_TLS_KEY="$CERTS/server.key" \
    bash "$ROOT/infra/services/cassandra.sh" start "$CASSANDRA_DIR" "$CASSANDRA_PORT"
  (cd "$ROOT" && "$BUN" infra/services/cassandra-roles.ts "$HOST:$CASSANDRA_PORT" "$CERTS/ca.pem" \
    "$(secret cassandra-admin.password)" "$(secret cassandra.password)")
}

start_minio() {
  local pid bin
  if pid="$(our_pid "$MINIO_PID" minio)"; then
    say "minio: already running (pid $pid) on $HOST:$MINIO_PORT"
    return
  fi
  port_free_or_die "$MINIO_PORT" minio
  bin="$(bash "$ROOT/infra/services/install-minio.sh")"
  # HTTPS only: MinIO serves TLS when its certs directory holds public.crt and private.key.
  mkdir -p "$SERVICES/minio/data" "$SERVICES/minio/certs"
  install -m 644 "$CERTS/server.pem" "$SERVICES/minio/certs/public.crt"
  install -m 600 "$CERTS/server.key" "$SERVICES/minio/certs/private.key"
  # The root credentials go in through the environment, not the command line.
  MINIO_ROOT_USER=msgr MINIO_ROOT_PASSWORD="$(cat "$(secret minio.password)")" MINIO_UPDATE=off \
    setsid "$bin" server "$SERVICES/minio/data" --address "$HOST:$MINIO_PORT" --console-address "$HOST:$MINIO_CONSOLE_PORT" \
    --certs-dir "$SERVICES/minio/certs" --quiet </dev/null >>"$LOGS/minio.log" 2>&1 &
  echo $! >"$MINIO_PID"
  wait_port "$MINIO_PORT" minio 60
  say "minio: started on https://$HOST:$MINIO_PORT (access key msgr)"
}

prepare_security
start_nats
start_redis
start_postgres
start_cassandra
start_minio
say "logs: $LOGS (cassandra: $CASSANDRA_DIR/logs); CA: $CERTS/ca.pem; secrets: $SECRETS"
