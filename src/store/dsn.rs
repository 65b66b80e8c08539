//! Parses `DB_DSN` in the Go driver's style (`user:pass@tcp(host:port)/db?parseTime=true`) and
//! as a `mysql://` URL into [`DbSettings`]. Pure: no I/O.
//!
//! The address, user, password and database of both styles go through `mysql::Opts::from_url`
//! (which parses with the `url` crate and percent-decodes); our code only finds the parts,
//! translates the Go style into such a URL, and reads the query parameters (with
//! `form_urlencoded`, the same names for both styles, Go driver meanings).
//!
//! Go style follows go-sql-driver/mysql: nothing is escaped, the user ends at the first `:`, the
//! password runs to the last `@` that is followed by the address part (`tcp(...)/`, `unix(...)/`,
//! `(...)/` or `/`), so a password may contain `@`, `:`, `!`, `#`, `/` and `?`. URL style is
//! percent-decoded; a raw `@`, `:`, `?` or `#` in its password is tolerated (the userinfo ends
//! at the last `@` before the query).
//!
//! Invariant: neither `DsnError` nor `Debug`/`Display` of `DbSettings` ever shows the password;
//! errors never quote the DSN at all.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt;
use std::time::Duration;

/// The default MySQL port.
pub const DEFAULT_PORT: u16 = 3306;

/// Where and as whom to connect. `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbSettings {
    pub user: String,
    pub password: String,
    /// Host name or IP address (brackets stripped from IPv6); `localhost` for a unix socket.
    pub host: String,
    pub port: u16,
    /// Unix socket path (`unix(/path)` in Go style, `?socket=/path` in URL style).
    pub socket: Option<String>,
    pub database: String,
    /// Every query parameter as given (decoded), in order.
    pub params: Vec<(String, String)>,
    /// From `timeout` (Go duration syntax such as `5s` or `500ms`).
    pub connect_timeout: Option<Duration>,
    /// From `readTimeout`.
    pub read_timeout: Option<Duration>,
    /// From `writeTimeout`.
    pub write_timeout: Option<Duration>,
}

/// Parameters we understand, or knowingly ignore because they change nothing for us
/// (`parseTime`, `loc`: we read no DATETIME values into Rust; `charset`, `collation`: we always
/// talk utf8mb4).
const KNOWN_PARAMS: [&str; 9] = [
    "parseTime",
    "loc",
    "charset",
    "collation",
    "timeout",
    "readTimeout",
    "writeTimeout",
    "tls",
    "socket",
];

impl DbSettings {
    /// The same settings pointing at another database (tests create one database each).
    pub fn with_database(&self, database: &str) -> DbSettings {
        DbSettings {
            database: database.to_owned(),
            ..self.clone()
        }
    }

    /// Parameter names we do not act on, so the caller can warn about them once.
    pub fn ignored_params(&self) -> Vec<&str> {
        self.params
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !KNOWN_PARAMS.contains(name))
            .collect()
    }
}

impl fmt::Debug for DbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSettings")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("database", &self.database)
            .field("params", &self.params)
            .finish()
    }
}

/// `user@tcp(host:port)/database` — safe for log lines.
impl fmt::Display for DbSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.socket {
            Some(path) => write!(f, "{}@unix({})/{}", self.user, path, self.database),
            None if self.host.contains(':') => {
                write!(
                    f,
                    "{}@tcp([{}]:{})/{}",
                    self.user, self.host, self.port, self.database
                )
            }
            None => write!(
                f,
                "{}@tcp({}:{})/{}",
                self.user, self.host, self.port, self.database
            ),
        }
    }
}

