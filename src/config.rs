//! Configuration from a key→value lookup (`.env` + environment in production, a map in tests).
//!
//! Every variable of the design's table is parsed here, once; a bad value is a one-line
//! error naming the variable. Only `main.rs` reads the process environment.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Keys that were published as samples and must not guard a real deployment.
const SAMPLE_APP_KEYS: &[&str] = &[
    "your-secret-key",
    "your_app_key",
    "changeme",
    "secret",
    "base64:your-app-key",
    "app-key",
];

/// The parsed configuration of `serve` and `demo`.
#[derive(Clone, PartialEq)]
pub struct Config {
    pub db_dsn: Option<String>,
    /// `ROUTERS_FILE`: read the router registry from this CSV file instead of MySQL.
    pub routers_file: Option<std::path::PathBuf>,
    /// `AUDIT_FILE`: the audit trail's JSON-lines file when there is no MySQL (`serve`
    /// defaults to `net-engine-audit.jsonl` in the working directory).
    pub audit_file: Option<std::path::PathBuf>,
    pub listen: SocketAddr,
    pub app_key: Option<String>,
    pub http_threads: usize,
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    pub poll_interval: Duration,
    /// `TRAFFIC_SHARE_S`: a traffic reading answers every call for that user this long.
    pub traffic_share_window: Duration,
    /// `UNREACHABLE_RETRY_S`: how often an unreachable router's TCP connect is retried.
    pub unreachable_retry: Duration,
    /// `LOGIN_BACKOFF_MAX_S`: the longest wait before retrying a router that refuses the login.
    pub login_backoff_max: Duration,
    /// `TRAFFIC_STREAMS_MAX`: most live traffic streams per router (0: one command per call).
    pub traffic_streams_max: usize,
    /// `TRAFFIC_STREAM_IDLE_S`: a traffic stream nobody asked about this long is cancelled.
    pub traffic_stream_idle: Duration,
    /// `BULK_IN_FLIGHT`: most commands `POST /bulk` keeps in flight on one router.
    pub bulk_in_flight: usize,
    pub warmup_timeout: Duration,
    /// `None` when `RELOAD_INTERVAL_S=0` (never re-read the registry on a timer).
    pub reload_interval: Option<Duration>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub cors_origin: Option<String>,
    pub metrics_public: bool,
}

impl fmt::Debug for Config {
    // Secrets stay out of logs: only whether they are set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("db_dsn", &self.db_dsn.as_ref().map(|_| "<set>"))
            .field("routers_file", &self.routers_file)
            .field("audit_file", &self.audit_file)
            .field("listen", &self.listen)
            .field("app_key", &self.app_key.as_ref().map(|_| "<set>"))
            .field("http_threads", &self.http_threads)
            .field("command_timeout", &self.command_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("traffic_share_window", &self.traffic_share_window)
            .field("unreachable_retry", &self.unreachable_retry)
            .field("login_backoff_max", &self.login_backoff_max)
            .field("traffic_streams_max", &self.traffic_streams_max)
            .field("traffic_stream_idle", &self.traffic_stream_idle)
            .field("bulk_in_flight", &self.bulk_in_flight)
            .field("warmup_timeout", &self.warmup_timeout)
            .field("reload_interval", &self.reload_interval)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<set>"),
            )
            .field("cors_origin", &self.cors_origin)
            .field("metrics_public", &self.metrics_public)
            .finish()
    }
}

/// A configuration variable with a bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn error(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

