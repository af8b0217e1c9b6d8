#!/usr/bin/env bash
# Installs the nats-server that JetStream durability needs. Debian 12 ships 2.9, which lacks
# `sync_interval: always` (fsync before every publish ack, added in 2.10); without it an acked
# message can be lost on power failure (Jepsen's 2025 JetStream analysis). 2.12 also carries the
# fixes that analysis led to, and the batched direct gets (2.11) that reads of the unflushed tail
# use. Prints the binary's path on stdout; an older nats-server on PATH is deliberately not used.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" nats-server github.com/nats-io/nats-server/v2 v2.12.15
