#!/usr/bin/env bash
# Installs the engines the cluster backends use: redis-server and PostgreSQL from the
# Debian/Ubuntu packages, nats-server (a pinned build, see install-nats.sh) and Cassandra (jars from
# Maven Central, see install-cassandra.sh); and the tools the operations tests use: promtool (from
# the prometheus package) to check infra/prometheus/ rules, openssl for the local cluster's and the tests' certificates (certs.sh). Does
# nothing when all are present. Used by CI and developers.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

here="$(dirname "${BASH_SOURCE[0]}")"
# The engines that do not come from Debian packages; they run after the packages they need.
others() {
  bash "$here/install-nats.sh" >/dev/null
  bash "$here/install-cassandra.sh" >/dev/null
}

# Java 17 and Maven are what install-cassandra.sh needs (it checks the Java version itself).
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[[ -n "$(pg_bindir)" ]] || missing+=(postgresql)
command -v "${JAVA_HOME:+$JAVA_HOME/bin/}java" >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v promtool >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]} == 0)); then
  say "install: redis-server, PostgreSQL ($(pg_bindir)), Java, Maven, promtool and openssl are present"
  others
  exit 0
fi
PACKAGES=("${missing[@]}")
say "install: missing ${missing[*]}"
command -v apt-get >/dev/null || die "install: no apt-get here; install ${missing[*]} with your package manager"
[[ $EUID -eq 0 ]] || die "install: installing packages needs root: sudo bash $0"

export DEBIAN_FRONTEND=noninteractive
# Another apt run (a second CI job, unattended-upgrades) may hold the lock: wait for it instead of failing.
APT=(apt-get -o DPkg::Lock::Timeout=300)

# A package without an install candidate means the package lists are missing or stale (fresh images ship none).
needs_update() {
  local p candidate
  for p in "${PACKAGES[@]}"; do
    candidate="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
    [[ -z "$candidate" || "$candidate" == "(none)" ]] && return 0
  done
  return 1
}
if needs_update; then
  say "install: apt-get update"
  "${APT[@]}" update -q || die "install: apt-get update failed (see above)"
fi

# The packages would start their own services on the default ports (4222, 6379, 5432). We run
# our own instances on other ports (start.sh), so we do not need theirs, and in containers
# without an init system starting them fails and can fail the whole install. policy-rc.d
# exiting 101 tells the maintainer scripts not to start services; an existing one is kept.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  say "install: holding back the packages' own services during the install (temporary /usr/sbin/policy-rc.d)"
fi

say "install: apt-get install ${PACKAGES[*]}"
"${APT[@]}" install -y -q --no-install-recommends "${PACKAGES[@]}" || die "install: apt-get install failed (see above)"

command -v redis-server >/dev/null || die "install: redis-server is still missing after apt-get install"
command -v mvn >/dev/null || die "install: mvn is still missing after apt-get install"
command -v openssl >/dev/null || die "install: openssl is still missing after apt-get install"
[[ -n "$(pg_bindir)" ]] || die "install: PostgreSQL server binaries (initdb) are still missing after apt-get install"
command -v promtool >/dev/null || die "install: promtool is still missing after apt-get install prometheus"
command -v openssl >/dev/null || die "install: openssl is still missing after apt-get install"
say "install: done: $(redis-server --version | cut -d' ' -f1-3), PostgreSQL in $(pg_bindir)"
say "install: the packages' own services are not used; if they run they keep the default ports 4222/6379/5432, ours use $NATS_PORT/$REDIS_PORT/$PG_PORT"
others
