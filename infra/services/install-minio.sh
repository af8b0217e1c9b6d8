#!/usr/bin/env bash
# Installs the MinIO server used for media in development and tests (MinIO publishes no Debian
# package). Any minio already on PATH is used as it is. Prints the binary's path on stdout.
set -euo pipefail
# MinIO tags its releases RELEASE.<date>, which are not Go semver: the module proxy serves them
# only as pseudo-versions. This is the newest commit the proxy had (2026-02-12) when it was pinned.
exec bash "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" --path-ok minio github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c
