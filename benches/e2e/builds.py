#!/usr/bin/env python3
"""Side by side: several pgscope builds (or configs) against one cluster, in interleaved rounds.

    python3 benches/e2e/builds.py --target NAME=BINARY[,CONFIG.toml] [--target ...]
        [--pgbouncer] [--rounds N] [--duration S] [--workloads a,b] [--json FILE]

What a change to pgscope saves or costs is smaller than the spread between runs on a shared
2-core machine, so a before/after comparison only means something when both builds run in the
same minutes, against the same cluster, with their order rotating from round to round — which
is what compare.py does for direct/pgscope/PgBouncer and this script does for any set of
pgscope binaries (and `[tracing]` or other configs). Every target is one process; per workload
it prints each target's TPS, CPU-seconds per 100k queries (median over rounds), and that
figure relative to the first `--target`. An optional OTLP/HTTP sink (the one of tracing.py) is
started for configs that export spans: write `endpoint = "{sink}"` in a config and it is filled
in. Needs root (PostgreSQL runs as `postgres`). Python stdlib only.
"""

from __future__ import annotations

import argparse
import signal
import statistics
from pathlib import Path

from compare import default_pg_bin, find_pgbouncer
from measure import Run, run_rounds, warm_up, write_report
from servers import Servers, free_port
from tracing import fill_sink, start_sink
from workloads import WORKLOADS, run_script, select

DEFAULT_WORKLOADS = "select-prepared-c8,tpcb-prepared-c8,select-prepared-c1"


def parse_target(text: str) -> tuple[str, Path, Path | None]:
    """`NAME=BINARY[,CONFIG]` into its parts; a clear error otherwise."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError(f"--target {text!r}: expected NAME=BINARY[,CONFIG]")
    binary, _, config = rest.partition(",")
    if name in ("direct", "pgbouncer"):
        raise argparse.ArgumentTypeError(f"--target {name!r}: that name is taken")
    return name, Path(binary), Path(config) if config else None


def start_target(bench: Servers, name: str, binary: Path, config: Path | None,
                 sink: str) -> None:
    """Starts one pgscope as target `name`."""
    port = bench.ports[name] = free_port()
    filled = None if config is None else fill_sink(bench, name, config, sink)
    managed = bench.spawn(name, bench.pgscope_command(binary, port, config=filled),
                          signal.SIGTERM, as_postgres=False)
    bench.wait_ready(managed, port)


def summarise(workload, runs: list[Run], targets: list[str]) -> dict:
    mine = [r for r in runs if r.workload == workload.name and r.ok]
    out: dict = {"workload": workload.name}
    for target in targets:
        own = [r for r in mine if r.target == target]
        cpu = [r.cpu_s_per_100k for r in own if r.cpu_s_per_100k is not None]
        out[target] = {
            "tps_median": statistics.median([r.tps for r in own]) if own else None,
            "cpu_s_per_100k": statistics.median(cpu) if cpu else None,
            "cpu_s_per_100k_range": [min(cpu), max(cpu)] if cpu else None,
        }
    return out


def print_table(summaries: list[dict], targets: list[str], base: str) -> None:
    print(f"{'workload':<20}{'target':<16}{'TPS':>9}{'CPU-s/100k':>12}{'range':>15}"
          f"{'vs ' + base:>16}")
    for s in summaries:
        for target in targets:
            t = s[target]
            cpu = t["cpu_s_per_100k"]
            low_high = t["cpu_s_per_100k_range"]
            ref = s[base]["cpu_s_per_100k"]
            rel = f"{cpu / ref - 1:+.1%}" if cpu and ref and target != base else "-"
            print(f"{s['workload']:<20}{target:<16}"
                  f"{'-' if t['tps_median'] is None else format(t['tps_median'], '.0f'):>9}"
                  f"{'-' if cpu is None else format(cpu, '.3f'):>12}"
                  f"{'-' if not low_high else '%.2f-%.2f' % tuple(low_high):>15}{rel:>16}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="builds.py", description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=parse_target, action="append", required=True,
                        help="NAME=BINARY[,CONFIG.toml]; the first is the reference")
    parser.add_argument("--pgbouncer", action="store_true", help="add PgBouncer as a target")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS)
    parser.add_argument("--pg-bin", default=default_pg_bin())
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    opts = parser.parse_args(argv)
    opts.pgscope_threads = None
    names = [name for name, _, _ in opts.target]
    if len(set(names)) != len(names):
        parser.error("--target names must differ")
    try:
        chosen = select(opts.workloads)
    except ValueError as err:
        parser.error(str(err))
    targets = names + (["pgbouncer"] if opts.pgbouncer else [])

    server, sink = start_sink()
    bench = Servers(opts)
    runs: list[Run] = []
    try:
        bench.start_postgres()
        for name, binary, config in opts.target:
            start_target(bench, name, binary, config, sink)
        if opts.pgbouncer:
            bench.start_pgbouncer(find_pgbouncer())
        warm_up(bench, WORKLOADS[0], targets, opts.duration)
        run_rounds(bench, chosen, targets, opts.rounds, opts.duration, runs)
    finally:
        bench.close()
        server.shutdown()
    summaries = [summarise(w, runs, targets) for w in chosen]
    print_table(summaries, targets, names[0])
    if opts.json:
        write_report(opts.json, {"targets": [[n, str(b), str(c) if c else None]
                                             for n, b, c in opts.target],
                                 "summary": summaries}, runs)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    run_script("builds.py", main)
