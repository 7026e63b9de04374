#!/usr/bin/env python3
"""Memory per idle client connection: pgscope vs PgBouncer (session mode), one cluster.

    python3 benches/e2e/memory.py [--pgscope BINARY] [--clients 50,150,300] [--json FILE]

Issue 25's target: pgscope's memory per idle client connection at most 4x PgBouncer's. What an
"idle client" is here is what a service's connection pool holds between requests: a client that
logged in, ran one query (`SELECT 1`, so PgBouncer in session mode has linked a server
connection to it, as pgscope always has) and now sits idle with its connection open.

For each proxy in turn (never both at once, so the cluster's max_connections is the only
limit), the script opens the connections in steps up to each count of `--clients` and reads the
proxy process's resident memory (VmRSS and, where the kernel has it, RssAnon, from
/proc/PID/status) after each step, once the proxy has answered every client. Memory per idle
client is the least-squares slope of RSS over the number of clients: the proxy's fixed memory
(binary, runtime, allocator arenas, the recorder) drops out, and so does one step's noise.
The clients are raw sockets speaking the v3 startup and one simple Query (python3 stdlib only),
so the client side costs the proxies nothing beyond the connection itself.

Everything it starts is stopped and its temp dir removed on exit, on error and on Ctrl-C.
Needs root (PostgreSQL and PgBouncer run as the `postgres` user).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from compare import build_pgscope, default_pg_bin, find_pgbouncer
from servers import PGBOUNCER_STOP, Servers, free_port
from workloads import BenchError, Interrupted, log, run_script


def startup_packet(user: str, database: str) -> bytes:
    """A protocol 3.0 StartupMessage."""
    body = struct.pack("!I", 196608)
    for key, value in (("user", user), ("database", database)):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def read_until_ready(sock: socket.socket) -> None:
    """Reads backend messages until ReadyForQuery; an ErrorResponse is a BenchError."""
    buf = b""
    while True:
        while len(buf) < 5:
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchError("the proxy closed a client connection")
            buf += chunk
        tag, length = buf[0:1], struct.unpack("!I", buf[1:5])[0]
        while len(buf) < 1 + length:
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchError("the proxy closed a client connection")
            buf += chunk
        body, buf = buf[5:1 + length], buf[1 + length:]
        if tag == b"E":
            raise BenchError(f"error from the proxy: {body!r}")
        if tag == b"R" and struct.unpack("!I", body[:4])[0] != 0:
            raise BenchError("the proxy asked for a password (expected trust)")
        if tag == b"Z":
            return


def idle_client(port: int) -> socket.socket:
    """A client that logged in, ran `SELECT 1` and is now idle."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(startup_packet("postgres", "bench"))
    read_until_ready(sock)
    query = b"SELECT 1\0"
    sock.sendall(b"Q" + struct.pack("!I", len(query) + 4) + query)
    read_until_ready(sock)
    return sock


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and RssAnon (KiB) of a process."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            out[key] = int(value.split()[0])
    return out


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def measure_proxy(pid: int, port: int, steps: list[int]) -> dict:
    """Opens idle clients up to each step, reads the proxy's memory after each; closes them."""
    clients: list[socket.socket] = []
    rows = []
    try:
        time.sleep(0.5)
        rows.append({"clients": 0, **memory_kib(pid)})
        for step in steps:
            while len(clients) < step:
                clients.append(idle_client(port))
            time.sleep(0.5)  # let the proxy settle (buffers shrink, tasks park)
            rows.append({"clients": step, **memory_kib(pid)})
            log(f"  {step} idle clients: {rows[-1]}")
    finally:
        for sock in clients:
            sock.close()
    # The slope starts at the first step, not at 0 clients: the first connections also touch
    # memory that does not grow with clients (code pages of the connection path, each worker
    # thread's allocator heap, the recorder's first entry), which a point at 0 would spread
    # over the per-client figure.
    measured = rows[1:]
    per_client = {key: slope([(r["clients"], r[key]) for r in measured])
                  for key in ("VmRSS", "RssAnon") if key in rows[0]}
    return {"rows": rows, "kib_per_client": per_client}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="memory.py", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pgscope", type=Path, help="pgscope binary [default: release build]")
    parser.add_argument("--clients", default="50,150,300", help="steps of idle clients")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--pg-bin", default=default_pg_bin(), help="PostgreSQL bin directory")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    opts = parser.parse_args(argv)
    opts.steps = sorted({int(c) for c in opts.clients.split(",")})
    if len(opts.steps) < 2 or opts.steps[0] < 1:
        parser.error("--clients: two or more positive counts, comma-separated")
    # What Servers reads: a small cluster, pgscope's own thread count, no TLS.
    opts.scale, opts.pgscope_threads, opts.tls = 1, None, False
    opts.max_connections = opts.steps[-1] + 20
    return opts


def raise_interrupted(signum: int, _frame) -> None:
    """SIGTERM/SIGHUP become an exception, so `finally` cleans up."""
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    """Set up, measure pgscope then PgBouncer, clean up, print; the exit status."""
    opts = parse_args(argv)
    if os.geteuid() != 0:
        print("memory.py: run as root", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_interrupted)
    pgscope_bin = opts.pgscope or build_pgscope()
    pgbouncer_bin = find_pgbouncer()
    bench = Servers(opts)
    results = {}
    try:
        bench.start_postgres()
        bench.start_pgscope(pgscope_bin)
        log("pgscope:")
        results["pgscope"] = measure_proxy(bench.proxy("pgscope").proc.pid,
                                           bench.ports["pgscope"], opts.steps)
        bench.proxy("pgscope").stop(grace=15.0)
        time.sleep(1.0)  # the cluster's backends for pgscope's clients exit
        port = bench.ports["pgbouncer"] = free_port()
        ini_cmd = bench.pgbouncer_command(pgbouncer_bin, port)
        ini = Path(ini_cmd[1])
        text = ini.read_text()
        text = text.replace("max_client_conn = 200", f"max_client_conn = {opts.steps[-1] + 10}")
        text = text.replace("default_pool_size = 100",
                            f"default_pool_size = {opts.steps[-1] + 10}")
        ini.write_text(text)
        pgbouncer = bench.spawn("pgbouncer", ini_cmd, PGBOUNCER_STOP, as_postgres=True)
        bench.wait_ready(pgbouncer, port)
        log("PgBouncer (session mode):")
        results["pgbouncer"] = measure_proxy(pgbouncer.proc.pid, port, opts.steps)
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.close()
        signal.signal(signal.SIGINT, previous)
    print("| proxy | KiB per idle client (VmRSS slope) | KiB per idle client (RssAnon slope) |")
    print("|---|--:|--:|")
    for name, result in results.items():
        per = result["kib_per_client"]
        print(f"| {name} | {per.get('VmRSS', float('nan')):.1f} | "
              f"{per.get('RssAnon', float('nan')):.1f} |")
    ratio = (results["pgscope"]["kib_per_client"]["VmRSS"]
             / results["pgbouncer"]["kib_per_client"]["VmRSS"])
    print(f"pgscope / PgBouncer (VmRSS slope): {ratio:.2f}x (target <= 4x)")
    if opts.json:
        opts.json.write_text(json.dumps({"steps": opts.steps, "results": results,
                                         "ratio_vmrss": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    run_script("memory.py", main, (KeyboardInterrupt, Interrupted))
