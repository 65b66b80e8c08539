//! Writes a large answer straight to the client's socket in one piece.
//!
//! tiny_http copies every body through `io::copy` from a `Box<dyn Read>`, so in 8 KiB
//! pieces: 290 socket writes for a 2.3 MB `/monitoring/targets`. For bodies of at least
//! `LARGE_BODY` bytes the edge takes the connection's writer (`Request::into_writer`) and
//! writes the head and the body itself, with `Content-Length`; tiny_http still reads the
//! next request on the connection and closes it when the client asked for that.

use std::io::Write;

/// Bodies from this size on are written directly.
pub const LARGE_BODY: usize = 64 * 1024;

/// The response head as tiny_http writes it (`Server`, `Date`, the headers given,
/// `Content-Length`), ready to go before the body.
pub fn head(status: u16, headers: &[(&str, &str)], length: usize) -> Vec<u8> {
    let reason = tiny_http::StatusCode(status).default_reason_phrase();
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&jiff::Timestamp::now())
        .unwrap_or_default();
    let mut head = Vec::with_capacity(256);
    // Writing into a Vec cannot fail.
    let _ = write!(
        head,
        "HTTP/1.1 {status} {reason}\r\nServer: tiny-http (Rust)\r\nDate: {date}\r\n"
    );
    for (name, value) in headers {
        // The same check tiny_http makes on a header: no line breaks smuggled in.
        if name
            .bytes()
            .chain(value.bytes())
            .any(|b| b == b'\r' || b == b'\n')
        {
            continue;
        }
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {length}\r\n\r\n");
    head
}

/// Writes `head` and `body` to `writer` and flushes it.
pub fn write_all(mut writer: impl Write, head: &[u8], body: Option<&[u8]>) -> std::io::Result<()> {
    writer.write_all(head)?;
    if let Some(body) = body {
        writer.write_all(body)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_carries_status_headers_and_length() {
        let head = head(
            200,
            &[("Content-Type", "application/json"), ("X-Bad", "a\r\nb")],
            70000,
        );
        let text = String::from_utf8(head).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nServer: tiny-http (Rust)\r\nDate: "));
        assert!(text.contains(" GMT\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Type: application/json\r\n"));
        assert!(
            !text.contains("X-Bad"),
            "a header with a line break is dropped"
        );
        assert!(text.ends_with("\r\nContent-Length: 70000\r\n\r\n"));
    }
}