impl Config {
    /// Reads every variable through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let listen = match get("API_PORT") {
            Some(value) => parse_listen(&value).map_err(|m| error("API_PORT", m))?,
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080),
        };
        let count = |name: &'static str,
                     range: std::ops::RangeInclusive<usize>,
                     default: usize|
         -> Result<usize, ConfigError> {
            match get(name) {
                Some(value) => match value.parse::<usize>() {
                    Ok(n) if range.contains(&n) => Ok(n),
                    _ => Err(error(
                        name,
                        format!(
                            "expected a number from {} to {}, got {value:?}",
                            range.start(),
                            range.end()
                        ),
                    )),
                },
                None => Ok(default),
            }
        };
        let http_threads = count("HTTP_THREADS", 1..=1024, 8)?;
        let seconds =
            |name: &'static str, default: f64, allow_zero: bool| -> Result<Duration, ConfigError> {
                match get(name) {
                    Some(value) => parse_seconds(&value, allow_zero).map_err(|m| error(name, m)),
                    None => Ok(Duration::from_secs_f64(default)),
                }
            };
        let reload = seconds("RELOAD_INTERVAL_S", 60.0, true)?;
        let traffic_share = seconds("TRAFFIC_SHARE_S", 0.25, true)?;
        if traffic_share > Duration::from_secs(5) {
            return Err(error(
                "TRAFFIC_SHARE_S",
                "expected at most 5 seconds (a shared reading is that old at most)",
            ));
        }
        let traffic_streams_max = count("TRAFFIC_STREAMS_MAX", 0..=1000, 32)?;
        let bulk_in_flight = count("BULK_IN_FLIGHT", 1..=256, 32)?;
        let webhook_url = get("WEBHOOK_URL");
        if let Some(url) = &webhook_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(error(
                    "WEBHOOK_URL",
                    format!("expected an http:// or https:// URL, got {url:?}"),
                ));
            }
        }
        let webhook_secret = get("WEBHOOK_SECRET");
        if webhook_url.is_some() && webhook_secret.is_none() {
            return Err(error("WEBHOOK_SECRET", "required when WEBHOOK_URL is set (the receiver verifies the Signature header with it)"));
        }
        let metrics_public = match get("METRICS_PUBLIC").as_deref() {
            None | Some("0") | Some("false") | Some("no") => false,
            Some("1") | Some("true") | Some("yes") => true,
            Some(other) => {
                return Err(error(
                    "METRICS_PUBLIC",
                    format!("expected 1 or 0, got {other:?}"),
                ))
            }
        };
        Ok(Config {
            db_dsn: get("DB_DSN"),
            routers_file: get("ROUTERS_FILE").map(std::path::PathBuf::from),
            audit_file: get("AUDIT_FILE").map(std::path::PathBuf::from),
            listen,
            app_key: get("APP_KEY"),
            http_threads,
            command_timeout: seconds("COMMAND_TIMEOUT_S", 10.0, false)?,
            connect_timeout: seconds("CONNECT_TIMEOUT_S", 5.0, false)?,
            poll_interval: seconds("POLL_INTERVAL_S", 10.0, false)?,
            traffic_share_window: traffic_share,
            unreachable_retry: seconds("UNREACHABLE_RETRY_S", 1.0, false)?,
            login_backoff_max: seconds("LOGIN_BACKOFF_MAX_S", 300.0, false)?,
            traffic_streams_max,
            traffic_stream_idle: seconds("TRAFFIC_STREAM_IDLE_S", 30.0, false)?,
            bulk_in_flight,
            warmup_timeout: seconds("WARMUP_TIMEOUT_S", 10.0, true)?,
            reload_interval: if reload.is_zero() { None } else { Some(reload) },
            webhook_url,
            webhook_secret,
            cors_origin: get("CORS_ORIGIN"),
            metrics_public,
        })
    }

    /// Warnings about a weak `APP_KEY` (short or a published sample).
    pub fn app_key_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(key) = &self.app_key {
            if key.chars().count() < 16 {
                warnings.push("APP_KEY is shorter than 16 characters: anyone who can reach the API may guess it".to_owned());
            }
            if SAMPLE_APP_KEYS
                .iter()
                .any(|sample| sample.eq_ignore_ascii_case(key))
            {
                warnings.push("APP_KEY is a published sample key: set a random one (e.g. `openssl rand -hex 24`)".to_owned());
            }
        }
        warnings
    }
}

/// Accepts `:8080`, `8080`, `127.0.0.1:8080` and `[::1]:8080`.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let port_only = value.strip_prefix(':').unwrap_or(value);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    value
        .parse::<SocketAddr>()
        .map_err(|_| format!("expected :PORT, PORT, HOST:PORT or [IPv6]:PORT, got {value:?}"))
}

