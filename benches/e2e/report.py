"""From raw runs to the figures: ratios, CPU per 100k queries, added latency; the table."""

from __future__ import annotations

import statistics

from measure import Run
from workloads import PROXIES, TARGETS, Workload


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(workload: Workload, runs: list[Run]) -> dict:
    mine = [r for r in runs if r.workload == workload.name and r.ok]
    by = {t: {r.round: r for r in mine if r.target == t} for t in TARGETS}
    direct = by["direct"]
    pick = min if workload.latency_probe else median
    summary: dict = {
        "workload": workload.name,
        "description": workload.description,
        "pgbench_args": " ".join(workload.args),
        "statements_per_transaction": workload.statements_per_txn,
        "latency_statistic": "min over rounds" if workload.latency_probe else "median over rounds",
        "direct": {
            "tps_median": median([r.tps for r in direct.values()]),
            "latency_ms": pick([r.latency_ms for r in direct.values()]) if direct else None,
            "runs_ok": len(direct),
        },
    }
    for proxy in PROXIES:
        own = by[proxy]
        ratios = [own[n].tps / direct[n].tps for n in own if n in direct and direct[n].tps]
        cpu = [r.cpu_s_per_100k for r in own.values() if r.cpu_s_per_100k is not None]
        latency = pick([r.latency_ms for r in own.values()]) if own else None
        added = None
        if latency is not None and summary["direct"]["latency_ms"] is not None:
            added = ((latency - summary["direct"]["latency_ms"]) * 1000
                     / workload.statements_per_txn)
        summary[proxy] = {
            "tps_median": median([r.tps for r in own.values()]),
            "tps_ratio_median": median(ratios),
            "cpu_s_per_100k_queries": median(cpu),
            "latency_ms": latency,
            "added_latency_us_per_round_trip": added,
            "runs_ok": len(own),
        }
    return summary


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(summaries: list[dict]) -> None:
    head = (f"{'workload':<21}{'direct TPS':>11} | {'pgscope':^27} | {'pgbouncer':^27}\n"
            f"{'':<21}{'':>11} | {'TPS ratio':>9}{'CPU/100k':>9}{'+us/rt':>9} |"
            f" {'TPS ratio':>9}{'CPU/100k':>9}{'+us/rt':>9}")
    print(head)
    print("-" * len(head.splitlines()[1]))
    for s in summaries:
        cells = []
        for proxy in PROXIES:
            p = s[proxy]
            cells.append(f"{fmt(p['tps_ratio_median'], '.3f'):>9}"
                         f"{fmt(p['cpu_s_per_100k_queries'], '.2f'):>9}"
                         f"{fmt(p['added_latency_us_per_round_trip'], '.1f'):>9}")
        print(f"{s['workload']:<21}{fmt(s['direct']['tps_median'], '.0f'):>11} | "
              + " | ".join(cells))
    print("TPS ratio: median over rounds of proxy/direct. CPU/100k: the proxy's CPU-seconds per "
          "100k queries (median).\n+us/rt: added microseconds per round trip vs direct (latency "
          "probe c1: min over rounds; others: medians, mostly queueing).")
