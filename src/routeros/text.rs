//! RouterOS text: words are bytes, shown as Unicode and written back byte-exact.
//!
//! RouterOS stores whatever bytes it was given. Text typed in WinBox arrives in the PC's
//! Windows code page (most often Windows-1252), text written over the API is often UTF-8.
//! [`decode`] is total: valid UTF-8 stays UTF-8, anything else is read as Windows-1252 with
//! the five undefined bytes mapped to the C1 controls (the WHATWG mapping), so no byte is
//! lost and [`encode`] of the result gives the router's bytes back.

use compact_str::CompactString;
use std::fmt;

/// Windows-1252 code points for bytes 0x80..=0x9F; the five undefined ones map to U+0080+n.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Decodes router bytes for display: UTF-8 when valid, else Windows-1252. Never fails.
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| decode_cp1252_byte(b)).collect(),
    }
}

/// [`decode`] into a [`CompactString`]: text of up to 24 bytes (ids, names, addresses,
/// uptimes) is stored inline, without a heap allocation.
pub fn decode_compact(bytes: &[u8]) -> CompactString {
    match std::str::from_utf8(bytes) {
        Ok(s) => CompactString::new(s),
        Err(_) => bytes.iter().map(|&b| decode_cp1252_byte(b)).collect(),
    }
}

fn decode_cp1252_byte(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// A character that Windows-1252 cannot represent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnencodableChar(pub char);

impl fmt::Display for UnencodableChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "character {:?} (U+{:04X}) cannot be stored on a RouterOS router (Windows-1252 only)",
            self.0, self.0 as u32
        )
    }
}

impl std::error::Error for UnencodableChar {}

/// Encodes text for the router as Windows-1252, the code page WinBox users read it in.
pub fn encode(text: &str) -> Result<Vec<u8>, UnencodableChar> {
    if text.is_ascii() {
        return Ok(text.as_bytes().to_vec());
    }
    text.chars().map(encode_char).collect()
}

fn encode_char(c: char) -> Result<u8, UnencodableChar> {
    let code = c as u32;
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        return Ok(code as u8);
    }
    CP1252_HIGH
        .iter()
        .position(|&h| h == c)
        .map(|i| 0x80 + i as u8)
        .ok_or(UnencodableChar(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_comment_decodes_and_encodes_back_exactly() {
        let bytes = b"Caf\xe9 \xd1and\xfa".to_vec();
        let text = decode(&bytes);
        assert_eq!(text, "Café Ñandú");
        assert_eq!(encode(&text).unwrap(), bytes);
    }

    #[test]
    fn utf8_stays_utf8() {
        assert_eq!(decode("Café".as_bytes()), "Café");
    }

    #[test]
    fn every_byte_round_trips_through_cp1252() {
        // A lone high byte is never valid UTF-8, so each one exercises the fallback.
        for b in 0x80..=0xFFu8 {
            let text = decode(&[b]);
            assert_eq!(encode(&text).unwrap(), vec![b], "byte {b:#x}");
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(encode(&decode(&all)).unwrap(), all);
    }

    #[test]
    fn cp1252_specials_and_unencodable() {
        assert_eq!(encode("€").unwrap(), vec![0x80]);
        assert_eq!(decode(&[0x80, 0xff]), "€ÿ");
        assert_eq!(encode("日本"), Err(UnencodableChar('日')));
    }
}
