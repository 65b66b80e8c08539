//! Command sentences: a builder for the client and a parser for the simulator.
//!
//! A command is its path word (`/ppp/secret/print`), `=name=value` attributes,
//! `.tag`/`.proplist` API attributes and `?` query words, in the order RouterOS reads them.

use super::codec::{Sentence, Word};
use super::reply::split_attribute;

/// Builds one command sentence.
#[derive(Debug, Clone, Default)]
pub struct CommandBuilder {
    words: Vec<Word>,
}

impl CommandBuilder {
    /// Starts a command with its path, e.g. `/ppp/secret/print`.
    pub fn new(path: &str) -> Self {
        CommandBuilder {
            words: vec![path.as_bytes().to_vec()],
        }
    }

    /// Adds `=name=value`.
    /// The command's path, e.g. `/ppp/secret/print`.
    pub fn path(&self) -> &[u8] {
        self.words.first().map_or(&[], Vec::as_slice)
    }

    pub fn attr(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.words.push(attribute_word(name, value.as_ref()));
        self
    }

    /// Adds `=name=` (a flag argument such as `once`).
    pub fn flag(self, name: &str) -> Self {
        self.attr(name, b"")
    }

    /// Adds `=.proplist=a,b,c`.
    pub fn proplist(self, names: &[&str]) -> Self {
        let list = names.join(",");
        self.attr(".proplist", list.as_bytes())
    }

    /// Adds the query word `?name=value` (exact match).
    pub fn query_eq(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let mut word = Vec::with_capacity(name.len() + value.as_ref().len() + 3);
        word.extend_from_slice(b"?=");
        word.extend_from_slice(name.as_bytes());
        word.push(b'=');
        word.extend_from_slice(value.as_ref());
        self.words.push(word);
        self
    }

    /// Adds a raw word (already formed query or attribute).
    pub fn word(mut self, word: impl Into<Word>) -> Self {
        self.words.push(word.into());
        self
    }

    /// Finishes the sentence with `.tag=TAG`.
    pub fn build_tagged(mut self, tag: &str) -> Sentence {
        self.words.push(format!(".tag={tag}").into_bytes());
        Sentence::new(self.words)
    }

    /// Finishes the sentence without a tag.
    pub fn build(self) -> Sentence {
        Sentence::new(self.words)
    }
}

fn attribute_word(name: &str, value: &[u8]) -> Word {
    let mut word = Vec::with_capacity(name.len() + value.len() + 2);
    word.push(b'=');
    word.extend_from_slice(name.as_bytes());
    word.push(b'=');
    word.extend_from_slice(value);
    word
}

/// A command sentence as the router reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedCommand {
    /// The command word, e.g. `/ppp/secret/print`.
    pub path: Word,
    /// `=name=value` arguments in order (`.proplist` and `.id` included, as RouterOS sends them).
    pub attributes: Vec<(Word, Word)>,
    /// `.tag=X`.
    pub tag: Option<Word>,
    /// `?...` query words in order, without the leading `?`.
    pub queries: Vec<Word>,
    /// Words that fit none of the above.
    pub other_words: Vec<Word>,
}

impl ParsedCommand {
    pub fn parse(sentence: &Sentence) -> ParsedCommand {
        let mut command = ParsedCommand {
            path: sentence.first().to_vec(),
            ..Default::default()
        };
        for word in sentence.words.iter().skip(1) {
            if let Some(value) = word.strip_prefix(b".tag=") {
                command.tag = Some(value.to_vec());
            } else if let Some(query) = word.strip_prefix(b"?") {
                command.queries.push(query.to_vec());
            } else if let Some((name, value)) = split_attribute(word) {
                command.attributes.push((name.to_vec(), value.to_vec()));
            } else {
                command.other_words.push(word.clone());
            }
        }
        command
    }

    /// The raw value of argument `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_parser_agree() {
        let sentence = CommandBuilder::new("/ppp/secret/print")
            .proplist(&[".id", "name"])
            .query_eq("name", "alice")
            .flag("once")
            .build_tagged("4");
        assert_eq!(
            sentence,
            Sentence::from_strs(&[
                "/ppp/secret/print",
                "=.proplist=.id,name",
                "?=name=alice",
                "=once=",
                ".tag=4"
            ])
        );
        let parsed = ParsedCommand::parse(&sentence);
        assert_eq!(parsed.path, b"/ppp/secret/print");
        assert_eq!(parsed.tag.as_deref(), Some(&b"4"[..]));
        assert_eq!(parsed.queries, vec![b"=name=alice".to_vec()]);
        assert_eq!(parsed.get(".proplist"), Some(&b".id,name"[..]));
        assert_eq!(parsed.get("once"), Some(&b""[..]));
    }
}
