//! Length-prefixed words and zero-terminated sentences: bytes in, sentences out, and back.
//!
//! Sans-IO: nothing here touches a socket, a thread or serde. The [`Decoder`] is fed
//! whatever bytes arrived and hands out whole sentences (`Ok(None)` until one is complete),
//! so a sentence split at any byte boundary, even inside a length prefix, decodes the same.
//! Declared lengths are checked against hard caps *before* anything is allocated, so a
//! hostile or broken peer cannot make us allocate without bound.

use std::fmt;

/// Largest word we accept (1 MiB). Real words are at most a few KiB (comments, scripts).
pub const MAX_WORD_LEN: usize = 1 << 20;
/// Most words we accept in one sentence.
pub const MAX_SENTENCE_WORDS: usize = 4096;
/// Most bytes (sum of word lengths) we accept in one sentence.
pub const MAX_SENTENCE_BYTES: usize = 4 << 20;

/// One API word: raw bytes, never assumed to be UTF-8.
pub type Word = Vec<u8>;

/// A sentence: one or more words (the terminating empty word is not stored).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sentence {
    pub words: Vec<Word>,
}

impl Sentence {
    pub fn new(words: Vec<Word>) -> Self {
        Sentence { words }
    }

    /// Builds a sentence from string words (tests and fixed commands).
    pub fn from_strs(words: &[&str]) -> Self {
        Sentence {
            words: words.iter().map(|w| w.as_bytes().to_vec()).collect(),
        }
    }

    /// The first word (command or reply word), empty when the sentence is empty.
    pub fn first(&self) -> &[u8] {
        self.words.first().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Appends the wire form of this sentence to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for word in &self.words {
            encode_word(word, out);
        }
        out.push(0);
    }

    /// The wire form of this sentence.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.words.iter().map(|w| w.len() + 2).sum::<usize>() + 1);
        self.encode_into(&mut out);
        out
    }
}

impl fmt::Debug for Sentence {
    // Shown lossily, one word per item: useful in logs and test failures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.words.iter().map(|w| String::from_utf8_lossy(w)))
            .finish()
    }
}

