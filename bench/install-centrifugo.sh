#!/usr/bin/env bash
# Builds Centrifugo, a peer of the bench, from the Go module proxy into bench/.bin (ignored by
# git). `npm run bench` fails a run that asks for Centrifugo until this has succeeded.
#
# Pinned to v5.4.9: bench/targets/centrifugo.ts writes that version's configuration file (v6
# changed the format), and figures of different versions would not compare. The module is
# downloaded into the module cache and built from there, which needs no version list from the
# proxy. Every step is bounded by a timeout, so a slow proxy ends the script instead of hanging.
set -euo pipefail
cd "$(dirname "$0")"
BIN="$PWD/.bin"
STEP_TIMEOUT=900
VERSION=v5.4.9

command -v go >/dev/null || { echo "install-centrifugo: Go is not installed (infra/services/install.sh installs it)" >&2; exit 1; }
mkdir -p "$BIN"
if [ -x "$BIN/centrifugo" ] && "$BIN/centrifugo" version | grep -q "${VERSION#v}"; then
  "$BIN/centrifugo" version
  exit 0
fi
timeout "$STEP_TIMEOUT" go mod download "github.com/centrifugal/centrifugo/v5@$VERSION"
SRC="$(go env GOMODCACHE)/github.com/centrifugal/centrifugo/v5@$VERSION"
(cd "$SRC" && timeout "$STEP_TIMEOUT" env GOBIN="$BIN" GOFLAGS=-mod=mod \
  go install -ldflags "-X github.com/centrifugal/centrifugo/v5/internal/build.Version=${VERSION#v}" .)
"$BIN/centrifugo" version
