//! The benchmark's quick run as a test, so the benchmark cannot rot: every scenario runs at
//! small sizes and its figures must be sane and complete. No timing assertions: speed claims
//! live in `cargo bench --bench engine`, not here.

#[allow(dead_code)] // the benchmark's `main` and a few helpers only matter to the bench binary
#[path = "../benches/engine/main.rs"]
mod bench_engine;

use crate::support::engine::Watchdog;
use std::time::Duration;

#[test]
fn quick_benchmark_runs_every_scenario() {
    let _watchdog = Watchdog::new(
        "quick_benchmark_runs_every_scenario",
        Duration::from_secs(240),
    );
    let report = bench_engine::run(true).expect("quick benchmark runs");
    assert!(report.quick);

    let latency = report.latency.as_ref().expect("latency ran");
    assert_eq!(latency.runs.len(), 2, "latency 0 and an emulated WAN");
    for run in &latency.runs {
        assert_eq!(run.engine_errors, 0, "every traffic read answered 200");
        for summary in [
            &run.engine,
            &run.direct,
            &run.per_request,
            &run.per_request_uncached,
        ] {
            assert_eq!(summary.count, run.rounds);
            assert!(summary.p50_ms > 0.0 && summary.p99_ms >= summary.p50_ms);
        }
        assert!(run.engine_over_direct_p50 > 0.0 && run.per_request_over_engine_p50 > 0.0);
    }
    // With 20 ms per reply the router's own round trips dominate every path; the engine
    // sends one command per call (the address comes from its cache).
    let wan = &latency.runs[1];
    assert!(wan.direct.p50_ms >= 20.0, "one command at 20 ms: {wan:?}");
    assert!(
        wan.per_request_uncached.p50_ms >= 60.0,
        "login + two commands at 20 ms each: {wan:?}"
    );
    for run in &latency.runs {
        assert!(
            (0.99..=1.01).contains(&run.engine_commands_per_call),
            "one router command per warm traffic call: {run:?}"
        );
    }

    let share = report.share.as_ref().expect("share ran");
    assert!(share.calls > 0 && share.errors == 0, "{share:?}");
    assert!(
        share.router_commands < share.calls,
        "viewers of one user share commands: {share:?}"
    );

    let push = report.push.as_ref().expect("push ran");
    assert_eq!((push.missed_listen, push.missed_poll), (0, 0), "{push:?}");
    assert_eq!(
        push.stream_commands, 0,
        "a watched user costs no command: {push:?}"
    );
    assert!(push.command_commands > 0, "{push:?}");

    let pipeline = report.pipeline.as_ref().expect("pipeline ran");
    for run in [&pipeline.pipelined, &pipeline.serial] {
        assert_eq!(run.ok as usize, pipeline.items, "{pipeline:?}");
        assert_eq!(
            run.isolated, pipeline.items,
            "each isolation once: {pipeline:?}"
        );
    }
    // The serial run's figure counts the session listen started beside the first poll.
    assert!(
        pipeline.pipelined.max_in_flight_seen > pipeline.serial.max_in_flight_seen,
        "{pipeline:?}"
    );

    let reads = report.reads.as_ref().expect("reads ran");
    assert!(
        reads.engine.requests > 0 && reads.engine.errors == 0,
        "{reads:?}"
    );
    assert!(reads.sessions > 0 && reads.body_bytes > 0);
    assert_eq!(
        reads.engine.connects, reads.clients as u64,
        "keep-alive held"
    );
    assert!(
        reads.page_bytes > 0 && reads.page_engine.count > 0,
        "{reads:?}"
    );
    match (&reads.nginx, &reads.page_nginx) {
        (Some(nginx), Some(page)) => {
            assert!(nginx.requests > 0 && nginx.errors == 0, "{nginx:?}");
            assert_eq!(page.count, reads.page_engine.count);
        }
        _ => assert!(reads.nginx_note.is_some(), "a missing nginx is said"),
    }

    let scale = report.scale.as_ref().expect("scale ran");
    assert_eq!(scale.steps.len(), 2);
    for step in &scale.steps {
        assert_eq!(step.online, step.routers, "every router online: {step:?}");
        assert!(step.sessions > 0 && step.rss_kib > 0);
        assert!(
            step.threads >= step.threads_before + step.routers as u64,
            "{step:?}"
        );
        assert!(step.engine_cpu_s_per_min >= 0.0 && step.window_s > 0.0);
    }

    let overload = report.overload.as_ref().expect("overload ran");
    // Every caller is answered (200, 503 or 504), in the burst and the sustained phase.
    for (phase, a) in [
        ("burst", &overload.answers),
        ("sustained", &overload.sustained.answers),
    ] {
        assert_eq!(a.no_answer, 0, "{phase}: {overload:?}");
        assert_eq!(
            a.status_other, 0,
            "{phase}: only 200, 503 or 504: {overload:?}"
        );
        assert!(
            a.status_200 + a.status_503 + a.status_504 > 0,
            "{phase}: the overloaded engine still answered: {overload:?}"
        );
    }
    assert!(
        overload.sustained.requests >= overload.callers,
        "{overload:?}"
    );
    assert!(overload.rss_peak_kib >= overload.rss_before_kib);

    let reconnect = report.reconnect.as_ref().expect("reconnect ran");
    assert_eq!(reconnect.detect.count, reconnect.repetitions);
    assert_eq!(reconnect.online_after_restart.count, reconnect.repetitions);
    assert_eq!(reconnect.fresh_after_restart.count, reconnect.repetitions);

    let front = report.front.as_ref().expect("front ran");
    assert_eq!(front.admission_200, front.admission_calls, "{front:?}");
    assert_eq!(front.engine_alone.client_failures, 0);

    // Every scenario the benchmark knows, and the report.
    for name in bench_engine::SCENARIOS.iter().chain(&["report"]) {
        let path = report.output_dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).expect("figures written");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert!(value.is_object(), "{}", path.display());
    }
    assert!(report.table().lines().count() > 10);
}

