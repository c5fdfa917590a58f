#!/usr/bin/env bash
# shellcheck shell=bash
# Helpers shared by scripts/check-infra and scripts/build-functions. Source it.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    echo "scripts/lib-infra.sh is meant to be sourced by the other scripts" >&2
    exit 2
fi

_infra_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

if [[ -f $_infra_here/lib.sh ]]; then
    # shellcheck source=scripts/lib.sh
    source "$_infra_here/lib.sh"
else
    # Stand-in for scripts/lib.sh so these scripts still run in a tree without it.
    LATCHKEY_ROOT="$(cd "$_infra_here/.." && pwd -P)"
    LATCHKEY_VENV="$LATCHKEY_ROOT/.venv"
    LATCHKEY_LOCAL="$LATCHKEY_ROOT/.local"
    export LATCHKEY_ROOT
    log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
    die() {
        log "error: $*"
        exit 1
    }
    have() { command -v "$1" >/dev/null 2>&1; }
    ensure_venv() {
        if [[ ! -x $LATCHKEY_VENV/bin/python ]]; then
            "${LATCHKEY_PYTHON:-python3}" -m venv "$LATCHKEY_VENV" || die "could not create .venv"
        fi
        export VIRTUAL_ENV="$LATCHKEY_VENV"
        case ":$PATH:" in
        *":$LATCHKEY_VENV/bin:"*) ;;
        *) export PATH="$LATCHKEY_VENV/bin:$PATH" ;;
        esac
    }
fi

LATCHKEY_TEMPLATE="$LATCHKEY_ROOT/infra/template.yaml"

# ensure_venv, then pip-installs whichever of the given "module=pip-spec" pairs is still
# missing: a requirements.txt that drops one of our tools must not break these scripts.
infra_venv() {
    ensure_venv
    local pair module spec missing=()
    for pair in "$@"; do
        module=${pair%%=*}
        spec=${pair#*=}
        "$LATCHKEY_VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" ||
            missing+=("$spec")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing into .venv: ${missing[*]}"
    # scripts/test runs check-lambda-build beside its other steps: one pip at a time.
    (
        flock 9 || exit 1
        "$LATCHKEY_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
            "${missing[@]}"
    ) 9>"$LATCHKEY_LOCAL/venv.lock" || die "pip install ${missing[*]} failed"
}

# The Lambda binaries, in template order: the template is the deployable list, and
# tests/integration/route_table.rs ties it to the route table.
infra_function_names() {
    [[ -f $LATCHKEY_TEMPLATE ]] || die "missing $LATCHKEY_TEMPLATE"
    sed -n 's/^ *Binary: *\([a-z0-9-][a-z0-9-]*\) *$/\1/p' "$LATCHKEY_TEMPLATE"
}
