//! The slow path: parse one statement with sqlparser (PostgreSQL dialect, bounded recursion)
//! and walk the AST for the tables it names and the nested queries between them.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CopySource, Expr, ObjectName, ObjectType, Query, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::operation::Operation;
use crate::shape::{display_ident, Shape};

/// sqlparser's recursion limit: deeper input is a parse error (and takes the token path)
/// instead of a stack overflow.
pub(crate) const RECURSION_LIMIT: usize = 48;

/// Parses `sql` (one statement) and collects its shape; `None` when sqlparser cannot parse it.
pub(crate) fn shape(sql: &str, operation: Operation) -> Option<Shape> {
    let dialect = PostgreSqlDialect {};
    let statements = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .ok()?
        .parse_statements()
        .ok()?;
    let mut collector = Collector {
        shape: Shape::new(operation),
        ctes: Vec::new(),
        frames: Vec::new(),
        mark_next_query: false,
        skip_next_relation: false,
        statement_depth: 0,
    };
    for statement in &statements {
        let _ = statement.visit(&mut collector);
    }
    Some(collector.shape)
}

/// Formats an object name (`schema.table`), or `None` if a part is not a plain identifier.
fn object_name(name: &ObjectName) -> Option<String> {
    let mut out = String::new();
    for part in &name.0 {
        let ident = part.as_ident()?;
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&display_ident(&ident.value, ident.quote_style.is_some()));
    }
    Some(out)
}

struct Collector {
    shape: Shape,
    /// Names of common table expressions seen so far (references to them are not tables).
    ctes: Vec<String>,
    /// One entry per query being visited: the token of its `SELECT` segment, if it opened one.
    frames: Vec<Option<(usize, usize)>>,
    /// The next query visited is an expression subquery (`IN (SELECT …)`, `EXISTS`, scalar).
    mark_next_query: bool,
    /// The next relation visited is a table function (`FROM generate_series(…)`), not a table.
    skip_next_relation: bool,
    /// Nesting of statements (`EXPLAIN` wraps one).
    statement_depth: usize,
}

impl Collector {
    fn add(&mut self, name: &ObjectName) {
        let Some(text) = object_name(name) else {
            return;
        };
        if name.0.len() == 1 && self.ctes.contains(&text) {
            return;
        }
        self.shape.table(text);
    }
}

impl Visitor for Collector {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        self.statement_depth += 1;
        match statement {
            // The query of `INSERT … SELECT`, `CREATE TABLE … AS`, `COPY (…) TO` is a segment.
            Statement::Insert(_) | Statement::CreateTable(_) | Statement::CreateView(_) => {
                self.mark_next_query = true;
            }
            Statement::Copy { source, .. } => match source {
                CopySource::Table { table_name, .. } => self.add(table_name),
                CopySource::Query(_) => self.mark_next_query = true,
            },
            Statement::Drop {
                object_type: ObjectType::Table | ObjectType::View | ObjectType::MaterializedView,
                names,
                ..
            } => {
                for name in names {
                    self.add(name);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _statement: &Statement) -> ControlFlow<()> {
        self.statement_depth = self.statement_depth.saturating_sub(1);
        self.mark_next_query = false;
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name =
                    display_ident(&cte.alias.name.value, cte.alias.name.quote_style.is_some());
                self.ctes.push(name);
            }
        }
        let frame = std::mem::take(&mut self.mark_next_query).then(|| self.shape.begin_select());
        self.frames.push(frame);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        if let Some(Some(token)) = self.frames.pop() {
            self.shape.end_select(token);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if matches!(
            expr,
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
        ) {
            self.mark_next_query = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { args: Some(_), .. } = factor {
            self.skip_next_relation = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if std::mem::take(&mut self.skip_next_relation) {
            return ControlFlow::Continue(());
        }
        self.add(relation);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::detect;

    fn summarize(sql: &str) -> (Vec<String>, String) {
        let shape = shape(sql, detect(sql)).expect("parses");
        let summary = shape.summary();
        (shape.tables, summary)
    }

    #[test]
    fn join_lists_both_tables() {
        let (tables, summary) = summarize(
            "SELECT u.id, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = 1",
        );
        assert_eq!(tables, vec!["users", "orders"]);
        assert_eq!(summary, "SELECT users orders");
    }

    #[test]
    fn insert_select_names_the_source_segment() {
        let (tables, summary) =
            summarize("INSERT INTO shipping_details (id, time) SELECT id, time FROM orders");
        assert_eq!(tables, vec!["shipping_details", "orders"]);
        assert_eq!(summary, "INSERT shipping_details SELECT orders");
    }

    #[test]
    fn insert_values_has_no_select_segment() {
        assert_eq!(summarize("insert into t (a) values (1)").1, "INSERT t");
    }

    #[test]
    fn cte_names_are_not_tables() {
        let (tables, summary) = summarize(
            "WITH recent AS (SELECT * FROM orders WHERE ts > now() - interval '1 day') \
             SELECT * FROM recent JOIN users ON users.id = recent.user_id",
        );
        assert_eq!(tables, vec!["orders", "users"]);
        assert_eq!(summary, "SELECT orders users");
    }

    #[test]
    fn expression_subqueries_open_a_segment() {
        let (_, summary) = summarize(
            "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders) AND EXISTS (SELECT 1)",
        );
        assert_eq!(summary, "SELECT users SELECT orders");
    }

    #[test]
    fn schema_qualified_and_quoted_names() {
        let (tables, _) = summarize(r#"SELECT * FROM "Sales"."Orders" o, public.users, "items""#);
        assert_eq!(tables, vec![r#""Sales"."Orders""#, "public.users", "items"]);
    }

    #[test]
    fn table_functions_are_not_tables() {
        let (tables, _) = summarize("SELECT * FROM generate_series(1, 10) g JOIN t ON t.id = g");
        assert_eq!(tables, vec!["t"]);
    }

    #[test]
    fn ddl_and_utility_tables() {
        assert_eq!(
            summarize("CREATE TABLE accounts (id int)").1,
            "CREATE TABLE accounts"
        );
        assert_eq!(summarize("DROP TABLE IF EXISTS a, b").1, "DROP TABLE a b");
        assert_eq!(
            summarize("TRUNCATE pgbench_history").1,
            "TRUNCATE pgbench_history"
        );
        assert_eq!(
            summarize("ALTER TABLE t ADD COLUMN c int").1,
            "ALTER TABLE t"
        );
        assert_eq!(
            summarize("UPDATE t SET a = 1 FROM u WHERE t.id = u.id").1,
            "UPDATE t u"
        );
        assert_eq!(summarize("DELETE FROM t WHERE id = 1").1, "DELETE t");
        assert_eq!(summarize("BEGIN").1, "BEGIN");
    }

    #[test]
    fn hostile_nesting_is_a_parse_error_not_a_crash() {
        let sql = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(shape(&sql, Operation::Select).is_none());
    }
}
