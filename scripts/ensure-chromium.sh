#!/usr/bin/env bash
# Usage: scripts/ensure-chromium.sh
#
# The admin's browser tests (tests/browser/) drive Debian's Chromium at /usr/bin/chromium through
# Playwright; no browser is ever downloaded any other way. When it is missing and apt-get is usable
# (root or password-less sudo), install the Debian package `chromium`, as scripts/with-services.sh
# does for postgresql and redis-server. Otherwise say so: those tests are then skipped.
set -uo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] && exit 0

log() { printf 'ensure-chromium: %s\n' "$*" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
    log "$CHROMIUM is missing and apt-get is not available: the browser tests will be skipped"
    exit 0
fi
if [[ $(id -u) -eq 0 ]]; then
    PREFIX=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    PREFIX=(sudo -n)
else
    log "$CHROMIUM is missing and apt-get needs root: the browser tests will be skipped (apt-get install chromium)"
    exit 0
fi
log "installing Debian package chromium (apt-get) ..."
"${PREFIX[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
if ! "${PREFIX[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2; then
    log "could not install chromium: the browser tests will be skipped"
fi
exit 0
