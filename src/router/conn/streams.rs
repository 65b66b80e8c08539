//! Streams on the shared connection: commands that run until cancelled (`listen`, a
//! monitor without `once`), their rows kept apart by tag and handed out as events, so a
//! stream row never reaches another command's caller.

use super::{from_io, trap_of, Connection, Record, Stream};
use crate::router::error::{RouterError, Trap};
use crate::routeros::{CommandBuilder, Reply, ReplyKind};
use std::io;
use std::time::{Duration, Instant};

/// What a running stream produced, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// One `!re` of the stream started under `tag`.
    Row { tag: String, record: Record },
    /// The stream's `!done`: after our `/cancel` (`cancelled`, the `interrupted` trap is not
    /// kept), or ended by the router itself, with its traps (e.g. the command is unknown).
    Ended {
        tag: String,
        traps: Vec<Trap>,
        cancelled: bool,
    },
}

impl StreamEvent {
    /// The tag of the stream this event belongs to.
    pub fn tag(&self) -> &str {
        match self {
            StreamEvent::Row { tag, .. } | StreamEvent::Ended { tag, .. } => tag,
        }
    }
}

#[derive(Default)]
pub(super) struct StreamState {
    pub(super) traps: Vec<Trap>,
    /// `/cancel` was sent: rows still in flight are dropped.
    pub(super) cancelling: bool,
}

impl<S: Stream> Connection<S> {
    /// Starts a command that runs until cancelled (`listen`, a monitor without `once`);
    /// returns its tag. Its rows arrive as [`StreamEvent`]s.
    pub fn start_stream(&mut self, command: CommandBuilder) -> Result<String, RouterError> {
        if self.broken {
            return Err(RouterError::Closed);
        }
        let tag = self.next_tag.to_string();
        self.next_tag += 1;
        let sentence = command.build_tagged(&tag);
        // Registered before it is written: the first row may come back at once.
        self.streams
            .insert(tag.clone().into_bytes(), StreamState::default());
        if let Err(e) = self.send(&sentence) {
            self.streams.remove(tag.as_bytes());
            return Err(e);
        }
        Ok(tag)
    }

    /// Cancels stream `tag` and waits for `/cancel`'s own `!done`. The stream's rows still
    /// in flight are dropped; its `!done` later queues an `Ended { cancelled: true }`.
    /// A trap on the `/cancel` itself (the stream had already ended) is not an error.
    pub fn cancel_stream(&mut self, tag: &str, deadline: Instant) -> Result<(), RouterError> {
        let Some(state) = self.streams.get_mut(tag.as_bytes()) else {
            return Ok(());
        };
        state.cancelling = true;
        self.events
            .retain(|e| !matches!(e, StreamEvent::Row { tag: t, .. } if t == tag));
        match self.cancel(tag, deadline) {
            Err(RouterError::Trap(_)) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Number of streams started and not yet ended.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// True while stream `tag` runs.
    pub fn stream_running(&self, tag: &str) -> bool {
        self.streams.contains_key(tag.as_bytes())
    }

    /// Waits up to `timeout` for a stream sentence (returns at once when one is queued),
    /// then also parses every sentence already read. `Ok(true)` when an event is ready to
    /// take; a quiet wait is `Ok(false)`, not an error.
    pub fn wait_stream(&mut self, timeout: Duration) -> Result<bool, RouterError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Sentences already read: no socket wait (a burst is taken in one go).
            let reply = match self.decoder.next_sentence() {
                Ok(Some(sentence)) => Reply::parse(&sentence),
                Ok(None) if !self.events.is_empty() => return Ok(true),
                Ok(None) => break,
                Err(e) => return Err(self.poison(RouterError::Protocol(e))),
            };
            self.dispatch_stream_reply(reply)?;
        }
        while self.events.is_empty() {
            let reply = match self.read_reply(deadline) {
                Ok(reply) => reply,
                Err(RouterError::Timeout) => return Ok(false),
                Err(e) => return Err(e),
            };
            self.dispatch_stream_reply(reply)?;
        }
        Ok(true)
    }

