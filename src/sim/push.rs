//! What leaves a simulated router: each connection's outbox (replies held back by the
//! link's round trip, `--rtt-ms`, in wire order), the encoding of reply sentences, and the
//! pushers that send a `listen`/`follow` its changes the moment the data changes.
//!
//! A pusher lives in its router's registry, not in its connection's thread: whoever
//! changes the data (a command on any connection, churn caught up by a connection's timer,
//! the test API) calls [`publish`] with the state still locked, which diffs every pusher whose
//! view is stale and queues the rows in that connection's outbox. Lock order: state, then
//! the pusher registry, then an outbox; never the other way round.

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::menu::{self, Out, Subscription};
use super::state::SimState;
use crate::rng::Rng;
use crate::routeros::codec::{encode_length, encode_word};

/// Bytes on their way to one peer. Each chunk waits for its due time; chunks leave in the
/// order they were queued (a later chunk never overtakes an earlier one).
pub(crate) struct Outbox {
    stream: TcpStream,
    queue: VecDeque<(Instant, Vec<u8>)>,
    /// A write failed: the connection is finished.
    pub broken: bool,
}

impl Outbox {
    pub fn new(stream: TcpStream) -> Outbox {
        Outbox {
            stream,
            queue: VecDeque::new(),
            broken: false,
        }
    }

    /// Queues `bytes` for `due` (or later, behind what is already queued) and writes
    /// whatever is due now.
    pub fn send(&mut self, bytes: Vec<u8>, due: Instant) {
        if bytes.is_empty() || self.broken {
            return;
        }
        let due = self.queue.back().map_or(due, |(last, _)| due.max(*last));
        self.queue.push_back((due, bytes));
        self.flush_due(Instant::now());
    }

    /// Writes every chunk due by `now`, in one `write_all`.
    pub fn flush_due(&mut self, now: Instant) {
        let mut bytes = Vec::new();
        while self.queue.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, chunk)) = self.queue.pop_front() {
                bytes.extend_from_slice(&chunk);
            }
        }
        if !bytes.is_empty() && !self.broken && self.stream.write_all(&bytes).is_err() {
            self.broken = true;
            self.queue.clear();
        }
    }

    /// When the next chunk is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _)| *due)
    }

    /// Waits for and writes everything queued (before closing the connection).
    pub fn drain(&mut self) {
        while let Some(due) = self.next_due() {
            let wait = due.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            self.flush_due(Instant::now());
        }
    }

    /// Forgets everything queued (a `silent` connection never answers).
    pub fn discard(&mut self) {
        self.queue.clear();
    }
}

/// A `listen`, `print =follow=` or `=follow-only=` of one connection.
pub(crate) struct Pusher {
    pub connection: u64,
    pub tag: Option<Vec<u8>>,
    /// Start order on its connection, so `/cancel` answers streams in the order they began.
    pub started: u64,
    pub subscription: Subscription,
    /// The state generation this pusher's view was last compared with (the sessions'
    /// generation for a session `listen`).
    pub seen: u64,
    pub outbox: Arc<Mutex<Outbox>>,
    pub rng: Rng,
}

/// Sends every pusher whose view is older than the state its changes, now (plus half the
/// round trip: a push travels one way). Call with the state locked, after changing it.
pub(crate) fn publish(
    state: &mut SimState,
    pushers: &Mutex<Vec<Pusher>>,
    one_way: Duration,
    muted: bool,
) {
    let mut pushers = super::server::lock(pushers);
    if pushers.is_empty() {
        return;
    }
    state.advance();
    let (generation, sessions) = (state.generation(), state.sessions_generation());
    // A session listen's view is compared with the session changes only.
    let wanted = |p: &Pusher| {
        if p.subscription.follows_sessions() {
            sessions
        } else {
            generation
        }
    };
    if muted || pushers.iter().all(|p| p.seen == wanted(p)) {
        return;
    }
    let due = Instant::now() + one_way;
    for pusher in pushers.iter_mut() {
        let now_seen = wanted(pusher);
        if pusher.seen == now_seen {
            continue;
        }
        pusher.seen = now_seen;
        let (outs, _) = menu::tick(state, &mut pusher.subscription);
        if outs.is_empty() {
            continue;
        }
        let mut bytes = Vec::new();
        for out in &outs {
            encode_out(out, pusher.tag.as_deref(), &mut pusher.rng, &mut bytes);
        }
        super::server::lock(&pusher.outbox).send(bytes, due);
    }
}

/// One `=name=value` to encode, borrowed.
type Attribute<'a> = (&'a [u8], &'a [u8]);

const CATEGORIES: [&[u8]; 8] = [b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7"];

/// Encodes one reply sentence into `buffer`, with `.tag` first or last (both occur on
/// real routers, so clients must read it anywhere).
pub(crate) fn encode_out(out: &Out, tag: Option<&[u8]>, rng: &mut Rng, buffer: &mut Vec<u8>) {
    let (word, attributes): (&[u8], Vec<Attribute>) = match out {
        Out::Re(row) => (
            b"!re",
            row.iter()
                .map(|(n, v)| (n.as_bytes(), v.as_slice()))
                .collect(),
        ),
        Out::Empty => (b"!empty", Vec::new()),
        Out::Done(None) => (b"!done", Vec::new()),
        Out::Done(Some(ret)) => (b"!done", vec![(&b"ret"[..], ret.as_slice())]),
        Out::Trap(trap) => {
            let mut attributes = Vec::with_capacity(2);
            if let Some(category) = trap.category {
                attributes.push((&b"category"[..], CATEGORIES[usize::from(category.min(7))]));
            }
            attributes.push((&b"message"[..], trap.message.as_slice()));
            (b"!trap", attributes)
        }
    };
    let tag_last = tag.is_some() && !attributes.is_empty() && rng.below(2) == 0;
    encode_word(word, buffer);
    if let (Some(tag), false) = (tag, tag_last) {
        encode_attribute(b".tag", tag, false, buffer);
    }
    for (name, value) in attributes {
        encode_attribute(name, value, true, buffer);
    }
    if let (Some(tag), true) = (tag, tag_last) {
        encode_attribute(b".tag", tag, false, buffer);
    }
    buffer.push(0);
}

/// Appends `=name=value` (or `name=value` for API attributes such as `.tag`) as one word.
fn encode_attribute(name: &[u8], value: &[u8], leading_equals: bool, out: &mut Vec<u8>) {
    let len = usize::from(leading_equals) + name.len() + 1 + value.len();
    encode_length(len, out);
    if leading_equals {
        out.push(b'=');
    }
    out.extend_from_slice(name);
    out.push(b'=');
    out.extend_from_slice(value);
}
