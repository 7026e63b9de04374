//! Names that clients generate per call: savepoints, cursors, prepared statements.
//!
//! ORMs name these afresh for every transaction or query (Django's `"s140234_x1"` and
//! `"_django_curs_…_sync_3"`, SQLAlchemy's `sa_savepoint_2`, Sequelize's `"<uuid>-sp-1"`,
//! psycopg's `_pg3_10`). The name is written as a placeholder, so each command is one shape:
//!
//! * `SAVEPOINT name` → `savepoint $1`;
//! * `RELEASE [SAVEPOINT] name` → `release savepoint $1`;
//! * `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name` → `rollback to savepoint $1`;
//! * `DECLARE name … CURSOR … FOR query` → `declare $1 … for <query, normalized>`;
//! * `FETCH …`/`MOVE … [FROM | IN] name` → the name (the statement's last token) as `$n`,
//!   `IN` written `from`;
//! * `CLOSE name` → `close $1` (`CLOSE ALL` stays);
//! * `PREPARE name [(types)] AS query` → `prepare $1 … as <query, normalized>`;
//! * `EXECUTE name [(args)]` → `execute $1 …`;
//! * `DEALLOCATE [PREPARE] name` → `deallocate $1` (`DEALLOCATE [PREPARE] ALL` → `deallocate all`).
//!
//! Only a statement's leading keyword can start these rules, so other statements pay one
//! length check per statement. Two-phase-commit ids (`PREPARE TRANSACTION 'gid'`, `COMMIT
//! PREPARED 'gid'`) are strings, which are constants anyway.

use super::Normalizer;
use crate::lexer::{Kind, Lexer, Token};

/// A leading keyword of a command that names a savepoint, cursor or prepared statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Savepoint,
    Release,
    Rollback,
    Declare,
    Fetch,
    Move,
    Close,
    Prepare,
    Execute,
    Deallocate,
}

/// Classifies a statement's first word (any case) without copying it.
fn command(word: &str) -> Option<Command> {
    let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
    let found = match word.len() {
        4 if is("move") => Command::Move,
        5 if is("fetch") => Command::Fetch,
        5 if is("close") => Command::Close,
        7 if is("release") => Command::Release,
        7 if is("declare") => Command::Declare,
        7 if is("prepare") => Command::Prepare,
        7 if is("execute") => Command::Execute,
        8 if is("rollback") => Command::Rollback,
        9 if is("savepoint") => Command::Savepoint,
        10 if is("deallocate") => Command::Deallocate,
        _ => return None,
    };
    Some(found)
}

/// Whether `token` can be a name (`$n` included, so normalized text normalizes to itself).
fn is_name(token: Option<Token<'_>>) -> bool {
    token.is_some_and(|t| matches!(t.kind, Kind::Word | Kind::QuotedIdent | Kind::Param))
}

fn is_word(token: Option<Token<'_>>, keyword: &str) -> bool {
    token.is_some_and(|t| t.is_word(keyword))
}

/// Consumes `keyword` from `look` if it is next and a name follows it.
fn skip_optional(look: &mut Lexer<'_>, keyword: &str) {
    let mut after = *look;
    if is_word(after.next_significant(), keyword) && is_name(after.peek_significant()) {
        *look = after;
    }
}

/// Whether the statement ends after the lexer's position.
fn at_statement_end(look: &Lexer<'_>) -> bool {
    look.peek_significant()
        .is_none_or(|t| t.kind == Kind::Semicolon)
}

impl<'a> Normalizer<'a> {
    /// At a statement's first word: if `token` starts a command that names a savepoint,
    /// cursor or prepared statement, writes the command up to and including the name (as a
    /// placeholder), consumes it, and returns `true`; the rest of the statement is normalized
    /// as usual. Otherwise writes nothing.
    pub(super) fn named_command(&mut self, token: Token<'a>) -> bool {
        let Some(command) = command(token.text) else {
            return false;
        };
        let mut look = self.lex;
        let words: &[&str] = match command {
            Command::Savepoint | Command::Declare | Command::Execute => &[],
            Command::Release => {
                skip_optional(&mut look, "savepoint");
                &["savepoint"]
            }
            Command::Rollback => {
                let mut after = look;
                if is_word(after.peek_significant(), "work")
                    || is_word(after.peek_significant(), "transaction")
                {
                    after.next_significant();
                }
                if !is_word(after.next_significant(), "to") {
                    return false;
                }
                look = after;
                skip_optional(&mut look, "savepoint");
                &["to", "savepoint"]
            }
            Command::Prepare => {
                let mut after = look;
                if is_word(after.next_significant(), "transaction")
                    && after.peek_significant().map(|t| t.kind) == Some(Kind::String)
                {
                    return false;
                }
                &[]
            }
            Command::Deallocate => {
                skip_optional(&mut look, "prepare");
                if is_word(look.peek_significant(), "all") {
                    look.next_significant();
                    self.lex = look;
                    self.out.push_word(token.text);
                    self.out.push_word("all");
                    return true;
                }
                &[]
            }
            Command::Close => {
                if is_word(look.peek_significant(), "all") {
                    return false;
                }
                &[]
            }
            Command::Fetch | Command::Move => {
                self.out.push_word(token.text);
                self.cursor_motion();
                return true;
            }
        };
        if !is_name(look.next_significant()) {
            return false;
        }
        self.lex = look;
        self.out.push_word(token.text);
        for word in words {
            self.out.push_word(word);
        }
        self.out.placeholder();
        true
    }

