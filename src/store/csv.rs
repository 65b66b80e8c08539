//! Parses the routers CSV read by `net-engine seed --file routers.csv`. Pure: text in, rows out.
//!
//! Format: a header line naming the columns `name,host,port,username,password` and optionally
//! `use_tls` (or `tls`), in any order; then one router per record. RFC 4180 quoting: a field in
//! double quotes may hold commas, newlines and `""` for a quote. Unquoted fields are trimmed,
//! quoted ones are kept exactly (quote a password that starts or ends with a space). Blank lines
//! are skipped; a UTF-8 byte-order mark is ignored. An empty `port` means 8728 (8729 with TLS);
//! an empty `name` means the host.
//!
//! Invariant: errors give a line number and a column name, never a field's value.

use std::fmt;

/// A router to insert into the registry. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct NewRouter {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub use_tls: bool,
    /// Line of the CSV record this came from (0 when not from a file).
    pub line: usize,
}

impl fmt::Debug for NewRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRouter")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("use_tls", &self.use_tls)
            .field("line", &self.line)
            .finish()
    }
}

/// A CSV problem at a line (1-based, the line where the record starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CsvError {}

/// Column lengths of the `routers` table, checked here so one bad row fails with its line
/// number instead of failing the whole insert.
const MAX_NAME: usize = 100;
const MAX_HOST: usize = 255;
const MAX_USERNAME: usize = 100;
const MAX_PASSWORD: usize = 255;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Host,
    Port,
    Username,
    Password,
    UseTls,
}

/// Parses the whole file. Fails on the first bad record.
pub fn parse_routers_csv(text: &str) -> Result<Vec<NewRouter>, CsvError> {
    let (routers, errors) = parse_routers_csv_lenient(text)?;
    match errors.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(routers.into_iter().map(|(_, router)| router).collect()),
    }
}

/// Good rows with their record numbers, and one error per bad record.
pub type LenientParse = (Vec<(usize, NewRouter)>, Vec<CsvError>);

/// Parses the whole file, keeping going past bad records: the good rows, each with its record
/// number (1 for the first record after the header, counting bad ones too), and one error per
/// bad record. Fails only when the file as a whole is unreadable (no header, a bad header, an
/// unterminated quote).
pub fn parse_routers_csv_lenient(text: &str) -> Result<LenientParse, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = split_records(text)?;
    let mut records = records.into_iter().filter(|(_, fields)| !is_blank(fields));
    let (header_line, header) = records.next().ok_or(CsvError {
        line: 1,
        message: "empty file: expected a header name,host,port,username,password[,use_tls]"
            .to_owned(),
    })?;
    let columns = parse_header(header_line, &header)?;
    let mut routers = Vec::new();
    let mut errors = Vec::new();
    for (index, (line, fields)) in records.enumerate() {
        match parse_router(line, &columns, fields) {
            Ok(router) => routers.push((index + 1, router)),
            Err(error) => errors.push(error),
        }
    }
    Ok((routers, errors))
}

fn parse_header(line: usize, header: &[Field]) -> Result<Vec<Column>, CsvError> {
    let mut columns = Vec::with_capacity(header.len());
    for field in header {
        let column = match field.text.trim().to_ascii_lowercase().as_str() {
            "name" => Column::Name,
            "host" => Column::Host,
            "port" => Column::Port,
            "username" | "user" => Column::Username,
            "password" => Column::Password,
            "use_tls" | "tls" => Column::UseTls,
            other => {
                return Err(CsvError {
                    line,
                    message: format!(
                        "unknown column {other:?} (expected name,host,port,username,password[,use_tls])"
                    ),
                })
            }
        };
        if columns.contains(&column) {
            return Err(CsvError {
                line,
                message: format!("column {:?} appears twice", field.text.trim()),
            });
        }
        columns.push(column);
    }
    for (required, label) in [
        (Column::Host, "host"),
        (Column::Username, "username"),
        (Column::Password, "password"),
    ] {
        if !columns.contains(&required) {
            return Err(CsvError {
                line,
                message: format!("header has no {label} column"),
            });
        }
    }
    Ok(columns)
}

