#!/usr/bin/env python3
"""What span export costs: pgbench direct vs pgscope with tracing off, at 1% and at 100%.

    python3 benches/e2e/tracing.py [--rounds N] [--duration S] [--pgscope PATH] [--json FILE]

One throw-away cluster (as compare.py makes it: `servers.Servers`), three pgscope processes
side by side in front of it — `[tracing]` off, `sample_ratio = 0.01` and `sample_ratio = 1.0`,
the last two exporting OTLP/HTTP to a local receiver run by this script (a stdlib HTTP server
that answers every `POST /v1/traces` with 200 and counts the bytes) — and pgbench against
each and against the server directly, in interleaved rounds whose order rotates. Per workload
it prints each target's CPU-seconds per 100k queries (median over rounds), the CPU tracing
adds relative to tracing off, and the added latency per round trip relative to direct
(latency probe: min over rounds). At the end it reads each pgscope's span counters from its
`/metrics`. Python stdlib only; needs root (PostgreSQL runs as `postgres`). Figures and how
to read them: benches/README.md, section "Tracing".
"""

from __future__ import annotations

import argparse
import http.server
import json
import signal
import statistics
import threading
import urllib.request
from pathlib import Path

from compare import build_pgscope, default_pg_bin
from measure import Run, run_rounds, warm_up, write_report
from servers import Servers, free_port
from workloads import WORKLOADS, run_script, select

MODES = {
    "tracing-off": None,
    "tracing-1%": 0.01,
    "tracing-100%": 1.0,
}
TARGETS = ("direct", *MODES)
DEFAULT_WORKLOADS = "select-prepared-c8,tpcb-prepared-c8,select-prepared-c1"


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts and discards."""

    received = {"requests": 0, "bytes": 0}
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        with Sink.lock:
            Sink.received["requests"] += 1
            Sink.received["bytes"] += length
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def start_sink() -> tuple[http.server.ThreadingHTTPServer, str]:
    """A [`Sink`] on a free loopback port, serving on a daemon thread; and its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def fill_sink(bench: Servers, name: str, template: Path, sink: str) -> Path:
    """`template` with `{sink}` replaced by the sink's URL, written as `<tmp>/<name>.toml`."""
    filled = bench.tmp / f"{name}.toml"
    filled.write_text(template.read_text().replace("{sink}", sink))
    return filled


def start_pgscope(bench: Servers, binary: Path, name: str, ratio: float | None,
                  endpoint: str) -> int:
    """Starts one pgscope named `name`; returns its admin port."""
    port = bench.ports[name] = free_port()
    admin = free_port()
    config = bench.tmp / f"{name}.toml"
    text = "[tracing]\n"
    if ratio is None:
        text += "enabled = false\n"
    else:
        text += (f"enabled = true\nendpoint = \"{endpoint}\"\nprotocol = \"http/protobuf\"\n"
                 f"sample_ratio = {ratio}\n")
    config.write_text(text)
    managed = bench.spawn(name, bench.pgscope_command(binary, port, admin, config),
                          signal.SIGTERM, as_postgres=False)
    bench.wait_ready(managed, port)
    return admin


def span_counters(admin: int) -> dict:
    """The `pgscope_spans_*` samples of one pgscope's `/metrics`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
            if line.startswith("pgscope_spans_")}


def summarise(workload, runs: list[Run]) -> dict:
    mine = [r for r in runs if r.workload == workload.name and r.ok]
    pick = min if workload.latency_probe else statistics.median
    out: dict = {"workload": workload.name}
    for target in TARGETS:
        own = [r for r in mine if r.target == target]
        out[target] = {
            "tps_median": statistics.median([r.tps for r in own]) if own else None,
            "latency_ms": pick([r.latency_ms for r in own]) if own else None,
            "cpu_s_per_100k": (statistics.median([r.cpu_s_per_100k for r in own])
                               if own and own[0].cpu_s_per_100k is not None else None),
            "thread_cpu_s_per_100k": thread_cpu(own),
        }
    direct = out["direct"]["latency_ms"]
    off = out["tracing-off"]["cpu_s_per_100k"]
    for target in MODES:
        t = out[target]
        if direct is not None and t["latency_ms"] is not None:
            t["added_us_per_round_trip"] = ((t["latency_ms"] - direct) * 1000
                                            / workload.statements_per_txn)
        if off and t["cpu_s_per_100k"] is not None:
            t["cpu_vs_off"] = t["cpu_s_per_100k"] / off - 1
    return out


def thread_cpu(runs: list[Run]) -> dict[str, float]:
    """Median CPU-s per 100k queries of each of the proxy's thread names over `runs`."""
    names = sorted({name for r in runs for name in r.proxy_thread_cpu_s})
    return {name: round(statistics.median(
                [r.proxy_thread_cpu_s.get(name, 0.0) / r.queries * 100_000
                 for r in runs if r.queries]), 3)
            for name in names}


def print_table(summaries: list[dict]) -> None:
    print(f"{'workload':<20}{'target':<14}{'TPS':>9}{'CPU-s/100k':>12}{'vs off':>9}"
          f"{'+us/rt vs direct':>18}")
    for s in summaries:
        for target in TARGETS:
            t = s[target]
            cpu = "-" if t["cpu_s_per_100k"] is None else f"{t['cpu_s_per_100k']:.3f}"
            vs = "-" if "cpu_vs_off" not in t else f"{t['cpu_vs_off']:+.1%}"
            added = ("-" if "added_us_per_round_trip" not in t
                     else f"{t['added_us_per_round_trip']:.1f}")
            tps = "-" if t["tps_median"] is None else f"{t['tps_median']:.0f}"
            print(f"{s['workload']:<20}{target:<14}{tps:>9}{cpu:>12}{vs:>9}{added:>18}")
            threads = t.get("thread_cpu_s_per_100k") or {}
            if threads:
                print(f"{'':<34}by thread: " + ", ".join(
                    f"{name} {value:.3f}" for name, value in threads.items()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracing.py", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS)
    parser.add_argument("--pgscope", type=Path)
    parser.add_argument("--pgscope-threads", type=int)
    parser.add_argument("--pg-bin", default=default_pg_bin())
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    opts = parser.parse_args(argv)
    try:
        chosen = select(opts.workloads)
    except ValueError as err:
        parser.error(str(err))
    binary = opts.pgscope or build_pgscope()

    sink, endpoint = start_sink()
    bench = Servers(opts)
    runs: list[Run] = []
    counters: dict = {}
    try:
        bench.start_postgres()
        admins = {name: start_pgscope(bench, binary, name, ratio, endpoint)
                  for name, ratio in MODES.items()}
        warm_up(bench, WORKLOADS[0], list(TARGETS), opts.duration)
        run_rounds(bench, chosen, list(TARGETS), opts.rounds, opts.duration, runs)
        counters = {name: span_counters(admin) for name, admin in admins.items()}
    finally:
        bench.close()
        sink.shutdown()
    summaries = [summarise(w, runs) for w in chosen]
    print_table(summaries)
    print(f"spans: {json.dumps(counters)}; receiver got {Sink.received}")
    if opts.json:
        write_report(opts.json, {"summary": summaries, "counters": counters,
                                 "receiver": Sink.received}, runs)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    run_script("tracing.py", main)
