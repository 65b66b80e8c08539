//! A minimal keep-alive HTTP/1.1 GET client over `std::net::TcpStream`, the same for every
//! server measured (engine and nginx), so its own cost cancels out of every ratio.
//!
//! Reads `Content-Length` and `chunked` bodies into a reused buffer; reconnects once when a
//! kept-alive connection turns out to be closed (the usual keep-alive race).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One persistent connection to one server.
pub struct HttpClient {
    addr: SocketAddr,
    timeout: Duration,
    connection: Option<BufReader<TcpStream>>,
    request: Vec<u8>,
    line: String,
    /// Connections opened so far (1 for a well-behaved keep-alive server).
    pub connects: u64,
}

/// What came back for one request; the body is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpStatus {
    pub status: u16,
    pub body_len: usize,
}

impl HttpClient {
    pub fn new(addr: SocketAddr, timeout: Duration) -> HttpClient {
        HttpClient {
            addr,
            timeout,
            connection: None,
            request: Vec::with_capacity(256),
            line: String::with_capacity(256),
            connects: 0,
        }
    }

    /// `GET path` that must answer 200; returns how long it took. `what` names the call
    /// in the error.
    pub fn timed_ok(
        &mut self,
        path: &str,
        key: &str,
        body: &mut Vec<u8>,
        what: &str,
    ) -> Result<Duration, String> {
        let started = Instant::now();
        let answer = self
            .get(path, key, body)
            .map_err(|e| format!("{what}: {path}: {e}"))?;
        if answer.status != 200 {
            return Err(format!("{what}: {path}: status {}", answer.status));
        }
        Ok(started.elapsed())
    }

    /// `GET path` with an `X-App-Key` header; the body lands in `body` (cleared first).
    pub fn get(&mut self, path: &str, key: &str, body: &mut Vec<u8>) -> io::Result<HttpStatus> {
        self.request.clear();
        write!(
            self.request,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nX-App-Key: {key}\r\n\r\n",
            self.addr
        )?;
        let reused = self.connection.is_some();
        match self.exchange(body) {
            Ok(answer) => Ok(answer),
            // A kept-alive connection the server already closed: one fresh attempt.
            Err(e) if reused && is_stale_connection(&e) => {
                self.connection = None;
                self.exchange(body)
            }
            Err(e) => {
                self.connection = None;
                Err(e)
            }
        }
    }

    fn connect(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.connection.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(self.timeout))?;
            stream.set_write_timeout(Some(self.timeout))?;
            self.connects += 1;
            self.connection = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        self.connection
            .as_mut()
            .ok_or_else(|| io::Error::other("no connection"))
    }

    fn exchange(&mut self, body: &mut Vec<u8>) -> io::Result<HttpStatus> {
        let request = std::mem::take(&mut self.request);
        let mut line = std::mem::take(&mut self.line);
        let result = (|| {
            let reader = self.connect()?;
            reader.get_mut().write_all(&request)?;
            read_response(reader, &mut line, body)
        })();
        self.request = request;
        self.line = line;
        let (status, keep_alive) = result?;
        if !keep_alive {
            self.connection = None;
        }
        Ok(status)
    }
}

fn is_stale_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn eof(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("connection closed in {what}"),
    )
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads one response; returns its status and whether the connection stays open.
pub fn read_response<R: BufRead>(
    reader: &mut R,
    line: &mut String,
    body: &mut Vec<u8>,
) -> io::Result<(HttpStatus, bool)> {
    line.clear();
    if reader.read_line(line)? == 0 {
        return Err(eof("the status line"));
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let http10 = line.starts_with("HTTP/1.0");
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut keep_alive = !http10;
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(eof("the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse()
                    .map_err(|_| bad(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    body.clear();
    if chunked {
        read_chunked(reader, line, body)?;
    } else if let Some(length) = content_length {
        read_exactly(reader, length, body)?;
    } else {
        reader.read_to_end(body)?;
        keep_alive = false;
    }
    Ok((
        HttpStatus {
            status,
            body_len: body.len(),
        },
        keep_alive,
    ))
}

/// Appends exactly `length` bytes to `body` (into spare capacity: no zeroing first).
fn read_exactly<R: BufRead>(reader: &mut R, length: usize, body: &mut Vec<u8>) -> io::Result<()> {
    body.reserve(length);
    let expected = body.len() + length;
    reader.take(length as u64).read_to_end(body)?;
    if body.len() != expected {
        return Err(eof("the body"));
    }
    Ok(())
}

fn read_chunked<R: BufRead>(
    reader: &mut R,
    line: &mut String,
    body: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(eof("a chunk size"));
        }
        let size_text = line.trim_end().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                if reader.read_line(line)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        read_exactly(reader, size, body)?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}