#[test]
fn bench_client_reads_length_and_chunked_bodies() {
    use bench_engine::http_client::read_response;
    let mut line = String::new();
    let mut body = Vec::new();
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
    let mut reader = &raw[..];
    let (status, keep) = read_response(&mut reader, &mut line, &mut body).unwrap();
    assert_eq!((status.status, status.body_len, keep), (200, 5, true));
    assert_eq!(body, b"hello");
    let (status, keep) = read_response(&mut reader, &mut line, &mut body).unwrap();
    assert_eq!((status.status, keep), (503, false));
    assert_eq!(body, b"abcde");
    assert!(read_response(&mut reader, &mut line, &mut body).is_err());
    // A response cut short is incomplete, never a success.
    let mut short = &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhel"[..];
    assert!(read_response(&mut short, &mut line, &mut body).is_err());
}

#[test]
fn bench_percentiles_and_proc_parsing() {
    use bench_engine::stats::{
        process_figures, schedstat_seconds, stat_cpu_seconds, thread_groups, Summary,
    };
    let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
    let s = Summary::of(&samples);
    assert_eq!(
        (s.count, s.p50_ms, s.p99_ms, s.max_ms),
        (100, 50.0, 99.0, 100.0)
    );
    assert_eq!(Summary::of(&[]).count, 0);
    let stat = "42 (http 1) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0";
    assert!((stat_cpu_seconds(stat) - 4.0).abs() < 1e-9);
    assert!((schedstat_seconds("1500000000 20 3\n") - 1.5).abs() < 1e-9);
    // A thread's own run time counts under its name, to the microsecond.
    let (spun, done) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let spinner = std::thread::Builder::new()
        .name("smoke-spin".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_millis(60) {
                std::hint::spin_loop();
            }
            spun.0.send(()).unwrap();
            let _ = done.1.recv();
        })
        .unwrap();
    spun.1.recv().unwrap();
    let groups = thread_groups();
    done.0.send(()).unwrap();
    spinner.join().unwrap();
    let (cpu, runs) = groups["smoke-spin"];
    assert!((0.03..5.0).contains(&cpu), "{cpu}");
    assert!(runs >= 1, "{runs}");
    assert!(!groups.contains_key("no-such-thread"));
    // Digits are one `N`: every `router-17` is `router-N`.
    assert!(groups
        .keys()
        .all(|name| !name.contains(|c: char| c.is_ascii_digit())));
    assert!(process_figures(None).threads >= 1);
}
