//! A strict parser of the Prometheus text exposition (format 0.0.4), so tests can prove that
//! what `/metrics` serves is valid and read the values back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use net_engine::metrics::MetricType;

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
                let kind = metric_type(rest.trim_end_matches([' ', '\t']))
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

/// The `# TYPE` word of a metric type, as the format spells it.
fn metric_type(word: &str) -> Option<MetricType> {
    Some(match word {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Untyped,
        _ => return None,
    })
}

/// The first sample named `name` with exactly the labels `labels` (in any order).
pub fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|sample| {
        sample.name == name
            && sample.labels.len() == labels.len()
            && labels.iter().all(|(l, v)| sample.label(l) == Some(*v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_the_format_writes_them() {
        for (text, value) in [
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("0", 0.0),
            ("10", 10.0),
            ("0.0025", 0.0025),
            ("0.000000001", 1e-9),
        ] {
            assert_eq!(parse_value(text), Ok(value));
        }
        assert!(parse_value("NaN").is_ok_and(f64::is_nan));
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
}
