//! The systemd watchdog: when the unit sets `WatchdogSec=`, a thread sends `WATCHDOG=1` every
//! half period, but only while the HTTP edge accepts connections, so an API that stays deaf
//! gets the service restarted.

use crate::args::env_var;
use net_engine::engine::Engine;
use net_engine::notify::{notify, watchdog_interval, WATCHDOG};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

/// The running watchdog thread; stopped (and joined) on drop.
pub struct Watchdog {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts pinging when systemd asked for it (`NOTIFY_SOCKET`, `WATCHDOG_USEC` and, when
    /// set, a `WATCHDOG_PID` that is ours); `None` otherwise.
    pub fn start(engine: &Engine) -> Option<Watchdog> {
        let socket = env_var("NOTIFY_SOCKET")?;
        let interval = watchdog_interval(
            env_var("WATCHDOG_USEC").as_deref(),
            env_var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        )?;
        let probe = engine.edge_probe()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut withheld = false;
                let mut failed = false;
                loop {
                    if probe.accepting() {
                        if withheld {
                            log::warn!("watchdog: the HTTP edge accepts again; pinging systemd");
                            withheld = false;
                        }
                        match notify(&socket, WATCHDOG) {
                            Ok(()) => failed = false,
                            Err(e) if !failed => {
                                log::warn!("watchdog: cannot notify systemd: {e}");
                                failed = true;
                            }
                            Err(_) => {}
                        }
                    } else if !withheld {
                        log::warn!(
                            "watchdog: the HTTP edge is not accepting connections; withholding WATCHDOG=1"
                        );
                        withheld = true;
                    }
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            });
        match thread {
            Ok(thread) => {
                log::info!("watchdog: WATCHDOG=1 every {interval:?} while the API accepts");
                Some(Watchdog {
                    stop: Some(stop),
                    thread: Some(thread),
                })
            }
            Err(e) => {
                log::warn!("watchdog: cannot start its thread: {e}");
                None
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
