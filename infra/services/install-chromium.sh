#!/usr/bin/env bash
# Installs Debian's chromium for the web client's browser test (test/web/, driven by
# playwright-core, which brings no browser of its own). Does nothing when it is present.
# Used by CI (.ci/run) and developers; needs root for apt-get.
set -euo pipefail
# shellcheck source=infra/services/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if command -v chromium >/dev/null; then
  say "install-chromium: $(chromium --version 2>/dev/null || echo chromium) is present"
  exit 0
fi
command -v apt-get >/dev/null || die "install-chromium: no apt-get here; install Chromium with your package manager (or set MSGR_CHROMIUM to its path)"
[[ $EUID -eq 0 ]] || die "install-chromium: installing packages needs root: sudo bash $0"

export DEBIAN_FRONTEND=noninteractive
# Another apt run may hold the lock: wait for it instead of failing.
APT=(apt-get -o DPkg::Lock::Timeout=300)
candidate="$(apt-cache policy chromium 2>/dev/null | awk '/Candidate:/ { print $2 }')"
if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
  say "install-chromium: apt-get update"
  "${APT[@]}" update -q || die "install-chromium: apt-get update failed (see above)"
fi
# fonts-dejavu-core: the pages need a font with the tick marks and ellipsis glyphs.
say "install-chromium: apt-get install chromium"
"${APT[@]}" install -y -q --no-install-recommends chromium fonts-dejavu-core || die "install-chromium: apt-get install failed (see above)"
command -v chromium >/dev/null || die "install-chromium: chromium is still missing after apt-get install"
say "install-chromium: done: $(chromium --version 2>/dev/null)"
