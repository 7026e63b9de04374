"""From raw runs to the figures: ratios, CPU per 100k queries, added latency; the table."""

from __future__ import annotations

import statistics

from measure import Run
from workloads import PROXIES, TARGETS, Workload


def median(values: list[float]) -> float | None:
    """The median, or None when there are no values (every run failed)."""
    return statistics.median(values) if values else None


def per_query(runs: list[Run], attribute: str, scale: float) -> float | None:
    """Median over runs of `attribute` / queries x `scale`."""
    return median([getattr(r, attribute) / r.queries * scale for r in runs
                   if getattr(r, attribute) is not None and r.queries])


def summarise(workload: Workload, runs: list[Run],
              proxies: tuple[str, ...] = PROXIES) -> dict:
    """The figures of one workload: direct's TPS and latency, and for each proxy its TPS ratio,
    CPU per 100k queries (also split user/system), context switches per query and added
    latency per round trip."""
    mine = [r for r in runs if r.workload == workload.name and r.ok]
    by = {t: {r.round: r for r in mine if r.target == t} for t in ("direct", *proxies)}
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
    for proxy in proxies:
        own = by[proxy]
        ratios = [own[n].tps / direct[n].tps for n in own if n in direct and direct[n].tps]
        latency = pick([r.latency_ms for r in own.values()]) if own else None
        added = None
        if latency is not None and summary["direct"]["latency_ms"] is not None:
            added = ((latency - summary["direct"]["latency_ms"]) * 1000
                     / workload.statements_per_txn)
        summary[proxy] = {
            "tps_median": median([r.tps for r in own.values()]),
            "tps_ratio_median": median(ratios),
            "cpu_s_per_100k_queries": per_query(list(own.values()), "proxy_cpu_s", 1e5),
            "user_s_per_100k_queries": per_query(list(own.values()), "proxy_user_s", 1e5),
            "system_s_per_100k_queries": per_query(list(own.values()), "proxy_sys_s", 1e5),
            "context_switches_per_query": per_query(list(own.values()),
                                                    "proxy_context_switches", 1),
            "latency_ms": latency,
            "added_latency_us_per_round_trip": added,
            "runs_ok": len(own),
        }
    return summary


def fmt(value: float | None, spec: str) -> str:
    """`value` formatted, or "-" when missing."""
    return "-" if value is None else format(value, spec)


def print_table(summaries: list[dict], proxies: tuple[str, ...] = PROXIES) -> None:
    """The summary as a fixed-width table on stdout, one column group per proxy."""
    head = (f"{'workload':<21}{'direct TPS':>11} | "
            + " | ".join(f"{p:^27}" for p in proxies) + "\n"
            + f"{'':<21}{'':>11} | "
            + " | ".join(f"{'TPS ratio':>9}{'CPU/100k':>9}{'+us/rt':>9}" for _ in proxies))
    print(head)
    print("-" * len(head.splitlines()[1]))
    for s in summaries:
        cells = []
        for proxy in proxies:
            p = s[proxy]
            cells.append(f"{fmt(p['tps_ratio_median'], '.3f'):>9}"
                         f"{fmt(p['cpu_s_per_100k_queries'], '.2f'):>9}"
                         f"{fmt(p['added_latency_us_per_round_trip'], '.1f'):>9}")
        print(f"{s['workload']:<21}{fmt(s['direct']['tps_median'], '.0f'):>11} | "
              + " | ".join(cells))
    print("TPS ratio: median over rounds of proxy/direct. CPU/100k: the proxy's CPU-seconds per "
          "100k queries (median).\n+us/rt: added microseconds per round trip vs direct (latency "
          "probe c1: min over rounds; others: medians, mostly queueing).")
