#!/usr/bin/env bash
# Set up ramsesbuild for development and testing on Debian bookworm, from nothing:
#
#   ./setup.sh            (as root, or a user with sudo)   then   .venv/bin/pytest
#
# Steps (each can be run alone: ./setup.sh apt | npm | python):
#   apt     the Debian packages of packages.txt (apt-get, no recommends); servers are installed
#           with service start-up suppressed (a policy-rc.d that exits 101): nothing starts or
#           listens on this machine, the tests start them inside private network namespaces
#   npm     the npm:... entries of packages.txt (npm install -g), when npm is there
#   python  a virtual environment in .venv with ramsesbuild (editable) and its test tools
set -euo pipefail
cd "$(dirname "$0")"
LIST=packages.txt
VENV=${RAMSES_VENV:-.venv}
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# packages.txt: "PACKAGE [COMMAND ...] [# why]"; PACKAGE? = only when one of its commands is missing
packages() {  # $1 = deb | npm
    local pkg cmds missing c
    sed -e 's/#.*//' "$LIST" | while read -r pkg cmds; do
        [ -n "$pkg" ] || continue
        case "$pkg" in npm:*) [ "$1" = npm ] && echo "${pkg#npm:}"; continue ;; esac
        [ "$1" = deb ] || continue
        if [ "${pkg%\?}" != "$pkg" ]; then
            missing=""
            for c in $cmds; do command -v "$c" >/dev/null || missing=1; done
            [ -n "$missing" ] || continue
            pkg=${pkg%\?}
        fi
        echo "$pkg"
    done
}

step_apt() {
    command -v apt-get >/dev/null || { echo "setup: apt-get not found: this set-up is for Debian bookworm" >&2; exit 1; }
    local own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    # shellcheck disable=SC2064
    trap "[ -z '$own_policy' ] || $SUDO rm -f /usr/sbin/policy-rc.d" EXIT
    echo "setup: apt-get install $(packages deb | wc -l) packages from $LIST"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2046
    $SUDO apt-get install -y -qq --no-install-recommends $(packages deb)
}

step_npm() {
    local pkgs
    pkgs=$(packages npm)
    [ -n "$pkgs" ] || return 0
    if ! command -v npm >/dev/null; then
        echo "setup: npm not found, skipping: $pkgs (./setup.sh apt installs it)"
        return 0
    fi
    echo "setup: npm install -g $pkgs"
    # shellcheck disable=SC2086
    $SUDO npm install -g --no-fund --no-audit --loglevel=error $pkgs
}

step_python() {
    local py
    py=$(command -v python3) || { echo "setup: python3 not found (./setup.sh apt installs it)" >&2; exit 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        echo "setup: python virtual environment $VENV (from $py)"
        "$py" -m venv "$VENV"
    fi
    echo "setup: $VENV: pip install -e '.[test]'"
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    echo "setup: done; run the tests with: $VENV/bin/pytest"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(apt npm python)
for s in "${steps[@]}"; do
    case "$s" in
        apt|npm|python) "step_$s" ;;
        *) echo "usage: ./setup.sh [apt] [npm] [python]   (default: all three)" >&2; exit 2 ;;
    esac
done
