//! `net-engine check`'s work: connect to one router, log in, and measure it. No printing here;
//! the binary formats the report.

use super::{Client, RouterError};
use std::time::{Duration, Instant};

/// What one probe of a router found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub identity: String,
    pub version: String,
    pub board: String,
    /// Connect plus login.
    pub login_time: Duration,
    /// One `/system/resource/print` round trip after login.
    pub rtt: Duration,
}

/// Connects to `host:port`, logs in as `user`, reads identity and resources, and says `/quit`.
/// Every step waits at most `timeout`.
pub fn probe(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    timeout: Duration,
) -> Result<ProbeReport, RouterError> {
    let started = Instant::now();
    let mut client = Client::connect(host, port, timeout)?;
    client.login(user, password, Instant::now() + timeout)?;
    let login_time = started.elapsed();
    let identity = client.identity(Instant::now() + timeout)?;
    let round_trip = Instant::now();
    let resource = client.resource(Instant::now() + timeout)?;
    let rtt = round_trip.elapsed();
    client.quit(Instant::now() + Duration::from_millis(500));
    Ok(ProbeReport {
        identity: identity.name,
        version: resource.version,
        board: resource.board_name,
        login_time,
        rtt,
    })
}
