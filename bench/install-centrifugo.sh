#!/usr/bin/env bash
# Builds Centrifugo, peer (d) of the bench, from the Go module proxy into bench/.bin (ignored by
# git). `npm run bench` skips Centrifugo, saying why, until this has succeeded.
#
# Tries the latest v6 first. Some module proxies serve a module's versions but not its version
# list, and `go install module@version` reads that list (deprecation check) and fails; then this
# downloads v5.4.9 into the module cache and builds it from there, which needs no list.
# Every step is bounded by a timeout, so a slow proxy ends the script instead of hanging it.
set -euo pipefail
cd "$(dirname "$0")"
BIN="$PWD/.bin"
STEP_TIMEOUT=900
V5=v5.4.9

command -v go >/dev/null || { echo "install-centrifugo: Go is not installed; the bench will skip Centrifugo" >&2; exit 1; }
mkdir -p "$BIN"

if timeout "$STEP_TIMEOUT" env GOBIN="$BIN" go install github.com/centrifugal/centrifugo/v6@latest; then
  "$BIN/centrifugo" version
  exit 0
fi

echo "install-centrifugo: v6 is not installable from $(go env GOPROXY); building $V5 from the module cache" >&2
timeout "$STEP_TIMEOUT" go mod download "github.com/centrifugal/centrifugo/v5@$V5"
SRC="$(go env GOMODCACHE)/github.com/centrifugal/centrifugo/v5@$V5"
(cd "$SRC" && timeout "$STEP_TIMEOUT" env GOBIN="$BIN" GOFLAGS=-mod=mod \
  go install -ldflags "-X github.com/centrifugal/centrifugo/v5/internal/build.Version=${V5#v}" .)
"$BIN/centrifugo" version