/// Why a byte stream could not be decoded. Every variant means the stream is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// A first length byte of 0xF8 or above: reserved control byte, nothing can follow.
    ReservedControlByte(u8),
    /// A word longer than [`MAX_WORD_LEN`].
    WordTooLong(u64),
    /// A sentence with more than [`MAX_SENTENCE_WORDS`] words.
    TooManyWords,
    /// A sentence with more than [`MAX_SENTENCE_BYTES`] bytes.
    SentenceTooLarge,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::ReservedControlByte(b) => {
                write!(f, "reserved control byte 0x{b:02x} in length prefix")
            }
            CodecError::WordTooLong(n) => {
                write!(f, "word of {n} bytes exceeds the {MAX_WORD_LEN}-byte cap")
            }
            CodecError::TooManyWords => write!(f, "sentence exceeds {MAX_SENTENCE_WORDS} words"),
            CodecError::SentenceTooLarge => {
                write!(f, "sentence exceeds {MAX_SENTENCE_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for CodecError {}

/// Appends the shortest length prefix for `len` to `out`.
pub fn encode_length(len: usize, out: &mut Vec<u8>) {
    let len = len as u64;
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x4000 {
        let v = (len as u32) | 0x8000;
        out.extend_from_slice(&v.to_be_bytes()[2..]);
    } else if len < 0x20_0000 {
        let v = (len as u32) | 0xC0_0000;
        out.extend_from_slice(&v.to_be_bytes()[1..]);
    } else if len < 0x1000_0000 {
        let v = (len as u32) | 0xE000_0000;
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Decodes a length prefix at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, else the length and the prefix size.
/// Non-shortest prefixes are accepted, as every RouterOS library does.
pub fn decode_length(buf: &[u8]) -> Result<Option<(u64, usize)>, CodecError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let (size, first_bits) = if b0 & 0x80 == 0 {
        (1, u64::from(b0))
    } else if b0 & 0xC0 == 0x80 {
        (2, u64::from(b0 & 0x3F))
    } else if b0 & 0xE0 == 0xC0 {
        (3, u64::from(b0 & 0x1F))
    } else if b0 & 0xF0 == 0xE0 {
        (4, u64::from(b0 & 0x0F))
    } else if b0 & 0xF8 == 0xF0 {
        // The low 3 bits are unused: only 4 length bytes are supported by RouterOS.
        (5, 0)
    } else {
        return Err(CodecError::ReservedControlByte(b0));
    };
    if buf.len() < size {
        return Ok(None);
    }
    let len = buf[1..size]
        .iter()
        .fold(first_bits, |acc, &b| (acc << 8) | u64::from(b));
    Ok(Some((len, size)))
}

/// Appends one word (prefix + bytes) to `out`.
pub fn encode_word(word: &[u8], out: &mut Vec<u8>) {
    encode_length(word.len(), out);
    out.extend_from_slice(word);
}

/// A complete sentence still inside the decoder's buffer, borrowed: read its words without
/// allocating (e.g. to fingerprint a reply), or copy it out when it is needed.
#[derive(Clone, Copy)]
pub struct RawSentence<'a> {
    /// The words' wire form (length prefixes and bytes), without the terminating zero.
    wire: &'a [u8],
    count: usize,
}

impl<'a> RawSentence<'a> {
    /// The words, in order (lengths were checked when the sentence was scanned).
    pub fn words(&self) -> RawWords<'a> {
        RawWords { rest: self.wire }
    }

    /// The words' wire form (length prefixes and bytes), without the terminating zero.
    pub fn wire(&self) -> &'a [u8] {
        self.wire
    }

    /// The words with where each lies in [`RawSentence::wire`] (its prefix included), so a
    /// caller can take runs of words as they are on the wire.
    pub fn word_spans(&self) -> impl Iterator<Item = (std::ops::Range<usize>, &'a [u8])> {
        let wire = self.wire;
        let mut words = self.words();
        std::iter::from_fn(move || {
            let start = wire.len() - words.rest.len();
            let word = words.next()?;
            Some((start..wire.len() - words.rest.len(), word))
        })
    }

    /// The first word (command or reply word), empty when the sentence is empty.
    pub fn first(&self) -> &'a [u8] {
        self.words().next().unwrap_or(&[])
    }

    /// Appends this sentence's wire form (with its terminating zero) to `out`: bytes a
    /// [`Decoder`] fed with them decodes back into the same sentence.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.wire);
        out.push(0);
    }

    /// The sentence, copied out (one allocation per word).
    pub fn to_sentence(&self) -> Sentence {
        let mut words = Vec::with_capacity(self.count);
        words.extend(self.words().map(<[u8]>::to_vec));
        Sentence::new(words)
    }
}

/// The words of a [`RawSentence`].
pub struct RawWords<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RawWords<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, prefix) = decode_length(self.rest).ok().flatten()?;
        let end = prefix.checked_add(usize::try_from(len).ok()?)?;
        let word = self.rest.get(prefix..end)?;
        self.rest = &self.rest[end..];
        Some(word)
    }
}

/// Incremental sentence decoder: feed bytes, take sentences.
///
/// A sentence is scanned in place (its words are not copied while it is incomplete); the
/// scan position survives feeds, so a long sentence arriving in many pieces is scanned once.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Read position in `buf`; consumed bytes are compacted away lazily.
    pos: usize,
    /// Bytes of the sentence at `pos` scanned so far (whole words only).
    scanned: usize,
    /// Words of the sentence at `pos` scanned so far.
    scanned_words: usize,
    sentence_bytes: usize,
}

