//! Splits a `.sql` file into statements, and reads the guard comments that make our migration
//! files idempotent on both MySQL 8 and MariaDB 10.11. Pure: text in, statements out.
//!
//! MySQL 8 has no `ADD COLUMN IF NOT EXISTS`, so a migration statement that is not idempotent
//! by itself carries a guard comment on the line(s) before it, and the runner skips it when the
//! guard already holds:
//!
//! ```sql
//! -- unless-column: routers.use_tls
//! ALTER TABLE routers ADD COLUMN use_tls TINYINT(1) NOT NULL DEFAULT 0 AFTER password;
//! -- unless-collation: pppoe_users.username utf8mb4_bin
//! ALTER TABLE pppoe_users MODIFY username VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
//! -- unless-table-charset: pppoe_users utf8mb4
//! ALTER TABLE pppoe_users CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
//! -- unless-index: routers.idx_routers_host_port
//! ALTER TABLE routers ADD INDEX idx_routers_host_port (host, port);
//! ```
//!
//! The splitter knows quotes ('', "", ``, with backslash and doubled-quote escapes) and comments
//! (`-- `, `#`, `/* */`), which is all our own files use; it does not know `DELIMITER`.

use std::fmt;

/// One statement of a script, with the guard that precedes it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL text without comments at its ends and without the `;`.
    pub sql: String,
    pub guard: Option<Guard>,
    /// 1-based line where the statement starts.
    pub line: usize,
}

/// "Skip the statement when this already holds."
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The table exists (implied for `CREATE TABLE IF NOT EXISTS`, so reports can say what
    /// was created).
    Table { table: String },
    /// The column exists.
    Column { table: String, column: String },
    /// An index of that name exists on the table.
    Index { table: String, index: String },
    /// The column's collation is exactly this one.
    Collation {
        table: String,
        column: String,
        collation: String,
    },
    /// The table's default collation belongs to this character set.
    TableCharset { table: String, charset: String },
}

/// A script we cannot run safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// Splits `text` into statements and attaches guards.
pub fn parse_script(text: &str) -> Result<Vec<Statement>, ScriptError> {
    let mut statements = Vec::new();
    let mut sql = String::new();
    let mut guard: Option<(Guard, usize)> = None;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                if sql.trim().is_empty() {
                    start_line = line;
                }
                sql.push(c);
                let quote = c;
                loop {
                    let Some(inner) = chars.next() else {
                        return Err(ScriptError {
                            line: start_line,
                            message: "unclosed quote".into(),
                        });
                    };
                    sql.push(inner);
                    if inner == '\n' {
                        line += 1;
                    }
                    if inner == '\\' && quote != '`' {
                        if let Some(escaped) = chars.next() {
                            if escaped == '\n' {
                                line += 1;
                            }
                            sql.push(escaped);
                        }
                    } else if inner == quote {
                        if chars.peek() == Some(&quote) {
                            sql.push(quote);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if starts_dash_comment(&chars) => {
                chars.next();
                let comment = read_line(&mut chars);
                line += 1;
                if let Some(directive) = comment.trim().strip_prefix("unless-") {
                    if !sql.trim().is_empty() {
                        return Err(ScriptError {
                            line: line - 1,
                            message: "guard comment inside a statement".into(),
                        });
                    }
                    let parsed = parse_guard(directive).map_err(|message| ScriptError {
                        line: line - 1,
                        message,
                    })?;
                    guard = Some((parsed, line - 1));
                }
                sql.push('\n');
            }
            '#' => {
                read_line(&mut chars);
                line += 1;
                sql.push('\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                loop {
                    let Some(inner) = chars.next() else {
                        return Err(ScriptError {
                            line,
                            message: "unclosed /* comment".into(),
                        });
                    };
                    if inner == '\n' {
                        line += 1;
                    }
                    if previous == '*' && inner == '/' {
                        break;
                    }
                    previous = inner;
                }
                sql.push(' ');
            }
            ';' => {
                push_statement(&mut statements, &mut sql, &mut guard, start_line)?;
            }
            _ => {
                if c == '\n' {
                    line += 1;
                } else if sql.trim().is_empty() && !c.is_whitespace() {
                    start_line = line;
                }
                sql.push(c);
            }
        }
    }
    push_statement(&mut statements, &mut sql, &mut guard, start_line)?;
    Ok(statements)
}

fn push_statement(
    statements: &mut Vec<Statement>,
    sql: &mut String,
    guard: &mut Option<(Guard, usize)>,
    line: usize,
) -> Result<(), ScriptError> {
    let text = sql.trim();
    if text.is_empty() {
        if let Some((_, guard_line)) = guard {
            return Err(ScriptError {
                line: *guard_line,
                message: "guard comment without a statement".into(),
            });
        }
    } else {
        let guard = guard.take().map(|(guard, _)| guard);
        statements.push(Statement {
            sql: text.to_owned(),
            guard,
            line,
        });
    }
    sql.clear();
    Ok(())
}

/// `-- ` starts a comment only when whitespace (or the end) follows, as in MySQL.
fn starts_dash_comment(chars: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut ahead = chars.clone();
    ahead.next() == Some('-') && ahead.next().is_none_or(char::is_whitespace)
}

fn read_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut comment = String::new();
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
        comment.push(c);
    }
    comment
}

