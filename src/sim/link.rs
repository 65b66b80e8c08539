//! The link model of one simulated router: its controls (fault, processing latency, round
//! trip) and the count of commands in flight on a connection — received, their reply not
//! yet gone out — with the most ever seen on the router, so tests and benchmarks can tell
//! a client that pipelines from one that waits for each answer.
//!
//! Knows nothing of sockets: the connection thread tells it when a command's reply is due.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::fault::Fault;

/// What the test API may change while the router runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Control {
    pub fault: Option<Fault>,
    pub latency: Duration,
    pub rtt: Duration,
}

impl Control {
    /// Pushes stop while the router is silent or spoils its replies.
    pub fn mutes_pushes(&self) -> bool {
        matches!(self.fault, Some(Fault::Silent | Fault::Garbage))
    }
}

/// The commands of one connection whose replies are still on their way, by due time.
#[derive(Default)]
pub(crate) struct InFlight {
    due: VecDeque<Instant>,
}

impl InFlight {
    /// A command arrived whose reply leaves at `due`: forgets the replies already gone at
    /// `now`, counts this one and raises `most` (the router's figure) when it is a record.
    pub fn arrived(&mut self, due: Instant, now: Instant, most: &AtomicUsize) {
        while self.due.front().is_some_and(|d| *d <= now) {
            self.due.pop_front();
        }
        // Replies leave in order: one due before a queued one leaves with it.
        let due = self.due.back().map_or(due, |last| due.max(*last));
        self.due.push_back(due);
        most.fetch_max(self.due.len(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_replies_not_yet_gone() {
        let most = AtomicUsize::new(0);
        let mut flight = InFlight::default();
        let t0 = Instant::now();
        let rtt = Duration::from_millis(30);
        // Three commands back to back: all three in flight at once.
        for k in 0..3 {
            flight.arrived(t0 + rtt + Duration::from_millis(k), t0, &most);
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
        // One at a time: each reply is gone before the next command arrives.
        let most = AtomicUsize::new(0);
        let mut flight = InFlight::default();
        for k in 0..5u32 {
            let at = t0 + rtt * (k + 1);
            flight.arrived(at + rtt, at, &most);
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }
}