    /// The rest of a `FETCH` or `MOVE`: the cursor's name is the statement's last token.
    fn cursor_motion(&mut self) {
        while let Some(token) = self.lex.peek_significant() {
            if token.kind == Kind::Semicolon {
                return;
            }
            self.lex.next_significant();
            if is_name(Some(token)) && at_statement_end(&self.lex) {
                self.out.placeholder();
            } else if token.is_word("in") && {
                let mut after = self.lex;
                is_name(after.next_significant()) && at_statement_end(&after)
            } {
                self.out.push_word("from");
            } else {
                self.step(token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lexer::ConformingStrings;

    fn norm(sql: &str) -> String {
        super::super::normalize(sql, ConformingStrings::On).text
    }

    #[test]
    fn savepoint_commands_write_the_name_as_a_placeholder() {
        assert_eq!(norm(r#"SAVEPOINT "s140234_x1""#), "savepoint $1");
        assert_eq!(norm("RELEASE sa_savepoint_3"), "release savepoint $1");
        assert_eq!(norm("release savepoint x"), "release savepoint $1");
        for sql in [
            "ROLLBACK TO sp",
            "ROLLBACK TO SAVEPOINT sp",
            "ROLLBACK TRANSACTION TO SAVEPOINT sp",
            "rollback work to \"a-sp-1\"",
        ] {
            assert_eq!(norm(sql), "rollback to savepoint $1", "{sql}");
        }
    }

    #[test]
    fn plain_rollback_and_release_of_odd_text_are_untouched() {
        assert_eq!(norm("ROLLBACK"), "rollback");
        assert_eq!(norm("ROLLBACK AND CHAIN"), "rollback and chain");
        assert_eq!(norm("ROLLBACK PREPARED 'gid-1'"), "rollback prepared $1");
        assert_eq!(norm("release (x)"), "release(x)");
    }

    #[test]
    fn cursor_names_become_placeholders_and_the_query_is_normalized() {
        assert_eq!(
            norm(
                r#"DECLARE "_django_curs_1_sync_2" NO SCROLL CURSOR WITH HOLD FOR SELECT a FROM t WHERE b = 5"#
            ),
            "declare $1 no scroll cursor with hold for select a from t where b = $2"
        );
        assert_eq!(
            norm(r#"FETCH FORWARD 2000 FROM "_django_curs_1_sync_2""#),
            "fetch forward $1 from $2"
        );
        assert_eq!(norm("fetch c_7f9e_5"), "fetch $1");
        assert_eq!(
            norm("MOVE ABSOLUTE 3 IN c; select 1"),
            "move absolute $1 from $2; select $3"
        );
        assert_eq!(norm("CLOSE c_7f9e_5"), "close $1");
        assert_eq!(norm("CLOSE ALL"), "close all");
    }

    #[test]
    fn prepared_statement_names_become_placeholders() {
        assert_eq!(
            norm("PREPARE q1 (int) AS SELECT * FROM t WHERE id = $1"),
            "prepare $1 (int) as select * from t where id = $2"
        );
        assert_eq!(norm("EXECUTE q1(42, 'x')"), "execute $1 ($2, $3)");
        assert_eq!(norm("DEALLOCATE _pg3_10"), "deallocate $1");
        assert_eq!(norm("DEALLOCATE PREPARE _pg3_10"), "deallocate $1");
        assert_eq!(norm("DEALLOCATE ALL"), "deallocate all");
        assert_eq!(norm("deallocate prepare all"), "deallocate all");
        assert_eq!(
            norm("PREPARE TRANSACTION 'gid-7'"),
            "prepare transaction $1"
        );
        assert_eq!(norm("COMMIT PREPARED 'gid-7'"), "commit prepared $1");
    }

    #[test]
    fn names_are_only_read_at_the_start_of_a_statement() {
        assert_eq!(
            norm("SELECT a FROM t FETCH FIRST 3 ROWS ONLY"),
            "select a from t fetch first $1 rows only"
        );
        assert_eq!(norm("select 1; savepoint x"), "select $1; savepoint $2");
    }

    #[test]
    fn normalized_commands_normalize_to_themselves() {
        for sql in [
            "savepoint $1",
            "release savepoint $1",
            "rollback to savepoint $1",
            "declare $1 cursor for select $2",
            "fetch forward $1 from $2",
            "close $1",
            "prepare $1 (int) as select $2",
            "execute $1 ($2)",
            "deallocate $1",
        ] {
            assert_eq!(norm(sql), sql);
        }
    }
}
