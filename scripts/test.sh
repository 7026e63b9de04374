#!/usr/bin/env bash
# The test command: `bash scripts/test.sh [extra cargo test arguments]`.
#
# Installs whatever the integration tests need when it is missing (see install-deps.sh: the
# PostgreSQL server and clients, pgbouncer, cmake, a venv with psycopg 3), then runs every
# test of the workspace, and after them, alone, the growth scenario the parallel run leaves out.
# Each integration test starts its own throw-away PostgreSQL cluster and pgscope in front of it,
# so nothing has to be running beforehand.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/install-deps.sh
source "$root/scripts/install-deps.sh"
cd "$root"
cargo test --workspace "$@"
# The growth detector's ground-truth scenario (tests/tests/suite/growth_scenario.rs, ~85 s) runs
# two busy loops on purpose, which would starve the tests beside it, so the parallel run above
# skips it (#[ignore]) and the full run (no arguments, as .ci/run calls it) runs it here, alone:
# one test, one thread (`--workspace` as above, so cargo reuses that build: the same packages
# select the same features). PGSCOPE_TEST_GROWTH_SCENARIO=0 leaves it out.
if [ $# -eq 0 ] && [ "${PGSCOPE_TEST_GROWTH_SCENARIO:-1}" != 0 ]; then
    cargo test --workspace --test suite -- --ignored --exact --test-threads 1 \
        growth_scenario::flags_meet_precision_and_recall_targets_under_cpu_contention
fi