    /// A sentence read outside any command's collect: a stream's, or discarded.
    pub(super) fn dispatch_stream_reply(&mut self, reply: Reply) -> Result<(), RouterError> {
        if reply.kind == ReplyKind::Fatal {
            let reason = reply.fatal_reason();
            return Err(self.poison(RouterError::Fatal(reason)));
        }
        match reply.tag.clone() {
            Some(t) => self.other_tag(t, reply),
            None => log::debug!("discarding untagged {:?} reply", reply.kind),
        }
        Ok(())
    }

    /// Looks at the socket without waiting: reads whatever has arrived and parses it.
    /// `Ok(true)` when a stream event is ready to take.
    pub fn look_stream(&mut self) -> Result<bool, RouterError> {
        if self.broken {
            return Err(RouterError::Closed);
        }
        if let Err(e) = self.stream.set_nonblocking(true) {
            return Err(self.poison(RouterError::Io(e)));
        }
        let mut outcome = Ok(());
        loop {
            match self.decoder.feed_with(|room| self.stream.read(room)) {
                Ok(0) => {
                    outcome = Err(RouterError::Closed);
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    outcome = Err(from_io(e));
                    break;
                }
            }
        }
        if let Err(e) = self.stream.set_nonblocking(false) {
            return Err(self.poison(RouterError::Io(e)));
        }
        loop {
            let reply = match self.decoder.next_sentence() {
                Ok(Some(sentence)) => Reply::parse(&sentence),
                Ok(None) => break,
                Err(e) => return Err(self.poison(RouterError::Protocol(e))),
            };
            self.dispatch_stream_reply(reply)?;
        }
        // Between looks an idle router keeps no read buffer (a thousand of them would hold
        // megabytes of empty room); the next read allocates it again.
        self.decoder.shrink_idle(0);
        match outcome {
            Ok(()) => Ok(!self.events.is_empty()),
            Err(e) => Err(self.poison(e)),
        }
    }

    /// Takes every queued stream event, oldest first.
    pub fn take_stream_events(&mut self) -> Vec<StreamEvent> {
        self.events.drain(..).collect()
    }

