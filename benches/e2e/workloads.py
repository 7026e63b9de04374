"""The shared vocabulary of the e2e benchmark: targets, workloads, errors, logging."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, NoReturn

TARGETS = ("direct", "pgscope", "pgbouncer")
PROXIES = ("pgscope", "pgbouncer")
# With --pipeline-timing-pair: a second pgscope with `--pipeline-timing batch` beside the first
# (default `exact`), so the cost of the Flushes `exact` adds is measured in the same run.
BATCH_PGSCOPE = "pgscope-batch"


def targets(pipeline_timing_pair: bool) -> tuple[str, ...]:
    """The targets of a run: TARGETS, plus BATCH_PGSCOPE with --pipeline-timing-pair."""
    return TARGETS + ((BATCH_PGSCOPE,) if pipeline_timing_pair else ())


def proxies(pipeline_timing_pair: bool) -> tuple[str, ...]:
    """The proxies of a run: PROXIES, plus BATCH_PGSCOPE with --pipeline-timing-pair."""
    return PROXIES + ((BATCH_PGSCOPE,) if pipeline_timing_pair else ())


@dataclass(frozen=True)
class Workload:
    """One pgbench configuration, run against every target."""

    name: str
    description: str
    args: tuple[str, ...]
    statements_per_txn: int
    latency_probe: bool = False
    tpcb: bool = False
    # A pgbench script (run with `-f`, written to the temp dir) instead of a built-in one.
    script: str | None = None


WORKLOADS = (
    Workload("select-simple-c8", "select-only, simple protocol, 8 clients",
             ("-S", "-M", "simple", "-c", "8", "-j", "2"), 1),
    Workload("select-prepared-c8", "select-only, prepared, 8 clients",
             ("-S", "-M", "prepared", "-c", "8", "-j", "2"), 1),
    Workload("select-extended-c64", "select-only, extended protocol, 64 clients",
             ("-S", "-M", "extended", "-c", "64", "-j", "2"), 1),
    Workload("tpcb-prepared-c8", "TPC-B-like, prepared, 8 clients",
             ("-M", "prepared", "-c", "8", "-j", "2"), 7, tpcb=True),
    Workload("select-churn-c8",
             "select-only, simple, new connection per transaction (-C), 8 clients",
             ("-S", "-M", "simple", "-C", "-c", "8", "-j", "2"), 1),
    Workload("select-prepared-c1", "select-only, prepared, 1 client (added latency probe)",
             ("-S", "-M", "prepared", "-c", "1", "-j", "1"), 1, latency_probe=True),
)


# Ten point SELECTs in one pipeline (`\\startpipeline` … `\\endpipeline`: one Sync for the
# ten), the shape pipeline_timing is about; not in the default run, name them with --workloads.
PIPELINE_SCRIPT = (
    "".join(f"\\set aid{i} random(1, 100000)\n" for i in range(10))
    + "\\startpipeline\n"
    + "".join(f"SELECT abalance FROM pgbench_accounts WHERE aid = :aid{i};\n"
              for i in range(10))
    + "\\endpipeline\n"
)

PIPELINE_WORKLOADS = (
    Workload("pipeline-extended-c8", "10 SELECTs per pipeline, extended protocol, 8 clients",
             ("-M", "extended", "-c", "8", "-j", "2"), 10, script=PIPELINE_SCRIPT),
    Workload("pipeline-prepared-c8", "10 SELECTs per pipeline, prepared, 8 clients",
             ("-M", "prepared", "-c", "8", "-j", "2"), 10, script=PIPELINE_SCRIPT),
)


def select(names: str) -> list[Workload]:
    """The workloads named in the comma-separated `names`, in WORKLOADS then
    PIPELINE_WORKLOADS order; ValueError naming the unknown ones (or saying none was given)."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    every = WORKLOADS + PIPELINE_WORKLOADS
    known = {w.name for w in every}
    unknown = [n for n in chosen if n not in known]
    if unknown or not chosen:
        raise ValueError(f"unknown workload(s) {unknown}; choose from {sorted(known)}")
    return [w for w in every if w.name in chosen]


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: unwind so that cleanup runs."""


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


def run_script(name: str, main: Callable[[list[str]], int],
               interrupted: tuple[type[BaseException], ...] = ()) -> NoReturn:
    """Runs `main` on the command line's arguments and exits with what it returns: a
    `BenchError` is one line on stderr and status 1; one of `interrupted` (Ctrl-C, a signal
    turned into an exception) a line saying so and status 130."""
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as err:
        print(f"{name}: {err}", file=sys.stderr)
        sys.exit(1)
    except interrupted as err:
        print(f"{name}: interrupted ({err or 'SIGINT'}); cleaned up", file=sys.stderr)
        sys.exit(130)


def log(message: str) -> None:
    """A timestamped progress line on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
