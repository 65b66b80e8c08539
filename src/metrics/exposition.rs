//! The Prometheus text exposition (format 0.0.4): a writer, and counter, gauge and histogram
//! families keyed by typed label sets that render themselves through it.
//!
//! In scope: `# HELP`/`# TYPE` lines, escaped help text and label values, floats written the
//! way Prometheus reads them, cumulative `_bucket`/`_sum`/`_count` histogram series. Out of
//! scope: HTTP (the caller serves [`CONTENT_TYPE`]), the OpenMetrics format, summaries, and
//! parsing (the integration tests carry a strict parser that proves the output valid).
//!
//! Invariant: recording is one short mutex hold per family, and a poisoned mutex is taken over
//! (every update leaves the map whole), so metrics stay usable after a panic elsewhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};

/// The `Content-Type` of a rendered exposition (Prometheus 3 refuses a scrape without it).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn help(&self) -> &'static str {
        self.help
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let awkward = "back\\slash \"quoted\"\nnext line, {braces}=é";
        let mut writer = TextWriter::new();
        writer.family(
            "odd_metric",
            "help with \\ and\nnewline \"quotes\"",
            MetricType::Gauge,
        );
        writer.sample("odd_metric", &[("name", awkward), ("other", "")], -2.5);
        let text = writer.finish();
        assert_eq!(
            text,
            "# HELP odd_metric help with \\\\ and\\nnewline \"quotes\"\n\
             # TYPE odd_metric gauge\n\
             odd_metric{name=\"back\\\\slash \\\"quoted\\\"\\nnext line, {braces}=é\",other=\"\"} -2.5\n"
        );
    }

    #[test]
    fn histogram_snapshot_is_cumulative_and_bounds_are_cleaned() {
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
        let buckets: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with("h_seconds_bucket"))
            .collect();
        assert_eq!(
            buckets,
            [
                "h_seconds_bucket{le=\"0.1\"} 2",
                "h_seconds_bucket{le=\"0.5\"} 3",
                "h_seconds_bucket{le=\"1\"} 4",
                "h_seconds_bucket{le=\"+Inf\"} 6",
            ]
        );
        assert!(text.contains("\nh_seconds_count 6\n"), "{text}");
    }

    #[test]
    fn floats_are_written_the_way_prometheus_reads_them() {
        for (value, text) in [
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.0, "0"),
            (10.0, "10"),
            (0.0025, "0.0025"),
            (1e-9, "0.000000001"),
        ] {
            assert_eq!(float_text(value), text);
        }
    }

    #[test]
    fn counters_and_gauges_keep_series_per_label_set() {
        let counter: Counter<()> = Counter::new("c_total", "c");
        assert_eq!(counter.get(&()), 0);
        counter.init(());
        counter.inc(());
        counter.inc_by((), u64::MAX);
        assert_eq!(counter.get(&()), u64::MAX, "saturates");
        let gauge: Gauge<()> = Gauge::new("g", "g");
        gauge.add((), 1.5);
        gauge.add((), -0.5);
        assert_eq!(gauge.get(&()), Some(1.0));
        gauge.remove(&());
        assert_eq!(gauge.get(&()), None);
        let mut writer = TextWriter::new();
        counter.render(&mut writer);
        gauge.render(&mut writer);
        assert_eq!(
            writer.finish(),
            format!("# HELP c_total c\n# TYPE c_total counter\nc_total {}\n# HELP g g\n# TYPE g gauge\n", u64::MAX)
        );
    }
}
