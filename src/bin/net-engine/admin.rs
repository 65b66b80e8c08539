//! The administrative commands: `migrate` and `seed` (MySQL), `check` (one router).

use crate::args::{env_var, load_config, say, CommandResult, Flags, Outcome};
use crate::serve::db_settings;
use net_engine::router::probe::probe;
use net_engine::store::{parse_routers_csv, MysqlStore, StoreTimeouts};
use std::time::Duration;

const MIGRATE_USAGE: &str = "usage: net-engine migrate\n\nCreates or upgrades the MySQL schema at DB_DSN. Safe to run again: a second run changes nothing.";

const SEED_USAGE: &str = "usage: net-engine seed --file routers.csv\n\n\
    Inserts routers from a CSV file with the header name,host,port,username,password[,use_tls],\n\
    skipping rows whose host and port are already registered.";

const CHECK_USAGE: &str = "usage: net-engine check --host H [--port P] [--user U]\n\n\
    Connects, logs in, prints identity, version, board and round-trip time.\n\
    The password comes from ROUTER_PASSWORD, else a prompt. Exit 1 on failure.";

pub fn migrate(args: &[String]) -> CommandResult {
    if Flags::parse(args, &[], "net-engine migrate", MIGRATE_USAGE)?.help {
        say(MIGRATE_USAGE);
        return Ok(());
    }
    let settings = db_settings(&load_config()?)?;
    let report = MysqlStore::connect(&settings, StoreTimeouts::default())
        .and_then(|store| store.migrate())
        .map_err(|e| Outcome::Failed(format!("net-engine migrate: {e}")))?;
    say(&report.to_string());
    Ok(())
}

pub fn seed(args: &[String]) -> CommandResult {
    let flags = Flags::parse(args, &["file"], "net-engine seed", SEED_USAGE)?;
    if flags.help {
        say(SEED_USAGE);
        return Ok(());
    }
    let Some(path) = flags.get("file") else {
        return Err(Outcome::Usage(format!(
            "net-engine seed: --file is required\n{SEED_USAGE}"
        )));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Outcome::Usage(format!("net-engine seed: cannot read {path}: {e}")))?;
    let routers = parse_routers_csv(&text)
        .map_err(|e| Outcome::Usage(format!("net-engine seed: {path}: {e}")))?;
    let settings = db_settings(&load_config()?)?;
    let report = MysqlStore::connect(&settings, StoreTimeouts::default())
        .and_then(|store| store.seed_routers(&routers))
        .map_err(|e| Outcome::Failed(format!("net-engine seed: {e}")))?;
    say(&report.to_string());
    Ok(())
}

pub fn check(args: &[String]) -> CommandResult {
    let flags = Flags::parse(
        args,
        &["host", "port", "user"],
        "net-engine check",
        CHECK_USAGE,
    )?;
    if flags.help {
        say(CHECK_USAGE);
        return Ok(());
    }
    let Some(host) = flags.get("host") else {
        return Err(Outcome::Usage(format!(
            "net-engine check: --host is required\n{CHECK_USAGE}"
        )));
    };
    let port = match flags.get("port").map(str::parse::<u16>) {
        None => 8728,
        Some(Ok(port)) if port > 0 => port,
        Some(_) => {
            return Err(Outcome::Usage(
                "net-engine check: --port must be 1-65535".into(),
            ))
        }
    };
    let user = flags.get("user").unwrap_or("admin");
    let password = match env_var("ROUTER_PASSWORD") {
        Some(password) => password,
        None => {
            rpassword::prompt_password(format!("password for {user}@{host}: ")).map_err(|e| {
                Outcome::Usage(format!(
                    "net-engine check: no ROUTER_PASSWORD and cannot prompt: {e}"
                ))
            })?
        }
    };
    let report = probe(host, port, user, &password, Duration::from_secs(5))
        .map_err(|e| Outcome::Failed(format!("net-engine check: {host}:{port}: {e}")))?;
    say(&format!("router:   {host}:{port}"));
    say(&format!("identity: {}", report.identity));
    say(&format!("version:  {}", report.version));
    say(&format!("board:    {}", report.board));
    say(&format!(
        "login:    {:.1} ms",
        report.login_time.as_secs_f64() * 1000.0
    ));
    say(&format!(
        "rtt:      {:.2} ms",
        report.rtt.as_secs_f64() * 1000.0
    ));
    Ok(())
}