    /// A sentence for a tag that is not the command being collected: a stream's, an
    /// abandoned command's (discarded up to its `!done`), or unknown (discarded).
    pub(super) fn other_tag(&mut self, t: Vec<u8>, reply: Reply) {
        if let Some(state) = self.streams.get_mut(&t) {
            let tag = String::from_utf8_lossy(&t).into_owned();
            match reply.kind {
                ReplyKind::Re if !state.cancelling => self.events.push_back(StreamEvent::Row {
                    tag,
                    record: Record {
                        attributes: reply.attributes,
                    },
                }),
                ReplyKind::Trap => {
                    let trap = trap_of(&reply);
                    if !(state.cancelling && trap.category == Some(2)) {
                        state.traps.push(trap);
                    }
                }
                ReplyKind::Done => {
                    let cancelled = state.cancelling;
                    let traps = std::mem::take(&mut state.traps);
                    self.streams.remove(&t);
                    self.events.push_back(StreamEvent::Ended {
                        tag,
                        traps,
                        cancelled,
                    });
                }
                _ => {}
            }
            return;
        }
        if reply.kind == ReplyKind::Done {
            self.abandoned.remove(&t);
        }
        if !self.abandoned.contains(&t) && reply.kind != ReplyKind::Done {
            log::debug!(
                "discarding reply for unknown tag {:?}",
                String::from_utf8_lossy(&t)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{connection, soon, ScriptedStream};
    use super::*;
    use crate::routeros::{Decoder, Sentence};

    fn push(conn: &mut Connection<ScriptedStream>, replies: &[&[&str]]) {
        for reply in replies {
            conn.stream
                .incoming
                .push_back(Sentence::from_strs(reply).to_bytes());
        }
    }

    fn rows_of(events: &[StreamEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Row { record, .. } => Some(record.text("name")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn stream_rows_never_reach_another_caller() {
        let mut conn = connection(&[]);
        let tag = conn
            .start_stream(CommandBuilder::new("/ppp/active/listen"))
            .unwrap();
        assert_eq!(tag, "1");
        // Stream rows before, between and after the command's own rows, tag first or last.
        push(
            &mut conn,
            &[
                &["!re", ".tag=1", "=name=s1"],
                &["!re", "=name=c1", ".tag=2"],
                &["!re", "=name=s2", ".tag=1"],
                &["!re", ".tag=2", "=name=c2"],
                &["!done", ".tag=2"],
                &["!re", ".tag=1", "=name=s3"],
            ],
        );
        let rows = conn
            .run(CommandBuilder::new("/ppp/secret/print"), soon())
            .unwrap();
        let names: Vec<String> = rows.iter().map(|r| r.text("name")).collect();
        assert_eq!(names, ["c1", "c2"]);
        assert!(conn.wait_stream(Duration::ZERO).unwrap());
        let events = conn.take_stream_events();
        assert_eq!(rows_of(&events), ["s1", "s2"]);
        assert!(conn.wait_stream(Duration::from_millis(1)).unwrap());
        assert_eq!(rows_of(&conn.take_stream_events()), ["s3"]);
        // Nothing more: a quiet wait, or a look, is not an error.
        assert!(!conn.wait_stream(Duration::from_millis(1)).unwrap());
        assert!(!conn.look_stream().unwrap());
        push(
            &mut conn,
            &[
                &["!re", ".tag=1", "=name=s4"],
                &["!re", ".tag=1", "=name=s5"],
            ],
        );
        assert!(conn.look_stream().unwrap());
        assert_eq!(rows_of(&conn.take_stream_events()), ["s4", "s5"]);
        assert!(!conn.is_broken());
        assert_eq!(conn.stream_count(), 1);
    }

    #[test]
    fn cancel_ends_a_stream_cleanly() {
        let mut conn = connection(&[]);
        let tag = conn
            .start_stream(CommandBuilder::new("/interface/monitor-traffic"))
            .unwrap();
        // A row still in flight, the interrupted trap, cancel's own done, the stream's done.
        push(
            &mut conn,
            &[
                &["!re", ".tag=1", "=name=late"],
                &["!trap", ".tag=1", "=category=2", "=message=interrupted"],
                &["!done", ".tag=2"],
                &["!done", ".tag=1"],
                &["!re", ".tag=3", "=name=next"],
                &["!done", ".tag=3"],
            ],
        );
        conn.cancel_stream(&tag, soon()).unwrap();
        let rows = conn.run(CommandBuilder::new("/x/print"), soon()).unwrap();
        assert_eq!(rows[0].text("name"), "next");
        let events = conn.take_stream_events();
        assert_eq!(
            events,
            vec![StreamEvent::Ended {
                tag: "1".into(),
                traps: vec![],
                cancelled: true
            }]
        );
        assert_eq!(conn.stream_count(), 0);
        let mut decoder = Decoder::new();
        decoder.feed(&conn.stream.written);
        let _listen = decoder.next_sentence().unwrap().unwrap();
        assert_eq!(
            decoder.next_sentence().unwrap().unwrap(),
            Sentence::from_strs(&["/cancel", "=tag=1", ".tag=2"])
        );
    }

    #[test]
    fn a_refused_stream_ends_with_its_traps() {
        let mut conn = connection(&[]);
        conn.start_stream(CommandBuilder::new("/nope/listen"))
            .unwrap();
        push(
            &mut conn,
            &[
                &["!trap", ".tag=1", "=message=no such command"],
                &["!done", ".tag=1"],
            ],
        );
        assert!(conn.wait_stream(soon() - Instant::now()).unwrap());
        match &conn.take_stream_events()[..] {
            [StreamEvent::Ended {
                traps, cancelled, ..
            }] => {
                assert_eq!(traps[0].message, "no such command");
                assert!(!cancelled);
            }
            other => panic!("expected one end, got {other:?}"),
        }
    }

    #[test]
    fn a_broken_connection_ends_every_stream() {
        let mut conn = connection(&[]);
        conn.start_stream(CommandBuilder::new("/ppp/active/listen"))
            .unwrap();
        push(&mut conn, &[&["!fatal", "session terminated on request"]]);
        assert!(matches!(
            conn.wait_stream(Duration::from_millis(10)),
            Err(RouterError::Fatal(_))
        ));
        assert_eq!(conn.stream_count(), 0);
        assert!(matches!(
            conn.start_stream(CommandBuilder::new("/ppp/active/listen")),
            Err(RouterError::Closed)
        ));
    }
}
