//! Prometheus metrics: a tiny text-exposition library and net-engine's metric set.
//!
//! In scope: counters, gauges and histograms keyed by typed label sets, rendering the text
//! format (version 0.0.4) with `# HELP`/`# TYPE` lines and escaped label values, a strict
//! parser of that format (tests use it to prove the output is valid), and [`Metrics`], the
//! fixed set `/metrics` serves. Out of scope: HTTP (the caller serves [`CONTENT_TYPE`]), the
//! OpenMetrics format, summaries.
//!
//! Invariants: recording is one short mutex hold per family (no allocation for router and
//! HTTP series after their first observation); label values of the HTTP metrics are
//! `&'static str` route patterns, so the series count stays bounded by the routing table;
//! every series of a router that is not in the scrape snapshot is removed at render time.

use crate::model::RouterId;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::{Mutex, MutexGuard};

/// The `Content-Type` of a rendered exposition (Prometheus 3 refuses a scrape without it).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets in seconds for router commands and HTTP requests: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

// ---------------------------------------------------------------------------------------------
// The exposition library.

/// The `# TYPE` of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }

    fn parse(word: &str) -> Option<MetricType> {
        Some(match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Untyped,
            _ => return None,
        })
    }
}

/// Appends families and samples to a text exposition. The caller keeps each family's
/// samples together, right after its [`TextWriter::family`] header.
#[derive(Debug, Default)]
pub struct TextWriter {
    out: String,
}

impl TextWriter {
    pub fn new() -> Self {
        TextWriter::default()
    }

    /// Writes the `# HELP` and `# TYPE` lines that open a family.
    pub fn family(&mut self, name: &str, help: &str, kind: MetricType) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_into(&mut self.out, help, false);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// Writes one sample line; label values are escaped here.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sample_start(name, labels);
        write_float(&mut self.out, value);
        self.out.push('\n');
    }

    /// Like [`TextWriter::sample`] for integer values, written exactly.
    pub fn sample_u64(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample_start(name, labels);
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{value}");
        self.out.push('\n');
    }

    fn sample_start(&mut self, name: &str, labels: &[(&str, &str)]) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_into(&mut self.out, value, true);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes backslash and newline (HELP text), plus double quote in label values.
fn escape_into(out: &mut String, text: &str, is_label_value: bool) {
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if is_label_value => out.push_str("\\\""),
            other => out.push(other),
        }
    }
}

/// Formats a float the way Prometheus reads it: `+Inf`, `-Inf`, `NaN`, else Rust's shortest
/// round-trip decimal (never an exponent).
fn write_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

fn float_text(value: f64) -> String {
    let mut text = String::new();
    write_float(&mut text, value);
    text
}

