//! Reply sentences (`!re`, `!done`, `!trap`, `!empty`, `!fatal`) parsed into a typed [`Reply`].
//!
//! Parsing never fails: unknown reply words and words without `=` are kept aside so the
//! client can log and skip them while reading on to the command's `!done`.

use super::codec::{Sentence, Word};
use super::text;

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
    pub fn parse(sentence: &Sentence) -> Reply {
        let kind = match sentence.first() {
            b"!re" => ReplyKind::Re,
            b"!done" => ReplyKind::Done,
            b"!trap" => ReplyKind::Trap,
            b"!empty" => ReplyKind::Empty,
            b"!fatal" => ReplyKind::Fatal,
            other => ReplyKind::Unknown(other.to_vec()),
        };
        let mut reply = Reply {
            kind,
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
