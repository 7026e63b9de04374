#!/usr/bin/env python3
"""End-to-end pgbench comparison: direct vs through pgscope vs through PgBouncer.

Run it as `bash benches/e2e/compare.sh [options]` (this file does the work; python3 stdlib only).

What it does, in order:

1. Creates one throw-away PostgreSQL cluster in a temp dir (initdb as the `postgres` OS user;
   fsync=off, synchronous_commit=off, shared_buffers=256MB, max_connections=200, autovacuum off,
   checkpoints pushed out of the measurement), then `pgbench -i -s 10` into database `bench`.
2. Starts, side by side on free loopback ports, pgscope (release build: `cargo build --release -p
   pgscope` is run first unless `--pgscope PATH` is given) and PgBouncer (Debian package,
   `apt-get install -y pgbouncer` if missing; session pooling, trust auth, max_client_conn 200,
   default_pool_size 100, run as `postgres` with an ini generated in the temp dir).
3. Runs every workload (see WORKLOADS) for `--duration` seconds against each target, in
   `--rounds` interleaved rounds: in round r the three targets run back to back in an order that
   rotates with the round and the workload, so slow drift of the machine hits all three alike.
   pgbench runs with `-n` (no vacuum through the target); before every TPC-B-like run the script
   itself vacuums the branch and teller tables and truncates the history table, directly.
4. Measures per run: TPS (pgbench's `tps =` line), average latency (`latency average =`), the
   number of queries, and the proxy's CPU time over the run (utime + stime of the whole process,
   all threads, from /proc/PID/stat before and after, divided by CLK_TCK).
5. Prints a table and, with `--json FILE`, writes it plus every raw run as JSON.

How the figures are derived (per workload, per proxy):

* TPS ratio = median over rounds of (proxy TPS / direct TPS of the same round).
* Queries = transactions x statements per transaction: 1 for select-only, 7 for TPC-B-like
  (BEGIN, 3 UPDATEs, SELECT, INSERT, END: each is one round trip in pgbench's simple, extended
  and prepared modes). A `-C` transaction also opens and closes a connection: its CPU figure is
  per connection + query.
* CPU-s/100k = median over rounds of (proxy CPU-seconds / queries x 100000).
* Added latency per round trip = (proxy average latency - direct average latency) / statements
  per transaction, in microseconds. For the one-client latency probe the minimum over rounds of
  each side's average latency is used (the least disturbed run); for the multi-client workloads
  the medians (there latency is mostly queueing: clients / TPS).

With `--tls` every hop is TLS (certificates made at run time by certs.py, see servers.py):
pgbench connects with `sslmode=require` (PGSSLMODE) straight to a cluster with `ssl = on`, to
pgscope (its `[tls]` from PGSCOPE_TLS_CERT/KEY; `sslmode=require` upstream) and to PgBouncer
(`client_tls_sslmode` and `server_tls_sslmode = require`). The JSON then records, per target,
the protocol and cipher the client negotiated and those of the backend's connection.

Everything started here (PostgreSQL, pgscope, PgBouncer, pgbench) is stopped and the temp dir
removed on normal exit, on error, on Ctrl-C and on SIGTERM/SIGHUP; the long-running servers also
get a parent-death signal, so even a SIGKILL of this script does not leave them running.
Needs root (PostgreSQL and PgBouncer run as the `postgres` user).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import measure
from measure import Run, write_report
from report import print_table, summarise
from servers import Servers
from workloads import (BATCH_PGSCOPE, WORKLOADS, BenchError, Interrupted, log, proxies,
                       run_script, select, targets)

REPO = Path(__file__).resolve().parents[2]


def default_pg_bin() -> str:
    """PostgreSQL 15's Debian bin dir, else what `pg_config --bindir` says."""
    for candidate in ("/usr/lib/postgresql/15/bin",):
        if Path(candidate, "postgres").exists():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        return subprocess.run([pg_config, "--bindir"], capture_output=True,
                              text=True).stdout.strip()
    return "/usr/lib/postgresql/15/bin"


