//! Reply sentences (`!re`, `!done`, `!trap`, `!empty`, `!fatal`) parsed into a typed [`Reply`].
//!
//! Parsing never fails: unknown reply words and words without `=` are kept aside so the
//! client can log and skip them while reading on to the command's `!done`.

use super::codec::{RawSentence, Sentence, Word};
use super::text;
use xxhash_rust::xxh3::Xxh3;

/// The first word of a reply sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// `!re`: one data row.
    Re,
    /// `!done`: the command finished (may carry `=ret=`).
    Done,
    /// `!trap`: an error; `!done` still follows.
    Trap,
    /// `!empty`: no data (RouterOS ≥ 7.18), sent before `!done`.
    Empty,
    /// `!fatal`: the router is closing the connection. Never tagged.
    Fatal,
    /// Anything else: logged and skipped.
    Unknown(Word),
}

/// One `=name=value` attribute, both raw bytes.
pub type Attribute = (Word, Word);

/// A parsed reply sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// `.tag=X`, wherever it appeared in the sentence.
    pub tag: Option<Word>,
    /// `=name=value` words in order.
    pub attributes: Vec<Attribute>,
    /// Words that are neither attributes nor API attributes (e.g. the `!fatal` reason).
    pub other_words: Vec<Word>,
}

impl Reply {
    /// Parses a sentence it owns, reusing each attribute word as the name's buffer: one
    /// allocation per attribute (its value) instead of two.
    pub fn parse_owned(sentence: Sentence) -> Reply {
        let mut words = sentence.words.into_iter();
        let first = words.next().unwrap_or_default();
        let mut reply = Reply {
            kind: kind_of(&first),
            tag: None,
            attributes: Vec::with_capacity(words.len()),
            other_words: Vec::new(),
        };
        for mut word in words {
            if let Some(value) = word.strip_prefix(b".tag=") {
                reply.tag = Some(value.to_vec());
            } else if let Some((name_len, value_at)) =
                split_attribute(&word).map(|(name, _)| (name.len(), name.len() + 2))
            {
                let value = word[value_at..].to_vec();
                word.truncate(1 + name_len);
                word.remove(0);
                reply.attributes.push((word, value));
            } else {
                reply.other_words.push(word);
            }
        }
        reply
    }

    pub fn parse(sentence: &Sentence) -> Reply {
        let mut reply = Reply {
            kind: kind_of(sentence.first()),
            tag: None,
            attributes: Vec::new(),
            other_words: Vec::new(),
        };
        for word in sentence.words.iter().skip(1) {
            if let Some(value) = word.strip_prefix(b".tag=") {
                reply.tag = Some(value.to_vec());
            } else if let Some((name, value)) = split_attribute(word) {
                reply.attributes.push((name.to_vec(), value.to_vec()));
            } else {
                reply.other_words.push(word.clone());
            }
        }
        reply
    }

    /// The raw value of attribute `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The decoded value of attribute `name`.
    pub fn get_text(&self, name: &str) -> Option<String> {
        self.get(name).map(text::decode)
    }

    /// The `!fatal` reason: the bare word RouterOS sends, or `=message=` as some mocks do.
    pub fn fatal_reason(&self) -> String {
        if let Some(word) = self.other_words.first() {
            return text::decode(word);
        }
        self.get_text("message").unwrap_or_default()
    }
}

fn kind_of(first: &[u8]) -> ReplyKind {
    match first {
        b"!re" => ReplyKind::Re,
        b"!done" => ReplyKind::Done,
        b"!trap" => ReplyKind::Trap,
        b"!empty" => ReplyKind::Empty,
        b"!fatal" => ReplyKind::Fatal,
        other => ReplyKind::Unknown(other.to_vec()),
    }
}

/// A 64-bit hash of a print's `!re` rows, read from the decoder's buffer without copying a
/// word: two prints fingerprint alike when their rows hold the same attributes in the same
/// order, leaving out `.tag` and the attributes named in `skip` (e.g. a ticking `uptime`).
///
/// The rows' wire bytes are hashed in runs between left-out words (XXH3, a checksum hash:
/// a poll of a quiet fleet hashes every print it reads, so this is its main cost).
pub struct RowsFingerprint {
    hasher: Xxh3,
    skip: &'static [&'static str],
    rows: usize,
}