/// A typed label set used as the key of a family's series. `Ord` fixes the render order.
pub trait LabelSet: Ord + Clone + Send {
    /// Label names and values in a fixed order; values are escaped by the writer.
    fn label_pairs(&self) -> Vec<(&'static str, String)>;
}

impl LabelSet for () {
    fn label_pairs(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

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

/// Metrics stay usable after a panic in another thread: every update leaves the map whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn pairs_as_str<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

/// A counter family: monotonically increasing integers per label set.
#[derive(Debug)]
pub struct Counter<L: LabelSet> {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<L, u64>>,
}

impl<L: LabelSet> Counter<L> {
    pub fn new(name: &'static str, help: &'static str) -> Self {
        Counter {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn inc(&self, labels: L) {
        self.inc_by(labels, 1);
    }

    pub fn inc_by(&self, labels: L, amount: u64) {
        let mut series = lock(&self.series);
        let value = series.entry(labels).or_insert(0);
        *value = value.saturating_add(amount);
    }

    /// Makes the series exist (at zero) so `rate()` works from its first scrape.
    pub fn init(&self, labels: L) {
        lock(&self.series).entry(labels).or_insert(0);
    }

    pub fn get(&self, labels: &L) -> u64 {
        lock(&self.series).get(labels).copied().unwrap_or(0)
    }

    pub fn remove(&self, labels: &L) {
        lock(&self.series).remove(labels);
    }

    pub fn retain(&self, mut keep: impl FnMut(&L) -> bool) {
        lock(&self.series).retain(|labels, _| keep(labels));
    }

    pub fn render(&self, writer: &mut TextWriter) {
        writer.family(self.name, self.help, MetricType::Counter);
        for (labels, value) in lock(&self.series).iter() {
            let pairs = labels.label_pairs();
            writer.sample_u64(self.name, &pairs_as_str(&pairs), *value);
        }
    }
}

/// A gauge family: a float per label set that may go up and down.
#[derive(Debug)]
pub struct Gauge<L: LabelSet> {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<L, f64>>,
}

impl<L: LabelSet> Gauge<L> {
    pub fn new(name: &'static str, help: &'static str) -> Self {
        Gauge {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn set(&self, labels: L, value: f64) {
        lock(&self.series).insert(labels, value);
    }

    pub fn add(&self, labels: L, delta: f64) {
        *lock(&self.series).entry(labels).or_insert(0.0) += delta;
    }

    pub fn get(&self, labels: &L) -> Option<f64> {
        lock(&self.series).get(labels).copied()
    }

    pub fn remove(&self, labels: &L) {
        lock(&self.series).remove(labels);
    }

    pub fn retain(&self, mut keep: impl FnMut(&L) -> bool) {
        lock(&self.series).retain(|labels, _| keep(labels));
    }

    pub fn render(&self, writer: &mut TextWriter) {
        writer.family(self.name, self.help, MetricType::Gauge);
        for (labels, value) in lock(&self.series).iter() {
            let pairs = labels.label_pairs();
            writer.sample(self.name, &pairs_as_str(&pairs), *value);
        }
    }
}

/// One histogram series: per-bucket (not cumulative) counts plus an overflow slot for `+Inf`.
#[derive(Clone, Debug, PartialEq)]
struct HistogramSeries {
    bucket_counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl HistogramSeries {
    fn new(bucket_total: usize) -> Self {
        HistogramSeries {
            bucket_counts: vec![0; bucket_total + 1],
            sum: 0.0,
            count: 0,
        }
    }
}

/// A read-out of one histogram series, cumulative like the exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds, ascending, without `+Inf`.
    pub upper_bounds: Vec<f64>,
    /// Observations `<=` each bound; same length as `upper_bounds`.
    pub cumulative_counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// A histogram family with fixed upper bounds shared by all its series.
#[derive(Debug)]
pub struct Histogram<L: LabelSet> {
    name: &'static str,
    help: &'static str,
    upper_bounds: Vec<f64>,
    series: Mutex<BTreeMap<L, HistogramSeries>>,
}

impl<L: LabelSet> Histogram<L> {
    /// `upper_bounds` are sorted and de-duplicated here; non-finite bounds are dropped
    /// because `+Inf` is always implied.
    pub fn new(name: &'static str, help: &'static str, upper_bounds: &[f64]) -> Self {
        let mut bounds: Vec<f64> = upper_bounds
            .iter()
            .copied()
            .filter(|b| b.is_finite())
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        Histogram {
            name,
            help,
            upper_bounds: bounds,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one observation. NaN is ignored (it would poison `_sum` for good).
    pub fn observe(&self, labels: L, value: f64) {
        if value.is_nan() {
            return;
        }
        let bucket = self.upper_bounds.partition_point(|bound| *bound < value);
        let mut series = lock(&self.series);
        let entry = series
            .entry(labels)
            .or_insert_with(|| HistogramSeries::new(self.upper_bounds.len()));
        entry.bucket_counts[bucket] += 1;
        entry.sum += value;
        entry.count += 1;
    }

    /// Makes the series exist with no observations.
    pub fn init(&self, labels: L) {
        lock(&self.series)
            .entry(labels)
            .or_insert_with(|| HistogramSeries::new(self.upper_bounds.len()));
    }

    pub fn get(&self, labels: &L) -> Option<HistogramSnapshot> {
        let series = lock(&self.series);
        let entry = series.get(labels)?;
        let mut running = 0;
        let cumulative_counts = entry.bucket_counts[..self.upper_bounds.len()]
            .iter()
            .map(|count| {
                running += count;
                running
            })
            .collect();
        Some(HistogramSnapshot {
            upper_bounds: self.upper_bounds.clone(),
            cumulative_counts,
            sum: entry.sum,
            count: entry.count,
        })
    }

    pub fn remove(&self, labels: &L) {
        lock(&self.series).remove(labels);
    }

    pub fn retain(&self, mut keep: impl FnMut(&L) -> bool) {
        lock(&self.series).retain(|labels, _| keep(labels));
    }

    pub fn render(&self, writer: &mut TextWriter) {
        writer.family(self.name, self.help, MetricType::Histogram);
        let bucket_name = format!("{}_bucket", self.name);
        let sum_name = format!("{}_sum", self.name);
        let count_name = format!("{}_count", self.name);
        let bound_texts: Vec<String> = self.upper_bounds.iter().map(|b| float_text(*b)).collect();
        // Copy out under the lock, format after it: a scrape never stalls a hot path long.
        let series: Vec<(L, HistogramSeries)> = lock(&self.series)
            .iter()
            .map(|(labels, entry)| (labels.clone(), entry.clone()))
            .collect();
        for (labels, entry) in series {
            let pairs = labels.label_pairs();
            let mut with_le = pairs_as_str(&pairs);
            let mut cumulative = 0;
            for (bound_text, count) in bound_texts.iter().zip(&entry.bucket_counts) {
                cumulative += count;
                with_le.push(("le", bound_text.as_str()));
                writer.sample_u64(&bucket_name, &with_le, cumulative);
                with_le.pop();
            }
            with_le.push(("le", "+Inf"));
            writer.sample_u64(&bucket_name, &with_le, entry.count);
            with_le.pop();
            writer.sample(&sum_name, &with_le, entry.sum);
            writer.sample_u64(&count_name, &with_le, entry.count);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// net-engine's metric set.

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
            self.reconnects.name,
            self.reconnects.help,
            MetricType::Counter,
        );
        for router in &routers {
            let id = router.router_id.0.to_string();
            let recorded = self.reconnects.get(&RouterLabel(router.router_id));
            let total = recorded.saturating_add(router.reconnects);
            let labels = [("router_id", id.as_str())];
            writer.sample_u64(self.reconnects.name, &labels, total);
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

// ---------------------------------------------------------------------------------------------
// A strict parser of the text format, for tests and checks.

/// One parsed sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    /// In the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Why an exposition was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The text does not end with a line feed.
    MissingFinalNewline,
    /// A metric name is empty or holds a character outside `[a-zA-Z0-9_:]`.
    BadMetricName,
    /// A label name is empty or holds a character outside `[a-zA-Z0-9_]`.
    BadLabelName,
    /// The same label name twice in one sample.
    DuplicateLabel,
    /// A backslash followed by something other than `\`, `"` or `n`.
    BadEscape,
    /// Label braces or quotes not closed, or `=`/`,` missing.
    MalformedLabels,
    /// The value is not a float, `+Inf`, `-Inf` or `NaN`.
    BadValue,
    /// The timestamp is not an integer.
    BadTimestamp,
    /// Something after the value or timestamp.
    TrailingCharacters,
    /// A `# HELP` or `# TYPE` line without a metric name.
    MalformedMetadata,
    /// A `# TYPE` naming an unknown type.
    UnknownType,
    /// Two `# HELP` or two `# TYPE` lines for one family.
    DuplicateMetadata,
    /// A `# HELP`/`# TYPE` line after the family's samples.
    MetadataAfterSamples,
    /// A family's lines are split by another family's.
    FamilyNotContiguous,
    /// The same name and label set twice.
    DuplicateSeries,
    /// A histogram sample that is not `_bucket`, `_sum` or `_count`, or a bucket without `le`.
    BadHistogramSample,
    /// Bucket bounds not ascending or bucket counts decreasing.
    HistogramNotCumulative,
    /// A histogram series without a `le="+Inf"` bucket, `_sum` or `_count`, or whose
    /// `+Inf` bucket differs from `_count`.
    HistogramIncomplete,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ParseErrorKind::MissingFinalNewline => "text does not end with a newline",
            ParseErrorKind::BadMetricName => "bad metric name",
            ParseErrorKind::BadLabelName => "bad label name",
            ParseErrorKind::DuplicateLabel => "duplicate label name",
            ParseErrorKind::BadEscape => "bad escape in label value or help",
            ParseErrorKind::MalformedLabels => "malformed label set",
            ParseErrorKind::BadValue => "bad sample value",
            ParseErrorKind::BadTimestamp => "bad timestamp",
            ParseErrorKind::TrailingCharacters => "unexpected characters after the sample",
            ParseErrorKind::MalformedMetadata => "malformed help or type line",
            ParseErrorKind::UnknownType => "unknown metric type",
            ParseErrorKind::DuplicateMetadata => "duplicate help or type line",
            ParseErrorKind::MetadataAfterSamples => "help or type line after the family's samples",
            ParseErrorKind::FamilyNotContiguous => "family's lines are not together",
            ParseErrorKind::DuplicateSeries => "duplicate series",
            ParseErrorKind::BadHistogramSample => "bad histogram sample",
            ParseErrorKind::HistogramNotCumulative => "histogram buckets are not cumulative",
            ParseErrorKind::HistogramIncomplete => "histogram series is incomplete",
        };
        f.write_str(text)
    }
}

/// A rejected exposition: what was wrong and on which line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for ParseError {}

#[derive(Default)]
struct FamilyState {
    kind: Option<MetricType>,
    has_help: bool,
    has_samples: bool,
}

/// Parses a text exposition (format 0.0.4) strictly: names, labels and escapes as the format
/// defines them, `# HELP`/`# TYPE` at most once per family and before its samples, each
/// family's lines together, no duplicate series, and every histogram series complete and
/// cumulative (`_bucket` bounds ascending, counts non-decreasing, `+Inf` equal to `_count`).
/// Empty lines and other `#` comments are skipped.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, ParseError> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(ParseError {
            line: text.split('\n').count(),
            kind: ParseErrorKind::MissingFinalNewline,
        });
    }
    let mut families: HashMap<String, FamilyState> = HashMap::new();
    let mut current_family: Option<String> = None;
    let mut finished_families: HashSet<String> = HashSet::new();
    let mut seen_series: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    let mut samples = Vec::new();
    let mut sample_lines = Vec::new();

    for (index, line) in text.split_terminator('\n').enumerate() {
        let line_number = index + 1;
        let fail = |kind| ParseError {
            line: line_number,
            kind,
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let Some((keyword, name, rest)) = split_metadata(comment) else {
                continue;
            };
            if !is_metric_name(name) {
                return Err(fail(ParseErrorKind::MalformedMetadata));
            }
            switch_family(name, &mut current_family, &mut finished_families).map_err(fail)?;
            let family = families.entry(name.to_string()).or_default();
            if family.has_samples {
                return Err(fail(ParseErrorKind::MetadataAfterSamples));
            }
            if keyword == "HELP" {
                if family.has_help {
                    return Err(fail(ParseErrorKind::DuplicateMetadata));
                }
                unescape(rest, false).map_err(fail)?;
                family.has_help = true;
            } else {
                if family.kind.is_some() {
                    return Err(fail(ParseErrorKind::DuplicateMetadata));
                }
                let kind = MetricType::parse(rest.trim_end_matches([' ', '\t']))
                    .ok_or_else(|| fail(ParseErrorKind::UnknownType))?;
                family.kind = Some(kind);
            }
            continue;
        }
        let sample = parse_sample_line(line).map_err(fail)?;
        let family_name = family_of(&sample.name, &families);
        switch_family(&family_name, &mut current_family, &mut finished_families).map_err(fail)?;
        families.entry(family_name).or_default().has_samples = true;
        let mut label_key = sample.labels.clone();
        label_key.sort();
        if !seen_series.insert((sample.name.clone(), label_key)) {
            return Err(fail(ParseErrorKind::DuplicateSeries));
        }
        sample_lines.push(line_number);
        samples.push(sample);
    }
    check_histograms(&samples, &sample_lines, &families)?;
    Ok(samples)
}

/// Splits `# HELP name rest` / `# TYPE name rest`; `None` for any other comment.
fn split_metadata(comment: &str) -> Option<(&str, &str, &str)> {
    let comment = comment.trim_start_matches([' ', '\t']);
    let (keyword, after) = comment.split_once([' ', '\t'])?;
    if keyword != "HELP" && keyword != "TYPE" {
        return None;
    }
    let after = after.trim_start_matches([' ', '\t']);
    let (name, rest) = match after.split_once([' ', '\t']) {
        Some((name, rest)) => (name, rest),
        None => (after, ""),
    };
    Some((keyword, name, rest))
}

fn switch_family(
    name: &str,
    current_family: &mut Option<String>,
    finished_families: &mut HashSet<String>,
) -> Result<(), ParseErrorKind> {
    if current_family.as_deref() == Some(name) {
        return Ok(());
    }
    if finished_families.contains(name) {
        return Err(ParseErrorKind::FamilyNotContiguous);
    }
    if let Some(previous) = current_family.take() {
        finished_families.insert(previous);
    }
    *current_family = Some(name.to_string());
    Ok(())
}

/// The family a sample belongs to: `x_bucket`/`x_sum`/`x_count` belong to histogram `x`.
fn family_of(sample_name: &str, families: &HashMap<String, FamilyState>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample_name.strip_suffix(suffix) {
            let kind = families.get(base).and_then(|family| family.kind);
            let belongs = match kind {
                Some(MetricType::Histogram) => true,
                Some(MetricType::Summary) => suffix != "_bucket",
                _ => false,
            };
            if belongs {
                return base.to_string();
            }
        }
    }
    sample_name.to_string()
}

fn is_metric_name(name: &str) -> bool {
    let mut characters = name.chars();
    matches!(characters.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && characters.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut characters = name.chars();
    matches!(characters.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Undoes the writer's escaping; HELP text allows `\\` and `\n`, label values also `\"`.
fn unescape(text: &str, is_label_value: bool) -> Result<String, ParseErrorKind> {
    let mut out = String::with_capacity(text.len());
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match characters.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if is_label_value => out.push('"'),
            _ => return Err(ParseErrorKind::BadEscape),
        }
    }
    Ok(out)
}

fn parse_sample_line(line: &str) -> Result<Sample, ParseErrorKind> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(ParseErrorKind::BadMetricName);
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels)?;
    }
    // At least one blank separates the name or labels from the value.
    let value_part = rest.trim_start_matches([' ', '\t']);
    if value_part.len() == rest.len() {
        return Err(ParseErrorKind::BadValue);
    }
    let mut fields = value_part
        .split([' ', '\t'])
        .filter(|field| !field.is_empty());
    let value = parse_value(fields.next().ok_or(ParseErrorKind::BadValue)?)?;
    let timestamp_ms = match fields.next() {
        Some(field) => Some(
            field
                .parse::<i64>()
                .map_err(|_| ParseErrorKind::BadTimestamp)?,
        ),
        None => None,
    };
    if fields.next().is_some() {
        return Err(ParseErrorKind::TrailingCharacters);
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses `name="value",...}` (after the `{`); returns the text after the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, ParseErrorKind> {
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (label_name, after_name) = rest
            .split_once('=')
            .ok_or(ParseErrorKind::MalformedLabels)?;
        if !is_label_name(label_name) {
            return Err(ParseErrorKind::BadLabelName);
        }
        let after_quote = after_name
            .strip_prefix('"')
            .ok_or(ParseErrorKind::MalformedLabels)?;
        let value_end = closing_quote(after_quote).ok_or(ParseErrorKind::MalformedLabels)?;
        let value = unescape(&after_quote[..value_end], true)?;
        if labels.iter().any(|(existing, _)| existing == label_name) {
            return Err(ParseErrorKind::DuplicateLabel);
        }
        labels.push((label_name.to_string(), value));
        rest = &after_quote[value_end + 1..];
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err(ParseErrorKind::MalformedLabels);
        }
    }
}

/// Byte index of the first unescaped `"`.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(index),
            _ => {}
        }
    }
    None
}

