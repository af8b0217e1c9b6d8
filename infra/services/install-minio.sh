#!/usr/bin/env bash
# Installs the MinIO server used for media in development and tests, built from source with
# `go install` through the Go module proxy (MinIO publishes no Debian package). Does nothing when
# a minio binary is already on PATH or in Go's install directory. Progress goes to stderr; the
# binary's path is the one line on stdout, so callers can run `MINIO="$(bash install-minio.sh)"`.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# MinIO tags its releases RELEASE.<date>, which are not Go semver: the module proxy serves them
# only as pseudo-versions. This is the newest commit the proxy had (2026-02-12) when it was pinned.
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

log() { say "$@" >&2; }

gobin() {
  local dir
  dir="$(go env GOBIN)"
  [[ -n "$dir" ]] || dir="$(go env GOPATH | cut -d: -f1)/bin"
  printf '%s\n' "$dir"
}

if bin="$(command -v minio)"; then
  log "install-minio: $bin is present; nothing to do"
  printf '%s\n' "$bin"
  exit 0
fi
# Without Go, still look where `go install` puts binaries by default.
dir="${GOBIN:-$HOME/go/bin}"
command -v go >/dev/null && dir="$(gobin)"
if [[ -x "$dir/minio" ]]; then
  log "install-minio: $dir/minio is present; nothing to do"
  printf '%s\n' "$dir/minio"
  exit 0
fi

command -v go >/dev/null || die "install-minio: no Go toolchain on PATH; install Go 1.24 or newer (https://go.dev/dl/), or put a minio binary on PATH"
log "install-minio: building minio $MINIO_VERSION from source into $dir, a few minutes the first time"
go install "github.com/minio/minio@$MINIO_VERSION" >&2 || die "install-minio: go install github.com/minio/minio@$MINIO_VERSION failed (see above)"
[[ -x "$dir/minio" ]] || die "install-minio: go install succeeded but $dir/minio is missing"
log "install-minio: done: $dir/minio"
printf '%s\n' "$dir/minio"
