fn main() {
    // Temporary wiring for the simulator's binary test; the lead replaces main.rs.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("sim") {
        std::process::exit(net_engine::sim::cli::run_cli(&args[1..]));
    }
}