fn parse_value(field: &str) -> Result<f64, ParseErrorKind> {
    match field {
        "+Inf" | "Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        "NaN" => return Ok(f64::NAN),
        _ => {}
    }
    // Rust's parser also takes "inf", "infinity" and "nan"; the format does not.
    let numeric = field
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !numeric {
        return Err(ParseErrorKind::BadValue);
    }
    field.parse::<f64>().map_err(|_| ParseErrorKind::BadValue)
}

#[derive(Default)]
struct HistogramSeriesCheck {
    buckets: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
    first_line: usize,
}

fn check_histograms(
    samples: &[Sample],
    sample_lines: &[usize],
    families: &HashMap<String, FamilyState>,
) -> Result<(), ParseError> {
    let mut series: BTreeMap<(String, Vec<(String, String)>), HistogramSeriesCheck> =
        BTreeMap::new();
    for (sample, line) in samples.iter().zip(sample_lines) {
        let family_name = family_of(&sample.name, families);
        let is_histogram = families.get(&family_name).and_then(|family| family.kind)
            == Some(MetricType::Histogram);
        if !is_histogram {
            continue;
        }
        let fail = |kind| ParseError { line: *line, kind };
        let suffix = &sample.name[family_name.len()..];
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .filter(|(name, _)| name != "le")
            .cloned()
            .collect();
        labels.sort();
        let check = series.entry((family_name.clone(), labels)).or_default();
        if check.first_line == 0 {
            check.first_line = *line;
        }
        match suffix {
            "_bucket" => {
                let bound_text = sample
                    .label("le")
                    .ok_or_else(|| fail(ParseErrorKind::BadHistogramSample))?;
                let bound = parse_value(bound_text)
                    .map_err(|_| fail(ParseErrorKind::BadHistogramSample))?;
                if let Some((previous_bound, previous_count)) = check.buckets.last() {
                    if bound <= *previous_bound || sample.value < *previous_count {
                        return Err(fail(ParseErrorKind::HistogramNotCumulative));
                    }
                }
                check.buckets.push((bound, sample.value));
            }
            "_sum" => check.sum = Some(sample.value),
            "_count" => check.count = Some(sample.value),
            _ => return Err(fail(ParseErrorKind::BadHistogramSample)),
        }
    }
    for check in series.values() {
        let complete = match (check.buckets.last(), check.sum, check.count) {
            (Some((bound, infinity_count)), Some(_), Some(count)) => {
                *bound == f64::INFINITY && *infinity_count == count
            }
            _ => false,
        };
        if !complete {
            return Err(ParseError {
                line: check.first_line,
                kind: ParseErrorKind::HistogramIncomplete,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
        samples.iter().find(|sample| {
            sample.name == name
                && sample.labels.len() == labels.len()
                && labels.iter().all(|(l, v)| sample.label(l) == Some(*v))
        })
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
        let expected: Vec<(String, f64)> =
            expected.iter().map(|(l, v)| (l.to_string(), *v)).collect();
        assert_eq!(buckets, expected);
        assert_eq!(find(&samples, "h_seconds_count", &[]).unwrap().value, 6.0);
        assert!((find(&samples, "h_seconds_sum", &[]).unwrap().value - 6.15).abs() < 1e-9);
    }

    #[test]
    fn floats_are_written_in_a_parseable_form() {
        for (value, text) in [
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.0, "0"),
            (10.0, "10"),
            (0.0025, "0.0025"),
            (1e-9, "0.000000001"),
        ] {
            assert_eq!(float_text(value), text);
            assert_eq!(parse_value(text).unwrap(), value);
        }
        assert!(float_text(f64::NAN) == "NaN" && parse_value("NaN").unwrap().is_nan());
    }

    #[test]
    fn parser_accepts_the_format_it_should() {
        let text = "# a plain comment\n\
                    # HELP up_total Things.\n\
                    # TYPE up_total counter\n\
                    up_total{a=\"1\",} 3 1700000000000\n\
                    up_total{a=\"2\"}\t4\n\
                    \n\
                    untyped_thing 1e3\n\
                    other:rule_name NaN\n";
        let samples = parse_exposition(text).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(samples[1].value, 4.0);
        assert_eq!(samples[2].value, 1000.0);
        assert!(samples[3].value.is_nan());
        assert_eq!(parse_exposition(""), Ok(Vec::new()));
    }

    #[test]
    fn parser_rejects_what_it_should() {
        use ParseErrorKind::*;
        let cases: &[(&str, ParseErrorKind, usize)] = &[
            ("a 1", MissingFinalNewline, 1),
            ("9a 1\n", BadMetricName, 1),
            ("a-b 1\n", BadMetricName, 1),
            ("a{1x=\"v\"} 1\n", BadLabelName, 1),
            ("a{x=\"v\",x=\"w\"} 1\n", DuplicateLabel, 1),
            ("a{x=\"\\t\"} 1\n", BadEscape, 1),
            ("a{x=\"v} 1\n", MalformedLabels, 1),
            ("a{x=v} 1\n", MalformedLabels, 1),
            ("a{x=\"v\" y=\"w\"} 1\n", MalformedLabels, 1),
            ("a one\n", BadValue, 1),
            ("a inf\n", BadValue, 1),
            ("a\n", BadValue, 1),
            ("a{x=\"v\"}1\n", BadValue, 1),
            ("a 1 12.5\n", BadTimestamp, 1),
            ("a 1 2 3\n", TrailingCharacters, 1),
            ("# TYPE a\n", UnknownType, 1),
            ("# TYPE a widget\n", UnknownType, 1),
            ("# TYPE 1a counter\n", MalformedMetadata, 1),
            ("# HELP a x\n# HELP a y\n", DuplicateMetadata, 2),
            ("# TYPE a gauge\n# TYPE a gauge\n", DuplicateMetadata, 2),
            ("# HELP a bad \\q\n", BadEscape, 1),
            ("a 1\n# TYPE a gauge\n", MetadataAfterSamples, 2),
            ("a 1\nb 1\na{x=\"1\"} 2\n", FamilyNotContiguous, 3),
            (
                "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n",
                DuplicateSeries,
                2,
            ),
            ("# TYPE h histogram\nh_bucket 1\n", BadHistogramSample, 2),
            ("# TYPE h histogram\nh 1\n", BadHistogramSample, 2),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n",
                HistogramNotCumulative,
                3,
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n",
                HistogramNotCumulative,
                3,
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
                HistogramIncomplete,
                2,
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
                HistogramIncomplete,
                2,
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
                HistogramIncomplete,
                2,
            ),
        ];
        for (text, kind, line) in cases {
            let expected = ParseError {
                line: *line,
                kind: kind.clone(),
            };
            assert_eq!(parse_exposition(text), Err(expected), "input {text:?}");
        }
    }

    #[test]
    fn parse_error_display_is_short_and_lowercase() {
        let error = parse_exposition("a 1\n# TYPE a gauge\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: help or type line after the family's samples"
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
