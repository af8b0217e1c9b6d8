#!/usr/bin/env bash
# Certificates for the local cluster and the tests: a private CA, and server certificates it
# signs for this machine's loopback names, so every link (NATS, Redis, PostgreSQL, Cassandra,
# MinIO, the edge's wss://) runs TLS with verification on, as in production.
#
#   certs.sh DIR [NAME]
#
# Creates DIR/ca.pem and DIR/ca.key once (the CA), then DIR/NAME.pem and DIR/NAME.key (NAME
# defaults to "server"): a certificate for 127.0.0.1, ::1 and localhost, with CN NAME. Keeps an
# existing certificate that is valid for 30 more days. Private keys are created 0600; DIR is
# 0700. Clients trust DIR/ca.pem (the *.tlsCaFile settings). Needs openssl (Debian package
# openssl, which install.sh checks for). Never use this CA in production: its key sits next to
# the certificates.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dir="${1:-}"
name="${2:-server}"
[[ -n "$dir" ]] || die "usage: certs.sh DIR [NAME]"
[[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || die "certs.sh: NAME may hold only letters, digits, _ and -"
command -v openssl >/dev/null || die "certs.sh: no openssl; run infra/services/install.sh (apt-get install openssl)"

mkdir -p "$dir"
chmod 700 "$dir"
umask 077

# Elliptic-curve keys (P-256): fast to make, and every engine here accepts them. PKCS#8 PEM
# (BEGIN PRIVATE KEY), which is what Cassandra's PEM key store reads.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# A fresh CA also means fresh server certificates: the old ones were signed by another key.
if [[ ! -s "$dir/ca.pem" || ! -s "$dir/ca.key" ]] || ! openssl x509 -checkend 2592000 -noout -in "$dir/ca.pem" >/dev/null; then
  newkey "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -out "$dir/ca.pem" -days 3650 -subj "/CN=msgr local CA $(hostname -s 2>/dev/null || echo)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  rm -f "$dir"/*.srl
  find "$dir" -maxdepth 1 -name '*.pem' ! -name ca.pem -delete
fi
chmod 644 "$dir/ca.pem"

cert="$dir/$name.pem"
key="$dir/$name.key"
if [[ -s "$cert" && -s "$key" ]] && openssl x509 -checkend 2592000 -noout -in "$cert" >/dev/null &&
  openssl verify -CAfile "$dir/ca.pem" "$cert" >/dev/null 2>&1; then
  exit 0
fi
newkey "$key"
ext="$(mktemp)"
trap 'rm -f "$ext" "$dir/$name.csr"' EXIT
cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EOF
openssl req -new -key "$key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
# A random serial: two certificates of the same name never share one.
openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
  -out "$cert" -days 825 -extfile "$ext" 2>/dev/null
chmod 644 "$cert"
chmod 600 "$key"