/// Why a DSN was refused. Never quotes the DSN (it holds the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsnError {
    /// Nothing but whitespace.
    Empty,
    /// The shape is wrong; the text says which part.
    Malformed(&'static str),
    /// No `/database` part, or an empty one.
    MissingDatabase,
    /// A protocol other than `tcp` or `unix` in Go style, or a scheme other than `mysql://`.
    UnsupportedProtocol,
    /// The port is not a number in 1..=65535.
    BadPort,
    /// A `%` escape that is not two hex digits or does not decode to UTF-8 (names the field).
    BadPercentEncoding(&'static str),
    /// A parameter we use has a value we cannot use.
    BadParam { name: String, reason: &'static str },
    /// `tls=true` and friends: this build talks to MySQL without TLS, and refuses to pretend.
    TlsUnsupported,
}

impl fmt::Display for DsnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DsnError::Empty => write!(f, "empty dsn"),
            DsnError::Malformed(what) => write!(f, "malformed dsn: {what}"),
            DsnError::MissingDatabase => write!(f, "dsn names no database (.../DATABASE)"),
            DsnError::UnsupportedProtocol => {
                write!(
                    f,
                    "dsn protocol must be tcp(...) or unix(...), or the scheme mysql://"
                )
            }
            DsnError::BadPort => write!(f, "dsn port must be a number from 1 to 65535"),
            DsnError::BadPercentEncoding(field) => {
                write!(f, "dsn {field} has a bad percent escape")
            }
            DsnError::BadParam { name, reason } => write!(f, "dsn parameter {name}: {reason}"),
            DsnError::TlsUnsupported => {
                write!(f, "dsn asks for tls, which this build does not support for mysql (use tls=false or a local/tunnelled server)")
            }
        }
    }
}

impl std::error::Error for DsnError {}

/// Parses either DSN style (URL style when it starts with `mysql://` or `mariadb://`).
pub fn parse_dsn(text: &str) -> Result<DbSettings, DsnError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DsnError::Empty);
    }
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = ["mysql://", "mariadb://"]
        .iter()
        .find(|scheme| lower.starts_with(*scheme))
        .map(|scheme| &text[scheme.len()..])
    {
        return parse_url_style(rest);
    }
    let looks_like_url = lower.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    if looks_like_url {
        return Err(DsnError::UnsupportedProtocol);
    }
    parse_go_style(text)
}

