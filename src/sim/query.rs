//! `print` query words (§2.4 of routeros-api.md): parsed once, then evaluated per item on a
//! stack of booleans over a notional bottom of endless `true`.
//!
//! Matches are exact (no regular expressions, no substrings): `?name=ali` never matches
//! `alice`. An item matches when no `false` is left on the stack.

use std::cmp::Ordering;
use std::fmt;

use super::values::parse_id;

/// Why a query word could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// An unknown character in a `?#` word.
    UnknownOperator(char),
    /// A word with an empty property name.
    EmptyName,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::UnknownOperator(c) => write!(f, "unknown query operator {c:?}"),
            QueryError::EmptyName => write!(f, "query word without a property name"),
        }
    }
}

impl std::error::Error for QueryError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Has(Vec<u8>),
    Lacks(Vec<u8>),
    Equal(Vec<u8>, Vec<u8>),
    Less(Vec<u8>, Vec<u8>),
    Greater(Vec<u8>, Vec<u8>),
    Ops(Vec<StackOp>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StackOp {
    /// Push a copy of the entry `n` below the top.
    PushCopy(usize),
    /// Replace the whole stack with the entry `n` below the top.
    ReplaceWith(usize),
    Not,
    And,
    Or,
    /// Push a copy of the top.
    Dup,
}

/// A parsed query: the `?` words of one command, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    steps: Vec<Step>,
}

impl Query {
    /// Parses query words given without their leading `?`.
    pub fn parse(words: &[Vec<u8>]) -> Result<Query, QueryError> {
        let steps = words
            .iter()
            .map(|word| parse_step(word))
            .collect::<Result<_, _>>()?;
        Ok(Query { steps })
    }

    /// The property names the query reads.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.steps.iter().filter_map(|step| match step {
            Step::Has(name)
            | Step::Lacks(name)
            | Step::Equal(name, _)
            | Step::Less(name, _)
            | Step::Greater(name, _) => Some(name.as_slice()),
            Step::Ops(_) => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Evaluates the query against one item; `get` returns a property's value.
    pub fn matches<'a>(&self, get: impl Fn(&[u8]) -> Option<&'a [u8]>) -> bool {
        let mut stack: Vec<bool> = Vec::new();
        for step in &self.steps {
            match step {
                Step::Has(name) => stack.push(get(name).is_some()),
                Step::Lacks(name) => stack.push(get(name).is_none()),
                Step::Equal(name, value) => stack.push(equal(name, get(name), value)),
                Step::Less(name, value) => {
                    stack.push(get(name).is_some_and(|have| compare(have, value) == Ordering::Less))
                }
                Step::Greater(name, value) => stack
                    .push(get(name).is_some_and(|have| compare(have, value) == Ordering::Greater)),
                Step::Ops(ops) => run_ops(&mut stack, ops),
            }
        }
        stack.iter().all(|&entry| entry)
    }
}

fn parse_step(word: &[u8]) -> Result<Step, QueryError> {
    if let Some(ops) = word.strip_prefix(b"#") {
        return parse_ops(ops).map(Step::Ops);
    }
    if let Some(name) = word.strip_prefix(b"-") {
        return non_empty(name).map(|name| Step::Lacks(name.to_vec()));
    }
    if let Some(rest) = word.strip_prefix(b"=") {
        let (name, value) = split_name_value(rest);
        return non_empty(name).map(|name| Step::Equal(name.to_vec(), value.to_vec()));
    }
    if let Some(rest) = word.strip_prefix(b"<") {
        let (name, value) = split_name_value(rest);
        return non_empty(name).map(|name| Step::Less(name.to_vec(), value.to_vec()));
    }
    if let Some(rest) = word.strip_prefix(b">") {
        let (name, value) = split_name_value(rest);
        return non_empty(name).map(|name| Step::Greater(name.to_vec(), value.to_vec()));
    }
    match word.iter().position(|&b| b == b'=') {
        Some(at) => {
            non_empty(&word[..at]).map(|name| Step::Equal(name.to_vec(), word[at + 1..].to_vec()))
        }
        None => non_empty(word).map(|name| Step::Has(name.to_vec())),
    }
}

fn non_empty(name: &[u8]) -> Result<&[u8], QueryError> {
    if name.is_empty() {
        Err(QueryError::EmptyName)
    } else {
        Ok(name)
    }
}

fn split_name_value(rest: &[u8]) -> (&[u8], &[u8]) {
    match rest.iter().position(|&b| b == b'=') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[]),
    }
}

fn parse_ops(text: &[u8]) -> Result<Vec<StackOp>, QueryError> {
    let mut ops = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let byte = text[at];
        if byte.is_ascii_digit() {
            let start = at;
            while at < text.len() && text[at].is_ascii_digit() {
                at += 1;
            }
            // A huge index simply points into the notional bottom of `true`s.
            let index = std::str::from_utf8(&text[start..at])
                .ok()
                .and_then(|digits| digits.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            if at == text.len() {
                ops.push(StackOp::ReplaceWith(index));
            } else {
                ops.push(StackOp::PushCopy(index));
                // `.` right after an index is only a separator.
                if text[at] == b'.' {
                    at += 1;
                }
            }
            continue;
        }
        ops.push(match byte {
            b'!' => StackOp::Not,
            b'&' => StackOp::And,
            b'|' => StackOp::Or,
            b'.' => StackOp::Dup,
            other => return Err(QueryError::UnknownOperator(char::from(other))),
        });
        at += 1;
    }
    Ok(ops)
}

