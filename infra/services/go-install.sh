#!/usr/bin/env bash
# Installs a server that has no suitable Debian package by building it with `go install` through
# the Go module proxy, pinned to one version: `go-install.sh NAME MODULE VERSION`. Does nothing
# when a NAME binary is already in Go's install directory (or, with --path-ok, on PATH). Progress
# goes to stderr; the binary's path is the one line on stdout, so callers can run
# `BIN="$(bash go-install.sh ...)"`.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

path_ok=0
if [[ "${1:-}" == "--path-ok" ]]; then
  path_ok=1
  shift
fi
[[ $# -eq 3 ]] || die "usage: go-install.sh [--path-ok] NAME MODULE VERSION"
name="$1" module="$2" version="$3"

log() { say "$@" >&2; }

if ((path_ok)) && bin="$(command -v "$name")"; then
  log "go-install: $bin is present; nothing to do"
  printf '%s\n' "$bin"
  exit 0
fi
# Without Go, still look where `go install` puts binaries by default.
dir="${GOBIN:-$HOME/go/bin}"
if command -v go >/dev/null; then
  dir="$(go env GOBIN)"
  [[ -n "$dir" ]] || dir="$(go env GOPATH | cut -d: -f1)/bin"
fi
stamp="$dir/.$name.version"
if [[ -x "$dir/$name" ]] && { ((path_ok)) || [[ "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; }; then
  log "go-install: $dir/$name ($version) is present; nothing to do"
  printf '%s\n' "$dir/$name"
  exit 0
fi

command -v go >/dev/null || die "go-install: no Go toolchain on PATH; install Go 1.24 or newer (https://go.dev/dl/), or put a $name binary in $dir"
log "go-install: building $name $version from source into $dir, a few minutes the first time"
go install "$module@$version" >&2 || die "go-install: go install $module@$version failed (see above)"
[[ -x "$dir/$name" ]] || die "go-install: go install succeeded but $dir/$name is missing"
printf '%s\n' "$version" >"$stamp"
log "go-install: done: $dir/$name"
printf '%s\n' "$dir/$name"
