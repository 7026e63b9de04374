//! What a statement does, read from its leading keywords (so it works for every statement,
//! whether or not sqlparser understands the rest).

use crate::lexer::{Kind, Lexer, Token};

/// The kind of object a DDL statement creates, alters or drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `TABLE` (also `FOREIGN TABLE`).
    Table,
    /// `INDEX`
    Index,
    /// `VIEW`
    View,
    /// `MATERIALIZED VIEW`
    MaterializedView,
    /// `SEQUENCE`
    Sequence,
    /// `SCHEMA`
    Schema,
    /// `FUNCTION`
    Function,
    /// `PROCEDURE`
    Procedure,
    /// `TRIGGER`
    Trigger,
    /// `EXTENSION`
    Extension,
    /// `TYPE`
    Type,
    /// `DOMAIN`
    Domain,
    /// `ROLE`, `USER` or `GROUP`
    Role,
    /// `DATABASE`
    Database,
    /// `POLICY`
    Policy,
    /// Any other object (`RULE`, `AGGREGATE`, `OPERATOR`, …).
    Other,
}

impl ObjectKind {
    fn from_word(word: &str) -> Self {
        match word.to_ascii_lowercase().as_str() {
            "table" => ObjectKind::Table,
            "index" => ObjectKind::Index,
            "view" => ObjectKind::View,
            "materialized" => ObjectKind::MaterializedView,
            "sequence" => ObjectKind::Sequence,
            "schema" => ObjectKind::Schema,
            "function" => ObjectKind::Function,
            "procedure" => ObjectKind::Procedure,
            "trigger" => ObjectKind::Trigger,
            "extension" => ObjectKind::Extension,
            "type" => ObjectKind::Type,
            "domain" => ObjectKind::Domain,
            "role" | "user" | "group" => ObjectKind::Role,
            "database" => ObjectKind::Database,
            "policy" => ObjectKind::Policy,
            _ => ObjectKind::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a statement does: the first word(s) of `db.query.summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `SELECT`, `VALUES`, `TABLE`, or a `WITH` whose main statement is a query.
    Select,
    /// `INSERT`
    Insert,
    /// `UPDATE`
    Update,
    /// `DELETE`
    Delete,
    /// `MERGE`
    Merge,
    /// `COPY`
    Copy,
    /// `CALL`
    Call,
    /// `DO`
    Do,
    /// `BEGIN` / `START TRANSACTION`
    Begin,
    /// `COMMIT` / `END` / `COMMIT PREPARED`
    Commit,
    /// `ROLLBACK` / `ABORT` / `ROLLBACK TO SAVEPOINT`
    Rollback,
    /// `SAVEPOINT`
    Savepoint,
    /// `RELEASE [SAVEPOINT]`
    Release,
    /// `PREPARE TRANSACTION`
    PrepareTransaction,
    /// `SET` (any form)
    Set,
    /// `RESET`
    Reset,
    /// `SHOW`
    Show,
    /// `DISCARD`
    Discard,
    /// `LISTEN`
    Listen,
    /// `UNLISTEN`
    Unlisten,
    /// `NOTIFY`
    Notify,
    /// `LOCK`
    Lock,
    /// `TRUNCATE`
    Truncate,
    /// `VACUUM`
    Vacuum,
    /// `ANALYZE`
    Analyze,
    /// `EXPLAIN`
    Explain,
    /// `PREPARE`
    Prepare,
    /// `EXECUTE`
    Execute,
    /// `DEALLOCATE`
    Deallocate,
    /// `DECLARE` (a cursor)
    Declare,
    /// `FETCH`
    Fetch,
    /// `MOVE`
    Move,
    /// `CLOSE`
    Close,
    /// `GRANT`
    Grant,
    /// `REVOKE`
    Revoke,
    /// `COMMENT ON`
    Comment,
    /// `CLUSTER`
    Cluster,
    /// `REINDEX`
    Reindex,
    /// `REFRESH MATERIALIZED VIEW`
    Refresh,
    /// `CHECKPOINT`
    Checkpoint,
    /// `CREATE …`
    Create(ObjectKind),
    /// `ALTER …`
    Alter(ObjectKind),
    /// `DROP …`
    Drop(ObjectKind),
    /// Anything else, and empty input.
    Other,
}

const DDL_NAMES: [[&str; 16]; 3] = [
    [
        "CREATE TABLE",
        "CREATE INDEX",
        "CREATE VIEW",
        "CREATE MATERIALIZED VIEW",
        "CREATE SEQUENCE",
        "CREATE SCHEMA",
        "CREATE FUNCTION",
        "CREATE PROCEDURE",
        "CREATE TRIGGER",
        "CREATE EXTENSION",
        "CREATE TYPE",
        "CREATE DOMAIN",
        "CREATE ROLE",
        "CREATE DATABASE",
        "CREATE POLICY",
        "CREATE",
    ],
    [
        "ALTER TABLE",
        "ALTER INDEX",
        "ALTER VIEW",
        "ALTER MATERIALIZED VIEW",
        "ALTER SEQUENCE",
        "ALTER SCHEMA",
        "ALTER FUNCTION",
        "ALTER PROCEDURE",
        "ALTER TRIGGER",
        "ALTER EXTENSION",
        "ALTER TYPE",
        "ALTER DOMAIN",
        "ALTER ROLE",
        "ALTER DATABASE",
        "ALTER POLICY",
        "ALTER",
    ],
    [
        "DROP TABLE",
        "DROP INDEX",
        "DROP VIEW",
        "DROP MATERIALIZED VIEW",
        "DROP SEQUENCE",
        "DROP SCHEMA",
        "DROP FUNCTION",
        "DROP PROCEDURE",
        "DROP TRIGGER",
        "DROP EXTENSION",
        "DROP TYPE",
        "DROP DOMAIN",
        "DROP ROLE",
        "DROP DATABASE",
        "DROP POLICY",
        "DROP",
    ],
];

impl Operation {
    /// The operation's name in upper case, as used in `db.query.summary` (`"SELECT"`,
    /// `"CREATE TABLE"`, `"BEGIN"`, …).
    pub fn as_str(self) -> &'static str {
        let ddl = |verb: usize, kind: ObjectKind| {
            DDL_NAMES
                .get(verb)
                .and_then(|names| names.get(kind.index()))
                .copied()
                .unwrap_or("OTHER")
        };
        match self {
            Operation::Select => "SELECT",
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Merge => "MERGE",
            Operation::Copy => "COPY",
            Operation::Call => "CALL",
            Operation::Do => "DO",
            Operation::Begin => "BEGIN",
            Operation::Commit => "COMMIT",
            Operation::Rollback => "ROLLBACK",
            Operation::Savepoint => "SAVEPOINT",
            Operation::Release => "RELEASE",
            Operation::PrepareTransaction => "PREPARE TRANSACTION",
            Operation::Set => "SET",
            Operation::Reset => "RESET",
            Operation::Show => "SHOW",
            Operation::Discard => "DISCARD",
            Operation::Listen => "LISTEN",
            Operation::Unlisten => "UNLISTEN",
            Operation::Notify => "NOTIFY",
            Operation::Lock => "LOCK",
            Operation::Truncate => "TRUNCATE",
            Operation::Vacuum => "VACUUM",
            Operation::Analyze => "ANALYZE",
            Operation::Explain => "EXPLAIN",
            Operation::Prepare => "PREPARE",
            Operation::Execute => "EXECUTE",
            Operation::Deallocate => "DEALLOCATE",
            Operation::Declare => "DECLARE",
            Operation::Fetch => "FETCH",
            Operation::Move => "MOVE",
            Operation::Close => "CLOSE",
            Operation::Grant => "GRANT",
            Operation::Revoke => "REVOKE",
            Operation::Comment => "COMMENT",
            Operation::Cluster => "CLUSTER",
            Operation::Reindex => "REINDEX",
            Operation::Refresh => "REFRESH MATERIALIZED VIEW",
            Operation::Checkpoint => "CHECKPOINT",
            Operation::Create(kind) => ddl(0, kind),
            Operation::Alter(kind) => ddl(1, kind),
            Operation::Drop(kind) => ddl(2, kind),
            Operation::Other => "OTHER",
        }
    }

    /// Whether the statement may change the database or is refused by a read-only replica
    /// (hot standby): DML that writes, `COPY` (read its direction apart: `COPY … TO` only
    /// reads), DDL, `CALL`/`DO` (their bodies are not read), maintenance, privileges,
    /// `LOCK`, `LISTEN`/`NOTIFY`, two-phase commit, and anything unrecognised. Reads,
    /// transaction control, settings, cursors and `EXPLAIN` do not write.
    pub fn writes(self) -> bool {
        !matches!(
            self,
            Operation::Select
                | Operation::Begin
                | Operation::Commit
                | Operation::Rollback
                | Operation::Savepoint
                | Operation::Release
                | Operation::Set
                | Operation::Reset
                | Operation::Show
                | Operation::Discard
                | Operation::Unlisten
                | Operation::Explain
                | Operation::Prepare
                | Operation::Execute
                | Operation::Deallocate
                | Operation::Declare
                | Operation::Fetch
                | Operation::Move
                | Operation::Close
        )
    }

    /// Whether the statement reads or writes rows (`SELECT`, `INSERT`, `UPDATE`, `DELETE`,
    /// `MERGE`), as opposed to utility statements.
    pub fn is_dml(self) -> bool {
        matches!(
            self,
            Operation::Select
                | Operation::Insert
                | Operation::Update
                | Operation::Delete
                | Operation::Merge
        )
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Words that may stand between `CREATE`/`ALTER`/`DROP` and the object kind.
const DDL_MODIFIERS: &[&str] = &[
    "or",
    "replace",
    "temp",
    "temporary",
    "unlogged",
    "global",
    "local",
    "unique",
    "recursive",
    "trusted",
    "procedural",
    "constraint",
    "foreign",
];

/// The operation of the (first) statement in `sql`.
pub(crate) fn detect(sql: &str) -> Operation {
    let mut lex = Lexer::new(sql);
    let mut first = lex.next_significant();
    while first.is_some_and(|t| matches!(t.kind, Kind::LParen | Kind::Semicolon)) {
        first = lex.next_significant();
    }
    let Some(first) = first.filter(|t| t.kind == Kind::Word) else {
        return Operation::Other;
    };
    let next_is =
        |lex: &Lexer<'_>, word: &str| lex.peek_significant().is_some_and(|t| t.is_word(word));
    match first.text.to_ascii_lowercase().as_str() {
        "select" | "values" | "table" => Operation::Select,
        "with" => main_of_with(lex),
        "insert" => Operation::Insert,
        "update" => Operation::Update,
        "delete" => Operation::Delete,
        "merge" => Operation::Merge,
        "copy" => Operation::Copy,
        "call" => Operation::Call,
        "do" => Operation::Do,
        "begin" | "start" => Operation::Begin,
        "commit" | "end" => Operation::Commit,
        "rollback" | "abort" => Operation::Rollback,
        "savepoint" => Operation::Savepoint,
        "release" => Operation::Release,
        "prepare" if next_is(&lex, "transaction") => Operation::PrepareTransaction,
        "prepare" => Operation::Prepare,
        "set" => Operation::Set,
        "reset" => Operation::Reset,
        "show" => Operation::Show,
        "discard" => Operation::Discard,
        "listen" => Operation::Listen,
        "unlisten" => Operation::Unlisten,
        "notify" => Operation::Notify,
        "lock" => Operation::Lock,
        "truncate" => Operation::Truncate,
        "vacuum" => Operation::Vacuum,
        "analyze" | "analyse" => Operation::Analyze,
        "explain" => Operation::Explain,
        "execute" => Operation::Execute,
        "deallocate" => Operation::Deallocate,
        "declare" => Operation::Declare,
        "fetch" => Operation::Fetch,
        "move" => Operation::Move,
        "close" => Operation::Close,
        "grant" => Operation::Grant,
        "revoke" => Operation::Revoke,
        "comment" => Operation::Comment,
        "cluster" => Operation::Cluster,
        "reindex" => Operation::Reindex,
        "refresh" => Operation::Refresh,
        "checkpoint" => Operation::Checkpoint,
        "create" => Operation::Create(ddl_object(lex)),
        "alter" => Operation::Alter(ddl_object(lex)),
        "drop" => Operation::Drop(ddl_object(lex)),
        _ => Operation::Other,
    }
}

fn ddl_object(mut lex: Lexer<'_>) -> ObjectKind {
    while let Some(token) = lex.next_significant() {
        if token.kind != Kind::Word {
            break;
        }
        let lower = token.text.to_ascii_lowercase();
        if !DDL_MODIFIERS.contains(&lower.as_str()) {
            return ObjectKind::from_word(&lower);
        }
    }
    ObjectKind::Other
}

/// The main statement of a `WITH`: the word after the last common table expression's `)`.
fn main_of_with(mut lex: Lexer<'_>) -> Operation {
    let mut depth = 0u32;
    let mut previous: Option<Token<'_>> = None;
    while let Some(token) = lex.next_significant() {
        match token.kind {
            Kind::LParen => depth = depth.saturating_add(1),
            Kind::RParen => depth = depth.saturating_sub(1),
            Kind::Semicolon if depth == 0 => break,
            Kind::Word if depth == 0 && previous.is_some_and(|p| p.kind == Kind::RParen) => {
                match token.text.to_ascii_lowercase().as_str() {
                    "select" | "values" | "table" => return Operation::Select,
                    "insert" => return Operation::Insert,
                    "update" => return Operation::Update,
                    "delete" => return Operation::Delete,
                    "merge" => return Operation::Merge,
                    _ => {}
                }
            }
            _ => {}
        }
        previous = Some(token);
    }
    Operation::Select
}

#[cfg(test)]
mod tests;
