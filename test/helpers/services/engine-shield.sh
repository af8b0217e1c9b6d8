#!/usr/bin/env bash
# The parent of one engine process (nats-server, Cassandra, PostgreSQL, Redis, MinIO) that the
# test helpers start: see engine-process.ts. bun test sends SIGTERM to every process a test file
# has spawned whenever one of its tests times out, and bun 1.3 also on a stale timer when none did
# (oven-sh/bun#38774, #39657); that took a file's engines down under the tests still using them.
# This parent ignores SIGTERM, so the engine is signalled only by the helpers, at its own pid.
# The engine gets SIGTERM back (a clean stop must still work) and dies with this parent
# (pdeathsig), which exits with the engine's status once it has exited.
trap '' TERM
( trap - TERM; exec setpriv --pdeathsig KILL -- "$@" ) &
wait "$!"
