//! A blocking RouterOS API connection over any byte stream: tags, deadlines, login.
//!
//! Every command gets a fresh `.tag`; replies are matched by tag. When a command is
//! abandoned (deadline passed), its tag is remembered and every later sentence carrying it
//! is read and discarded up to its `!done`, so a stale reply is never handed to the next
//! caller. `!fatal` fails the command and poisons the connection. Knows nothing of threads.
//!
//! Streams (`listen`, monitors without `once`) run beside ordinary commands on the same
//! connection: [`Connection::start_stream`] registers the tag before the command is written,
//! and every sentence carrying it is queued as a [`StreamEvent`] (read while another command
//! waits for its reply, or by [`Connection::wait_stream`]), never handed to another caller.
//! [`Connection::cancel_stream`] sends `/cancel =tag=X`; the `interrupted` trap and both
//! `!done`s end the stream cleanly. A broken connection ends every stream with it: whoever
//! started them starts them again on the next connection.

mod digest;
mod pipeline;
mod streams;

pub use digest::{Fingerprinted, HeldRows, Print, Printed};
pub use pipeline::Pipelined;
pub use streams::StreamEvent;
use streams::StreamState;

use super::error::{from_io, RouterError, Trap};
use crate::routeros::{login, text, CommandBuilder, Decoder, Reply, ReplyKind, Sentence};
use compact_str::CompactString;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A stream whose read timeout can be changed between reads (TCP, TLS later, test doubles).
pub trait Stream: Read + Write {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Reads return `WouldBlock` at once instead of waiting (for a look at the socket).
    /// Streams that never block (test doubles) need not do anything.
    fn set_nonblocking(&mut self, _nonblocking: bool) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, nonblocking)
    }
}

/// One data row (`!re`) of a reply: attribute names and raw values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub attributes: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Record {
    /// Raw bytes of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Decoded text of `name`, empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).map(text::decode).unwrap_or_default()
    }

    /// Decoded text of `name` as a [`CompactString`] (short text inline), empty when absent.
    pub fn compact(&self, name: &str) -> CompactString {
        self.get(name).map(text::decode_compact).unwrap_or_default()
    }

    /// Decoded text of `name`, `None` when absent.
    pub fn opt_text(&self, name: &str) -> Option<String> {
        self.get(name).map(text::decode)
    }

    /// `name` as an unsigned number, 0 when absent or not a number.
    pub fn number(&self, name: &str) -> u64 {
        self.get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// `name` as a RouterOS boolean, false when absent.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .map(|v| v == b"true" || v == b"yes")
            .unwrap_or(false)
    }
}

/// Everything a command answered: its rows and the `=ret=` of its `!done`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub records: Vec<Record>,
    pub ret: Option<Vec<u8>>,
}

/// A logged-in (or logging-in) connection to one router.
pub struct Connection<S: Stream> {
    stream: S,
    decoder: Decoder,
    next_tag: u64,
    /// Tags of commands we gave up on; their sentences are discarded until `!done`.
    abandoned: HashSet<Vec<u8>>,
    /// Running streams by tag.
    streams: HashMap<Vec<u8>, StreamState>,
    /// Stream sentences read but not yet taken by the caller.
    events: VecDeque<StreamEvent>,
    /// Set once the stream is unusable (fatal, protocol error, I/O error).
    broken: bool,
    /// While fingerprinted prints run: their rows, hashed in the decoder's buffer.
    digests: Vec<digest::Digest>,
    /// Wire size of each fingerprinted print's rows last time, by command path: the next
    /// run's copy is sized once instead of growing (and reallocating) row by row.
    held_sizes: Vec<(Vec<u8>, usize)>,
}

/// Decoder memory kept between commands; a larger reply's buffer is given back after it.
pub(super) const DECODER_KEEP: usize = 8 * 1024;

