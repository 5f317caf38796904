#!/bin/sh
# Install BIND 9 (named, dig, nsupdate) from Debian's packages for the RFC 2136 tests and benchmark
# (tests/rfc2136/conftest.py starts its own unprivileged named on 127.0.0.1).
# Idempotent and quiet: does nothing when named is already installed; prints apt's output only on failure.
set -eu
if command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends bind9 bind9-utils; } \
        >"$log" 2>&1; then
    cat "$log" >&2
    echo "bind.sh: installing bind9 failed" >&2
    exit 1
fi
# The package may enable a system named on port 53; the tests never use it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now named >/dev/null 2>&1 || true
fi