/// Bytes a read into the decoder gets at least ([`Decoder::feed_with`]).
pub const READ_ROOM: usize = 4096;

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// A decoder that owns `bytes` as already received (no copy), e.g. rows kept in wire form.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Decoder {
            buf: bytes,
            ..Decoder::default()
        }
    }

    /// Adds bytes received from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.make_room();
        self.buf.extend_from_slice(bytes);
    }

    /// Reads straight into the buffer: `read` gets at least [`READ_ROOM`] bytes of room (all
    /// spare capacity when there is more) and returns how many it filled. No bytes are
    /// copied through a separate read buffer.
    pub fn feed_with<E>(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        self.make_room();
        let filled = self.buf.len();
        let room = (self.buf.capacity() - filled).max(READ_ROOM);
        self.buf.resize(filled + room, 0);
        let result = read(&mut self.buf[filled..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(filled + n.min(room));
        result
    }

    /// Drops the buffer's memory when nothing is buffered and it holds more than `keep`
    /// bytes (a large reply grew it; an idle connection need not keep that).
    pub fn shrink_idle(&mut self, keep: usize) {
        if self.buffered() == 0 && self.buf.capacity() > keep {
            self.buf = Vec::new();
            self.pos = 0;
        }
    }

    fn make_room(&mut self) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Bytes fed but not yet part of a returned sentence or word.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Returns the next complete non-empty sentence, `Ok(None)` when more bytes are needed.
    ///
    /// Empty sentences (a lone zero byte) are skipped, as RouterOS does.
    pub fn next_sentence(&mut self) -> Result<Option<Sentence>, CodecError> {
        Ok(self.next_raw()?.map(|raw| raw.to_sentence()))
    }

    /// As [`Decoder::next_sentence`], but the sentence is lent from the buffer: nothing is
    /// allocated. It stays valid until the decoder is used again.
    pub fn next_raw(&mut self) -> Result<Option<RawSentence<'_>>, CodecError> {
        loop {
            let at = self.pos + self.scanned;
            let Some((len, prefix)) = decode_length(&self.buf[at..])? else {
                self.compact();
                return Ok(None);
            };
            if len > MAX_WORD_LEN as u64 {
                return Err(CodecError::WordTooLong(len));
            }
            let len = len as usize;
            if len == 0 {
                let (start, count) = (self.pos, self.scanned_words);
                self.pos = at + prefix;
                self.scanned = 0;
                self.scanned_words = 0;
                self.sentence_bytes = 0;
                if count == 0 {
                    continue;
                }
                return Ok(Some(RawSentence {
                    wire: &self.buf[start..at],
                    count,
                }));
            }
            if self.scanned_words >= MAX_SENTENCE_WORDS {
                return Err(CodecError::TooManyWords);
            }
            if self.sentence_bytes + len > MAX_SENTENCE_BYTES {
                return Err(CodecError::SentenceTooLarge);
            }
            if self.buf.len() - at - prefix < len {
                self.compact();
                return Ok(None);
            }
            self.scanned += prefix + len;
            self.scanned_words += 1;
            self.sentence_bytes += len;
        }
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        encode_length(len, &mut out);
        out
    }

    #[test]
    fn length_prefix_vectors_both_ways() {
        let table: &[(usize, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (0x7F, &[0x7F]),
            (0x80, &[0x80, 0x80]),
            (0x87, &[0x80, 0x87]),
            (130, &[0x80, 0x82]),
            (256, &[0x81, 0x00]),
            (0x1C42, &[0x9C, 0x42]),
            (0x3FFF, &[0xBF, 0xFF]),
            (0x4000, &[0xC0, 0x40, 0x00]),
            (0x4321, &[0xC0, 0x43, 0x21]),
            (2_097_140, &[0xDF, 0xFF, 0xF4]),
            (0x1F_FFFF, &[0xDF, 0xFF, 0xFF]),
            (0x20_0000, &[0xE0, 0x20, 0x00, 0x00]),
            (0x2A_CDEF, &[0xE0, 0x2A, 0xCD, 0xEF]),
            (268_435_440, &[0xEF, 0xFF, 0xFF, 0xF0]),
            (0xFFF_FFFF, &[0xEF, 0xFF, 0xFF, 0xFF]),
            (0x1000_0000, &[0xF0, 0x10, 0x00, 0x00, 0x00]),
            (0x1000_0080, &[0xF0, 0x10, 0x00, 0x00, 0x80]),
            (0xFFFF_FFFF, &[0xF0, 0xFF, 0xFF, 0xFF, 0xFF]),
        ];
        for &(len, bytes) in table {
            assert_eq!(prefix(len), bytes, "encode {len:#x}");
            assert_eq!(
                decode_length(bytes),
                Ok(Some((len as u64, bytes.len()))),
                "decode {len:#x}"
            );
            // Every strict prefix of the prefix asks for more bytes.
            for cut in 0..bytes.len() {
                assert_eq!(
                    decode_length(&bytes[..cut]),
                    Ok(None),
                    "cut {cut} of {len:#x}"
                );
            }
        }
    }

    #[test]
    fn non_shortest_prefix_is_accepted() {
        assert_eq!(decode_length(&[0x80, 0x05]), Ok(Some((5, 2))));
        assert_eq!(decode_length(&[0xF0, 0, 0, 0, 7]), Ok(Some((7, 5))));
    }

    #[test]
    fn reserved_control_bytes_are_errors() {
        for b in 0xF8..=0xFF {
            assert_eq!(decode_length(&[b]), Err(CodecError::ReservedControlByte(b)));
        }
    }

    #[test]
    fn whole_sentence_vectors() {
        let login = Sentence::from_strs(&["/login", "=name=admin", "=password=secret"]);
        let expected =
            hex("062f6c6f67696e0b3d6e616d653d61646d696e103d70617373776f72643d73656372657400");
        assert_eq!(login.to_bytes(), expected);
        let done = Sentence::from_strs(&["!done", ".tag=7", "=ret=*1A"]);
        assert_eq!(
            done.to_bytes(),
            hex("0521646f6e65062e7461673d37083d7265743d2a314100")
        );
        let empty = Sentence::from_strs(&["!empty", ".tag=3"]);
        assert_eq!(empty.to_bytes(), hex("0621656d707479062e7461673d3300"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn sentence_split_at_every_boundary() {
        let sentence = Sentence::new(vec![
            b"!re".to_vec(),
            b".tag=12".to_vec(),
            vec![b'x'; 200],
            vec![b'y'; 0x4001],
            b"=comment=Caf\xe9".to_vec(),
        ]);
        let bytes = sentence.to_bytes();
        for cut in 0..bytes.len() {
            let mut decoder = Decoder::new();
            decoder.feed(&bytes[..cut]);
            assert_eq!(decoder.next_sentence(), Ok(None), "cut at {cut}");
            decoder.feed(&bytes[cut..]);
            assert_eq!(
                decoder.next_sentence(),
                Ok(Some(sentence.clone())),
                "cut at {cut}"
            );
            assert_eq!(decoder.next_sentence(), Ok(None));
        }
    }

    #[test]
    fn raw_sentences_lend_their_words_and_reads_go_straight_in() {
        let a = Sentence::from_strs(&["!re", "=name=x", ".tag=4"]);
        let mut bytes = a.to_bytes();
        bytes.extend(Sentence::from_strs(&["!done"]).to_bytes());
        let mut decoder = Decoder::new();
        let mut at = 0;
        let mut got = Vec::new();
        while at < bytes.len() {
            // Three bytes per "read", into the decoder's own buffer.
            let n = decoder
                .feed_with(|room| {
                    let n = room.len().min(3).min(bytes.len() - at);
                    room[..n].copy_from_slice(&bytes[at..at + n]);
                    Ok::<usize, ()>(n)
                })
                .unwrap();
            at += n;
            while let Some(raw) = decoder.next_raw().unwrap() {
                let mut wire = Vec::new();
                raw.encode_into(&mut wire);
                got.push((
                    raw.first().to_vec(),
                    raw.words().count(),
                    raw.to_sentence(),
                    wire,
                ));
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, b"!re");
        assert_eq!(got[0].1, 3);
        assert_eq!(got[0].2, a);
        assert_eq!(got[0].3, a.to_bytes());
        assert_eq!(got[1].0, b"!done");
        assert_eq!(decoder.buffered(), 0);
        assert!(decoder.buf.capacity() > 0);
        // Nothing buffered: the memory is given back.
        decoder.shrink_idle(0);
        assert_eq!(decoder.buf.capacity(), 0);
    }

    #[test]
    fn byte_at_a_time_and_empty_sentences_skipped() {
        let a = Sentence::from_strs(&["!done", ".tag=1"]);
        let b = Sentence::from_strs(&["!re", "=name=x"]);
        let mut bytes = vec![0u8];
        bytes.extend(a.to_bytes());
        bytes.push(0);
        bytes.extend(b.to_bytes());
        let mut decoder = Decoder::new();
        let mut got = Vec::new();
        for byte in bytes {
            decoder.feed(&[byte]);
            while let Some(s) = decoder.next_sentence().unwrap() {
                got.push(s);
            }
        }
        assert_eq!(got, vec![a, b]);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn oversize_word_is_an_error_before_allocation() {
        let mut decoder = Decoder::new();
        // Declares a 0xFFFFFFFF-byte word but sends only the prefix.
        decoder.feed(&[0xF0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(
            decoder.next_sentence(),
            Err(CodecError::WordTooLong(0xFFFF_FFFF))
        );
        let mut decoder = Decoder::new();
        let mut bytes = Vec::new();
        encode_length(MAX_WORD_LEN + 1, &mut bytes);
        decoder.feed(&bytes);
        assert!(matches!(
            decoder.next_sentence(),
            Err(CodecError::WordTooLong(_))
        ));
    }

    #[test]
    fn too_many_words_and_too_many_bytes() {
        let mut decoder = Decoder::new();
        let mut bytes = Vec::new();
        for _ in 0..=MAX_SENTENCE_WORDS {
            encode_word(b"a", &mut bytes);
        }
        decoder.feed(&bytes);
        assert_eq!(decoder.next_sentence(), Err(CodecError::TooManyWords));

        let mut decoder = Decoder::new();
        let mut bytes = Vec::new();
        let big = vec![b'z'; MAX_WORD_LEN];
        for _ in 0..(MAX_SENTENCE_BYTES / MAX_WORD_LEN + 1) {
            encode_word(&big, &mut bytes);
        }
        decoder.feed(&bytes);
        assert_eq!(decoder.next_sentence(), Err(CodecError::SentenceTooLarge));
    }

    #[test]
    fn malformed_garbage_never_panics() {
        let mut rng = crate::rng::Rng::new(7);
        for _ in 0..2000 {
            let len = rng.below(64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            let mut decoder = Decoder::new();
            decoder.feed(&bytes);
            while let Ok(Some(_)) = decoder.next_sentence() {}
        }
    }

    #[test]
    fn generated_sentences_round_trip() {
        let mut rng = crate::rng::Rng::new(0x5eed);
        let lengths = [0usize, 1, 2, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1_0000];
        for round in 0..300 {
            let word_count = 1 + rng.below(12) as usize;
            let words: Vec<Word> = (0..word_count)
                .map(|_| {
                    let len = if rng.below(4) == 0 {
                        lengths[rng.below(lengths.len() as u64) as usize].max(1)
                    } else {
                        1 + rng.below(40) as usize
                    };
                    (0..len).map(|_| rng.next_u32() as u8).collect()
                })
                .collect();
            let sentence = Sentence::new(words);
            let bytes = sentence.to_bytes();
            let mut decoder = Decoder::new();
            let mut out = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let step = 1 + rng.below(5000) as usize;
                let end = (at + step).min(bytes.len());
                decoder.feed(&bytes[at..end]);
                at = end;
                while let Some(s) = decoder.next_sentence().unwrap() {
                    out.push(s);
                }
            }
            assert_eq!(out, vec![sentence], "round {round}");
        }
    }
}
