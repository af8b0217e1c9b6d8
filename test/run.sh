#!/usr/bin/env bash
# `npm test`: every test file in a bun test process of its own, one file after another.
#
# Why not one process for all files: in full runs in one process, tests late in the run lost the
# test process's own connections or heard nothing from a server that had acted (the JetStream
# failover tests, b9d4c13 to 9358c35; the cluster safety test, 7c8a363 to dd8867d), and never
# when their file ran alone. The engines and servers are per file already; a process per file
# also gives each file a fresh runtime, whatever an earlier file left in it. It costs bun's start
# per file (about a minute in all).
#
# Arguments: paths (files or folders) choose the files; anything else goes to every bun test
# run (`npm test -- test/e2e -t "presence"`). A file in which a -t filter matches no test is
# skipped. At the end: each failed file's failures with their errors, then the sums.
set -uo pipefail
cd "$(dirname "$0")/.."
bun=./node_modules/.bin/bun

paths=()
opts=()
for a in "$@"; do
  if [ -e "$a" ]; then paths+=("$a"); else opts+=("$a"); fi
done
[ ${#paths[@]} -gt 0 ] || paths=(test)
mapfile -t files < <(find "${paths[@]}" -type f -name '*.test.ts' | sort -u)
if [ ${#files[@]} -eq 0 ]; then
  echo "test/run.sh: no *.test.ts files under ${paths[*]}" >&2
  exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
ran=0
for f in "${files[@]}"; do
  log="$logs/$(echo "$f" | tr / _).log"
  # bun test reads a bare relative name as a filter, not a path.
  case "$f" in /* | ./*) path=$f ;; *) path=./$f ;; esac
  "$bun" test --timeout 60000 "${opts[@]}" "$path" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if grep -q ' matched 0 tests' "$log"; then continue; fi
  ran=$((ran + 1))
  [ "$rc" = 0 ] || failed+=("$f")
done

# The failures again, where the end of the output shows them: each failed file's lines but the
# passing and skipped tests' (the errors, their stacks and the "(fail)" lines).
for f in "${failed[@]}"; do
  echo
  echo "==== failed: $f"
  grep -Ev '^\((pass|skip)\) ' "$logs/$(echo "$f" | tr / _).log" | tail -n 400
done
pass=$(cat "$logs"/*.log | grep -Eo '^ *[0-9]+ pass$' | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
fail=$(cat "$logs"/*.log | grep -Eo '^ *[0-9]+ fail$' | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
echo
echo "test/run.sh: ${ran} files run, ${#failed[@]} failed: ${pass} tests passed, ${fail} failed"
if [ "$ran" = 0 ]; then
  echo "test/run.sh: no test matched" >&2
  exit 1
fi
[ ${#failed[@]} -eq 0 ]