fn parse_router(
    line: usize,
    columns: &[Column],
    fields: Vec<Field>,
) -> Result<NewRouter, CsvError> {
    if fields.len() != columns.len() {
        return Err(CsvError {
            line,
            message: format!("expected {} fields, found {}", columns.len(), fields.len()),
        });
    }
    let error = |message: String| CsvError { line, message };
    let mut name = String::new();
    let mut host = String::new();
    let mut port_text = String::new();
    let mut username = String::new();
    let mut password = String::new();
    let mut use_tls = false;
    for (column, field) in columns.iter().zip(fields) {
        let value = field.value();
        match column {
            Column::Name => name = value,
            Column::Host => host = value,
            Column::Port => port_text = value,
            Column::Username => username = value,
            Column::Password => password = value,
            Column::UseTls => {
                use_tls = match value.to_ascii_lowercase().as_str() {
                    "" | "0" | "false" | "no" => false,
                    "1" | "true" | "yes" => true,
                    _ => {
                        return Err(error(
                            "use_tls must be true/false, yes/no or 1/0".to_owned(),
                        ))
                    }
                }
            }
        }
    }
    if host.is_empty() {
        return Err(error("host is empty".to_owned()));
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(error(
            "host must be a host name or an IP address".to_owned(),
        ));
    }
    if username.is_empty() {
        return Err(error("username is empty".to_owned()));
    }
    let port = if port_text.is_empty() {
        if use_tls {
            8729
        } else {
            8728
        }
    } else {
        match port_text.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(error("port must be a number from 1 to 65535".to_owned())),
        }
    };
    if name.is_empty() {
        name = host.clone();
    }
    for (label, value, max) in [
        ("name", &name, MAX_NAME),
        ("host", &host, MAX_HOST),
        ("username", &username, MAX_USERNAME),
        ("password", &password, MAX_PASSWORD),
    ] {
        if value.chars().count() > max {
            return Err(error(format!("{label} is longer than {max} characters")));
        }
    }
    Ok(NewRouter {
        name,
        host,
        port,
        username,
        password,
        use_tls,
        line,
    })
}

struct Field {
    text: String,
    quoted: bool,
}

impl Field {
    fn value(self) -> String {
        if self.quoted {
            self.text
        } else {
            self.text.trim().to_owned()
        }
    }
}

fn is_blank(fields: &[Field]) -> bool {
    fields.len() == 1 && !fields[0].quoted && fields[0].text.trim().is_empty()
}

