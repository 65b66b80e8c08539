//! One thread watches every router socket whose streams run and wakes that router's thread
//! when bytes arrive, so a quiet router thread sleeps on its queue instead of looking at the
//! socket every few milliseconds.
//!
//! Sockets are registered edge-triggered (`mio`, epoll on Linux): one wake per arrival, and
//! the router thread reads until the socket would block (`Connection::look_stream`). A wake
//! is a message on a channel of one slot, so a burst of arrivals is one pending wake. Tokens
//! are never reused, so a late event can never wake a router the socket no longer belongs to.

use crossbeam_channel::{bounded, Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The process's watcher: the poll registry and who to wake per token.
pub struct Watcher {
    registry: Registry,
    wakers: Mutex<HashMap<usize, Sender<()>>>,
    next_token: AtomicUsize,
}

/// A registered socket; dropping it deregisters (do so before the socket is closed).
pub struct Watched {
    watcher: Arc<Watcher>,
    fd: RawFd,
    token: usize,
    /// Receives one message whenever bytes may have arrived since the last one was taken.
    pub wake: Receiver<()>,
}

/// The shared watcher, started on first use; `None` (logged once) when the OS refused a poll
/// instance or a thread, and router threads then look at their sockets on a timer.
pub fn watcher() -> Option<Arc<Watcher>> {
    static WATCHER: OnceLock<Option<Arc<Watcher>>> = OnceLock::new();
    WATCHER
        .get_or_init(|| match start() {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                log::warn!(
                    "cannot start the socket watcher ({e}): router threads poll their sockets"
                );
                None
            }
        })
        .clone()
}

fn start() -> std::io::Result<Arc<Watcher>> {
    let mut poll = Poll::new()?;
    let watcher = Arc::new(Watcher {
        registry: poll.registry().try_clone()?,
        wakers: Mutex::new(HashMap::new()),
        next_token: AtomicUsize::new(0),
    });
    let shared = Arc::clone(&watcher);
    std::thread::Builder::new()
        .name("socket-watcher".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut events = Events::with_capacity(256);
            loop {
                if let Err(e) = poll.poll(&mut events, None) {
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    // Router threads fall back on their safety timer; nothing else to do.
                    log::error!("socket watcher stopped: {e}");
                    return;
                }
                let wakers = shared.wakers.lock().unwrap_or_else(|p| p.into_inner());
                for event in &events {
                    if let Some(wake) = wakers.get(&event.token().0) {
                        // Full: a wake is already pending, which covers this arrival too.
                        let _ = wake.try_send(());
                    }
                }
            }
        })?;
    Ok(watcher)
}

impl Watcher {
    /// Registers `fd` for readable edges.
    pub fn watch(self: &Arc<Self>, fd: RawFd) -> std::io::Result<Watched> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = bounded(1);
        self.lock().insert(token, tx);
        if let Err(e) = self
            .registry
            .register(&mut SourceFd(&fd), Token(token), Interest::READABLE)
        {
            self.lock().remove(&token);
            return Err(e);
        }
        Ok(Watched {
            watcher: Arc::clone(self),
            fd,
            token,
            wake: rx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Sender<()>>> {
        self.wakers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Watched {
    /// Stops wakes while the router thread reads its own socket: each of its own replies
    /// would otherwise wake the watcher thread for nothing.
    pub fn pause(&self) {
        let _ = self.watcher.registry.deregister(&mut SourceFd(&self.fd));
    }

    /// Wakes again from now on; bytes already waiting count as an arrival (epoll reports a
    /// readable socket when it is registered), so none is missed while paused.
    pub fn resume(&self) -> std::io::Result<()> {
        self.watcher.registry.register(
            &mut SourceFd(&self.fd),
            Token(self.token),
            Interest::READABLE,
        )
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.watcher.registry.deregister(&mut SourceFd(&self.fd));
        self.watcher.lock().remove(&self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn bytes_arriving_wake_the_watcher_of_that_socket_only() {
        let watcher = watcher().expect("the socket watcher starts");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut a_peer, _) = listener.accept().unwrap();
        let b = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut b_peer, _) = listener.accept().unwrap();
        let watched_a = watcher.watch(a.as_raw_fd()).unwrap();
        let watched_b = watcher.watch(b.as_raw_fd()).unwrap();
        a_peer.write_all(b"x").unwrap();
        assert!(watched_a.wake.recv_timeout(Duration::from_secs(5)).is_ok());
        assert!(watched_b
            .wake
            .recv_timeout(Duration::from_millis(100))
            .is_err());
        watched_b.pause();
        b_peer.write_all(b"z").unwrap();
        assert!(watched_b
            .wake
            .recv_timeout(Duration::from_millis(100))
            .is_err());
        // Bytes that came while paused wake at once on resume.
        watched_b.resume().unwrap();
        assert!(watched_b.wake.recv_timeout(Duration::from_secs(5)).is_ok());
        // Dropped: deregistered, and nobody is woken for its socket any more.
        let token_a = watched_a.token;
        drop(watched_a);
        assert!(!watcher.lock().contains_key(&token_a));
        a_peer.write_all(b"y").unwrap();
        assert!(watched_b
            .wake
            .recv_timeout(Duration::from_millis(100))
            .is_err());
    }
}
