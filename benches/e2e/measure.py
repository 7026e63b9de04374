"""One pgbench run against one target, and what it costs the proxy."""

from __future__ import annotations

import os
import re
import subprocess
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from servers import Servers
from workloads import BenchError, Workload, log

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    """A process's cumulative CPU time and context switches (all its threads) at one moment,
    and the CPU time of its live threads by thread name (threads of one name summed)."""

    user_ticks: int
    sys_ticks: int
    context_switches: int
    thread_ticks: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def of(pid: int) -> ProcSample:
        user, system = _cpu_ticks(Path(f"/proc/{pid}/stat").read_text())
        switches = 0
        threads: dict[str, int] = {}
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                status = (task / "status").read_text()
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            # voluntary_ctxt_switches and nonvoluntary_ctxt_switches
            switches += sum(int(line.split()[1]) for line in status.splitlines()
                            if line.split(":")[0].endswith("ctxt_switches"))
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            threads[name] = threads.get(name, 0) + sum(_cpu_ticks(stat))
        return ProcSample(user, system, switches, threads)


def _cpu_ticks(stat: str) -> tuple[int, int]:
    """utime and stime of a /proc stat line."""
    # After "pid (comm) " comes field 3 (state): utime is field 14, stime field 15.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])


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
    proxy_user_s: float | None = None
    proxy_sys_s: float | None = None
    proxy_context_switches: int | None = None
    proxy_thread_cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_s_per_100k: float | None = None
    machine_busy: float | None = None
    error: str | None = None
    command: list[str] = field(default_factory=list)

    def add_proxy_cost(self, before: ProcSample, after: ProcSample) -> None:
        self.proxy_user_s = (after.user_ticks - before.user_ticks) / CLK_TCK
        self.proxy_sys_s = (after.sys_ticks - before.sys_ticks) / CLK_TCK
        self.proxy_cpu_s = self.proxy_user_s + self.proxy_sys_s
        self.proxy_context_switches = after.context_switches - before.context_switches
        self.proxy_thread_cpu_s = {
            name: round((ticks - before.thread_ticks.get(name, 0)) / CLK_TCK, 2)
            for name, ticks in sorted(after.thread_ticks.items())
            if ticks > before.thread_ticks.get(name, 0)
        }

    def parse_pgbench(self, stdout: str) -> None:
        for key, pattern in PATTERNS.items():
            match = pattern.search(stdout)
            if match:
                number = float if key in ("tps", "latency_ms") else int
                setattr(self, key, number(match.group(1)))


PATTERNS = {
    "tps": re.compile(r"^tps = ([0-9.]+)", re.M),
    "latency_ms": re.compile(r"^latency average = ([0-9.]+) ms", re.M),
    "transactions": re.compile(r"^number of transactions actually processed: (\d+)", re.M),
    "failed_transactions": re.compile(r"^number of failed transactions: (\d+)", re.M),
}


def run_pgbench(bench: Servers, workload: Workload, target: str, rnd: int, position: int,
                duration: int) -> Run:
    """Runs `workload` against `target` for `duration` seconds and measures it.

    A failed pgbench is a failed run (`ok` false, `error` set); a proxy that is not running
    before or after is a BenchError, since every later run through it would fail too.
    """
    run = Run(rnd, workload.name, target, position)
    script = []
    if workload.script is not None:
        path = bench.tmp / f"{workload.name}.pgbench"
        path.write_text(workload.script)
        script = ["-f", str(path)]
    run.command = [str(bench.bin / "pgbench"), "-n", "-T", str(duration), *workload.args,
                   *script,
                   "-h", "127.0.0.1", "-p", str(bench.ports[target]), "-U", "postgres", "bench"]
    if workload.tpcb:
        bench.psql(["VACUUM pgbench_branches, pgbench_tellers", "TRUNCATE pgbench_history"])
    proxy = bench.proxy(target)
    if proxy is not None and not proxy.alive():
        raise BenchError(f"{target} is no longer running (status {proxy.proc.returncode}):\n"
                         f"{proxy.log_tail()}")
    before = ProcSample.of(proxy.proc.pid) if proxy else None
    busy_before, total_before = machine_ticks()
    done = subprocess.run(run.command, capture_output=True, text=True, timeout=duration + 300)
    busy_after, total_after = machine_ticks()
    if proxy is not None and before is not None:
        if not proxy.alive():
            raise BenchError(f"{target} died during {workload.name}:\n{proxy.log_tail()}")
        run.add_proxy_cost(before, ProcSample.of(proxy.proc.pid))
    if total_after > total_before:
        run.machine_busy = round((busy_after - busy_before) / (total_after - total_before), 3)
    run.parse_pgbench(done.stdout)
    if done.returncode != 0 or run.tps is None or not run.transactions:
        run.error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return run
    run.ok = True
    run.queries = run.transactions * workload.statements_per_txn
    if run.proxy_cpu_s is not None:
        run.cpu_s_per_100k = run.proxy_cpu_s / run.queries * 100_000
    return run


def warm_up(bench: Servers, workload: Workload, targets: list[str], duration: int) -> None:
    """One short run through each target: caches, and proof that each serves pgbench at all."""
    for target in targets:
        warm = run_pgbench(bench, workload, target, -1, 0, min(duration, 3))
        if not warm.ok:
            raise BenchError(f"warm-up through {target} failed: {warm.error}")


def run_rounds(bench: Servers, workloads: list[Workload], targets: list[str], rounds: int,
               duration: int, runs: list[Run]) -> None:
    """Interleaved rounds: in round r every workload runs against every target back to back,
    in an order that rotates with the round and the workload, so slow drift of the machine
    hits all targets alike. Appends each run to `runs` as soon as it is done, and logs it."""
    total = rounds * len(workloads) * len(targets)
    log(f"{total} runs of {duration}s: about {total * (duration + 1) / 60:.0f} min")
    width = max(len(t) for t in targets)
    for rnd in range(rounds):
        for index, workload in enumerate(workloads):
            shift = (rnd + index) % len(targets)
            for position, target in enumerate(targets[shift:] + targets[:shift]):
                run = run_pgbench(bench, workload, target, rnd, position, duration)
                runs.append(run)
                state = (f"tps {run.tps:.0f} lat {run.latency_ms:.3f} ms"
                         if run.ok else f"FAILED: {run.error}")
                cpu = (f" cpu {run.proxy_cpu_s:.2f}s ({run.cpu_s_per_100k:.2f}/100k)"
                       if run.cpu_s_per_100k is not None else "")
                busy = f" machine {run.machine_busy:.0%} busy" if run.machine_busy else ""
                log(f"round {rnd + 1}/{rounds} {workload.name:<20} {target:<{width}} "
                    f"{state}{cpu}{busy}")


def write_report(path: Path, report: dict, runs: list[Run]) -> None:
    """`report` with every run appended under `"runs"`, as indented JSON at `path`."""
    path.write_text(json.dumps({**report, "runs": [asdict(r) for r in runs]}, indent=2) + "\n")
    log(f"wrote {path}")