impl RowsFingerprint {
    pub fn new(skip: &'static [&'static str]) -> Self {
        RowsFingerprint {
            hasher: Xxh3::new(),
            skip,
            rows: 0,
        }
    }

    /// Adds one row (a `!re` sentence; its first word is not hashed).
    pub fn add_row(&mut self, row: &RawSentence<'_>) {
        let wire = row.wire();
        let mut spans = row.word_spans();
        let mut run_start = spans.next().map_or(wire.len(), |(span, _)| span.end);
        for (span, word) in spans {
            if word.starts_with(b".tag=") || self.skips(word) {
                self.hasher.update(&wire[run_start..span.start]);
                run_start = span.end;
            }
        }
        self.hasher.update(&wire[run_start..]);
        // Row boundary (a zero length, which no word inside a sentence has), so words
        // cannot shift between rows unnoticed.
        self.hasher.update(&[0]);
        self.rows += 1;
    }

    /// `=name=…` for a name in `skip`.
    fn skips(&self, word: &[u8]) -> bool {
        self.skip.iter().any(|name| {
            let name = name.as_bytes();
            word.len() > name.len() + 1
                && word[0] == b'='
                && word[1..].starts_with(name)
                && word[name.len() + 1] == b'='
        })
    }

    /// How many rows were added.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The fingerprint of the rows added so far (their count included).
    pub fn finish(&self) -> u64 {
        let mut hasher = self.hasher.clone();
        hasher.update(&(self.rows as u64).to_le_bytes());
        hasher.digest()
    }
}

/// Splits `=name=value` on the first `=` after the leading one.
pub fn split_attribute(word: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = word.strip_prefix(b"=")?;
    let eq = rest.iter().position(|&b| b == b'=')?;
    Some((&rest[..eq], &rest[eq + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_parse_matches_borrowed_parse() {
        for words in [
            &["!re", "=name=a=b", ".tag=7", "=x=", "odd", "=", "=novalue"][..],
            &["!done", "=ret=*1"],
            &["!weird"],
            &["!fatal", "bye"],
        ] {
            let sentence = Sentence::from_strs(words);
            let (a, b) = (Reply::parse(&sentence), Reply::parse_owned(sentence));
            assert_eq!(a.kind, b.kind);
            assert_eq!(a.tag, b.tag);
            assert_eq!(a.attributes, b.attributes);
            assert_eq!(a.other_words, b.other_words);
        }
    }

    fn print_of(rows: &[&[&str]]) -> u64 {
        let mut bytes = Vec::new();
        for row in rows {
            Sentence::from_strs(row).encode_into(&mut bytes);
        }
        let mut decoder = crate::routeros::Decoder::new();
        decoder.feed(&bytes);
        let mut print = RowsFingerprint::new(&["uptime"]);
        while let Some(raw) = decoder.next_raw().unwrap() {
            print.add_row(&raw);
        }
        print.finish()
    }

    #[test]
    fn rows_fingerprint_ignores_tags_and_skipped_words_but_not_row_boundaries() {
        let first = print_of(&[&["!re", ".tag=1", "=name=alice", "=uptime=1s"]]);
        assert_eq!(
            first,
            print_of(&[&["!re", ".tag=2", "=name=alice", "=uptime=9s"]])
        );
        assert_ne!(first, print_of(&[&["!re", "=name=bob", "=uptime=1s"]]));
        assert_ne!(
            print_of(&[&["!re", "=name=a"], &["!re", "=name=b"]]),
            print_of(&[&["!re", "=name=a", "=name=b"], &["!re"]])
        );
        assert_ne!(print_of(&[]), print_of(&[&["!re"]]));
    }

    #[test]
    fn parses_each_reply_word() {
        let cases: &[(&[&str], ReplyKind)] = &[
            (&["!re", "=name=x"], ReplyKind::Re),
            (&["!done"], ReplyKind::Done),
            (&["!trap", "=message=no such item (4)"], ReplyKind::Trap),
            (&["!empty", ".tag=3"], ReplyKind::Empty),
            (
                &["!fatal", "session terminated on request"],
                ReplyKind::Fatal,
            ),
            (&["!weird"], ReplyKind::Unknown(b"!weird".to_vec())),
        ];
        for (words, kind) in cases {
            assert_eq!(
                &Reply::parse(&Sentence::from_strs(words)).kind,
                kind,
                "{words:?}"
            );
        }
    }

    #[test]
    fn tag_anywhere_values_with_equals_and_bare_words() {
        let reply = Reply::parse(&Sentence::from_strs(&[
            "!re",
            "=name=iu=c3Eeg",
            "=comment=",
            ".tag=9",
            "odd",
        ]));
        assert_eq!(reply.tag.as_deref(), Some(&b"9"[..]));
        assert_eq!(reply.get("name"), Some(&b"iu=c3Eeg"[..]));
        assert_eq!(reply.get("comment"), Some(&b""[..]));
        assert_eq!(reply.other_words, vec![b"odd".to_vec()]);
        let fatal = Reply::parse(&Sentence::from_strs(&["!fatal", "not logged in"]));
        assert_eq!(fatal.fatal_reason(), "not logged in");
        let fatal = Reply::parse(&Sentence::from_strs(&["!fatal", "=message=bye"]));
        assert_eq!(fatal.fatal_reason(), "bye");
    }
}