def build_pgscope() -> Path:
    """`cargo build --release -p pgscope`; returns the binary cargo reports."""
    log("cargo build --release -p pgscope (set --pgscope PATH to skip)")
    done = subprocess.run(
        ["cargo", "build", "--release", "-p", "pgscope",
         "--message-format=json-render-diagnostics"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise BenchError("cargo build --release -p pgscope failed (see above)")
    for line in done.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (message.get("reason") == "compiler-artifact"
                and message.get("target", {}).get("name") == "pgscope"
                and message.get("executable")):
            return Path(message["executable"])
    raise BenchError("cargo did not report a pgscope executable")


def find_pgbouncer() -> Path:
    """The pgbouncer binary, installed with apt-get if missing."""
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if found:
        return Path(found)
    log("pgbouncer not found: apt-get install -y pgbouncer")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", "pgbouncer"], env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "pgbouncer"], env=env, check=True)
    return Path(shutil.which("pgbouncer") or "/usr/sbin/pgbouncer")


def version_of(cmd: list[str]) -> str:
    """First line of a `--version` output."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "unknown"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def machine_info() -> dict:
    """Where the figures come from: CPU, memory, kernel, commit, load."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    return {
        "hostname": platform.node(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "git_commit": commit or None,
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options, validated; adds `workload_list`."""
    parser = argparse.ArgumentParser(
        prog="compare.sh",
        description="pgbench direct vs pgscope vs PgBouncer, interleaved rounds, one cluster.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--duration", type=int, default=10, help="seconds per pgbench run")
    parser.add_argument("--json", type=Path, help="write summary and raw runs here")
    parser.add_argument("--workloads", default=",".join(w.name for w in WORKLOADS),
                        help="comma-separated subset of workloads to run")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i scale factor")
    parser.add_argument("--pgscope", type=Path,
                        help="pgscope binary [default: what `cargo build --release -p pgscope` "
                             "builds]")
    parser.add_argument("--pgscope-threads", type=int,
                        help="pgscope --threads [default: pgscope's own: half the CPUs, rounded up]")
    parser.add_argument("--pg-bin", default=default_pg_bin(), help="PostgreSQL bin directory")
    parser.add_argument("--tls", action="store_true",
                        help="TLS on every hop: clients sslmode=require, pgscope [tls] and "
                             "sslmode=require upstream, PgBouncer client/server_tls_sslmode=require, "
                             "PostgreSQL ssl=on")
    parser.add_argument("--pipeline-timing-pair", action="store_true",
                        help="also run a second pgscope with --pipeline-timing batch (target "
                             f"{BATCH_PGSCOPE}) beside the default (exact), to measure what "
                             "exact's Flushes cost; pair with --workloads pipeline-extended-c8,"
                             "pipeline-prepared-c8")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp dir (logs, data) for inspection")
    opts = parser.parse_args(argv)
    try:
        opts.workload_list = select(opts.workloads)
    except ValueError as err:
        parser.error(str(err))
    if opts.rounds < 1 or opts.duration < 1:
        parser.error("--rounds and --duration must be at least 1")
    return opts


def raise_interrupted(signum: int, _frame) -> None:
    """Signal handler turning SIGTERM/SIGHUP into an exception, so `finally` cleans up."""
    raise Interrupted(signal.Signals(signum).name)


def tls_sessions(bench: Servers, names: tuple[str, ...]) -> dict:
    """Per target, what one psql connection negotiated (`\\conninfo`'s SSL line) and what the
    backend serving it sees (pg_stat_ssl: the proxy's upstream hop, for the proxies)."""
    sessions = {}
    for target in names:
        out = bench.psql(["\\conninfo", "SELECT concat_ws(' ', version, cipher, bits) "
                          "FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
                         port=bench.ports[target]).splitlines()
        client = next((line for line in out if "SSL connection" in line), "no TLS")
        sessions[target] = {"client": client.strip(), "backend": out[-1].strip() or "no TLS"}
    return sessions


def run_rounds(bench: Servers, opts: argparse.Namespace, runs: list[Run]) -> None:
    """The interleaved rounds; appends each run to `runs` as soon as it is done."""
    measure.run_rounds(bench, opts.workload_list, list(targets(opts.pipeline_timing_pair)),
                       opts.rounds, opts.duration, runs)


def main(argv: list[str]) -> int:
    """Set up, run the rounds, clean up, print the table, write the JSON; the exit status."""
    opts = parse_args(argv)
    if os.geteuid() != 0:
        print("compare.sh: run as root (PostgreSQL and PgBouncer are run as user postgres)",
              file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_interrupted)
    pgscope_bin = opts.pgscope or build_pgscope()
    if not pgscope_bin.exists():
        raise BenchError(f"no pgscope binary at {pgscope_bin}")
    pgbouncer_bin = find_pgbouncer()

    started = datetime.datetime.now(datetime.timezone.utc)
    load_at_start = Path("/proc/loadavg").read_text().split()[:3]
    if float(load_at_start[0]) > 0.5 * (os.cpu_count() or 1):
        log(f"warning: load average {load_at_start[0]} before starting: figures will be noisy")
    bench = Servers(opts)
    runs: list[Run] = []
    aborted = None
    sessions = None
    try:
        bench.start_postgres()
        bench.start_pgscope(pgscope_bin)
        if opts.pipeline_timing_pair:
            bench.start_pgscope(pgscope_bin, BATCH_PGSCOPE, ("--pipeline-timing", "batch"))
        bench.start_pgbouncer(pgbouncer_bin)
        log("ports: " + ", ".join(f"{k} {v}" for k, v in bench.ports.items())
            + f"; temp dir {bench.tmp}")
        if opts.tls:
            sessions = tls_sessions(bench, targets(opts.pipeline_timing_pair))
            for target, seen in sessions.items():
                log(f"TLS {target}: client {seen['client']}; backend {seen['backend']}")
        measure.warm_up(bench, WORKLOADS[0], list(targets(opts.pipeline_timing_pair)),
                        opts.duration)
        try:
            run_rounds(bench, opts, runs)
        except BenchError as err:
            # A proxy died mid-way: keep what was measured, report it, fail at the end.
            aborted = str(err)
            log(f"aborted: {err}")
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.close()
        signal.signal(signal.SIGINT, previous)

    run_proxies = proxies(opts.pipeline_timing_pair)
    summaries = [summarise(w, runs, run_proxies) for w in opts.workload_list]
    print()
    print_table(summaries, run_proxies)
    failed = [r for r in runs if not r.ok]
    if failed:
        print(f"\n{len(failed)} run(s) failed:")
        for r in failed:
            print(f"  round {r.round + 1} {r.workload} {r.target}: {r.error}")
    if aborted:
        print(f"\nABORTED after {len(runs)} runs: {aborted}")
    if opts.json:
        report = {
            "started_utc": started.isoformat(timespec="seconds"),
            "command": "bash benches/e2e/compare.sh " + " ".join(argv),
            "rounds": opts.rounds,
            "duration_s": opts.duration,
            "scale": opts.scale,
            "pgscope_threads": opts.pgscope_threads,
            "tls": opts.tls,
            "pipeline_timing_pair": opts.pipeline_timing_pair,
            "client_env": {"PGSSLMODE": "require"} if opts.tls else {},
            "tls_sessions": sessions,
            "loadavg_at_start": load_at_start,
            "aborted": aborted,
            "machine": machine_info(),
            "versions": {
                "postgres": version_of([str(Path(opts.pg_bin) / "postgres"), "--version"]),
                "pgbench": version_of([str(Path(opts.pg_bin) / "pgbench"), "--version"]),
                "pgbouncer": version_of([str(pgbouncer_bin), "--version"]),
                "pgscope": version_of([str(pgscope_bin), "--version"]),
            },
            "summary": summaries,
        }
        write_report(opts.json, report, runs)
    return 1 if failed or aborted else 0


if __name__ == "__main__":
    run_script("compare.sh", main, interrupted=(KeyboardInterrupt, Interrupted))
