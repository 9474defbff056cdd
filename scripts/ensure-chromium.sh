#!/usr/bin/env bash
# Usage: scripts/ensure-chromium.sh
#
# The admin's browser tests (tests/browser/) drive Debian's Chromium at /usr/bin/chromium through
# Playwright; no browser is ever downloaded any other way. When it is missing and apt-get is usable
# (root or password-less sudo), install the Debian package `chromium`, as scripts/with-services.sh
# does for postgresql and redis-server. When it is missing and cannot be installed, fail (so `make
# test` stops here, saying why), unless ALLOW_NO_BROWSER=1 says to go on without it: the browser
# tests then skip, loudly (and still fail under CI_NO_SKIPS=1).
set -uo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] && exit 0

log() { printf 'ensure-chromium: %s\n' "$*" >&2; }

missing() {
    if [[ ${ALLOW_NO_BROWSER:-} == 1 ]]; then
        log "$CHROMIUM is missing ($1); ALLOW_NO_BROWSER=1: going on, the browser tests will be SKIPPED"
        exit 0
    fi
    log "error: $CHROMIUM is missing ($1): install the Debian package chromium, or set ALLOW_NO_BROWSER=1 to run the tests without the browser tests"
    exit 1
}

if ! command -v apt-get >/dev/null 2>&1; then
    missing "apt-get is not available"
fi
if [[ $(id -u) -eq 0 ]]; then
    PREFIX=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    PREFIX=(sudo -n)
else
    missing "apt-get needs root: apt-get install chromium"
fi
log "installing Debian package chromium (apt-get) ..."
"${PREFIX[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
if ! "${PREFIX[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2; then
    missing "apt-get install chromium failed"
fi
[[ -x $CHROMIUM ]] || missing "the chromium package does not provide it"
exit 0
