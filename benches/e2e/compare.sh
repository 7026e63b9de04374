#!/usr/bin/env bash
# End-to-end comparison: pgbench direct vs through pgscope vs through PgBouncer.
#
#   bash benches/e2e/compare.sh [--rounds N] [--duration S] [--json FILE] [--tls] [--help]
#
# --tls: TLS on every hop (openssl-made throw-away EC P-256 CA and certificate in the temp dir):
# pgbench with sslmode=require to PostgreSQL (ssl = on), to pgscope ([tls] via PGSCOPE_TLS_CERT/
# KEY, sslmode=require upstream) and to PgBouncer (client_tls_sslmode/server_tls_sslmode=require).
#
# Starts one throw-away PostgreSQL 15 cluster (initdb in a temp dir as the `postgres` OS user,
# fsync=off, shared_buffers=256MB, max_connections=200, `pgbench -i -s 10`), pgscope (release
# build, `cargo build --release -p pgscope` is run first unless --pgscope PATH is given) and
# PgBouncer (session pooling; `apt-get install -y pgbouncer` if missing) side by side on loopback,
# then runs six pgbench workloads in interleaved rounds (direct, pgscope, pgbouncer in rotating
# order) and prints, per workload: TPS ratio to direct, each proxy's CPU-seconds per 100k queries
# and the latency it adds per round trip. Everything it starts is stopped and its temp dir removed
# on exit, on failure and on Ctrl-C.
#
# Needs: root (it runs PostgreSQL and PgBouncer as the `postgres` user), python3 (stdlib only),
# PostgreSQL 15 server binaries and pgbench, cargo (unless --pgscope is given).
# The work is done by compare.py next to this file; `--help` lists every option.
# Results and how to read them: benches/README.md, section "End-to-end".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v python3 >/dev/null 2>&1; then
    echo "compare.sh: python3 is required (apt-get install -y python3)" >&2
    exit 2
fi
# exec: python3 becomes this process, so Ctrl-C and `kill` reach the code that cleans up.
exec python3 "$here/compare.py" "$@"
