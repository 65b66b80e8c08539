//! Pipelining: many tagged commands in flight on one connection, each reply collected by
//! its own tag, each command with its own result.
//!
//! [`Connection::pipeline`] writes up to `window` commands before it reads, and writes the
//! next one each time an answer completes, so a link's round trip is paid once per window
//! instead of once per command. A `!trap` fails only the command it is tagged with. Stream
//! sentences and late replies of abandoned tags are handled as [`Connection::execute`]
//! handles them. A broken connection (`!fatal`, I/O error, framing error) fails every
//! command not yet answered with that error; a command whose own deadline passes fails
//! with `Timeout` and its tag is abandoned, and nothing more is written after it (the
//! connection is then suspect, as after any timeout).

use super::{trap_of, Connection, Record, Response, Stream};
use crate::router::error::RouterError;
use crate::routeros::{CommandBuilder, Reply, ReplyKind};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What [`Connection::pipeline`] did: one result per command, in the commands' order.
#[derive(Debug)]
pub struct Pipelined {
    pub results: Vec<Result<Response, RouterError>>,
    /// Commands `0..sent` were written; the rest never left (their error says why: the
    /// connection's error, or `Timeout` when `send_until` or a timeout stopped the writing).
    pub sent: usize,
    /// From each command's write to its `!done` (`None`: not answered).
    pub elapsed: Vec<Option<Duration>>,
}

/// Where answers go: each command's result and its time to `!done`, by its index.
type Answered<'a> = (
    &'a mut [Option<Result<Response, RouterError>>],
    &'a mut [Option<Duration>],
);

/// One command written and not yet answered.
struct Flight {
    index: usize,
    written: Instant,
    deadline: Instant,
    response: Response,
    traps: Vec<super::super::error::Trap>,
}

