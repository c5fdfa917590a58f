#!/usr/bin/env bash
# shellcheck shell=bash
# Shared helpers for scripts/*. Source it; running it does nothing useful.
#
# Functions here are written so that they fail correctly even when called where
# `set -e` is suspended (inside `if`, `||`, or scripts/test's step runner): every
# command that can fail is checked explicitly.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    echo "scripts/lib.sh is meant to be sourced by the other scripts" >&2
    exit 2
fi

# Located from this file rather than `git rev-parse`, so the scripts also work
# from an exported tree or a path that is not a git checkout.
LATCHKEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LATCHKEY_VENV="$LATCHKEY_ROOT/.venv"
LATCHKEY_LOCAL="$LATCHKEY_ROOT/.local"
export LATCHKEY_ROOT

log() {
    printf '[%s] %s\n' "${0##*/}" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

have() {
    command -v "$1" >/dev/null 2>&1
}

# True when URL answers with a 2xx status. curl is on the machine image; the
# python fallback keeps this working where it is not.
http_ok() {
    local url=$1
    if have curl; then
        curl -fs -o /dev/null --max-time 2 "$url"
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "$url" >/dev/null 2>&1
    fi
}

# Installs Debian packages that are missing. `apt-get update` runs at most once
# per script tree (exported flag), because it costs seconds each time.
ensure_apt() {
    local p status missing=()
    for p in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        [[ $status == "install ok installed" ]] || missing+=("$p")
    done
    ((${#missing[@]} > 0)) || return 0

    have apt-get || die "apt-get not found; install by hand: ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        have sudo || die "not root and no sudo; install by hand: ${missing[*]}"
        sudo=(sudo)
    fi
    log "installing Debian packages: ${missing[*]}"
    if [[ ${LATCHKEY_APT_UPDATED:-} != 1 ]]; then
        "${sudo[@]}" apt-get update -qq || return 1
        export LATCHKEY_APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || return 1
}

_venv_current() {
    local want=$1
    [[ -x $LATCHKEY_VENV/bin/python ]] &&
        [[ -f $LATCHKEY_VENV/.requirements.sha256 ]] &&
        [[ "$(<"$LATCHKEY_VENV/.requirements.sha256")" == "$want" ]] &&
        "$LATCHKEY_VENV/bin/python" -c '' 2>/dev/null
}

_venv_build() {
    local want=$1 req=$2 py=${LATCHKEY_PYTHON:-python3}
    # Another script may have finished the install while we waited for the lock.
    _venv_current "$want" && return 0

    if ! "$LATCHKEY_VENV/bin/python" -c '' 2>/dev/null; then
        rm -rf "$LATCHKEY_VENV"
        have "$py" || ensure_apt python3 python3-venv || return 1
        if ! "$py" -m venv "$LATCHKEY_VENV" 2>/dev/null; then
            # Debian's own python3 ships venv/ensurepip separately.
            rm -rf "$LATCHKEY_VENV"
            ensure_apt python3-venv || return 1
            "$py" -m venv "$LATCHKEY_VENV" || return 1
        fi
    fi

    local start=$SECONDS
    log "installing scripts/requirements.txt into .venv (about a minute the first time)"
    "$LATCHKEY_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
        -r "$req" || return 1
    printf '%s' "$want" >"$LATCHKEY_VENV/.requirements.sha256" || return 1
    log ".venv ready in $((SECONDS - start))s"
}

# Creates .venv and (re)installs scripts/requirements.txt only when that file
# changed since the last install, so repeated runs cost a few milliseconds.
# Puts .venv/bin first on PATH for this script and its children.
ensure_venv() {
    local req="$LATCHKEY_ROOT/scripts/requirements.txt" want
    want="$(sha256sum "$req" | cut -d' ' -f1)" || return 1
    if ! _venv_current "$want"; then
        mkdir -p "$LATCHKEY_LOCAL" || return 1
        # scripts/dev, scripts/test and others' scripts may start together.
        (
            flock 9 || exit 1
            _venv_build "$want" "$req"
        ) 9>"$LATCHKEY_LOCAL/venv.lock" || die "could not set up .venv"
    fi
    export VIRTUAL_ENV="$LATCHKEY_VENV"
    case ":$PATH:" in
    *":$LATCHKEY_VENV/bin:"*) ;;
    *) export PATH="$LATCHKEY_VENV/bin:$PATH" ;;
    esac
}