impl Connection<TcpStream> {
    /// Connects to `host:port` within `timeout` (each resolved address gets the remaining time).
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, RouterError> {
        let deadline = Instant::now() + timeout;
        let addresses = (host, port)
            .to_socket_addrs()
            .map_err(RouterError::Connect)?;
        let mut last_error = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolved to no address"),
        );
        for address in addresses {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                last_error = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                break;
            }
            match TcpStream::connect_timeout(&address, remaining) {
                Ok(stream) => {
                    // Small request/response sentences: send them at once.
                    stream.set_nodelay(true).map_err(RouterError::Connect)?;
                    stream
                        .set_write_timeout(Some(timeout))
                        .map_err(RouterError::Connect)?;
                    return Ok(Connection::new(stream));
                }
                Err(e) => last_error = e,
            }
        }
        Err(RouterError::Connect(last_error))
    }

    /// The socket's descriptor, for a watcher that waits for bytes on many sockets at once.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.stream)
    }

    /// Closes the socket in both directions (wakes nothing else; used on recycle).
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl<S: Stream> Connection<S> {
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            decoder: Decoder::new(),
            next_tag: 1,
            abandoned: HashSet::new(),
            streams: HashMap::new(),
            events: VecDeque::new(),
            broken: false,
            digests: Vec::new(),
            held_sizes: Vec::new(),
        }
    }

    /// How many commands were written on this connection so far.
    pub fn commands_sent(&self) -> u64 {
        self.next_tag - 1
    }

    /// True once the connection must not be used again.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Number of abandoned commands whose replies are still being drained.
    pub fn abandoned_count(&self) -> usize {
        self.abandoned.len()
    }

    /// Logs in: plain `/login` first, then the MD5 challenge if the router answers with `=ret=`.
    pub fn login(
        &mut self,
        user: &str,
        password: &str,
        deadline: Instant,
    ) -> Result<(), RouterError> {
        let user_bytes = encode_text(user)?;
        let password_bytes = encode_text(password)?;
        let plain = CommandBuilder::new("/login")
            .attr("name", &user_bytes)
            .attr("password", &password_bytes);
        let response = self.execute(plain, deadline).map_err(login_error)?;
        let Some(challenge_hex) = response.ret else {
            return Ok(());
        };
        // Pre-6.43 router: it ignored name and password and sent a challenge.
        let challenge = login::decode_challenge(&challenge_hex)
            .ok_or_else(|| RouterError::UnexpectedReply("login challenge is not hex".into()))?;
        let answer = login::challenge_response(&password_bytes, &challenge);
        let legacy = CommandBuilder::new("/login")
            .attr("name", &user_bytes)
            .attr("response", answer.as_bytes());
        self.execute(legacy, deadline).map_err(login_error)?;
        Ok(())
    }

    /// Runs one command and returns its rows; traps become [`RouterError::Trap`].
    pub fn run(
        &mut self,
        command: CommandBuilder,
        deadline: Instant,
    ) -> Result<Vec<Record>, RouterError> {
        self.execute(command, deadline).map(|r| r.records)
    }

    /// Runs one command and returns its rows and `=ret=`.
    pub fn execute(
        &mut self,
        command: CommandBuilder,
        deadline: Instant,
    ) -> Result<Response, RouterError> {
        if self.broken {
            return Err(RouterError::Closed);
        }
        let tag = self.next_tag.to_string();
        self.next_tag += 1;
        let sentence = command.build_tagged(&tag);
        self.send(&sentence)?;
        let tag = tag.into_bytes();
        let result = self.collect(&tag, deadline);
        if let Err(RouterError::Timeout) = result {
            // Keep the stream in step: whatever arrives for this tag later is discarded.
            self.abandoned.insert(tag);
        }
        result
    }

    /// Asks the router to stop command `tag` (streams such as monitor-traffic without `once`).
    pub fn cancel(&mut self, tag: &str, deadline: Instant) -> Result<(), RouterError> {
        self.execute(
            CommandBuilder::new("/cancel").attr("tag", tag.as_bytes()),
            deadline,
        )
        .map(|_| ())
    }

    /// Sends `/quit` and reads the router's `!fatal` goodbye (best effort).
    pub fn quit(&mut self, deadline: Instant) {
        if self.broken {
            return;
        }
        if self.send(&CommandBuilder::new("/quit").build()).is_ok() {
            // Read until the router says goodbye or the deadline passes; errors are expected.
            while let Ok(reply) = self.read_reply(deadline) {
                if reply.kind == ReplyKind::Fatal {
                    break;
                }
            }
        }
        self.broken = true;
    }

    fn send(&mut self, sentence: &Sentence) -> Result<(), RouterError> {
        self.send_bytes(&sentence.to_bytes())
    }

    /// Writes encoded sentences in one piece.
    fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), RouterError> {
        let result = self
            .stream
            .write_all(bytes)
            .and_then(|_| self.stream.flush());
        result.map_err(|e| self.poison(from_io(e)))
    }

    /// Reads replies until `!done` for `tag`, discarding sentences of abandoned tags.
    fn collect(&mut self, tag: &[u8], deadline: Instant) -> Result<Response, RouterError> {
        let mut response = Response::default();
        let mut traps = Vec::new();
        loop {
            let reply = self.read_reply(deadline)?;
            if reply.kind == ReplyKind::Fatal {
                let reason = reply.fatal_reason();
                return Err(self.poison(RouterError::Fatal(reason)));
            }
            match reply.tag.as_deref() {
                Some(t) if t == tag => {}
                Some(t) => {
                    let t = t.to_vec();
                    self.other_tag(t, reply);
                    continue;
                }
                None => {
                    log::debug!("discarding untagged {:?} reply", reply.kind);
                    continue;
                }
            }
            match reply.kind {
                ReplyKind::Re => response.records.push(Record {
                    attributes: reply.attributes,
                }),
                ReplyKind::Trap => traps.push(trap_of(&reply)),
                ReplyKind::Empty => {}
                ReplyKind::Done => {
                    if !traps.is_empty() {
                        return Err(RouterError::Trap(traps));
                    }
                    response.ret = reply.get("ret").map(<[u8]>::to_vec);
                    return Ok(response);
                }
                ReplyKind::Unknown(word) => {
                    log::debug!(
                        "skipping unknown reply word {:?}",
                        String::from_utf8_lossy(&word)
                    );
                }
                ReplyKind::Fatal => unreachable!("handled above"),
            }
        }
    }

    fn read_reply(&mut self, deadline: Instant) -> Result<Reply, RouterError> {
        loop {
            match self.decoder.next_raw() {
                Ok(Some(raw)) => {
                    if !self.digests.is_empty() && digest::take_row(&mut self.digests, &raw) {
                        continue;
                    }
                    return Ok(Reply::parse_owned(raw.to_sentence()));
                }
                Ok(None) => {}
                Err(e) => return Err(self.poison(RouterError::Protocol(e))),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(RouterError::Timeout);
            }
            if let Err(e) = self.stream.set_read_timeout(Some(remaining)) {
                return Err(self.poison(RouterError::Io(e)));
            }
            match self.decoder.feed_with(|room| self.stream.read(room)) {
                Ok(0) => return Err(self.poison(RouterError::Closed)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let error = from_io(e);
                    if !matches!(error, RouterError::Timeout) {
                        self.broken = true;
                        self.streams.clear();
                    }
                    return Err(error);
                }
            }
        }
    }

    fn poison(&mut self, error: RouterError) -> RouterError {
        self.broken = true;
        self.streams.clear();
        error
    }
}