impl<S: Stream> Connection<S> {
    /// Runs `commands` with at most `window` (at least 1) in flight. Each command gets
    /// `timeout` from when it is written; none is written after `send_until`.
    pub fn pipeline(
        &mut self,
        commands: Vec<CommandBuilder>,
        window: usize,
        send_until: Instant,
        timeout: Duration,
    ) -> Pipelined {
        let total = commands.len();
        let mut results: Vec<Option<Result<Response, RouterError>>> =
            (0..total).map(|_| None).collect();
        let mut elapsed = vec![None; total];
        let mut waiting: HashMap<Vec<u8>, Flight> = HashMap::new();
        let mut queue = commands.into_iter();
        let mut sent = 0;
        // Why nothing more is written (and, for a broken connection, what fails the rest).
        let mut stopped: Option<RouterError> = self.broken.then_some(RouterError::Closed);
        let window = window.max(1);
        loop {
            // Every command that fits the window goes out in one write (one segment for a
            // poll's few prints, instead of one each).
            let mut batch = Vec::new();
            let now = Instant::now();
            while stopped.is_none() && sent < total && waiting.len() < window {
                if now >= send_until {
                    stopped = Some(RouterError::Timeout);
                    break;
                }
                let Some(command) = queue.next() else { break };
                let tag = self.next_tag.to_string();
                self.next_tag += 1;
                command.build_tagged(&tag).encode_into(&mut batch);
                waiting.insert(
                    tag.into_bytes(),
                    Flight {
                        index: sent,
                        written: now,
                        deadline: now + timeout,
                        response: Response::default(),
                        traps: Vec::new(),
                    },
                );
                sent += 1;
            }
            if !batch.is_empty() {
                // A failed write fails the batch's commands as written: some may have left.
                if let Err(e) = self.send_bytes(&batch) {
                    stopped = Some(e);
                }
            }
            if waiting.is_empty() || self.broken {
                break;
            }
            let earliest = waiting
                .values()
                .map(|f| f.deadline)
                .min()
                .unwrap_or_else(Instant::now);
            match self.read_reply(earliest) {
                Ok(reply) => {
                    let answered = (results.as_mut_slice(), elapsed.as_mut_slice());
                    if let Err(e) = self.pipelined_reply(reply, &mut waiting, answered) {
                        stopped = Some(e);
                        break;
                    }
                }
                Err(RouterError::Timeout) => {
                    let now = Instant::now();
                    let expired: Vec<Vec<u8>> = waiting
                        .iter()
                        .filter(|(_, f)| f.deadline <= now)
                        .map(|(tag, _)| tag.clone())
                        .collect();
                    for tag in expired {
                        if let Some(flight) = waiting.remove(&tag) {
                            results[flight.index] = Some(Err(RouterError::Timeout));
                        }
                        // Whatever arrives for it later is read and discarded.
                        self.abandoned.insert(tag);
                    }
                    stopped.get_or_insert(RouterError::Timeout);
                }
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            }
        }
        let failure = stopped.unwrap_or(RouterError::Closed);
        let results = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(failure.copied())))
            .collect();
        Pipelined {
            results,
            sent,
            elapsed,
        }
    }

    /// Files one sentence read while commands are in flight; `Err` when it ends the session.
    fn pipelined_reply(
        &mut self,
        reply: Reply,
        waiting: &mut HashMap<Vec<u8>, Flight>,
        (results, elapsed): Answered<'_>,
    ) -> Result<(), RouterError> {
        if reply.kind == ReplyKind::Fatal {
            let reason = reply.fatal_reason();
            return Err(self.poison(RouterError::Fatal(reason)));
        }
        let Some(tag) = reply.tag.clone() else {
            log::debug!("discarding untagged {:?} reply", reply.kind);
            return Ok(());
        };
        let Some(flight) = waiting.get_mut(&tag) else {
            self.other_tag(tag, reply);
            return Ok(());
        };
        match reply.kind {
            ReplyKind::Re => flight.response.records.push(Record {
                attributes: reply.attributes,
            }),
            ReplyKind::Trap => flight.traps.push(trap_of(&reply)),
            ReplyKind::Done => {
                if let Some(mut flight) = waiting.remove(&tag) {
                    let result = if flight.traps.is_empty() {
                        flight.response.ret = reply.get("ret").map(<[u8]>::to_vec);
                        Ok(flight.response)
                    } else {
                        Err(RouterError::Trap(std::mem::take(&mut flight.traps)))
                    };
                    results[flight.index] = Some(result);
                    elapsed[flight.index] = Some(flight.written.elapsed());
                }
            }
            ReplyKind::Empty | ReplyKind::Unknown(_) | ReplyKind::Fatal => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::conn::{Fingerprinted, Print, Printed};
    use crate::routeros::{Decoder, Sentence};
    use std::collections::VecDeque;
    use std::io::{self, Read, Write};
    use std::sync::{Arc, Mutex};

    /// A peer that answers from a script once it has read the commands: `answers` maps the
    /// number of commands written so far to the replies that become readable then.
    #[derive(Clone, Default)]
    struct Peer {
        inner: Arc<Mutex<PeerState>>,
    }

    #[derive(Default)]
    struct PeerState {
        incoming: VecDeque<u8>,
        written: Vec<u8>,
        commands: usize,
        /// Most commands written and not yet answered (`!done`) at once.
        most_open: usize,
        answers: Vec<(usize, Vec<Vec<String>>)>,
        /// Read returns an error (the connection broke) once the script is spent.
        break_when_dry: bool,
        /// Write calls.
        writes: usize,
    }

    impl Read for Peer {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let mut s = self.inner.lock().unwrap();
            if s.incoming.is_empty() {
                return Err(if s.break_when_dry {
                    io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer")
                } else {
                    io::Error::new(io::ErrorKind::WouldBlock, "nothing yet")
                });
            }
            let n = buf.len().min(s.incoming.len()).min(7);
            for b in buf.iter_mut().take(n) {
                *b = s.incoming.pop_front().unwrap_or_default();
            }
            Ok(n)
        }
    }

    impl Write for Peer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut s = self.inner.lock().unwrap();
            s.writes += 1;
            s.written.extend_from_slice(buf);
            let mut decoder = Decoder::new();
            decoder.feed(&s.written);
            let mut count = 0;
            while let Ok(Some(_)) = decoder.next_sentence() {
                count += 1;
            }
            s.commands = count;
            let answered = s
                .answers
                .iter()
                .filter(|(after, _)| *after < count)
                .map(|(_, r)| r.iter().filter(|w| w[0] == "!done").count())
                .sum::<usize>();
            s.most_open = s.most_open.max(count.saturating_sub(answered));
            let due: Vec<Vec<Vec<String>>> = s
                .answers
                .iter()
                .filter(|(after, _)| *after == count)
                .map(|(_, r)| r.clone())
                .collect();
            for replies in due {
                for reply in replies {
                    let words: Vec<&str> = reply.iter().map(String::as_str).collect();
                    let bytes = Sentence::from_strs(&words).to_bytes();
                    s.incoming.extend(bytes);
                }
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Stream for Peer {
        fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    fn commands(n: usize) -> Vec<CommandBuilder> {
        (0..n)
            .map(|k| {
                CommandBuilder::new("/ip/firewall/address-list/add")
                    .attr("comment", k.to_string().as_bytes())
            })
            .collect()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(1)
    }

    /// A poll's prints against a peer that answers once all three are written: sessions
    /// (fingerprinted, `uptime` left out), a plain print, and a fingerprinted print that traps.
    fn poll_prints(uptime: &str, last: Option<u64>) -> (Vec<Result<Printed, RouterError>>, usize) {
        let peer = Peer::default();
        peer.inner.lock().unwrap().answers.push((
            3,
            vec![
                words(&["!re", ".tag=1", "=name=alice", &format!("=uptime={uptime}")]),
                words(&["!re", ".tag=2", "=cpu-load=3"]),
                words(&["!re", ".tag=1", "=name=bob", "=uptime=1h"]),
                words(&["!trap", ".tag=3", "=message=no such command"]),
                words(&["!done", ".tag=2"]),
                words(&["!done", ".tag=1"]),
                words(&["!done", ".tag=3"]),
            ],
        ));
        let mut conn = Connection::new(peer.clone());
        let prints = vec![
            Print {
                command: CommandBuilder::new("/ppp/active/print"),
                fingerprint: Some((&["uptime"], last)),
            },
            Print {
                command: CommandBuilder::new("/system/resource/print"),
                fingerprint: None,
            },
            Print {
                command: CommandBuilder::new("/ppp/secret/print"),
                fingerprint: Some((&[], None)),
            },
        ];
        let answers = conn.prints(prints, soon());
        assert!(answers.iter().take(2).all(|(_, time)| time.is_some()));
        let writes = peer.inner.lock().unwrap().writes;
        (answers.into_iter().map(|(a, _)| a).collect(), writes)
    }

    #[test]
    fn prints_go_out_in_one_write_and_an_unchanged_fingerprinted_one_is_same() {
        let (answers, writes) = poll_prints("5m", None);
        assert_eq!(writes, 1, "all three prints in one write");
        let [sessions, resource, secrets] = &answers[..] else {
            panic!("three answers: {answers:?}")
        };
        let Ok(Printed::Fingerprinted(Fingerprinted::Changed { fingerprint, .. })) = sessions
        else {
            panic!("first sight is a change: {sessions:?}")
        };
        let fingerprint = *fingerprint;
        let Ok(Printed::Fingerprinted(Fingerprinted::Changed { rows, .. })) =
            poll_prints("5m", None).0.remove(0)
        else {
            panic!("rows held")
        };
        let names: Vec<String> = rows.parse(|r| r.text("name"));
        assert_eq!(names, ["alice", "bob"]);
        let Ok(Printed::Rows(response)) = resource else {
            panic!("plain rows: {resource:?}")
        };
        assert_eq!(response.records[0].text("cpu-load"), "3");
        // A trap fails only its own print.
        assert!(matches!(secrets, Err(RouterError::Trap(_))), "{secrets:?}");
        // Only the uptime ticked: same.
        let (again, _) = poll_prints("6m", Some(fingerprint));
        assert!(
            matches!(again[0], Ok(Printed::Fingerprinted(Fingerprinted::Same))),
            "{:?}",
            again[0]
        );
    }

    #[test]
    fn every_command_is_in_flight_before_any_answer_and_each_gets_its_own() {
        let peer = Peer::default();
        {
            // Nothing is answered until all four were written; then out of order, the
            // second one trapped, a stream row of another tag in between.
            let mut s = peer.inner.lock().unwrap();
            s.answers.push((
                4,
                vec![
                    words(&["!done", ".tag=3", "=ret=*C"]),
                    words(&[
                        "!trap",
                        ".tag=2",
                        "=message=failure: already have such entry",
                    ]),
                    words(&["!re", ".tag=99", "=name=stray"]),
                    words(&["!re", ".tag=1", "=name=row"]),
                    words(&["!done", ".tag=2"]),
                    words(&["!done", ".tag=1", "=ret=*A"]),
                    words(&["!done", ".tag=4"]),
                ],
            ));
        }
        let mut conn = Connection::new(peer.clone());
        let out = conn.pipeline(commands(4), 32, soon(), Duration::from_secs(1));
        assert_eq!(out.sent, 4);
        let [a, b, c, d] = &out.results[..] else {
            panic!("four results: {out:?}")
        };
        let a = a.as_ref().unwrap();
        assert_eq!(a.ret.as_deref(), Some(&b"*A"[..]));
        assert_eq!(a.records[0].text("name"), "row");
        assert!(matches!(b, Err(e) if e.trap_starts_with("failure: already have such entry")));
        assert_eq!(c.as_ref().unwrap().ret.as_deref(), Some(&b"*C"[..]));
        assert!(d.is_ok());
        assert!(!conn.is_broken());
        assert_eq!(peer.inner.lock().unwrap().most_open, 4);
    }

    #[test]
    fn the_window_bounds_what_is_in_flight() {
        let peer = Peer::default();
        {
            let mut s = peer.inner.lock().unwrap();
            // Window 2: two written, one answer, the third written, and so on.
            for k in 1..=5usize {
                let after = (k + 1).min(5);
                s.answers
                    .push((after, vec![words(&["!done", &format!(".tag={k}")])]));
            }
        }
        let mut conn = Connection::new(peer.clone());
        let out = conn.pipeline(commands(5), 2, soon(), Duration::from_secs(1));
        assert_eq!(out.sent, 5);
        assert!(out.results.iter().all(Result::is_ok), "{out:?}");
        assert_eq!(peer.inner.lock().unwrap().most_open, 2);
    }

    #[test]
    fn a_broken_connection_fails_what_was_not_answered() {
        let peer = Peer::default();
        {
            let mut s = peer.inner.lock().unwrap();
            s.break_when_dry = true;
            s.answers.push((3, vec![words(&["!done", ".tag=2"])]));
        }
        let mut conn = Connection::new(peer);
        let out = conn.pipeline(commands(5), 3, soon(), Duration::from_secs(1));
        // The answer to the second freed a slot for the fourth; the fifth never left.
        assert_eq!(out.sent, 4);
        assert!(out.results[1].is_ok());
        for k in [0, 2, 3, 4] {
            assert!(
                matches!(out.results[k], Err(RouterError::Closed)),
                "{k}: {:?}",
                out.results[k]
            );
        }
        assert!(conn.is_broken());
    }

    #[test]
    fn fatal_fails_the_rest_and_a_deadline_stops_the_writing() {
        let peer = Peer::default();
        peer.inner.lock().unwrap().answers.push((
            2,
            vec![
                words(&["!done", ".tag=1"]),
                words(&["!fatal", "session terminated on request"]),
            ],
        ));
        let mut conn = Connection::new(peer);
        let out = conn.pipeline(commands(2), 8, soon(), Duration::from_secs(1));
        assert!(out.results[0].is_ok());
        assert!(matches!(&out.results[1], Err(RouterError::Fatal(_))));
        assert!(conn.is_broken());

        let mut conn = Connection::new(Peer::default());
        let out = conn.pipeline(commands(3), 8, Instant::now(), Duration::from_secs(1));
        assert_eq!(out.sent, 0);
        assert!(out
            .results
            .iter()
            .all(|r| matches!(r, Err(RouterError::Timeout))));
    }

    #[test]
    fn a_command_past_its_deadline_times_out_alone() {
        let peer = Peer::default();
        peer.inner
            .lock()
            .unwrap()
            .answers
            .push((2, vec![words(&["!done", ".tag=2"])]));
        let mut conn = Connection::new(peer);
        let out = conn.pipeline(commands(2), 8, soon(), Duration::from_millis(20));
        assert!(matches!(out.results[0], Err(RouterError::Timeout)));
        assert!(out.results[1].is_ok());
        assert_eq!(conn.abandoned_count(), 1);
    }
}
