#!/usr/bin/env bash
# Installs what pgscope's build, tests and benchmarks need, when it is missing, and sets
# PGSCOPE_TEST_PYTHON to a Python that has psycopg 3:
#
#   cmake                        (building native dependencies)
#   openssl                      (the tests make their CA and certificates with it)
#   PostgreSQL server + contrib  (initdb, pg_ctl, postgres, pgbench, pg_stat_statements)
#   psql                         (the client the tests drive)
#   pgbouncer                    (the benchmark's point of comparison)
#   chromium                     (headless, for the tests that render the HTML report)
#   prometheus (with promtool)   (a real Prometheus scrapes pgscope; promtool checks and
#                                tests deploy/prometheus/pgscope.rules.yml)
#   systemd (systemd-analyze)    (verifies deploy/pgscope.service; no running systemd needed)
#   a venv with psycopg[binary]  at ${PGSCOPE_VENV:-$HOME/.cache/pgscope/venv}, with the
#   OpenTelemetry SDK, OTLP/HTTP exporter and psycopg instrumentation (tests/python/otel_app.py),
#   Django and SQLAlchemy (the ORM corpus, tests/orm/)
#   node + npm, and sequelize 6 + pg  at ${PGSCOPE_NODE_DIR:-$HOME/.cache/pgscope/node}
#                                (the ORM corpus; PGSCOPE_TEST_NODE_MODULES is exported)
#
# Idempotent and fast when everything is there: it only looks (command -v, file tests, one
# Python import), and runs `apt-get update` only when something has to be installed.
# System packages come from apt-get, as root (or through passwordless sudo); otherwise the
# script names what is missing and fails.
#
# Run it (`bash scripts/install-deps.sh`) or source it (`source scripts/install-deps.sh`,
# as scripts/test.sh does) to also get PGSCOPE_TEST_PYTHON exported into your shell.

pgscope_log() { echo "install-deps: $*" >&2; }

# The directory of the PostgreSQL server binaries, found the way pgscope finds it
# (proxy/src/embedded/bin_dir.rs); empty when there is none.
pgscope_pg_bin_dir() {
    local dir
    if [ -n "${PGSCOPE_PG_BIN:-}" ]; then
        echo "$PGSCOPE_PG_BIN"
        return
    fi
    dir="$(pg_config --bindir 2>/dev/null || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return
    fi
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return
    fi
    dir="$(command -v initdb 2>/dev/null || true)"
    [ -n "$dir" ] && dirname "$dir"
    return 0
}

# Whether the PostgreSQL installation of bin dir $1 has the pg_stat_statements extension.
pgscope_has_pg_stat_statements() {
    local lib
    lib="$(pg_config --pkglibdir 2>/dev/null || true)"
    [ -f "$1/../lib/pg_stat_statements.so" ] || { [ -n "$lib" ] && [ -f "$lib/pg_stat_statements.so" ]; }
}

# Installs Debian packages, as root or through passwordless sudo.
pgscope_apt_install() {
    local sudo=()
    if ! command -v apt-get >/dev/null 2>&1; then
        pgscope_log "missing: $*; install them with your package manager and run again"
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            pgscope_log "missing: $*; install them (e.g. apt-get install $*) and run again"
            return 1
        fi
    fi
    pgscope_log "installing $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pgscope_install_deps() {
    local venv="${PGSCOPE_VENV:-${HOME:-/tmp}/.cache/pgscope/venv}"
    local python="${PGSCOPE_BASE_PYTHON:-python3}"
    local missing=() bin

    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
        || command -v google-chrome >/dev/null 2>&1 || missing+=(chromium)
    { command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } \
        || missing+=(prometheus)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    bin="$(pgscope_pg_bin_dir)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pgbench" ] \
        || ! pgscope_has_pg_stat_statements "$bin"; then
        missing+=(postgresql-15 postgresql-contrib)
    fi
    if ! command -v psql >/dev/null 2>&1 && { [ -z "$bin" ] || [ ! -x "$bin/psql" ]; }; then
        missing+=(postgresql-client-15)
    fi
    if [ ! -x "$venv/bin/python" ] && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
        # Debian's own python3 lacks ensurepip until python3-venv is installed.
        missing+=(python3-venv)
        python=/usr/bin/python3
    fi
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    if [ "${#missing[@]}" -gt 0 ]; then
        pgscope_apt_install "${missing[@]}" || return 1
    fi

    local imports='import psycopg, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.instrumentation.psycopg, psycopg_pool, django, sqlalchemy, asyncpg'
    if ! "$venv/bin/python" -c "$imports" 2>/dev/null; then
        if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
            pgscope_log "creating the Python venv $venv"
            mkdir -p "$(dirname "$venv")"
            "$python" -m venv --clear "$venv" || return 1
        fi
        pgscope_log "installing psycopg[binary], OpenTelemetry, Django, SQLAlchemy and asyncpg into $venv"
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet \
            'psycopg[binary]' psycopg-pool opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \
            opentelemetry-instrumentation-psycopg 'django>=5.2' 'sqlalchemy>=2' asyncpg || return 1
        "$venv/bin/python" -c "$imports" || return 1
    fi
    export PGSCOPE_TEST_PYTHON="$venv/bin/python"

    local node_dir="${PGSCOPE_NODE_DIR:-${HOME:-/tmp}/.cache/pgscope/node}"
    if ! (cd "$node_dir" 2>/dev/null && node -e 'require("sequelize"); require("pg")' 2>/dev/null); then
        pgscope_log "installing sequelize 6 and pg into $node_dir"
        mkdir -p "$node_dir" || return 1
        [ -f "$node_dir/package.json" ] || echo '{"private": true}' > "$node_dir/package.json"
        (cd "$node_dir" && npm install --silent --no-audit --no-fund 'sequelize@6' pg) || return 1
    fi
    export PGSCOPE_TEST_NODE_MODULES="$node_dir/node_modules"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    pgscope_install_deps
else
    pgscope_install_deps || return 1
fi
