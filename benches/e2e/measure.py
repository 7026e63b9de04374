"""One pgbench run against one target, and what it costs the proxy."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from servers import Servers
from workloads import BenchError, Workload

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a whole process (all its threads), in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    # After "pid (comm) ", field 3 (state) is fields[0]; utime is field 14, stime field 15.
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


@dataclass
class Run:
    """One pgbench run against one target."""

    round: int
    workload: str
    target: str
    position: int
    ok: bool = False
    tps: float | None = None
    latency_ms: float | None = None
    transactions: int | None = None
    failed_transactions: int | None = None
    queries: int | None = None
    proxy_cpu_s: float | None = None
    cpu_s_per_100k: float | None = None
    machine_busy: float | None = None
    error: str | None = None
    command: list[str] = field(default_factory=list)


PATTERNS = {
    "tps": re.compile(r"^tps = ([0-9.]+)", re.M),
    "latency_ms": re.compile(r"^latency average = ([0-9.]+) ms", re.M),
    "transactions": re.compile(r"^number of transactions actually processed: (\d+)", re.M),
    "failed_transactions": re.compile(r"^number of failed transactions: (\d+)", re.M),
}


def run_pgbench(bench: Servers, workload: Workload, target: str, rnd: int, position: int,
                duration: int) -> Run:
    run = Run(rnd, workload.name, target, position)
    port = bench.ports[target]
    run.command = [str(bench.bin / "pgbench"), "-n", "-T", str(duration),
                   *workload.args, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench"]
    if workload.tpcb:
        bench.psql(["VACUUM pgbench_branches, pgbench_tellers", "TRUNCATE pgbench_history"])
    managed = bench.proxy(target)
    if managed is not None and not managed.alive():
        raise BenchError(f"{target} is no longer running (status {managed.proc.returncode}):\n"
                         f"{managed.log_tail()}")
    cpu_before = cpu_ticks(managed.proc.pid) if managed else None
    busy_before, total_before = machine_ticks()
    done = subprocess.run(run.command, capture_output=True, text=True,
                          timeout=duration + 300)
    busy_after, total_after = machine_ticks()
    if managed is not None:
        if not managed.alive():
            raise BenchError(f"{target} died during {workload.name}:\n{managed.log_tail()}")
        run.proxy_cpu_s = (cpu_ticks(managed.proc.pid) - cpu_before) / CLK_TCK
    if total_after > total_before:
        run.machine_busy = round((busy_after - busy_before) / (total_after - total_before), 3)
    for key, pattern in PATTERNS.items():
        match = pattern.search(done.stdout)
        if match:
            setattr(run, key, (float if key in ("tps", "latency_ms") else int)(match.group(1)))
    if done.returncode != 0 or run.tps is None or not run.transactions:
        run.error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return run
    run.ok = True
    run.queries = run.transactions * workload.statements_per_txn
    if run.proxy_cpu_s is not None:
        run.cpu_s_per_100k = run.proxy_cpu_s / run.queries * 100_000
    return run
