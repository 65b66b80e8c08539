//! Migrations: each statement of `sql/migrations` runs only when its guard says the change is
//! not there yet, and each applied migration is recorded in `schema_migrations`.

use super::*;

pub(super) fn run_migrations(session: &mut Session<'_>) -> Result<MigrationReport, StoreError> {
    let mut report = MigrationReport::default();
    let existed = table_exists(session, "schema_migrations")?;
    session.query_drop(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version VARCHAR(100) NOT NULL PRIMARY KEY, \
         applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\
         ) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci",
    )?;
    if !existed {
        report
            .changes
            .push("created table schema_migrations".to_owned());
    }
    let done: HashSet<String> = session
        .query_rows::<String>("SELECT version FROM schema_migrations")?
        .into_iter()
        .collect();
    for (version, text) in MIGRATIONS {
        if done.contains(*version) {
            report.already_applied.push((*version).to_owned());
            continue;
        }
        let statements = parse_script(text).map_err(|error| {
            StoreError::Query(format!("migration {version} is unreadable: {error}"))
        })?;
        for statement in statements {
            let guard = statement
                .guard
                .clone()
                .or_else(|| create_table_guard(&statement.sql));
            let change = match &guard {
                Some(guard) if guard_holds(session, guard)? => continue,
                Some(guard) => describe_guard(guard),
                None if is_idempotent_by_itself(&statement.sql) => String::new(),
                None => {
                    return Err(StoreError::Query(format!(
                        "migration {version} line {}: statement is neither guarded nor idempotent",
                        statement.line
                    )))
                }
            };
            session.query_drop(&statement.sql).map_err(|error| {
                StoreError::Query(format!(
                    "migration {version} line {}: {error}",
                    statement.line
                ))
            })?;
            if !change.is_empty() {
                report.changes.push(change);
            }
        }
        session.exec_drop(
            "INSERT IGNORE INTO schema_migrations (version) VALUES (?)",
            vec![Value::from(*version)],
        )?;
        report.applied.push((*version).to_owned());
    }
    Ok(report)
}

/// `CREATE TABLE IF NOT EXISTS name` is guarded by the table's existence, so the report can
/// say whether it created anything.
fn create_table_guard(sql: &str) -> Option<Guard> {
    let words: Vec<&str> = sql.split_whitespace().take(6).collect();
    let prefix = ["CREATE", "TABLE", "IF", "NOT", "EXISTS"];
    let matches = words.len() == 6
        && words
            .iter()
            .zip(prefix)
            .all(|(word, want)| word.eq_ignore_ascii_case(want));
    matches.then(|| {
        let name = words[5].trim_matches('`');
        let name = name.split('(').next().unwrap_or(name).trim_matches('`');
        Guard::Table {
            table: name.to_owned(),
        }
    })
}

fn describe_guard(guard: &Guard) -> String {
    match guard {
        Guard::Table { table } => format!("created table {table}"),
        Guard::Column { table, column } => format!("added column {table}.{column}"),
        Guard::Index { table, index } => format!("added index {table}.{index}"),
        Guard::Collation {
            table,
            column,
            collation,
        } => {
            format!("set collation of {table}.{column} to {collation}")
        }
        Guard::TableCharset { table, charset } => format!("converted table {table} to {charset}"),
    }
}

fn table_exists(session: &mut Session<'_>, table: &str) -> Result<bool, StoreError> {
    guard_holds(
        session,
        &Guard::Table {
            table: table.to_owned(),
        },
    )
}

fn guard_holds(session: &mut Session<'_>, guard: &Guard) -> Result<bool, StoreError> {
    let count = |session: &mut Session<'_>, sql: &str, params: Vec<Value>| {
        session
            .exec_rows::<i64>(sql, params)
            .map(|rows| rows.first().copied().unwrap_or(0) > 0)
    };
    match guard {
        Guard::Table { table } => count(
            session,
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
            vec![Value::from(table.as_str())],
        ),
        Guard::Column { table, column } => count(
            session,
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
            vec![Value::from(table.as_str()), Value::from(column.as_str())],
        ),
        Guard::Index { table, index } => count(
            session,
            "SELECT COUNT(*) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?",
            vec![Value::from(table.as_str()), Value::from(index.as_str())],
        ),
        Guard::Collation {
            table,
            column,
            collation,
        } => {
            let found: Vec<Option<String>> = session.exec_rows(
                "SELECT collation_name FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
                vec![Value::from(table.as_str()), Value::from(column.as_str())],
            )?;
            Ok(found.first().cloned().flatten().as_deref() == Some(collation.as_str()))
        }
        Guard::TableCharset { table, charset } => {
            let found: Vec<Option<String>> = session.exec_rows(
                "SELECT table_collation FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
                vec![Value::from(table.as_str())],
            )?;
            let prefix = format!("{charset}_");
            Ok(found
                .first()
                .cloned()
                .flatten()
                .is_some_and(|found| found.starts_with(&prefix)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_guarded_or_idempotent() {
        for (version, text) in MIGRATIONS {
            for statement in parse_script(text).unwrap() {
                assert!(
                    statement.guard.is_some()
                        || create_table_guard(&statement.sql).is_some()
                        || is_idempotent_by_itself(&statement.sql),
                    "{version} line {}: {}",
                    statement.line,
                    statement.sql
                );
            }
        }
        // schema.sql is run by hand; it must be safe to run twice as well.
        for statement in parse_script(SCHEMA_SQL).unwrap() {
            assert!(is_idempotent_by_itself(&statement.sql), "{}", statement.sql);
        }
    }

    #[test]
    fn create_table_guard_reads_the_name() {
        assert_eq!(
            create_table_guard("CREATE TABLE IF NOT EXISTS `routers` (id INT)"),
            Some(Guard::Table {
                table: "routers".into()
            })
        );
        assert_eq!(
            create_table_guard("create table if not exists pppoe_users(id INT)"),
            Some(Guard::Table {
                table: "pppoe_users".into()
            })
        );
        assert_eq!(create_table_guard("CREATE TABLE routers (id INT)"), None);
    }
}
