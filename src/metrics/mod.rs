//! Prometheus metrics: net-engine's metric set, recorded by the engine and rendered per scrape.
//!
//! [`Metrics`] is the fixed set `/metrics` serves; the text format itself (writer, counter,
//! gauge and histogram families) lives in [`exposition`], re-exported here.
//!
//! Invariants: recording is one short mutex hold per family (no allocation for router and
//! HTTP series after their first observation); label values of the HTTP metrics are
//! `&'static str` route patterns, so the series count stays bounded by the routing table;
//! every series of a router that is not in the scrape snapshot is removed at render time.

pub mod exposition;

pub use exposition::{
    Counter, Gauge, Histogram, HistogramSnapshot, LabelSet, MetricType, TextWriter, CONTENT_TYPE,
};

use crate::model::RouterId;
use std::collections::BTreeSet;

/// Latency buckets in seconds for router commands and HTTP requests: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `{router_id="N"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouterLabel(pub RouterId);

impl LabelSet for RouterLabel {
    fn label_pairs(&self) -> Vec<(&'static str, String)> {
        vec![("router_id", self.0 .0.to_string())]
    }
}

/// `{route="/api/v1/router/:id/health"}`: a routing-table pattern, never a raw path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteLabel(pub &'static str);

impl LabelSet for RouteLabel {
    fn label_pairs(&self) -> Vec<(&'static str, String)> {
        vec![("route", self.0.to_string())]
    }
}

/// `{route="...",status="200"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteStatusLabels {
    pub route: &'static str,
    pub status: u16,
}

impl LabelSet for RouteStatusLabels {
    fn label_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("route", self.route.to_string()),
            ("status", self.status.to_string()),
        ]
    }
}

/// Per-router gauge values taken from a fleet snapshot at scrape time.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterGauges {
    pub router_id: RouterId,
    pub name: String,
    /// Logged in and answering.
    pub up: bool,
    /// Commands waiting in the router thread's channel.
    pub queue_depth: u64,
    pub active_sessions: u64,
    /// Reconnects counted by the fleet itself (e.g. `RouterSnapshot::reconnects`); added to
    /// those recorded with [`Metrics::reconnect`]. Use one source or the other, not both.
    pub reconnects: u64,
}

/// Webhook delivery totals (from `webhook::WebhookStats`), zero when webhooks are off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookTotals {
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub retried: u64,
}

/// Everything `render` needs besides the recorded events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScrapeSnapshot {
    /// Every router the fleet runs now; series of routers not listed here are removed.
    pub routers: Vec<RouterGauges>,
    pub webhook: WebhookTotals,
}

/// net-engine's metrics: hot-path recording from any thread, one `render` per scrape.
/// Share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    version: String,
    reconnects: Counter<RouterLabel>,
    command_duration: Histogram<RouterLabel>,
    http_requests: Counter<RouteStatusLabels>,
    http_request_duration: Histogram<RouteLabel>,
}

impl Metrics {
    pub fn new(version: &str) -> Self {
        Metrics {
            version: version.to_string(),
            reconnects: Counter::new(
                "netengine_router_reconnects_total",
                "Connections to the router that were lost and set up again.",
            ),
            command_duration: Histogram::new(
                "netengine_command_duration_seconds",
                "Time from sending a command to a router to its complete reply.",
                &LATENCY_BUCKETS,
            ),
            http_requests: Counter::new(
                "netengine_http_requests_total",
                "HTTP requests answered, by route pattern and status code.",
            ),
            http_request_duration: Histogram::new(
                "netengine_http_request_duration_seconds",
                "Time to answer an HTTP request, by route pattern.",
                &LATENCY_BUCKETS,
            ),
        }
    }

    /// A router command finished (successfully or not) after `seconds`.
    pub fn command_observed(&self, router_id: RouterId, seconds: f64) {
        self.command_duration
            .observe(RouterLabel(router_id), seconds);
    }

    /// A router's connection was lost and a new one logged in.
    pub fn reconnect(&self, router_id: RouterId) {
        self.reconnects.inc(RouterLabel(router_id));
    }

    /// An HTTP request was answered. `route` is the routing-table pattern (e.g.
    /// `/api/v1/router/:id/health`, or a fixed word such as `unmatched` for 404s), never the
    /// raw path, so the number of series stays bounded.
    pub fn http_request(&self, route: &'static str, status: u16, seconds: f64) {
        self.http_requests.inc(RouteStatusLabels { route, status });
        self.http_request_duration
            .observe(RouteLabel(route), seconds);
    }

    /// Forgets every series of a removed router (render also does this for routers missing
    /// from its snapshot).
    pub fn remove_router(&self, router_id: RouterId) {
        let label = RouterLabel(router_id);
        self.reconnects.remove(&label);
        self.command_duration.remove(&label);
    }

    pub fn reconnects(&self, router_id: RouterId) -> u64 {
        self.reconnects.get(&RouterLabel(router_id))
    }

    pub fn command_duration(&self, router_id: RouterId) -> Option<HistogramSnapshot> {
        self.command_duration.get(&RouterLabel(router_id))
    }

    pub fn http_requests(&self, route: &'static str, status: u16) -> u64 {
        self.http_requests.get(&RouteStatusLabels { route, status })
    }

