#!/usr/bin/env bash
# Runs one single-node Cassandra (installed by install-cassandra.sh) on 127.0.0.1, with its
# config, data and logs all under one directory: no Docker, no system service, no bin/cassandra.
#
#   cassandra.sh run   DIR [NATIVE_PORT [STORAGE_PORT [CLUSTER]]]  # foreground: execs java (tests)
#   cassandra.sh start DIR [NATIVE_PORT [STORAGE_PORT [CLUSTER]]]  # background; returns once CQL accepts
#   cassandra.sh stop  DIR                                        # clean stop (SIGTERM drains memtables)
#
# Defaults: DIR .services/cassandra, CQL port 19042, storage port 17000, cluster "msgr". The
# heap is MSGR_CASSANDRA_HEAP (default 512m). Security, off unless set:
#   MSGR_CASSANDRA_AUTH=password    PasswordAuthenticator + CassandraAuthorizer: every client logs
#                                   in; on a new DIR the default superuser is cassandra/cassandra
#                                   until infra/services/cassandra-roles.ts replaces it
#   MSGR_CASSANDRA_TLS_CERT=FILE    with MSGR_CASSANDRA_TLS_KEY=FILE (PEM, unencrypted PKCS#8 key):
#                                   client-to-node encryption, required (plain CQL is refused) A DIR keeps its data across runs; cassandra.yaml is
# rewritten each time, so the same DIR must keep the same cluster name. Java: $JAVA_HOME's, else
# the one on PATH; it must be 11 or 17 (install-cassandra.sh checks).
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd="${1:-}"
dir="${2:-$SERVICES/cassandra}"
native_port="${3:-19042}"
storage_port="${4:-17000}"
cluster="${5:-msgr}"
heap="${MSGR_CASSANDRA_HEAP:-512m}"
[[ "$cmd" =~ ^(run|start|stop)$ ]] || die "usage: cassandra.sh run|start|stop [DIR [NATIVE_PORT [STORAGE_PORT [CLUSTER]]]]"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pidfile="$dir/cassandra.pid"

if [[ "$cmd" == stop ]]; then
  pid="$(our_pid "$pidfile" java)" || {
    say "cassandra: not running"
    exit 0
  }
  # SIGTERM runs Cassandra's shutdown hook, which drains (flushes memtables, closes the commit log).
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    # Gone, or a zombie that start's orphaned JVM leaves until init reaps it.
    [[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" =~ ^(Z|)$ ]] && {
      rm -f "$pidfile"
      say "cassandra: stopped"
      exit 0
    }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "cassandra: killed (did not stop within 60 s)"
  exit 0
fi

if [[ "$cmd" == start ]] && pid="$(our_pid "$pidfile" java)"; then
  say "cassandra: already running (pid $pid); see $dir/logs/system.log"
  exit 0
fi
port_free_or_die "$native_port" cassandra
port_free_or_die "$storage_port" cassandra
# MSGR_CASSANDRA_INSTALL_DIR: an install to use as is (the test launcher, and install-cassandra.sh
# itself while it records its class-data-sharing archive, already know it).
home="${MSGR_CASSANDRA_INSTALL_DIR:-$(bash "$(dirname "${BASH_SOURCE[0]}")/install-cassandra.sh")}"
mkdir -p "$dir/logs"

authenticator=AllowAllAuthenticator authorizer=AllowAllAuthorizer role_manager=CassandraRoleManager
case "${MSGR_CASSANDRA_AUTH:-}" in
  "") ;;
  password) authenticator=PasswordAuthenticator authorizer=CassandraAuthorizer ;;
  *) die "cassandra: MSGR_CASSANDRA_AUTH must be empty or \"password\"" ;;
esac
client_encryption="client_encryption_options:
  enabled: false"
if [[ -n "${MSGR_CASSANDRA_TLS_CERT:-}" || -n "${MSGR_CASSANDRA_TLS_KEY:-}" ]]; then
  [[ -r "${MSGR_CASSANDRA_TLS_CERT:-}" && -r "${MSGR_CASSANDRA_TLS_KEY:-}" ]] ||
    die "cassandra: MSGR_CASSANDRA_TLS_CERT and MSGR_CASSANDRA_TLS_KEY must both name readable PEM files"
  # Cassandra's PEM key store is one file with the private key and the certificate chain.
  (umask 077 && cat "$MSGR_CASSANDRA_TLS_KEY" "$MSGR_CASSANDRA_TLS_CERT" >"$dir/keystore.pem")
  # optional: false refuses clients that do not start TLS.
  client_encryption="client_encryption_options:
  enabled: true
  optional: false
  require_client_auth: false
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: $dir/keystore.pem"
fi

