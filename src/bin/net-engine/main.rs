//! The `net-engine` binary: wiring only. Reads `.env`, starts the logger, parses the command
//! line and hands each subcommand to its own file; the library does the work.

mod admin;
mod args;
mod serve;
mod sim;
mod watchdog;

use args::{say, Outcome};

const USAGE: &str =
    "net-engine: persistent RouterOS API sessions for a MikroTik fleet, behind a REST API

usage:
  net-engine [serve]               production: routers from MySQL (DB_DSN) or a CSV file
                                   (ROUTERS_FILE), warm up, serve the API
  net-engine demo [--routers N] [--users N] [--listen ADDR]
                                   simulated fleet on loopback + the same engine and API
  net-engine sim --listen ADDR [--routers N] [--users N] [--legacy-login] [--version X.Y]
                 [--latency-ms N] [--rtt-ms N] [--redial-ms N] [--seed S] [--fault KIND]
                 [--login USER:PASSWORD]
                                   stand-alone RouterOS API simulator (router k on port+k)
  net-engine migrate               create or upgrade the MySQL schema (idempotent)
  net-engine seed --file routers.csv
                                   insert routers (name,host,port,username,password[,use_tls])
  net-engine check --host H [--port P] [--user U]
                                   log in to one router and print identity, version, latency
                                   (password from ROUTER_PASSWORD or a prompt)

Every command takes --help. Configuration comes from .env and the environment (see README).
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(&args));
}

fn run(args: &[String]) -> i32 {
    // A missing .env is normal; a broken one is worth saying.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("net-engine: cannot read .env: {e}");
            return 2;
        }
    }
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    // tiny_http logs an ERROR for the accept it is interrupted in at every shutdown; the edge
    // logs a real accept-loop failure itself. RUST_LOG=tiny_http=... brings it back.
    if !std::env::var("RUST_LOG").is_ok_and(|filter| filter.contains("tiny_http")) {
        logger.filter_module("tiny_http", log::LevelFilter::Off);
    }
    logger.init();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("serve", &[][..]),
    };
    let outcome = match command {
        "serve" => serve::serve(rest),
        "demo" => serve::demo(rest),
        "sim" => sim::sim(rest),
        "check" => admin::check(rest),
        "migrate" => admin::migrate(rest),
        "seed" => admin::seed(rest),
        "-h" | "--help" | "help" => {
            say(USAGE);
            Ok(())
        }
        "-V" | "--version" => {
            say(&format!("net-engine {}", env!("CARGO_PKG_VERSION")));
            Ok(())
        }
        other => Err(Outcome::Usage(format!(
            "net-engine: unknown command {other:?}\n\n{USAGE}"
        ))),
    };
    match outcome {
        Ok(()) => 0,
        Err(Outcome::Usage(message)) => {
            eprintln!("{message}");
            2
        }
        Err(Outcome::Failed(message)) => {
            eprintln!("{message}");
            1
        }
    }
}