fn trap_of(reply: &Reply) -> Trap {
    Trap {
        category: reply
            .get("category")
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse().ok()),
        message: reply.get_text("message").unwrap_or_default(),
    }
}

fn login_error(error: RouterError) -> RouterError {
    match error {
        RouterError::Trap(traps) => {
            let message = traps
                .first()
                .map(|t| t.message.clone())
                .unwrap_or_else(|| "login failed".into());
            RouterError::LoginRefused(message)
        }
        RouterError::Fatal(reason) => RouterError::LoginRefused(reason),
        other => other,
    }
}

/// Encodes caller text for the router (Windows-1252), refusing what it cannot hold.
pub fn encode_text(value: &str) -> Result<Vec<u8>, RouterError> {
    text::encode(value).map_err(|e| RouterError::InvalidInput(e.to_string()))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Replays scripted bytes in chunks and records what the client wrote.
    pub(in crate::router::conn) struct ScriptedStream {
        pub(in crate::router::conn) incoming: VecDeque<Vec<u8>>,
        pub(in crate::router::conn) written: Vec<u8>,
    }

    impl Read for ScriptedStream {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.incoming.pop_front() {
                Some(mut chunk) => {
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        self.incoming.push_front(chunk.split_off(n));
                    }
                    Ok(n)
                }
                None => Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "no more scripted bytes",
                )),
            }
        }
    }

    impl Write for ScriptedStream {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Stream for ScriptedStream {
        fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    pub(in crate::router::conn) fn connection(replies: &[&[&str]]) -> Connection<ScriptedStream> {
        // One byte per read: every reply is split at every boundary.
        let bytes: Vec<u8> = replies
            .iter()
            .flat_map(|r| Sentence::from_strs(r).to_bytes())
            .collect();
        let incoming = bytes.into_iter().map(|b| vec![b]).collect();
        Connection::new(ScriptedStream {
            incoming,
            written: Vec::new(),
        })
    }

    pub(in crate::router::conn) fn soon() -> Instant {
        Instant::now() + Duration::from_secs(1)
    }

    #[test]
    fn empty_then_done_and_unknown_words_are_skipped() {
        let mut conn = connection(&[
            &["!empty", ".tag=1"],
            &["!weird", ".tag=1"],
            &["!done", ".tag=1"],
        ]);
        assert_eq!(
            conn.run(CommandBuilder::new("/ppp/active/print"), soon())
                .unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_fingerprinted_print_parses_only_when_its_rows_changed() {
        let mut conn = connection(&[
            &["!re", ".tag=1", "=name=a", "=uptime=1s"],
            &["!re", ".tag=1", "=name=b", "=uptime=1s"],
            &["!done", ".tag=1"],
            &["!re", "=name=a", ".tag=2", "=uptime=5s"],
            &["!re", ".tag=2", "=name=b", "=uptime=5s"],
            &["!done", ".tag=2"],
            &["!re", ".tag=3", "=name=a", "=uptime=6s"],
            &["!done", ".tag=3"],
        ]);
        // One fingerprinted print at a time, as a poll sends it among others.
        let mut print = |last: Option<u64>| {
            let print = Print {
                command: CommandBuilder::new("/ppp/active/print"),
                fingerprint: Some((&["uptime"], last)),
            };
            match conn.prints(vec![print], soon()).pop() {
                Some((Ok(Printed::Fingerprinted(answer)), _)) => answer,
                other => panic!("a fingerprinted answer: {other:?}"),
            }
        };
        let Fingerprinted::Changed { rows, fingerprint } = print(None) else {
            panic!("a first print is parsed");
        };
        let records = rows.parse(Record::clone);
        let names: Vec<String> = records.iter().map(|r| r.text("name")).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(records[0].text("uptime"), "1s");
        assert!(matches!(print(Some(fingerprint)), Fingerprinted::Same));
        let Fingerprinted::Changed { rows, .. } = print(Some(fingerprint)) else {
            panic!("a row fewer is a change");
        };
        assert_eq!(rows.parse(Record::clone).len(), 1);
    }

    #[test]
    fn stale_reply_of_an_abandoned_tag_is_discarded() {
        let mut conn = connection(&[]);
        assert!(matches!(
            conn.run(CommandBuilder::new("/a"), soon()),
            Err(RouterError::Timeout)
        ));
        assert_eq!(conn.abandoned_count(), 1);
        // The late answer to tag 1 arrives before the answer to tag 2.
        for reply in [
            &["!re", ".tag=1", "=name=stale"][..],
            &["!done", ".tag=1"],
            &["!re", "=name=fresh", ".tag=2"],
            &["!done", ".tag=2"],
        ] {
            conn.stream
                .incoming
                .push_back(Sentence::from_strs(reply).to_bytes());
        }
        let rows = conn.run(CommandBuilder::new("/b"), soon()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].text("name"), "fresh");
        assert_eq!(conn.abandoned_count(), 0);
    }

    #[test]
    fn traps_are_collected_until_done() {
        let mut conn = connection(&[
            &["!trap", ".tag=1", "=category=2", "=message=interrupted"],
            &["!trap", ".tag=1", "=message=failure: 301 Moved Permanently"],
            &["!done", ".tag=1"],
        ]);
        match conn.run(CommandBuilder::new("/tool/fetch"), soon()) {
            Err(RouterError::Trap(traps)) => {
                assert_eq!(traps.len(), 2);
                assert_eq!(traps[0].category, Some(2));
                assert_eq!(traps[1].message, "failure: 301 Moved Permanently");
            }
            other => panic!("expected traps, got {other:?}"),
        }
        assert!(!conn.is_broken());
    }

    #[test]
    fn fatal_poisons_the_connection() {
        let mut conn = connection(&[&["!fatal", "session terminated on request"]]);
        let error = conn.run(CommandBuilder::new("/x"), soon()).unwrap_err();
        assert!(matches!(&error, RouterError::Fatal(r) if r == "session terminated on request"));
        assert!(error.is_connectivity_error());
        assert!(conn.is_broken());
        assert!(matches!(
            conn.run(CommandBuilder::new("/y"), soon()),
            Err(RouterError::Closed)
        ));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut conn = Connection::new(ScriptedStream {
            incoming: VecDeque::from(vec![vec![0xF9, 1, 2]]),
            written: vec![],
        });
        assert!(matches!(
            conn.run(CommandBuilder::new("/x"), soon()),
            Err(RouterError::Protocol(_))
        ));
        assert!(conn.is_broken());
    }

    #[test]
    fn legacy_login_answers_the_challenge() {
        let mut conn = connection(&[
            &["!done", ".tag=1", "=ret=259e0bc05acd6f46926dc2f809ed1bba"],
            &["!done", ".tag=2"],
        ]);
        conn.login("admin", "test", soon()).unwrap();
        let mut decoder = Decoder::new();
        decoder.feed(&conn.stream.written);
        let first = decoder.next_sentence().unwrap().unwrap();
        assert_eq!(
            first,
            Sentence::from_strs(&["/login", "=name=admin", "=password=test", ".tag=1"])
        );
        let second = decoder.next_sentence().unwrap().unwrap();
        assert_eq!(
            second,
            Sentence::from_strs(&[
                "/login",
                "=name=admin",
                "=response=00c7fd865183a43a772dde231f6d0bff13",
                ".tag=2"
            ])
        );
    }

    #[test]
    fn refused_login_keeps_the_router_message() {
        let mut conn = connection(&[
            &[
                "!trap",
                ".tag=1",
                "=message=invalid user name or password (6)",
            ],
            &["!done", ".tag=1"],
        ]);
        match conn.login("admin", "bad", soon()) {
            Err(RouterError::LoginRefused(m)) => assert_eq!(m, "invalid user name or password (6)"),
            other => panic!("expected refusal, got {other:?}"),
        }
    }

    #[test]
    fn unencodable_input_is_refused_before_sending() {
        let mut conn = connection(&[]);
        assert!(matches!(
            conn.login("日本", "", soon()),
            Err(RouterError::InvalidInput(_))
        ));
        assert!(conn.stream.written.is_empty());
    }
}