# Single node, one token, nothing that waits for peers. Small memtables and commit log
# segments: the defaults are sized from the heap and disk for production. No auto_snapshot: a
# TRUNCATE or DROP in a test would otherwise leave a snapshot behind on every run. TRUNCATE waits
# for the table's compactions, which on a node just booted on a loaded machine can take long.
cat >"$dir/cassandra.yaml" <<EOF
cluster_name: '$cluster'
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$storage_port"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $storage_port
native_transport_port: $native_port
start_native_transport: true
authenticator: $authenticator
authorizer: $authorizer
role_manager: $role_manager
network_authorizer: AllowAllNetworkAuthorizer
$client_encryption
data_file_directories: [$dir/data]
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 16MiB
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
concurrent_compactors: 1
hinted_handoff_enabled: false
auto_snapshot: false
truncate_request_timeout: 120000ms
snapshot_before_compaction: false
incremental_backups: false
disk_failure_policy: stop
commit_failure_policy: stop
EOF

# No JMX port (no cassandra.jmx.*.port): nothing here runs nodetool, and it is one less port.
# The cassandra.* properties skip the waits meant for multi-node rings (gossip settling, the 2 s
# shutdown announcement and messaging quiesce on stop); unsafesystem skips the flush after each
# schema change (the commit log still has it), which makes CREATE TABLE fast; a fixed memtable
# row overhead (what 5.0 measures on Java 17) skips a second of measuring it at each start.
# MSGR_CASSANDRA_JVM_OPTS adds flags (word-split), e.g. -Dcassandra.skip_sync=true for tests.
# shellcheck disable=SC2206
args=(
  "${JAVA_HOME:+$JAVA_HOME/bin/}java" @"$home/conf/jvm.options" "-Xms$heap" "-Xmx$heap" ${MSGR_CASSANDRA_JVM_OPTS:-}
  -Dcassandra-foreground=yes
  "-Dcassandra.config=file://$dir/cassandra.yaml"
  "-Dcassandra.storagedir=$dir"
  "-Dcassandra.logdir=$dir/logs"
  "-Dlogback.configurationFile=$home/conf/logback.xml"
  -Dcassandra.skip_wait_for_gossip_to_settle=0
  -Dcassandra.ring_delay_ms=1000
  -Dcassandra.superuser_setup_delay_ms=0
  -Dcassandra.unsafesystem=true
  -Dcassandra.shutdown_announce_in_ms=0
  -Dcassandra.test.messagingService.nonGracefulShutdown=true
  -Dcassandra.memtable.row_overhead_size=181
  -cp "$home/lib/*"
  org.apache.cassandra.service.CassandraDaemon
)

# The class-data-sharing archive that install-cassandra.sh recorded: a faster start.
if [[ -f "$home/cds.jsa" ]]; then
  args=("${args[0]}" -XX:+UnlockDiagnosticVMOptions -XX:+AllowArchivingWithJavaAgent "-XX:SharedArchiveFile=$home/cds.jsa" "${args[@]:1}")
fi

# Cassandra mlockall()s the JVM at startup, which as root (CAP_IPC_LOCK) pins the whole heap in
# RAM. Without the capability it fails against RLIMIT_MEMLOCK and Cassandra just logs a warning.
if [[ $EUID -eq 0 ]] && setpriv --bounding-set -ipc_lock -- true 2>/dev/null; then
  args=(setpriv --bounding-set -ipc_lock -- "${args[@]}")
fi

if [[ "$cmd" == run ]]; then
  # exec: the caller's child is the JVM itself, so its signals (SIGTERM = clean stop) reach it.
  echo $$ >"$pidfile"
  exec "${args[@]}"
fi

# setsid: its own session, so a Ctrl-C in this terminal later does not reach it.
setsid "${args[@]}" </dev/null >>"$dir/logs/stdout.log" 2>&1 &
echo $! >"$pidfile"
for ((i = 0; i < 1800; i++)); do
  port_open "$native_port" && {
    say "cassandra: started (pid $!) on $HOST:$native_port; logs in $dir/logs"
    exit 0
  }
  kill -0 $! 2>/dev/null || die "cassandra: exited during startup; see $dir/logs/system.log"
  sleep 0.1
done
die "cassandra: did not accept CQL on $HOST:$native_port within 180 s; see $dir/logs/system.log"
