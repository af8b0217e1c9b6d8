#!/usr/bin/env bash
# A cluster on this machine in one command: installs the engines if needed, starts them, applies
# the migrations, then runs two edge processes (node ids 1 and 2) on one port with SO_REUSEPORT,
# routed through NATS, with messages acked in the JetStream log and moved into Cassandra by one
# write-behind worker (node id 91), presence in Redis, metadata in PostgreSQL and media in MinIO.
# Every link is authenticated and encrypted (start.sh): the edges serve wss:// with the local
# CA's certificate, and each process reads its passwords and its NATS nkey (the edges' and the
# worker's differ, and so do their permissions) from files under .services/secrets.
# Ctrl-C or SIGTERM drains and stops the edges and the worker; the engines keep running (stop.sh stops them).
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT="${MSGR_SERVER_PORT:-8787}"
KEYS="$SERVICES/auth/jwks.json"
[[ -x "$BUN" ]] || die "no $BUN; run npm ci first"

bash "$ROOT/infra/services/install.sh"
bash "$ROOT/infra/services/start.sh"
cd "$ROOT"

# The keys both edges share, generated once: the token key (also for the clients that mint
# tokens) and the Web Push key pair. An edge in cluster mode refuses to start with keys of its own.
"$BUN" src/cli/main.ts cluster-secrets --dir "$(dirname "$KEYS")" >/dev/null

export MSGR_BACKENDS_BUS=nats MSGR_BACKENDS_PRESENCE=redis MSGR_BACKENDS_METADATA=postgres MSGR_BACKENDS_MESSAGES=jetstream
# Credentials and TLS for every engine: file paths only, never the secrets themselves.
CA="$CERTS/ca.pem"
export MSGR_NATS_SERVERS="nats://$HOST:$NATS_PORT" MSGR_NATS_TLS=true MSGR_NATS_TLS_CA_FILE="$CA"
export MSGR_REDIS_URL="redis://$HOST:$REDIS_PORT" MSGR_REDIS_USERNAME=msgr MSGR_REDIS_PASSWORD_FILE="$SECRETS/redis.password" \
  MSGR_REDIS_TLS=true MSGR_REDIS_TLS_CA_FILE="$CA"
export MSGR_POSTGRES_URL="postgres://msgr@$HOST:$PG_PORT/msgr" MSGR_POSTGRES_PASSWORD_FILE="$SECRETS/postgres.password" \
  MSGR_POSTGRES_TLS=true MSGR_POSTGRES_TLS_CA_FILE="$CA"
export MSGR_CASSANDRA_CONTACT_POINTS="$HOST:$CASSANDRA_PORT" MSGR_CASSANDRA_USERNAME=msgr \
  MSGR_CASSANDRA_PASSWORD_FILE="$SECRETS/cassandra.password" MSGR_CASSANDRA_TLS=true MSGR_CASSANDRA_TLS_CA_FILE="$CA"
export MSGR_MEDIA_STORE=minio MSGR_MINIO_END_POINT="$HOST" MSGR_MINIO_PORT="$MINIO_PORT" MSGR_MINIO_USE_SSL=true \
  MSGR_MINIO_ACCESS_KEY=msgr MSGR_MINIO_SECRET_KEY_FILE="$SECRETS/minio.password" MSGR_MINIO_TLS_CA_FILE="$CA"
export MSGR_SERVER_TLS_CERT_FILE="$CERTS/server.pem" MSGR_SERVER_TLS_KEY_FILE="$CERTS/server.key"
export MSGR_AUTH_KEYS_FILE="$KEYS" MSGR_PUSH_VAPID_KEYS_FILE="$(dirname "$KEYS")/vapid.json"
export MSGR_SERVER_PORT="$PORT" MSGR_SERVER_REUSE_PORT=true

say "migrate: applying schema migrations"
MSGR_NATS_NKEY_FILE="$NATS_KEYS/edge.nk" "$BUN" src/cli/main.ts migrate

# Job control gives each edge its own process group, so a Ctrl-C in this terminal reaches only
# this script, which sends each edge exactly one SIGTERM (a second signal skips the drain).
set -m
pids=()
for id in 1 2; do
  MSGR_SERVER_NODE_ID=$id MSGR_SERVER_DATA_DIR="$SERVICES/edge-$id" MSGR_NATS_NKEY_FILE="$NATS_KEYS/edge.nk" \
    "$BUN" src/cli/main.ts start </dev/null >"$LOGS/edge-$id.log" 2>&1 &
  pids+=("$!")
done
MSGR_SERVER_NODE_ID=91 MSGR_NATS_NKEY_FILE="$NATS_KEYS/worker.nk" "$BUN" src/cli/main.ts worker </dev/null >"$LOGS/worker.log" 2>&1 &
pids+=("$!")

stop_edges() {
  trap - INT TERM
  say "draining the edges and the worker..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  say "stopped; the engines still run (bash infra/services/stop.sh stops them)"
}
trap 'stop_edges; exit 0' INT TERM

# Ready when each edge has logged its listening address (and is still alive).
for id in 1 2; do
  until grep -q '"url":"http' "$LOGS/edge-$id.log" 2>/dev/null; do
    kill -0 "${pids[$((id - 1))]}" 2>/dev/null || {
      tail -n 20 "$LOGS/edge-$id.log" >&2
      stop_edges
      die "edge $id exited during startup; see $LOGS/edge-$id.log"
    }
    sleep 0.1
  done
done

cat <<EOF

msgr local cluster: edges 1 and 2 share wss://$HOST:$PORT/v1/ws
  NATS $HOST:$NATS_PORT (JetStream log), Cassandra $HOST:$CASSANDRA_PORT, Redis $HOST:$REDIS_PORT,
  PostgreSQL $HOST:$PG_PORT, MinIO https://$HOST:$MINIO_PORT (data in $SERVICES)
  every link: TLS with the CA $CA, and passwords or nkeys from $SECRETS
  logs: $LOGS/edge-1.log, $LOGS/edge-2.log, $LOGS/worker.log (metrics: http://127.0.0.1:9465/metrics)

Connect the terminal client from $ROOT, in two more terminals (NODE_EXTRA_CA_CERTS: trust the local CA):
  NODE_EXTRA_CA_CERTS=$CA MSGR_AUTH_KEYS_FILE=$KEYS $BUN src/cli/main.ts chat --user alice --url wss://$HOST:$PORT/v1/ws
  NODE_EXTRA_CA_CERTS=$CA MSGR_AUTH_KEYS_FILE=$KEYS $BUN src/cli/main.ts chat --user bob --url wss://$HOST:$PORT/v1/ws
Each connection lands on either edge; messages cross between them through NATS.
Ctrl-C drains and stops the edges and the worker.
EOF

# Runs until a signal (the trap) or until an edge dies on its own, which stops the other too.
wait -n "${pids[@]}" || true
say "an edge or the worker exited on its own; see $LOGS"
stop_edges
exit 1
