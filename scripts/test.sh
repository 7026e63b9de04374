#!/usr/bin/env bash
# The test command: `bash scripts/test.sh [extra cargo test arguments]`.
#
# Installs whatever the integration tests need when it is missing (see install-deps.sh: the
# PostgreSQL server and clients, pgbouncer, cmake, a venv with psycopg 3), then runs every
# test of the workspace. Each integration test starts its own throw-away PostgreSQL cluster
# and pgscope in front of it, so nothing has to be running beforehand.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/install-deps.sh
source "$root/scripts/install-deps.sh"
cd "$root"
exec cargo test --workspace "$@"