/// Splits RFC 4180 text into records of fields, each with the line it starts on.
fn split_records(text: &str) -> Result<Vec<(usize, Vec<Field>)>, CsvError> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = Field {
        text: String::new(),
        quoted: false,
    };
    let mut line = 1;
    let mut record_line = 1;
    let mut in_quotes = false;
    // After a closing quote only a separator, a line end or spaces may follow.
    let mut after_quote = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.text.push('"');
                }
                '"' => {
                    in_quotes = false;
                    after_quote = true;
                }
                '\n' => {
                    line += 1;
                    field.text.push(c);
                }
                _ => field.text.push(c),
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(std::mem::replace(
                    &mut field,
                    Field {
                        text: String::new(),
                        quoted: false,
                    },
                ));
                after_quote = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::replace(
                    &mut field,
                    Field {
                        text: String::new(),
                        quoted: false,
                    },
                ));
                records.push((record_line, std::mem::take(&mut fields)));
                after_quote = false;
                line += 1;
                record_line = line;
            }
            '"' if !field.quoted && field.text.trim().is_empty() => {
                field.text.clear();
                field.quoted = true;
                in_quotes = true;
            }
            _ if after_quote && c.is_whitespace() => {}
            _ if after_quote || c == '"' => {
                return Err(CsvError {
                    line,
                    message: "stray quote: quote the whole field and double any quote inside it"
                        .to_owned(),
                });
            }
            _ => field.text.push(c),
        }
    }
    if in_quotes {
        return Err(CsvError {
            line: record_line,
            message: "quoted field is never closed".to_owned(),
        });
    }
    fields.push(field);
    records.push((record_line, fields));
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(
        name: &str,
        host: &str,
        port: u16,
        username: &str,
        password: &str,
        use_tls: bool,
        line: usize,
    ) -> NewRouter {
        NewRouter {
            name: name.into(),
            host: host.into(),
            port,
            username: username.into(),
            password: password.into(),
            use_tls,
            line,
        }
    }

    #[test]
    fn good_files() {
        let text = "\u{feff}name,host,port,username,password,use_tls\r\n\
                    core-1, 10.0.0.1 ,8728,admin,secret,false\r\n\
                    \r\n\
                    \"Tower, north\",10.0.0.2,,api,\"p,a\"\"ss \",yes\n\
                    \"multi\nline\",10.0.0.3,9000,api,,0\n\
                    ,10.0.0.4,1,api,x,\n";
        let routers = parse_routers_csv(text).unwrap();
        assert_eq!(
            routers,
            vec![
                router("core-1", "10.0.0.1", 8728, "admin", "secret", false, 2),
                router("Tower, north", "10.0.0.2", 8729, "api", "p,a\"ss ", true, 4),
                router("multi\nline", "10.0.0.3", 9000, "api", "", false, 5),
                router("10.0.0.4", "10.0.0.4", 1, "api", "x", false, 7),
            ]
        );
    }

    #[test]
    fn columns_in_any_order_and_tls_alias() {
        let routers =
            parse_routers_csv("host,username,password,tls,name,port\nh,u,p,1,n,5").unwrap();
        assert_eq!(routers, vec![router("n", "h", 5, "u", "p", true, 2)]);
        let routers = parse_routers_csv("name,host,port,username,password\nn,h,,u,p\n").unwrap();
        assert_eq!(routers, vec![router("n", "h", 8728, "u", "p", false, 2)]);
    }

    #[test]
    fn bad_files_name_the_line_and_never_the_password() {
        let header = "name,host,port,username,password,use_tls\n";
        let table = [
            ("", 1, "empty file"),
            ("name,host,port,username\n", 1, "no password column"),
            (
                "name,host,port,username,password,colour\n",
                1,
                "unknown column",
            ),
            ("name,host,host,username,password\n", 1, "appears twice"),
            (
                &format!("{header}a,h,8728,u,s3cr3t,false\nb,h,70000,u,s3cr3t,false\n") as &str,
                3,
                "port must be",
            ),
            (
                &format!("{header}a,h,x,u,s3cr3t,false\n"),
                2,
                "port must be",
            ),
            (
                &format!("{header}a,,1,u,s3cr3t,false\n"),
                2,
                "host is empty",
            ),
            (
                &format!("{header}a,h,1,,s3cr3t,false\n"),
                2,
                "username is empty",
            ),
            (
                &format!("{header}a,h,1,u,s3cr3t,maybe\n"),
                2,
                "use_tls must be",
            ),
            (
                &format!("{header}a,h,1,u,s3cr3t\n"),
                2,
                "expected 6 fields, found 5",
            ),
            (
                &format!("{header}a,h,1,u,\"s3cr3t,false\n"),
                2,
                "never closed",
            ),
            (
                &format!("{header}a,h,1,u,s3\"cr3t,false\n"),
                2,
                "stray quote",
            ),
            (
                &format!("{header}a,h,1,u,\"s3cr3t\"x,false\n"),
                2,
                "stray quote",
            ),
            (
                &format!("{header}a,h h,1,u,s3cr3t,false\n"),
                2,
                "host must be",
            ),
            (
                &format!("{header}{},h,1,u,s3cr3t,false\n", "n".repeat(101)),
                2,
                "name is longer",
            ),
        ];
        for (text, line, fragment) in table {
            let error = parse_routers_csv(text).expect_err(text);
            assert_eq!(error.line, line, "{text:?}: {error}");
            assert!(error.to_string().contains(fragment), "{text:?}: {error}");
            assert!(!error.to_string().contains("s3cr3t"), "{text:?}: {error}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let router = router("n", "h", 1, "u", "s3cr3t", false, 2);
        assert!(!format!("{router:?}").contains("s3cr3t"));
    }
}