fn parse_go_style(text: &str) -> Result<DbSettings, DsnError> {
    // The userinfo ends at the last `@` that is followed by an address part; everything after
    // that `@` has no escaping and no password in it.
    let at = text
        .char_indices()
        .rev()
        .filter(|&(_, c)| c == '@')
        .map(|(at, _)| at)
        .find(|&at| split_go_address(&text[at + 1..]).is_some());
    let (userinfo, rest) = match at {
        Some(at) => (&text[..at], &text[at + 1..]),
        None if split_go_address(text).is_some() => ("", text),
        None => {
            return Err(DsnError::Malformed(
                "expected user:password@tcp(host:port)/database",
            ))
        }
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (protocol, address, after_slash) =
        split_go_address(rest).ok_or(DsnError::Malformed("expected tcp(host:port)/database"))?;
    let (database, query) = match after_slash.split_once('?') {
        Some((database, query)) => (database, Some(query)),
        None => (after_slash, None),
    };
    let (authority, socket) = match protocol {
        "" | "tcp" | "tcp4" | "tcp6" => (address, None),
        "unix" => {
            if address.is_empty() {
                return Err(DsnError::Malformed("unix() needs a socket path"));
            }
            ("localhost", Some(address.to_owned()))
        }
        _ => return Err(DsnError::UnsupportedProtocol),
    };
    // Nothing in a Go DSN is escaped: every `%` is a literal one.
    let mut settings = settings_from_url(
        &utf8_percent_encode(user, ESCAPE).to_string(),
        &utf8_percent_encode(password, ESCAPE).to_string(),
        authority,
        &utf8_percent_encode(database, ESCAPE).to_string(),
    )?;
    settings.socket = socket;
    if let Some(query) = query {
        settings.params = parse_query(query)?;
    }
    finish(settings)
}

/// Splits `proto(address)/rest` (both parts optional) into its pieces, or `None` when `text`
/// does not start like that.
fn split_go_address(text: &str) -> Option<(&str, &str, &str)> {
    let protocol_end = text
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(text.len());
    let protocol = &text[..protocol_end];
    let after_protocol = &text[protocol_end..];
    if let Some(inside) = after_protocol.strip_prefix('(') {
        let close = inside.find(')')?;
        let after = inside[close + 1..].strip_prefix('/')?;
        Some((protocol, &inside[..close], after))
    } else {
        let after = after_protocol.strip_prefix('/')?;
        Some((protocol, "", after))
    }
}

fn parse_url_style(rest: &str) -> Result<DbSettings, DsnError> {
    let last_at = rest.rfind('@');
    let query_start = match last_at {
        Some(at) => rest[at..].find('?').map(|offset| at + offset),
        None => rest.find('?'),
    };
    let (before_query, query) = match query_start {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let (userinfo, host_and_path) = match before_query.rfind('@') {
        Some(at) => (&before_query[..at], &before_query[at + 1..]),
        None => ("", before_query),
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    check_escapes(user, "user")?;
    check_escapes(password, "password")?;
    let (authority, path) = host_and_path.split_once('/').unwrap_or((host_and_path, ""));
    let path = path.trim_end_matches('/');
    check_escapes(path, "database")?;
    if path.contains('/') {
        return Err(DsnError::Malformed("database name contains '/'"));
    }
    // Raw characters the URL parser would take for delimiters are escaped; escapes stay.
    let mut settings = settings_from_url(
        &utf8_percent_encode(user, KEEP_ESCAPES).to_string(),
        &utf8_percent_encode(password, KEEP_ESCAPES).to_string(),
        authority,
        &utf8_percent_encode(path, KEEP_ESCAPES).to_string(),
    )?;
    if let Some(query) = query {
        settings.params = parse_query(query)?;
    }
    finish(settings)
}

/// Every byte but `A-Z a-z 0-9 - . _ ~` is escaped (text that has no escapes of its own).
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`ESCAPE`], but an existing `%XX` escape is left alone.
const KEEP_ESCAPES: &AsciiSet = &ESCAPE.remove(b'%');

/// Parses `mysql://user:password@authority/database` (user, password and database already
/// escaped, `authority` as given; empty means `127.0.0.1`) with `mysql::Opts::from_url`.
fn settings_from_url(
    user: &str,
    password: &str,
    authority: &str,
    database: &str,
) -> Result<DbSettings, DsnError> {
    let authority = if authority.is_empty() {
        "127.0.0.1"
    } else {
        authority
    };
    let url = format!("mysql://{user}:{password}@{authority}/{database}");
    let opts = mysql::Opts::from_url(&url).map_err(|error| match error {
        mysql::UrlError::ParseError(url::ParseError::InvalidPort) => DsnError::BadPort,
        mysql::UrlError::ParseError(_) | mysql::UrlError::BadUrl => {
            DsnError::Malformed("bad host or address")
        }
        _ => DsnError::Malformed("not a valid mysql:// URL"),
    })?;
    if opts.get_tcp_port() == 0 {
        return Err(DsnError::BadPort);
    }
    let host = opts.get_ip_or_hostname();
    let host = host
        .strip_prefix('[')
        .and_then(|inside| inside.strip_suffix(']'))
        .unwrap_or(&host);
    Ok(DbSettings {
        user: opts.get_user().unwrap_or_default().to_owned(),
        password: opts.get_pass().unwrap_or_default().to_owned(),
        host: host.to_owned(),
        port: opts.get_tcp_port(),
        socket: None,
        database: opts.get_db_name().unwrap_or_default().to_owned(),
        params: Vec::new(),
        connect_timeout: None,
        read_timeout: None,
        write_timeout: None,
    })
}

/// Applies the parameters we act on and checks what both styles require.
fn finish(mut settings: DbSettings) -> Result<DbSettings, DsnError> {
    if settings.database.is_empty() {
        return Err(DsnError::MissingDatabase);
    }
    if settings.database.contains('/') {
        return Err(DsnError::Malformed("database name contains '/'"));
    }
    for (name, value) in settings.params.clone() {
        let duration = || {
            parse_go_duration(&value).ok_or(DsnError::BadParam {
                name: name.clone(),
                reason: "expected a duration such as 5s or 500ms",
            })
        };
        match name.as_str() {
            "timeout" => settings.connect_timeout = Some(duration()?),
            "readTimeout" => settings.read_timeout = Some(duration()?),
            "writeTimeout" => settings.write_timeout = Some(duration()?),
            "socket" => {
                if value.is_empty() {
                    return Err(DsnError::BadParam {
                        name,
                        reason: "empty socket path",
                    });
                }
                settings.socket = Some(value);
            }
            // `preferred` means "TLS if the server offers it", so plain TCP is a valid reading.
            "tls" if !matches!(value.as_str(), "false" | "0" | "preferred" | "") => {
                return Err(DsnError::TlsUnsupported);
            }
            _ => {}
        }
    }
    // A zero timeout would mean "none" to the driver; nobody means that.
    for timeout in [
        settings.connect_timeout,
        settings.read_timeout,
        settings.write_timeout,
    ] {
        if timeout == Some(Duration::ZERO) {
            return Err(DsnError::BadParam {
                name: "timeout".to_owned(),
                reason: "must be more than zero",
            });
        }
    }
    Ok(settings)
}

/// `a=1&b=x%20y` as `application/x-www-form-urlencoded` (so `+` is a space, as in the Go
/// driver), refusing bad escapes rather than guessing.
fn parse_query(query: &str) -> Result<Vec<(String, String)>, DsnError> {
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        check_escapes(name, "parameter name")?;
        check_escapes(value, "parameter value")?;
    }
    Ok(form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect())
}

/// Fails when a `%` in `text` does not start two hex digits, or the decoded bytes are not
/// UTF-8 (the decoders used here would keep or replace such text silently).
fn check_escapes(text: &str, field: &'static str) -> Result<(), DsnError> {
    let bad = || DsnError::BadPercentEncoding(field);
    for (at, _) in text.match_indices('%') {
        let hex = text.get(at + 1..at + 3).ok_or_else(bad)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|_| ())
        .map_err(|_| bad())
}

/// Go's `time.ParseDuration` subset: `300ms`, `1.5s`, `2m30s`, `1h`, `100us`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total_secs = 0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total_secs += number * scale;
        rest = &rest[unit_end..];
    }
    if !total_secs.is_finite() || total_secs > 86_400.0 * 365.0 {
        return None;
    }
    Some(Duration::from_secs_f64(total_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (dsn, user, password, host, port, socket, database)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        u16,
        Option<&'static str>,
        &'static str,
    );

    const GOOD: &[Row] = &[
        (
            "netengine:secret@tcp(127.0.0.1:3306)/netengine?parseTime=true",
            "netengine",
            "secret",
            "127.0.0.1",
            3306,
            None,
            "netengine",
        ),
        (
            "u:p@ss:w!rd#1@tcp(127.0.0.1:4000)/db?parseTime=true",
            "u",
            "p@ss:w!rd#1",
            "127.0.0.1",
            4000,
            None,
            "db",
        ),
        (
            "u:a@b@c@tcp(db.example.com)/app",
            "u",
            "a@b@c",
            "db.example.com",
            3306,
            None,
            "app",
        ),
        ("u:x/y?z@tcp(h:1)/d", "u", "x/y?z", "h", 1, None, "d"),
        ("u:@tcp(h:2)/d", "u", "", "h", 2, None, "d"),
        ("u@tcp(h:2)/d", "u", "", "h", 2, None, "d"),
        ("u:pw@tcp([::1]:3307)/d", "u", "pw", "::1", 3307, None, "d"),
        ("u:pw@/d", "u", "pw", "127.0.0.1", 3306, None, "d"),
        ("u:pw@tcp/d", "u", "pw", "127.0.0.1", 3306, None, "d"),
        (
            "u:pw@unix(/run/mysqld/mysqld.sock)/d",
            "u",
            "pw",
            "localhost",
            3306,
            Some("/run/mysqld/mysqld.sock"),
            "d",
        ),
        ("u:pw@tcp@tcp(h:5)/d", "u", "pw@tcp", "h", 5, None, "d"),
        ("  u:pw@tcp(h:5)/d \n", "u", "pw", "h", 5, None, "d"),
        (
            "mysql://netengine:secret@127.0.0.1:3306/netengine",
            "netengine",
            "secret",
            "127.0.0.1",
            3306,
            None,
            "netengine",
        ),
        (
            "mysql://u:p%40ss%3Aw%21rd%231@h:4000/db",
            "u",
            "p@ss:w!rd#1",
            "h",
            4000,
            None,
            "db",
        ),
        (
            "mysql://u:p@ss:w!rd#1@h:4000/db?x=1",
            "u",
            "p@ss:w!rd#1",
            "h",
            4000,
            None,
            "db",
        ),
        ("mysql://u:a?b@h/db", "u", "a?b", "h", 3306, None, "db"),
        (
            "MySQL://u:pw@[::1]:3307/db",
            "u",
            "pw",
            "::1",
            3307,
            None,
            "db",
        ),
        ("mariadb://u@h/db", "u", "", "h", 3306, None, "db"),
        (
            "mysql://u:pw@localhost/db?socket=%2Ftmp%2Fm.sock",
            "u",
            "pw",
            "localhost",
            3306,
            Some("/tmp/m.sock"),
            "db",
        ),
        (
            "mysql://u:caf%C3%A9@h/d%C3%A9",
            "u",
            "café",
            "h",
            3306,
            None,
            "dé",
        ),
        // Nothing is escaped in Go style, so `%` is literal there.
        ("u:100%25%@tcp(h)/d", "u", "100%25%", "h", 3306, None, "d"),
        ("mysql://u:a/b@h/d", "u", "a/b", "h", 3306, None, "d"),
        // Host names are normalised by the URL parser (lower case, IPv4 shorthand).
        (
            "u:pw@tcp(DB.Example.COM)/d",
            "u",
            "pw",
            "db.example.com",
            3306,
            None,
            "d",
        ),
        (
            "mysql://u:pw@127.1:5/d",
            "u",
            "pw",
            "127.0.0.1",
            5,
            None,
            "d",
        ),
    ];

    #[test]
    fn good_dsns_parse() {
        for &(dsn, user, password, host, port, socket, database) in GOOD {
            let settings = parse_dsn(dsn).unwrap_or_else(|e| panic!("{dsn}: {e}"));
            assert_eq!(settings.user, user, "{dsn}");
            assert_eq!(settings.password, password, "{dsn}");
            assert_eq!(settings.host, host, "{dsn}");
            assert_eq!(settings.port, port, "{dsn}");
            assert_eq!(settings.socket.as_deref(), socket, "{dsn}");
            assert_eq!(settings.database, database, "{dsn}");
            if !password.is_empty() {
                assert!(!format!("{settings:?}").contains(password), "{dsn}");
                assert!(!settings.to_string().contains(password), "{dsn}");
            }
        }
    }

    #[test]
    fn bad_dsns_fail_without_echoing_the_password() {
        let table: &[(&str, DsnError)] = &[
            ("", DsnError::Empty),
            (
                "u:s3cr3t@tcp(h:3306)",
                DsnError::Malformed("expected user:password@tcp(host:port)/database"),
            ),
            ("u:s3cr3t@tcp(h:3306)/", DsnError::MissingDatabase),
            ("u:s3cr3t@tcp(h:99999)/d", DsnError::BadPort),
            ("u:s3cr3t@tcp(h:0)/d", DsnError::BadPort),
            ("u:s3cr3t@tcp(h:x)/d", DsnError::BadPort),
            ("u:s3cr3t@udp(h:1)/d", DsnError::UnsupportedProtocol),
            (
                "u:s3cr3t@unix()/d",
                DsnError::Malformed("unix() needs a socket path"),
            ),
            ("postgres://u:s3cr3t@h/d", DsnError::UnsupportedProtocol),
            (
                "u:s3cr3t@db.example.com:3306/d",
                DsnError::Malformed("expected user:password@tcp(host:port)/database"),
            ),
            ("postgres://h/d", DsnError::UnsupportedProtocol),
            (
                "mysql://u:s3cr3t%zz@h/d",
                DsnError::BadPercentEncoding("password"),
            ),
            ("mysql://u:s3cr3t@h:70000/d", DsnError::BadPort),
            ("mysql://u:s3cr3t@h", DsnError::MissingDatabase),
            ("mysql://u:s3cr3t@h/d?tls=true", DsnError::TlsUnsupported),
            (
                "mysql://u:s3cr3t@h/d?x=%zz",
                DsnError::BadPercentEncoding("parameter value"),
            ),
            (
                "mysql://u:s3cr3t@h/d%2Fe",
                DsnError::Malformed("database name contains '/'"),
            ),
            (
                "mysql://u:s3cr3t@::1/d",
                DsnError::Malformed("bad host or address"),
            ),
            (
                "u:s3cr3t@tcp(h x)/d",
                DsnError::Malformed("bad host or address"),
            ),
            (
                "u:s3cr3t@tcp(h)/d?tls=skip-verify",
                DsnError::TlsUnsupported,
            ),
            (
                "u:s3cr3t@tcp(h)/d?timeout=soon",
                DsnError::BadParam {
                    name: "timeout".into(),
                    reason: "expected a duration such as 5s or 500ms",
                },
            ),
            (
                "u:s3cr3t@tcp(h)/d?readTimeout=0",
                DsnError::BadParam {
                    name: "timeout".into(),
                    reason: "must be more than zero",
                },
            ),
        ];
        for (dsn, expected) in table {
            let error = parse_dsn(dsn).expect_err(dsn);
            assert_eq!(&error, expected, "{dsn}");
            assert!(!error.to_string().contains("s3cr3t"), "{dsn}: {error}");
        }
    }

    #[test]
    fn params_and_timeouts() {
        let settings =
            parse_dsn("u:p@tcp(h)/d?parseTime=true&timeout=2s&readTimeout=1m30s&writeTimeout=500ms&tls=false&foo=bar&loc=Local")
                .unwrap();
        assert_eq!(settings.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(settings.read_timeout, Some(Duration::from_secs(90)));
        assert_eq!(settings.write_timeout, Some(Duration::from_millis(500)));
        assert_eq!(settings.ignored_params(), ["foo"]);
        assert_eq!(
            settings.params[0],
            ("parseTime".to_owned(), "true".to_owned())
        );
        // `+` is a space in a query, as in the Go driver.
        let settings = parse_dsn("mysql://u@h/d?socket=%2Ftmp%2Fa+b.sock").unwrap();
        assert_eq!(settings.socket.as_deref(), Some("/tmp/a b.sock"));
    }

    #[test]
    fn display_is_a_safe_log_form() {
        let settings = parse_dsn("u:pw@tcp([::1]:3307)/d").unwrap();
        assert_eq!(settings.to_string(), "u@tcp([::1]:3307)/d");
        let settings = parse_dsn("u:pw@unix(/s.sock)/d").unwrap();
        assert_eq!(settings.to_string(), "u@unix(/s.sock)/d");
        assert_eq!(settings.with_database("other").database, "other");
    }

    #[test]
    fn go_durations() {
        let table = [
            ("5s", Some(Duration::from_secs(5))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("2m30s", Some(Duration::from_secs(150))),
            ("1h", Some(Duration::from_secs(3600))),
            ("250ms", Some(Duration::from_millis(250))),
            ("100us", Some(Duration::from_micros(100))),
            ("0", Some(Duration::ZERO)),
            ("5", None),
            ("", None),
            ("s", None),
            ("5x", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_go_duration(text), expected, "{text}");
        }
    }
}
