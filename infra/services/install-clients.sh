#!/usr/bin/env bash
# Installs what the client tests drive: Debian's chromium for the web client's browser test
# (test/web/, through playwright-core, which brings no browser of its own) and tmux for the
# terminal client's test (test/cli/terminal-client.test.ts). Does nothing when both are present.
# Used by CI (.ci/run) and developers; needs root for apt-get.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

missing=()
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
command -v tmux >/dev/null || missing+=(tmux)
if ((${#missing[@]} == 0)); then
  say "install-clients: $(chromium --version 2>/dev/null || echo chromium) and $(tmux -V) are present"
  exit 0
fi
command -v apt-get >/dev/null || die "install-clients: no apt-get here; install ${missing[*]} with your package manager (or set MSGR_CHROMIUM to a Chromium)"
[[ $EUID -eq 0 ]] || die "install-clients: installing packages needs root: sudo bash $0"

export DEBIAN_FRONTEND=noninteractive
# Another apt run may hold the lock: wait for it instead of failing.
APT=(apt-get -o DPkg::Lock::Timeout=300)
candidate="$(apt-cache policy "${missing[0]}" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
  say "install-clients: apt-get update"
  "${APT[@]}" update -q || die "install-clients: apt-get update failed (see above)"
fi
# fonts-dejavu-core: the pages need a font with the tick marks and the ellipsis.
say "install-clients: apt-get install ${missing[*]}"
"${APT[@]}" install -y -q --no-install-recommends "${missing[@]}" || die "install-clients: apt-get install failed (see above)"
command -v chromium >/dev/null || die "install-clients: chromium is still missing after apt-get install"
command -v tmux >/dev/null || die "install-clients: tmux is still missing after apt-get install"
say "install-clients: done: $(chromium --version 2>/dev/null), $(tmux -V)"
