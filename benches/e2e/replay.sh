#!/usr/bin/env bash
# Replay throughput (issue 24): `pgscope replay --speed max` of a captured `pgbench -S` workload
# against pgbench's own TPS, same connection count, same server, run alternately.
#
#   cargo build --release -p pgscope
#   benches/e2e/replay.sh [CLIENTS] [SECONDS] [ROUNDS]
#   benches/e2e/replay.sh --instructions [CLIENTS] [SHORT] [LONG]     # needs valgrind
#
# A throw-away cluster (scale 10) is started as the postgres OS user; pgscope (release) runs in
# front of it only to capture. Each round: pgbench -n -S -c CLIENTS -T SECONDS directly (its
# TPS without connection time), then the capture replayed at --speed max directly against the
# same server (statements replayed ÷ replay wall time, connection set-up included). The load
# average is printed with every round: on a shared machine it says how much to trust the row.
#
# --instructions counts user-space instructions with callgrind, which does not depend on the
# machine's load: pgbench -t SHORT and -t LONG directly against the server, and the replay of a
# capture of each; (Ir(LONG) - Ir(SHORT)) / ((LONG - SHORT) x CLIENTS) is the steady-state
# cost of one transaction to pgbench's client and of one replayed statement to the replay
# (loading the capture, the report and the start-up cancel out or are included per statement).
# REPLAY_KEEP_OUT=DIR keeps the callgrind files there for callgrind_annotate.
# REPLAY_ARGS="--threads 2" passes more flags to every `pgscope replay`.
set -euo pipefail
mode=tps
if [ "${1:-}" = --instructions ]; then
    mode=instructions
    shift
fi
clients=${1:-4}
if [ "$mode" = tps ]; then
    seconds=${2:-15}
    rounds=${3:-3}
else
    short=${2:-2000}
    long=${3:-10000}
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PGSCOPE_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/pgscope}
pgbin=${PGSCOPE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
work=$(mktemp -d /tmp/pgscope-replay-bench.XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000)); proxy=$((port + 1)); admin=$((port + 2))
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
load() { cut -d' ' -f1 /proc/loadavg; }
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

# capture FILE PGBENCH-ARGS...: pgbench -n -S through pgscope, captured into FILE.
capture() {
    local file=$1
    shift
    PGSCOPE_ADMIN_TOKEN=bench "$bin" run --listen "127.0.0.1:$proxy" --admin "127.0.0.1:$admin" \
        --upstream "postgres://127.0.0.1:$port/?sslmode=disable" >"$work/pgscope.log" 2>&1 &
    scope=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.1; done
    curl -sf -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
        -d "{\"path\": \"$file\", \"duration\": \"10m\"}" \
        "http://127.0.0.1:$admin/api/v1/capture" >/dev/null
    "$pgbin/pgbench" -n -S -c "$clients" -j 2 "$@" \
        "postgres://postgres@127.0.0.1:$proxy/postgres" | grep -E '^(number of transactions actually|tps)'
    curl -sf -X DELETE -H 'Authorization: Bearer bench' "http://127.0.0.1:$admin/api/v1/capture" >/dev/null
    kill "$scope"; wait "$scope" 2>/dev/null || true; scope=
    echo "capture: $(du -h "$file" | cut -f1)"
}

if [ "$mode" = instructions ]; then
    # ir OUT COMMAND...: the command's instruction total under callgrind.
    ir() {
        local out=$1
        shift
        valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$out.log"
        [ -n "${REPLAY_KEEP_OUT:-}" ] && mkdir -p "$REPLAY_KEEP_OUT" && cp "$out" "$REPLAY_KEEP_OUT/"
        sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out" | head -1
    }
    for t in "$short" "$long"; do
        capture "$work/select-$t.pgcap" -t "$t"
    done
    declare -A pg rp
    for t in "$short" "$long"; do
        pg[$t]=$(ir "$work/pgbench.$t" "$pgbin/pgbench" -n -S -c "$clients" -j 2 -t "$t" "$url")
        # shellcheck disable=SC2086 # REPLAY_ARGS is a list of flags
        rp[$t]=$(ir "$work/replay.$t" "$bin" replay "$work/select-$t.pgcap" \
            --target "postgres://127.0.0.1:$port" --speed max --report "$work/replay-$t.json" \
            ${REPLAY_ARGS:-})
        echo "-t $t: pgbench ${pg[$t]} instructions, replay ${rp[$t]} instructions"
    done
    python3 - "$clients" "$short" "$long" "${pg[$short]}" "${pg[$long]}" "${rp[$short]}" "${rp[$long]}" <<'EOF'
import sys
c, s, l, pg_s, pg_l, rp_s, rp_l = map(int, sys.argv[1:])
n = (l - s) * c
pg, rp = (pg_l - pg_s) / n, (rp_l - rp_s) / n
print(f"instructions per transaction, pgbench -S client: {pg:,.0f}")
print(f"instructions per replayed statement:             {rp:,.0f}")
print(f"replay / pgbench: {rp / pg:.2f}  ({n:,} transactions between -t {s} and -t {l}, {c} clients)")
EOF
    exit 0
fi

capture "$work/select.pgcap" -T "$seconds"
printf '\n%-6s %12s %16s %9s %13s\n' round "pgbench TPS" "replay stmts/s" replay/pg "load average"
for round in $(seq "$rounds"); do
    before=$(load)
    tps=$("$pgbin/pgbench" -n -S -c "$clients" -j 2 -T "$seconds" "$url" 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p')
    # shellcheck disable=SC2086 # REPLAY_ARGS is a list of flags
    "$bin" replay "$work/select.pgcap" --target "postgres://127.0.0.1:$port" --speed max \
        --report "$work/replay.json" ${REPLAY_ARGS:-} 2>/dev/null
    read -r statements ms < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['replay']; print(r['statements_replayed'], r['replayed_ms'])" "$work/replay.json")
    row=$(python3 -c "import sys; t,s,ms=map(float,sys.argv[1:4]); r=s/ms*1000; print(f'{int(sys.argv[4]):<6} {t:12,.0f} {r:16,.0f} {r/t*100:8.0f}% {sys.argv[5]:>6}-{sys.argv[6]:<6}')" \
        "$tps" "$statements" "$ms" "$round" "$before" "$(load)")
    echo "$row"
done
echo "(pgbench -n -S -c $clients -j 2 -T $seconds vs pgscope replay --speed max of its capture, $clients sessions)"