fn parse_guard(directive: &str) -> Result<Guard, String> {
    let (kind, argument) = directive
        .split_once(':')
        .ok_or_else(|| format!("guard {directive:?} needs a ':'"))?;
    let words: Vec<&str> = argument.split_whitespace().collect();
    let table_dot = |text: &str| -> Result<(String, String), String> {
        text.split_once('.')
            .filter(|(table, name)| is_identifier(table) && is_identifier(name))
            .map(|(table, name)| (table.to_owned(), name.to_owned()))
            .ok_or_else(|| format!("expected table.name, found {text:?}"))
    };
    match (kind.trim(), words.as_slice()) {
        ("table", [table]) if is_identifier(table) => Ok(Guard::Table {
            table: (*table).to_owned(),
        }),
        ("column", [target]) => {
            let (table, column) = table_dot(target)?;
            Ok(Guard::Column { table, column })
        }
        ("index", [target]) => {
            let (table, index) = table_dot(target)?;
            Ok(Guard::Index { table, index })
        }
        ("collation", [target, collation]) if is_identifier(collation) => {
            let (table, column) = table_dot(target)?;
            Ok(Guard::Collation {
                table,
                column,
                collation: (*collation).to_owned(),
            })
        }
        ("table-charset", [table, charset]) if is_identifier(table) && is_identifier(charset) => {
            Ok(Guard::TableCharset {
                table: (*table).to_owned(),
                charset: (*charset).to_owned(),
            })
        }
        _ => Err(format!("unknown guard {directive:?}")),
    }
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// True for statements that are safe to run twice without a guard.
pub fn is_idempotent_by_itself(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(6)
        .map(|word| word.to_ascii_uppercase())
        .collect();
    let starts = |prefix: &[&str]| {
        words.len() >= prefix.len() && words.iter().zip(prefix).all(|(word, want)| word == want)
    };
    starts(&["CREATE", "TABLE", "IF", "NOT", "EXISTS"])
        || starts(&["INSERT", "IGNORE"])
        || starts(&["CREATE", "DATABASE", "IF", "NOT", "EXISTS"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_ignores_comments_and_quotes() {
        let text = "-- header comment\n\
                    CREATE TABLE a (x INT); # trailing\n\
                    /* block ; comment */ INSERT INTO a VALUES ('semi;colon', \"dq;\", 'it''s', 'back\\'slash;');\n\
                    \n\
                    SELECT `we;ird` FROM a\n";
        let statements = parse_script(text).unwrap();
        let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                "CREATE TABLE a (x INT)",
                "INSERT INTO a VALUES ('semi;colon', \"dq;\", 'it''s', 'back\\'slash;')",
                "SELECT `we;ird` FROM a",
            ]
        );
        let lines: Vec<usize> = statements.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 3, 5]);
        assert!(statements.iter().all(|s| s.guard.is_none()));
    }

    #[test]
    fn guards_attach_to_the_next_statement() {
        let text = "-- unless-column: routers.use_tls\n\
                    ALTER TABLE routers ADD COLUMN use_tls TINYINT(1);\n\
                    -- unless-index: routers.idx_host\n\
                    ALTER TABLE routers ADD INDEX idx_host (host);\n\
                    -- unless-collation: pppoe_users.username utf8mb4_bin\n\
                    ALTER TABLE pppoe_users MODIFY username VARCHAR(100);\n\
                    -- unless-table-charset: pppoe_users utf8mb4\n\
                    ALTER TABLE pppoe_users CONVERT TO CHARACTER SET utf8mb4;\n\
                    CREATE TABLE IF NOT EXISTS t (x INT);";
        let guards: Vec<Option<Guard>> = parse_script(text)
            .unwrap()
            .into_iter()
            .map(|s| s.guard)
            .collect();
        assert_eq!(
            guards,
            [
                Some(Guard::Column {
                    table: "routers".into(),
                    column: "use_tls".into()
                }),
                Some(Guard::Index {
                    table: "routers".into(),
                    index: "idx_host".into()
                }),
                Some(Guard::Collation {
                    table: "pppoe_users".into(),
                    column: "username".into(),
                    collation: "utf8mb4_bin".into()
                }),
                Some(Guard::TableCharset {
                    table: "pppoe_users".into(),
                    charset: "utf8mb4".into()
                }),
                None,
            ]
        );
    }

    #[test]
    fn bad_scripts() {
        let table = [
            ("SELECT 'open", 1, "unclosed quote"),
            ("SELECT 1 /* open", 1, "unclosed /*"),
            (
                "-- unless-column: routers\nALTER TABLE routers ADD COLUMN x INT;",
                1,
                "table.name",
            ),
            ("-- unless-colour: a.b\nSELECT 1;", 1, "unknown guard"),
            (
                "SELECT 1;\n-- unless-column: a.b\n",
                2,
                "without a statement",
            ),
            (
                "ALTER TABLE a\n-- unless-column: a.b\nADD COLUMN b INT;",
                2,
                "inside a statement",
            ),
        ];
        for (text, line, fragment) in table {
            let error = parse_script(text).expect_err(text);
            assert_eq!(error.line, line, "{text}: {error}");
            assert!(error.message.contains(fragment), "{text}: {error}");
        }
    }

    #[test]
    fn idempotent_statement_forms() {
        assert!(is_idempotent_by_itself(
            "create table if not exists x (a int)"
        ));
        assert!(is_idempotent_by_itself("INSERT IGNORE INTO x VALUES (1)"));
        assert!(!is_idempotent_by_itself("CREATE TABLE x (a int)"));
        assert!(!is_idempotent_by_itself("ALTER TABLE x ADD COLUMN y INT"));
    }
}
