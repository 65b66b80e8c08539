//! The `/metrics` exposition read back by the strict parser: every family of the metric set
//! with the values recorded, escaping that round-trips, complete and cumulative histograms.

use net_engine::metrics::{
    Histogram, MetricType, Metrics, RouterGauges, ScrapeSnapshot, TextWriter, WebhookTotals,
};
use net_engine::model::RouterId;

use crate::support::prometheus::{find, parse_exposition};

fn router_gauges(id: u64, name: &str, up: bool) -> RouterGauges {
    RouterGauges {
        router_id: RouterId(id),
        name: name.to_string(),
        up,
        queue_depth: id,
        active_sessions: 10 * id,
        reconnects: 0,
    }
}

#[test]
fn rendered_metric_set_parses_and_holds_every_family() {
    let metrics = Metrics::new("0.1.0");
    metrics.command_observed(RouterId(1), 0.004);
    metrics.command_observed(RouterId(1), 0.2);
    metrics.command_observed(RouterId(2), 30.0);
    metrics.reconnect(RouterId(2));
    metrics.reconnect(RouterId(2));
    metrics.http_request("/api/v1/router/:id/health", 200, 0.003);
    metrics.http_request("/api/v1/router/:id/health", 200, 0.001);
    metrics.http_request("/api/v1/router/:id/health", 503, 0.0001);
    let snapshot = ScrapeSnapshot {
        routers: vec![
            router_gauges(2, "core", false),
            router_gauges(1, "edge", true),
        ],
        webhook: WebhookTotals {
            delivered: 5,
            failed: 1,
            dropped: 2,
            retried: 3,
        },
    };
    let text = metrics.render(&snapshot);
    let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    let one = |name: &str, labels: &[(&str, &str)]| {
        find(&samples, name, labels)
            .unwrap_or_else(|| panic!("missing {name} {labels:?}\n{text}"))
            .value
    };
    assert_eq!(one("netengine_build_info", &[("version", "0.1.0")]), 1.0);
    assert_eq!(
        one(
            "netengine_router_up",
            &[("router_id", "1"), ("name", "edge")]
        ),
        1.0
    );
    assert_eq!(
        one(
            "netengine_router_up",
            &[("router_id", "2"), ("name", "core")]
        ),
        0.0
    );
    assert_eq!(
        one("netengine_router_reconnects_total", &[("router_id", "1")]),
        0.0
    );
    assert_eq!(
        one("netengine_router_reconnects_total", &[("router_id", "2")]),
        2.0
    );
    assert_eq!(
        one("netengine_router_queue_depth", &[("router_id", "2")]),
        2.0
    );
    assert_eq!(
        one("netengine_router_active_sessions", &[("router_id", "1")]),
        10.0
    );
    let r1 = [("router_id", "1")];
    assert_eq!(one("netengine_command_duration_seconds_count", &r1), 2.0);
    assert!((one("netengine_command_duration_seconds_sum", &r1) - 0.204).abs() < 1e-9);
    let r1_5ms = [("router_id", "1"), ("le", "0.005")];
    assert_eq!(
        one("netengine_command_duration_seconds_bucket", &r1_5ms),
        1.0
    );
    let r2_inf = [("router_id", "2"), ("le", "+Inf")];
    assert_eq!(
        one("netengine_command_duration_seconds_bucket", &r2_inf),
        1.0
    );
    let r2_10s = [("router_id", "2"), ("le", "10")];
    assert_eq!(
        one("netengine_command_duration_seconds_bucket", &r2_10s),
        0.0
    );
    let health = "/api/v1/router/:id/health";
    assert_eq!(
        one(
            "netengine_http_requests_total",
            &[("route", health), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        one(
            "netengine_http_requests_total",
            &[("route", health), ("status", "503")]
        ),
        1.0
    );
    assert_eq!(
        one(
            "netengine_http_request_duration_seconds_count",
            &[("route", health)]
        ),
        3.0
    );
    assert_eq!(one("netengine_webhook_deliveries_total", &[]), 5.0);
    assert_eq!(one("netengine_webhook_failures_total", &[]), 1.0);
    assert_eq!(one("netengine_webhook_dropped_total", &[]), 2.0);
    assert_eq!(one("netengine_webhook_retries_total", &[]), 3.0);
    assert!(text.contains("# TYPE netengine_command_duration_seconds histogram\n"));
    assert!(text.contains("# TYPE netengine_http_requests_total counter\n"));
}

#[test]
fn a_router_missing_from_the_snapshot_loses_all_its_series() {
    let metrics = Metrics::new("0.1.0");
    metrics.reconnect(RouterId(7));
    metrics.command_observed(RouterId(7), 0.01);
    metrics.command_observed(RouterId(8), 0.01);
    let both = ScrapeSnapshot {
        routers: vec![router_gauges(7, "a", true), router_gauges(8, "b", true)],
        ..ScrapeSnapshot::default()
    };
    assert!(metrics.render(&both).contains("router_id=\"7\""));
    let only_eight = ScrapeSnapshot {
        routers: vec![router_gauges(8, "b", true)],
        ..ScrapeSnapshot::default()
    };
    let text = metrics.render(&only_eight);
    parse_exposition(&text).unwrap();
    assert!(!text.contains("router_id=\"7\""), "{text}");
    assert_eq!(metrics.reconnects(RouterId(7)), 0);
    assert!(metrics.command_duration(RouterId(7)).is_none());

    metrics.remove_router(RouterId(8));
    assert!(metrics.command_duration(RouterId(8)).is_none());
}

#[test]
fn reconnects_from_the_snapshot_and_recorded_ones_add_up() {
    let metrics = Metrics::new("0.1.0");
    metrics.reconnect(RouterId(4));
    let mut router = router_gauges(4, "r", true);
    router.reconnects = 3;
    let snapshot = ScrapeSnapshot {
        routers: vec![router],
        ..ScrapeSnapshot::default()
    };
    let samples = parse_exposition(&metrics.render(&snapshot)).unwrap();
    let total = find(
        &samples,
        "netengine_router_reconnects_total",
        &[("router_id", "4")],
    );
    assert_eq!(total.map(|s| s.value), Some(4.0));
}

#[test]
fn empty_fleet_renders_a_valid_exposition() {
    let text = Metrics::new("0.1.0").render(&ScrapeSnapshot::default());
    let samples = parse_exposition(&text).unwrap();
    assert!(find(&samples, "netengine_webhook_dropped_total", &[]).is_some());
    assert!(text.contains("# TYPE netengine_router_up gauge\n"));
}

#[test]
fn duplicate_router_ids_in_a_snapshot_render_once() {
    let metrics = Metrics::new("0.1.0");
    let snapshot = ScrapeSnapshot {
        routers: vec![router_gauges(3, "x", true), router_gauges(3, "x", true)],
        ..ScrapeSnapshot::default()
    };
    parse_exposition(&metrics.render(&snapshot)).unwrap();
}

#[test]
fn label_values_and_help_are_escaped_and_round_trip() {
    let awkward = "back\\slash \"quoted\"\nnext line, {braces}=é";
    let mut writer = TextWriter::new();
    writer.family(
        "odd_metric",
        "help with \\ and\nnewline \"quotes\"",
        MetricType::Gauge,
    );
    writer.sample("odd_metric", &[("name", awkward), ("other", "")], -2.5);
    let text = writer.finish();
    assert!(
        text.contains(r#"name="back\\slash \"quoted\"\nnext line, {braces}=é""#),
        "{text}"
    );
    assert!(text.contains("# HELP odd_metric help with \\\\ and\\nnewline \"quotes\"\n"));
    assert_eq!(text.lines().count(), 3);
    let samples = parse_exposition(&text).unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].label("name"), Some(awkward));
    assert_eq!(samples[0].label("other"), Some(""));
    assert_eq!(samples[0].value, -2.5);
}

#[test]
fn router_names_with_quotes_are_escaped_in_router_up() {
    let metrics = Metrics::new("1.0.0\"beta");
    let snapshot = ScrapeSnapshot {
        routers: vec![router_gauges(1, "Tower \"A\"\\north\n", true)],
        ..ScrapeSnapshot::default()
    };
    let samples = parse_exposition(&metrics.render(&snapshot)).unwrap();
    let up = find(
        &samples,
        "netengine_router_up",
        &[("router_id", "1"), ("name", "Tower \"A\"\\north\n")],
    );
    assert_eq!(up.map(|s| s.value), Some(1.0));
    assert!(find(
        &samples,
        "netengine_build_info",
        &[("version", "1.0.0\"beta")]
    )
    .is_some());
}

#[test]
fn histogram_buckets_are_cumulative_with_inf_sum_and_count() {
    let histogram: Histogram<()> =
        Histogram::new("h_seconds", "h", &[1.0, 0.1, 0.5, 0.5, f64::INFINITY]);
    for value in [0.05, 0.1, 0.3, 0.7, 2.0, 3.0, f64::NAN] {
        histogram.observe((), value);
    }
    let snapshot = histogram.get(&()).unwrap();
    assert_eq!(snapshot.upper_bounds, vec![0.1, 0.5, 1.0]);
    // 0.1 sits in the 0.1 bucket: `le` means less than or equal.
    assert_eq!(snapshot.cumulative_counts, vec![2, 3, 4]);
    assert_eq!(snapshot.count, 6);
    assert!((snapshot.sum - 6.15).abs() < 1e-9);

    let mut writer = TextWriter::new();
    histogram.render(&mut writer);
    let text = writer.finish();
    let samples = parse_exposition(&text).unwrap();
    let buckets: Vec<(String, f64)> = samples
        .iter()
        .filter(|s| s.name == "h_seconds_bucket")
        .map(|s| (s.label("le").unwrap().to_string(), s.value))
        .collect();
    let expected = [("0.1", 2.0), ("0.5", 3.0), ("1", 4.0), ("+Inf", 6.0)];
    let expected: Vec<(String, f64)> = expected.iter().map(|(l, v)| (l.to_string(), *v)).collect();
    assert_eq!(buckets, expected);
    assert_eq!(find(&samples, "h_seconds_count", &[]).unwrap().value, 6.0);
    assert!((find(&samples, "h_seconds_sum", &[]).unwrap().value - 6.15).abs() < 1e-9);
}