fn run_ops(stack: &mut Vec<bool>, ops: &[StackOp]) {
    // The stack sits on an endless supply of `true`: reading or popping past it gives `true`.
    let entry = |stack: &Vec<bool>, index: usize| -> bool {
        if index < stack.len() {
            stack[stack.len() - 1 - index]
        } else {
            true
        }
    };
    for op in ops {
        match *op {
            StackOp::PushCopy(index) => {
                let value = entry(stack, index);
                stack.push(value);
            }
            StackOp::ReplaceWith(index) => {
                let value = entry(stack, index);
                stack.clear();
                stack.push(value);
            }
            StackOp::Not => {
                let value = stack.pop().unwrap_or(true);
                stack.push(!value);
            }
            StackOp::And => {
                let a = stack.pop().unwrap_or(true);
                let b = stack.pop().unwrap_or(true);
                stack.push(a && b);
            }
            StackOp::Or => {
                let a = stack.pop().unwrap_or(true);
                let b = stack.pop().unwrap_or(true);
                stack.push(a || b);
            }
            StackOp::Dup => {
                let value = entry(stack, 0);
                stack.push(value);
            }
        }
    }
}

/// Exact equality with RouterOS's typed leniency: booleans match in either spelling
/// (`yes`/`true`), ids in either case; a missing property equals only the empty string.
fn equal(name: &[u8], have: Option<&[u8]>, want: &[u8]) -> bool {
    let Some(have) = have else {
        return want.is_empty();
    };
    if have == want {
        return true;
    }
    let as_bool = |v: &[u8]| match v {
        b"true" | b"yes" => Some(true),
        b"false" | b"no" => Some(false),
        _ => None,
    };
    if let (Some(a), Some(b)) = (as_bool(have), as_bool(want)) {
        return a == b;
    }
    if name == b".id" {
        if let (Some(a), Some(b)) = (parse_id(have), parse_id(want)) {
            return a == b;
        }
    }
    false
}

/// Orders values as RouterOS does for `<`/`>`: numbers and ids numerically, text bytewise.
fn compare(have: &[u8], want: &[u8]) -> Ordering {
    let as_number = |v: &[u8]| -> Option<u64> {
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse().ok()
    };
    if let (Some(a), Some(b)) = (as_number(have), as_number(want)) {
        return a.cmp(&b);
    }
    if let (Some(a), Some(b)) = (parse_id(have), parse_id(want)) {
        return a.cmp(&b);
    }
    have.cmp(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = &'static [(&'static str, &'static str)];

    const ALI: Item = &[
        (".id", "*1"),
        ("name", "ali"),
        ("type", "ether"),
        ("disabled", "false"),
    ];
    const ALICE: Item = &[
        (".id", "*2"),
        ("name", "alice"),
        ("type", "vlan"),
        ("comment", "Jl. Mawar 3"),
        ("disabled", "true"),
    ];
    const BOB: Item = &[
        (".id", "*1A"),
        ("name", "bob"),
        ("type", "pppoe-in"),
        ("comment", ""),
    ];

    fn names(words: &[&str]) -> Vec<&'static str> {
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        let query = Query::parse(&words).unwrap();
        [ALI, ALICE, BOB]
            .iter()
            .filter(|item| {
                query.matches(|name| {
                    item.iter()
                        .find(|(n, _)| n.as_bytes() == name)
                        .map(|(_, v)| v.as_bytes())
                })
            })
            .map(|item| item[1].1)
            .collect()
    }

    #[test]
    fn query_table() {
        let table: &[(&[&str], &[&str])] = &[
            (&[], &["ali", "alice", "bob"]),
            (&["name=ali"], &["ali"]),
            (&["=name=ali"], &["ali"]),
            (&["=name=alice"], &["alice"]),
            (&["name=al"], &[]),
            (&["comment"], &["alice", "bob"]),
            (&["-comment"], &["ali"]),
            (&[">comment="], &["alice"]),
            (&["type=ether", "type=vlan", "#|"], &["ali", "alice"]),
            (&["type=ether", "type=vlan", "#|!"], &["bob"]),
            (&["=name=bob", "#!"], &["ali", "alice"]),
            (
                &["=name=ali", "=name=alice", "=name=bob", "#|", "#|"],
                &["ali", "alice", "bob"],
            ),
            (&["=name=ali", "=name=bob", "#|"], &["ali", "bob"]),
            (&["disabled=yes"], &["alice"]),
            (&["disabled=no"], &["ali"]),
            (&[".id=*1a"], &["bob"]),
            (&["<.id=*2"], &["ali"]),
            (&[">.id=*1"], &["alice", "bob"]),
            (&["name=ali", "type=ether"], &["ali"]),
            (&["name=ali", "type=vlan"], &[]),
            // `0` alone replaces the whole stack with its top.
            (&["name=bob", "name=ali", "#0"], &["ali"]),
            // `1` copies the entry below the top, then `&` ands the two copies.
            (&["name=ali", "type=ether", "#1&"], &["ali"]),
            // `.` right after an index is a separator; elsewhere it duplicates the top.
            (&["name=ali", "name=alice", "#1.1|0"], &["ali", "alice"]),
            (&["name=ali", "name=alice", "#1.0|"], &[]),
            (&["name=bob", "#.|"], &["bob"]),
            // Operators on an empty stack read the notional `true`s.
            (&["#!"], &[]),
            (&["#&"], &["ali", "alice", "bob"]),
        ];
        for (words, expected) in table {
            assert_eq!(&names(words), expected, "query {words:?}");
        }
    }

    #[test]
    fn bad_words() {
        assert_eq!(
            Query::parse(&[b"#x".to_vec()]),
            Err(QueryError::UnknownOperator('x'))
        );
        assert_eq!(Query::parse(&[b"=".to_vec()]), Err(QueryError::EmptyName));
        assert_eq!(Query::parse(&[b"".to_vec()]), Err(QueryError::EmptyName));
        assert!(Query::parse(&[]).unwrap().is_empty());
    }
}
