//! A raw RouterOS API client for driving the simulator in tests: sentences in, replies out,
//! nothing clever, so the tests check the simulator and not a client.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use net_engine::routeros::{Decoder, Reply, ReplyKind, Sentence};
use net_engine::sim::{SimConfig, Simulator};

/// Every read waits at most this long, so a silent simulator fails the test instead of hanging it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A simulator config for tests: loopback port 0, no churn, small.
pub fn test_config(users: usize) -> SimConfig {
    SimConfig {
        users,
        churn: false,
        ..SimConfig::default()
    }
}

pub fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).expect("simulator starts")
}

pub struct RawClient {
    stream: TcpStream,
    decoder: Decoder,
    next_tag: u32,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream =
            TcpStream::connect_timeout(&addr, READ_TIMEOUT).expect("connect to the simulator");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        RawClient {
            stream,
            decoder: Decoder::new(),
            next_tag: 0,
        }
    }

    /// Connects and logs in with the default credentials (admin, empty password).
    pub fn logged_in(addr: SocketAddr) -> RawClient {
        let mut client = RawClient::connect(addr);
        let replies = client.call(&["/login", "=name=admin", "=password="]);
        assert_eq!(kinds(&replies), vec![ReplyKind::Done], "login: {replies:?}");
        client
    }

    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
    }

    pub fn send(&mut self, words: &[&str]) {
        self.send_sentence(&Sentence::from_strs(words));
    }

    pub fn send_sentence(&mut self, sentence: &Sentence) {
        self.send_raw(&sentence.to_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .expect("write to the simulator");
    }

    /// The next whole sentence; `Ok(None)` on EOF, `Err` on timeout or a decoding error.
    pub fn try_recv_sentence(&mut self) -> io::Result<Option<Sentence>> {
        let mut buffer = [0u8; 4096];
        loop {
            match self.decoder.next_sentence() {
                Ok(Some(sentence)) => return Ok(Some(sentence)),
                Ok(None) => {}
                Err(error) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        error.to_string(),
                    ))
                }
            }
            let n = self.stream.read(&mut buffer)?;
            if n == 0 {
                return Ok(None);
            }
            self.decoder.feed(&buffer[..n]);
        }
    }

    pub fn recv_sentence(&mut self) -> Sentence {
        match self.try_recv_sentence() {
            Ok(Some(sentence)) => sentence,
            Ok(None) => panic!("simulator closed the connection"),
            Err(error) => panic!("no reply from the simulator: {error}"),
        }
    }

    pub fn recv(&mut self) -> Reply {
        Reply::parse(&self.recv_sentence())
    }

    /// True when the peer closed the connection (EOF or reset) before `READ_TIMEOUT`.
    pub fn closed(&mut self) -> bool {
        match self.try_recv_sentence() {
            Ok(None) => true,
            Ok(Some(sentence)) => panic!("expected the connection to close, got {sentence:?}"),
            Err(error) => matches!(
                error.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
        }
    }

    /// A fresh tag, never used before on this connection.
    pub fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("t{}", self.next_tag)
    }

    /// Sends a command with a fresh tag and returns every reply up to its `!done`, checking
    /// that each carries the tag.
    pub fn call(&mut self, words: &[&str]) -> Vec<Reply> {
        let tag = self.tag();
        let mut sentence = Sentence::from_strs(words);
        sentence.words.push(format!(".tag={tag}").into_bytes());
        self.send_sentence(&sentence);
        self.replies_until_done(&tag)
    }

    /// Reads replies of `tag` until its `!done`, checking every reply is tagged `tag`.
    pub fn replies_until_done(&mut self, tag: &str) -> Vec<Reply> {
        let mut replies = Vec::new();
        loop {
            let reply = self.recv();
            assert_eq!(
                reply.tag.as_deref(),
                Some(tag.as_bytes()),
                "untagged or mistagged reply {reply:?}"
            );
            let done = reply.kind == ReplyKind::Done;
            replies.push(reply);
            if done {
                return replies;
            }
        }
    }
}

pub fn kinds(replies: &[Reply]) -> Vec<ReplyKind> {
    replies.iter().map(|r| r.kind.clone()).collect()
}

/// The `!re` rows of a reply list.
pub fn rows(replies: &[Reply]) -> Vec<&Reply> {
    replies.iter().filter(|r| r.kind == ReplyKind::Re).collect()
}

/// The text value of `name` in each row.
pub fn column(replies: &[Reply], name: &str) -> Vec<String> {
    rows(replies)
        .iter()
        .filter_map(|r| r.get_text(name))
        .collect()
}

/// The `=message=` of the first `!trap`, checking that `!done` follows it.
pub fn trap_message(replies: &[Reply]) -> String {
    let at = replies
        .iter()
        .position(|r| r.kind == ReplyKind::Trap)
        .unwrap_or_else(|| panic!("expected a !trap, got {replies:?}"));
    assert_eq!(
        replies.last().map(|r| &r.kind),
        Some(&ReplyKind::Done),
        "!trap not followed by !done"
    );
    replies[at].get_text("message").unwrap_or_default()
}
