#!/usr/bin/env bash
# Replay throughput (issue 24): `pgscope replay --speed max` of a captured `pgbench -S` workload
# against pgbench's own TPS, same connection count, same server, run alternately.
#
#   cargo build --release -p pgscope
#   benches/e2e/replay.sh [CLIENTS] [SECONDS] [ROUNDS]
#
# A throw-away cluster (scale 10) is started as the postgres OS user; pgscope (release) runs in
# front of it only to capture. Each round: pgbench -n -S -c CLIENTS -T SECONDS directly (its
# TPS without connection time), then the capture replayed at --speed max directly against the
# same server (statements replayed ÷ replay wall time, connection set-up included).
set -euo pipefail
clients=${1:-4}
seconds=${2:-15}
rounds=${3:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PGSCOPE_BIN:-$root/target/release/pgscope}
pgbin=${PGSCOPE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
work=$(mktemp -d /tmp/pgscope-replay-bench.XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000)); proxy=$((port + 1)); admin=$((port + 2))
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    [ -n "${scope:-}" ] && kill "$scope" 2>/dev/null || true
    as_pg "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$work"
as_pg "$pgbin/initdb" -D "$work/data" -U postgres -A trust >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w \
    -o "-p $port -k $work -c max_connections=100 -c shared_buffers=256MB -c fsync=off" start >/dev/null
url="postgres://postgres@127.0.0.1:$port/postgres"
"$pgbin/pgbench" -i -q -s 10 "$url" >/dev/null 2>&1
PGSCOPE_ADMIN_TOKEN=bench "$bin" run --listen "127.0.0.1:$proxy" --admin "127.0.0.1:$admin" \
    --upstream "postgres://127.0.0.1:$port/?sslmode=disable" >"$work/pgscope.log" 2>&1 &
scope=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
    -d "{\"path\": \"$work/select.pgcap\", \"duration\": \"10m\"}" \
    "http://127.0.0.1:$admin/api/v1/capture" >/dev/null
"$pgbin/pgbench" -n -S -c "$clients" -j 2 -T "$seconds" \
    "postgres://postgres@127.0.0.1:$proxy/postgres" | grep -E '^(number of transactions actually|tps)'
curl -sf -X DELETE -H 'Authorization: Bearer bench' "http://127.0.0.1:$admin/api/v1/capture" >/dev/null
kill "$scope"; wait "$scope" 2>/dev/null || true; scope=
echo "capture: $(du -h "$work/select.pgcap" | cut -f1)"
for round in $(seq "$rounds"); do
    tps=$("$pgbin/pgbench" -n -S -c "$clients" -j 2 -T "$seconds" "$url" 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p')
    "$bin" replay "$work/select.pgcap" --target "postgres://127.0.0.1:$port" --speed max \
        --report "$work/replay.json" 2>/dev/null
    read -r statements ms < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['replay']; print(r['statements_replayed'], r['replayed_ms'])" "$work/replay.json")
    python3 -c "import sys; t,s,ms=map(float,sys.argv[1:4]); r=s/ms*1000; print(f'round {int(sys.argv[4])}: pgbench {t:.0f} tps, replay {r:.0f} statements/s ({s:.0f} in {ms/1000:.1f} s): {r/t*100:.0f}%')" "$tps" "$statements" "$ms" "$round"
done
