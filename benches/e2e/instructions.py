#!/usr/bin/env python3
"""User-space instructions per query of a pgscope build, counted by callgrind.

    python3 benches/e2e/instructions.py --pgscope BINARY [--config CONFIG.toml]
        [--short 500] [--long 2500] [--pgbench-args "-S -M prepared -c 8 -j 2"] [--keep-out DIR]
    python3 benches/e2e/instructions.py --pgbouncer /usr/sbin/pgbouncer [...]

Wall-clock and CPU-time figures on a shared 2-core VM move by ±10% from run to run; the
number of instructions a process executes for the same work does not depend on what else the
machine does. This script starts one throw-away cluster (as compare.py does) and, twice, a
fresh pgscope under `valgrind --tool=callgrind` in front of it, driven by pgbench with
`-t SHORT` and then `-t LONG` transactions per client: start-up, connection set-up and
shutdown cost the same in both, so

    instructions per query = (Ir(long) - Ir(short)) / ((LONG - SHORT) x clients)

is the steady-state cost of one query on every pgscope thread (connection workers, the span
exporter's threads, the admin server). With `--config`, the file is passed to pgscope; write
`endpoint = "{sink}"` in it to export spans to the OTLP/HTTP sink of tracing.py, which this
script starts. `--keep-out DIR` keeps the callgrind files there for `callgrind_annotate`.
With `--pgbouncer` instead of `--pgscope`, the same count is taken of PgBouncer (session
mode, as compare.py runs it), the yardstick of the proxy issue's CPU target. `--tls` puts TLS
on both hops of either proxy as `compare.sh --tls` does.
Needs root and valgrind.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from compare import default_pg_bin
from servers import PGBOUNCER_STOP, Servers, free_port
from tracing import fill_sink, start_sink
from workloads import BenchError, log, run_script


def clients_of(args: list[str]) -> int:
    """pgbench's `-c N` (1 when absent)."""
    for i, arg in enumerate(args):
        if arg == "-c" and i + 1 < len(args):
            return int(args[i + 1])
        if arg.startswith("-c") and arg[2:].isdigit():
            return int(arg[2:])
    return 1


def total_ir(path: Path) -> int:
    """The `summary:` (or `totals:`) line of a callgrind output file."""
    text = path.read_text()
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    if not found:
        raise BenchError(f"no instruction total in {path}")
    return int(found.group(1))


def measure(bench: Servers, opts: argparse.Namespace, sink: str, transactions: int,
            out: Path) -> int:
    """One proxy under callgrind, pgbench -t `transactions`; returns its Ir total."""
    proxy = "pgbouncer" if opts.pgbouncer else "pgscope"
    name = f"{proxy}-t{transactions}"
    port = bench.ports[name] = free_port()
    if opts.pgbouncer:
        command = bench.pgbouncer_command(opts.pgbouncer, port)
        stop, as_postgres = PGBOUNCER_STOP, True
        shutil.chown(out.parent, "postgres")
    else:
        filled = None if opts.config is None else fill_sink(bench, name, opts.config, sink)
        command = bench.pgscope_command(opts.pgscope, port, config=filled)
        stop, as_postgres = signal.SIGTERM, False
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command]
    managed = bench.spawn(name, cmd, stop, as_postgres=as_postgres, env=bench.pgscope_env())
    bench.wait_ready(managed, port, timeout=120.0)
    pgbench = [str(bench.bin / "pgbench"), "-n", "-t", str(transactions), *opts.pgbench,
               "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench"]
    done = subprocess.run(pgbench, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise BenchError(f"pgbench through {name} failed:\n{done.stderr}")
    managed.stop(grace=60.0)
    bench.managed.remove(managed)
    ir = total_ir(out)
    log(f"{name}: {ir:,} instructions")
    return ir


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="instructions.py", description=__doc__.split("\n")[0])
    proxy = parser.add_mutually_exclusive_group(required=True)
    proxy.add_argument("--pgscope", type=Path)
    proxy.add_argument("--pgbouncer", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--short", type=int, default=500)
    parser.add_argument("--long", type=int, default=2500)
    parser.add_argument("--pgbench-args", default="-S -M prepared -c 8 -j 2")
    parser.add_argument("--scale", type=int, default=5)
    parser.add_argument("--pg-bin", default=default_pg_bin())
    parser.add_argument("--keep-out", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--tls", action="store_true", help="TLS on both hops, as compare.sh --tls")
    opts = parser.parse_args(argv)
    opts.pgscope_threads = None
    opts.pgbench = shlex.split(opts.pgbench_args)
    if opts.pgbouncer and opts.config:
        parser.error("--config is pgscope's")
    if opts.long <= opts.short:
        parser.error("--long must be greater than --short")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed")
    queries_per_txn = 1 if "-S" in opts.pgbench else 7
    queries = (opts.long - opts.short) * clients_of(opts.pgbench) * queries_per_txn

    server, sink = start_sink()
    bench = Servers(opts)
    out_dir = opts.keep_out or bench.tmp
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        bench.start_postgres()
        short = measure(bench, opts, sink, opts.short, out_dir / f"callgrind.{opts.short}")
        long = measure(bench, opts, sink, opts.long, out_dir / f"callgrind.{opts.long}")
    finally:
        bench.close()
        server.shutdown()
    print(f"{(long - short) / queries:,.0f} instructions per query "
          f"({long:,} - {short:,} over {queries:,} queries; pgbench {opts.pgbench_args})")
    return 0


if __name__ == "__main__":
    run_script("instructions.py", main)