    /// The text exposition for one scrape, with gauges from `snapshot`. Per-router series of
    /// routers absent from the snapshot are dropped; listed routers get zero-valued series.
    pub fn render(&self, snapshot: &ScrapeSnapshot) -> String {
        let mut routers: Vec<&RouterGauges> = snapshot.routers.iter().collect();
        routers.sort_by_key(|router| router.router_id);
        routers.dedup_by_key(|router| router.router_id);
        let live: BTreeSet<RouterLabel> =
            routers.iter().map(|r| RouterLabel(r.router_id)).collect();
        self.reconnects.retain(|label| live.contains(label));
        self.command_duration.retain(|label| live.contains(label));
        for label in &live {
            self.command_duration.init(*label);
        }

        let mut writer = TextWriter::new();
        writer.family(
            "netengine_build_info",
            "Always 1; the version label says which net-engine is running.",
            MetricType::Gauge,
        );
        writer.sample(
            "netengine_build_info",
            &[("version", self.version.as_str())],
            1.0,
        );

        writer.family(
            "netengine_router_up",
            "1 when the router's API session is logged in, else 0.",
            MetricType::Gauge,
        );
        for router in &routers {
            let id = router.router_id.0.to_string();
            let up = if router.up { 1.0 } else { 0.0 };
            let labels = [("router_id", id.as_str()), ("name", router.name.as_str())];
            writer.sample("netengine_router_up", &labels, up);
        }

        writer.family(
            self.reconnects.name(),
            self.reconnects.help(),
            MetricType::Counter,
        );
        for router in &routers {
            let id = router.router_id.0.to_string();
            let recorded = self.reconnects.get(&RouterLabel(router.router_id));
            let total = recorded.saturating_add(router.reconnects);
            let labels = [("router_id", id.as_str())];
            writer.sample_u64(self.reconnects.name(), &labels, total);
        }

        writer.family(
            "netengine_router_queue_depth",
            "Commands waiting for the router's thread.",
            MetricType::Gauge,
        );
        for router in &routers {
            let id = router.router_id.0.to_string();
            let labels = [("router_id", id.as_str())];
            writer.sample_u64("netengine_router_queue_depth", &labels, router.queue_depth);
        }

        writer.family(
            "netengine_router_active_sessions",
            "Active PPP sessions seen at the router's last poll.",
            MetricType::Gauge,
        );
        for router in &routers {
            let id = router.router_id.0.to_string();
            let labels = [("router_id", id.as_str())];
            writer.sample_u64(
                "netengine_router_active_sessions",
                &labels,
                router.active_sessions,
            );
        }

        self.command_duration.render(&mut writer);
        self.http_requests.render(&mut writer);
        self.http_request_duration.render(&mut writer);

        let webhook = snapshot.webhook;
        let webhook_counters = [
            (
                "netengine_webhook_deliveries_total",
                "Webhook events delivered (2xx).",
                webhook.delivered,
            ),
            (
                "netengine_webhook_failures_total",
                "Webhook events given up after the last retry.",
                webhook.failed,
            ),
            (
                "netengine_webhook_dropped_total",
                "Webhook events dropped because the delivery queue was full or closed.",
                webhook.dropped,
            ),
            (
                "netengine_webhook_retries_total",
                "Webhook delivery attempts after a first failed one.",
                webhook.retried,
            ),
        ];
        for (name, help, value) in webhook_counters {
            writer.family(name, help, MetricType::Counter);
            writer.sample_u64(name, &[], value);
        }
        writer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router_gauges(id: u64, name: &str) -> RouterGauges {
        RouterGauges {
            router_id: RouterId(id),
            name: name.to_string(),
            up: true,
            queue_depth: id,
            active_sessions: 10 * id,
            reconnects: 0,
        }
    }

    fn snapshot_of(routers: Vec<RouterGauges>) -> ScrapeSnapshot {
        ScrapeSnapshot {
            routers,
            ..ScrapeSnapshot::default()
        }
    }

    // The tests that parse whole renders live in tests/metrics.rs, beside the parser.

    #[test]
    fn a_router_missing_from_the_snapshot_loses_all_its_series() {
        let metrics = Metrics::new("0.1.0");
        metrics.reconnect(RouterId(7));
        metrics.command_observed(RouterId(7), 0.01);
        metrics.command_observed(RouterId(8), 0.01);
        let both = snapshot_of(vec![router_gauges(7, "a"), router_gauges(8, "b")]);
        assert!(metrics.render(&both).contains("router_id=\"7\""));
        let text = metrics.render(&snapshot_of(vec![router_gauges(8, "b")]));
        assert!(!text.contains("router_id=\"7\""), "{text}");
        assert_eq!(metrics.reconnects(RouterId(7)), 0);
        assert!(metrics.command_duration(RouterId(7)).is_none());

        metrics.remove_router(RouterId(8));
        assert!(metrics.command_duration(RouterId(8)).is_none());
    }

    #[test]
    fn listed_routers_get_zero_valued_series_and_reconnects_add_up() {
        let metrics = Metrics::new("0.1.0");
        metrics.reconnect(RouterId(4));
        let mut router = router_gauges(4, "r");
        router.reconnects = 3;
        let text = metrics.render(&snapshot_of(vec![router, router_gauges(5, "s")]));
        assert!(
            text.contains("\nnetengine_router_reconnects_total{router_id=\"4\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("\nnetengine_command_duration_seconds_count{router_id=\"5\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn recording_from_many_threads_loses_nothing() {
        let metrics = std::sync::Arc::new(Metrics::new("0.1.0"));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        metrics.command_observed(RouterId(1), 0.001);
                        metrics.http_request("/api/v1/health", 200, 0.001);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(metrics.command_duration(RouterId(1)).unwrap().count, 4000);
        assert_eq!(metrics.http_requests("/api/v1/health", 200), 4000);
    }
}
