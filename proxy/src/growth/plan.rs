//! Plans of flagged queries, without ever running them.
//!
//! The recorder keeps only normalized text (`… where a = $1`), never a client's literals. That
//! text is prepared on the monitor's connection and explained as a *generic* plan
//! (`plan_cache_mode = force_generic_plan`, set on the connection), so the `NULL` arguments of
//! `EXPLAIN EXECUTE` are never folded into the plan: what comes back is the plan the server
//! would use for any value, as PostgreSQL 16's `EXPLAIN (GENERIC_PLAN)` gives, and it works on
//! 12+. `EXPLAIN` without `ANALYZE` does not execute the statement, and the connection is
//! read-only with a short `statement_timeout`.

use pgscope_exporters::growth::{Plan, PlanNode};
use serde_json::Value;

/// The number of distinct placeholders `$n` of a normalized text (its highest `n`).
pub fn placeholders(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut max = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if end > start {
                max = max.max(text[start..end].parse().unwrap_or(0));
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    max
}

/// `EXPLAIN (FORMAT JSON) EXECUTE name(NULL, …)` for a statement with `n` placeholders.
pub fn explain_execute(name: &str, n: usize) -> String {
    let args = vec!["NULL"; n].join(", ");
    if n == 0 {
        format!("EXPLAIN (FORMAT JSON) EXECUTE {name}")
    } else {
        format!("EXPLAIN (FORMAT JSON) EXECUTE {name}({args})")
    }
}

/// The unqualified, unquoted last part of a table name (`public."Orders"` → `Orders`).
fn bare(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name).trim_matches('"')
}

/// Whether a plan node on the table is a bounded index probe: an Index Scan or Index Only Scan
/// that discards nothing it reads (no `Filter`) and either sits under a `Limit` or looks its
/// rows up by equality.
fn bounded(node: &PlanNode) -> bool {
    let index = matches!(node.node_type.as_str(), "Index Scan" | "Index Only Scan");
    let equality = node
        .index_cond
        .as_deref()
        .is_some_and(|c| c.contains(" = "));
    index && !node.filtered && (node.under_limit || equality)
}

/// Summarizes the plan (the `Plan` object of EXPLAIN's JSON) for `table`: the nodes that read
/// it, whether one is a sequential scan, whether all are bounded index probes, and the root's
/// cost.
pub fn summarize(plan: &Value, table: &str) -> Plan {
    let mut nodes = Vec::new();
    let want = bare(table);
    let mut stack = vec![(plan, false)];
    while let Some((node, under_limit)) = stack.pop() {
        let text = |key: &str| node.get(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key: &str| node.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        if let Some(relation) = text("Relation Name") {
            if relation.eq_ignore_ascii_case(want) {
                nodes.push(PlanNode {
                    node_type: text("Node Type").unwrap_or_default(),
                    relation,
                    index: text("Index Name"),
                    filter: text("Filter").or_else(|| text("Index Cond")),
                    index_cond: text("Index Cond"),
                    filtered: text("Filter").is_some(),
                    under_limit,
                    estimated_rows: number("Plan Rows"),
                });
            }
        }
        let limit = under_limit || text("Node Type").as_deref() == Some("Limit");
        if let Some(children) = node.get("Plans").and_then(Value::as_array) {
            stack.extend(children.iter().rev().map(|c| (c, limit)));
        }
    }
    Plan {
        seq_scan: nodes.iter().any(|n| n.node_type.contains("Seq Scan")),
        bounded_index: !nodes.is_empty() && nodes.iter().all(bounded),
        total_cost: plan
            .get("Total Cost")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        nodes,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_counts_the_highest_parameter() {
        assert_eq!(placeholders("select 1"), 0);
        assert_eq!(
            placeholders("select * from t where a = $1 and b in ($3 /*, ... */)"),
            3
        );
        assert_eq!(placeholders("select $$x$$, $12"), 12);
    }

    #[test]
    fn explain_passes_one_null_per_placeholder() {
        assert_eq!(explain_execute("p", 0), "EXPLAIN (FORMAT JSON) EXECUTE p");
        assert_eq!(
            explain_execute("p", 2),
            "EXPLAIN (FORMAT JSON) EXECUTE p(NULL, NULL)"
        );
    }

    #[test]
    fn summary_finds_the_scan_on_the_table_under_other_nodes() {
        let plan = json!({
            "Node Type": "Aggregate", "Total Cost": 180.5, "Plan Rows": 1,
            "Plans": [{
                "Node Type": "Seq Scan", "Relation Name": "events", "Plan Rows": 50,
                "Total Cost": 179.0, "Filter": "(kind = $1)"
            }, {
                "Node Type": "Index Scan", "Relation Name": "users", "Index Name": "users_pkey",
                "Plan Rows": 1, "Total Cost": 8.3, "Index Cond": "(id = $2)"
            }]
        });
        let summary = summarize(&plan, "public.events");
        assert!(summary.seq_scan);
        assert_eq!(summary.total_cost, 180.5);
        assert_eq!(summary.nodes.len(), 1);
        assert_eq!(summary.nodes[0].filter.as_deref(), Some("(kind = $1)"));
        let users = summarize(&plan, "users");
        assert!(!users.seq_scan);
        assert_eq!(users.nodes[0].index.as_deref(), Some("users_pkey"));
    }

    #[test]
    fn primary_key_and_limited_index_probes_are_bounded_but_filtered_or_range_ones_are_not() {
        let probe = |node: Value| summarize(&node, "t").bounded_index;
        assert!(probe(json!({
            "Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_pkey",
            "Index Cond": "(id = $1)", "Plan Rows": 1
        })));
        assert!(probe(json!({
            "Node Type": "Index Only Scan", "Relation Name": "t", "Index Name": "t_k",
            "Index Cond": "(k = $1)", "Plan Rows": 1
        })));
        assert!(probe(json!({
            "Node Type": "Limit", "Plans": [{
                "Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_at",
                "Index Cond": "(at > $1)", "Plan Rows": 1000
            }]
        })));
        // A range without a limit reads more as the table grows.
        assert!(!probe(json!({
            "Node Type": "Index Scan", "Relation Name": "t", "Index Cond": "(at > $1)"
        })));
        // An equality probe that filters what it reads scans a growing run of entries.
        assert!(!probe(json!({
            "Node Type": "Index Scan", "Relation Name": "t", "Index Cond": "(status = $1)",
            "Filter": "(note = $2)"
        })));
        assert!(!probe(
            json!({"Node Type": "Seq Scan", "Relation Name": "t"})
        ));
        assert!(!probe(json!({"Node Type": "Result"})));
    }
}
