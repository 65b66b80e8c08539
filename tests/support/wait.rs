//! Waiting in tests: a watchdog that fails a hung test, and polling until something holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ends the whole test binary (exit 101, like a failed test) if the guarded test runs
/// longer than `limit`: a hung test must fail, not hang CI. Disarmed on drop.
pub struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    pub fn new(name: &str, limit: Duration) -> Watchdog {
        Watchdog::with_action(name, limit, || {})
    }

    /// Same, running `before_exit` first (e.g. to kill child process groups).
    pub fn with_action(
        name: &str,
        limit: Duration,
        before_exit: impl FnOnce() + Send + 'static,
    ) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let name = name.to_owned();
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let deadline = Instant::now() + limit;
                while Instant::now() < deadline {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                eprintln!("watchdog: {name} still running after {limit:?}; failing the run");
                before_exit();
                std::process::exit(101);
            })
            .expect("spawn watchdog");
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// Polls `check` every 20 ms until it is true (panics with `what` after `limit`).
pub fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    assert!(
        wait_until(limit, &mut check),
        "timed out waiting for: {what}"
    );
}

/// Polls `condition` every 5 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