/// Seconds as a positive decimal number (`10`, `0.5`); zero only where `allow_zero`.
pub fn parse_seconds(value: &str, allow_zero: bool) -> Result<Duration, String> {
    let seconds: f64 = value
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {value:?}"))?;
    if !seconds.is_finite()
        || !(0.0..=86_400.0).contains(&seconds)
        || (!allow_zero && seconds == 0.0)
    {
        let range = if allow_zero { "from 0" } else { "above 0" };
        return Err(format!(
            "expected seconds {range} up to 86400, got {value:?}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_design() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.http_threads, 8);
        assert_eq!(c.command_timeout, Duration::from_secs(10));
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.poll_interval, Duration::from_secs(10));
        assert_eq!(c.traffic_share_window, Duration::from_millis(250));
        assert_eq!(c.unreachable_retry, Duration::from_secs(1));
        assert_eq!(c.login_backoff_max, Duration::from_secs(300));
        assert_eq!(c.traffic_streams_max, 32);
        assert_eq!(c.traffic_stream_idle, Duration::from_secs(30));
        assert_eq!(c.bulk_in_flight, 32);
        assert_eq!(c.warmup_timeout, Duration::from_secs(10));
        assert_eq!(c.reload_interval, Some(Duration::from_secs(60)));
        assert_eq!(c.app_key, None);
        assert!(!c.metrics_public);
    }

    #[test]
    fn listen_forms() {
        for (input, expected) in [
            (":8080", "0.0.0.0:8080"),
            ("8080", "0.0.0.0:8080"),
            ("127.0.0.1:9000", "127.0.0.1:9000"),
            ("[::1]:8080", "[::1]:8080"),
        ] {
            assert_eq!(
                config(&[("API_PORT", input)]).unwrap().listen,
                expected.parse().unwrap(),
                "{input}"
            );
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("API_PORT", "eighty"),
            ("API_PORT", ":99999"),
            ("HTTP_THREADS", "0"),
            ("COMMAND_TIMEOUT_S", "-1"),
            ("COMMAND_TIMEOUT_S", "0"),
            ("POLL_INTERVAL_S", "ten"),
            ("WEBHOOK_URL", "ftp://x"),
            ("METRICS_PUBLIC", "maybe"),
            ("TRAFFIC_SHARE_S", "6"),
            ("TRAFFIC_STREAMS_MAX", "many"),
            ("TRAFFIC_STREAMS_MAX", "5000"),
            ("BULK_IN_FLIGHT", "0"),
            ("BULK_IN_FLIGHT", "many"),
            ("TRAFFIC_STREAM_IDLE_S", "0"),
            ("UNREACHABLE_RETRY_S", "0"),
            ("LOGIN_BACKOFF_MAX_S", "soon"),
            ("TRAFFIC_SHARE_S", "soon"),
        ] {
            let e = config(&[(name, value)]).unwrap_err();
            assert_eq!(e.variable, name);
            assert!(e.to_string().starts_with(name), "{e}");
        }
        assert_eq!(
            config(&[("RELOAD_INTERVAL_S", "0")])
                .unwrap()
                .reload_interval,
            None
        );
        assert_eq!(
            config(&[("COMMAND_TIMEOUT_S", "0.5")])
                .unwrap()
                .command_timeout,
            Duration::from_millis(500)
        );
        assert_eq!(
            config(&[("TRAFFIC_SHARE_S", "0")])
                .unwrap()
                .traffic_share_window,
            Duration::ZERO
        );
    }

    #[test]
    fn weak_keys_warn_and_debug_hides_secrets() {
        let c = config(&[("APP_KEY", "changeme"), ("DB_DSN", "u:hunter2@tcp(h:1)/d")]).unwrap();
        assert_eq!(c.app_key_warnings().len(), 2);
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{c:?}").contains("changeme"));
        let strong = config(&[("APP_KEY", "a-very-long-random-key-123")]).unwrap();
        assert!(strong.app_key_warnings().is_empty());
    }
}
