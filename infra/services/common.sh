# Sourced by the scripts in infra/services: where our engines live, their ports, and how to tell
# our processes from anyone else's (the Debian packages' own services use the default ports).
# The variables are used by the scripts that source this file.
# shellcheck shell=bash disable=SC2034

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVICES="$ROOT/.services"
LOGS="$SERVICES/logs"
HOST=127.0.0.1
NATS_PORT=14222
NATS_MONITOR_PORT=18222
REDIS_PORT=16379
PG_PORT=15432
CASSANDRA_PORT=19042
MINIO_PORT=19000
MINIO_CONSOLE_PORT=19001
CASSANDRA_DIR="$SERVICES/cassandra"
PG_DATA="$SERVICES/pg"
# The superuser's way in: a Unix socket in a directory only PostgreSQL's user (and root) can enter.
PG_RUN="$SERVICES/pg-run"
NATS_PID="$SERVICES/nats.pid"
REDIS_PID="$SERVICES/redis.pid"
MINIO_PID="$SERVICES/minio.pid"
PG_PID="$PG_DATA/postmaster.pid"
# Every link of the local cluster is authenticated and encrypted (start.sh): the CA and the
# server certificate (certs.sh), and the secrets (passwords, the NATS nkeys), owner-only.
CERTS="$SERVICES/certs"
SECRETS="$SERVICES/secrets"
NATS_KEYS="$SECRETS/nats"
BUN="$ROOT/node_modules/.bin/bun"

# Debian installs daemons in /usr/sbin, which is not on every user's PATH.
PATH="$PATH:/usr/sbin:/usr/local/sbin"

# PostgreSQL refuses to run as root: as root we run it as the postgres OS user, else as ourselves.
if [[ $EUID -eq 0 ]]; then
  PG_USER=postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  PG_USER="$(id -un)"
  as_pg() { "$@"; }
fi

say() { printf '%s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Debian keeps the server binaries (initdb, pg_ctl) off PATH, under /usr/lib/postgresql/<version>/bin.
pg_bindir() {
  local dir
  dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  if [[ -x "$dir/initdb" ]]; then
    printf '%s\n' "$dir"
  elif command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
  fi
}

# Prints the pid in pidfile $1 when that process is alive and is a $2 (so a stale file whose pid
# was reused by something else is not mistaken for ours).
our_pid() {
  local pid
  [[ -r "$1" ]] || return 1
  pid="$(head -n 1 "$1")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2"* ]] || return 1
  printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Fails when something that is not ours already listens on our port.
port_free_or_die() {
  if port_open "$1"; then die "$2: port $1 on $HOST is taken by another process; stop it, or change the port in infra/services/common.sh"; fi
}

# wait_port PORT NAME [SECONDS]: waits (10 s by default) for NAME to listen on PORT.
wait_port() {
  local i limit=$((${3:-10} * 20))
  for ((i = 0; i < limit; i++)); do
    port_open "$1" && return 0
    sleep 0.05
  done
  die "$2 did not start listening on $HOST:$1 within ${3:-10} s; see $LOGS/$2.log"
}
