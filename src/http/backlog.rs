//! How many connections wait in the listening socket's accept queue, read from Linux's
//! `/proc/self/net/tcp{,6}` through files opened once (a look costs no descriptor, so it
//! still works when the process has none left).
//!
//! Why: tiny_http's accept thread can die without a word — it panics when cloning an
//! accepted stream fails with `EMFILE`, or when it cannot start a connection thread — and
//! then connections pile up in the backlog while nothing takes them. A live accept thread
//! drains the queue within microseconds, so a queue that stays non-empty means it is gone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// The listening socket's entry in the kernel's TCP tables.
pub struct BacklogWatch {
    inode: u64,
    tables: Vec<File>,
    text: Vec<u8>,
}

impl BacklogWatch {
    /// `None` where the tables cannot be read (not Linux, no `/proc`).
    pub fn open(listener: &TcpListener) -> Option<BacklogWatch> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).ok()?;
        let inode = socket_inode(link.to_str()?)?;
        // An IPv4 socket is listed in `tcp`, an IPv6 one (also dual-stack) in `tcp6`.
        let table = if listener.local_addr().ok()?.is_ipv4() {
            "/proc/self/net/tcp"
        } else {
            "/proc/self/net/tcp6"
        };
        let tables: Vec<File> = File::open(table).into_iter().collect();
        let mut watch = BacklogWatch {
            inode,
            tables,
            text: Vec::new(),
        };
        // Only a watch that finds its socket now is worth keeping.
        watch.waiting().map(|_| watch)
    }

    /// Connections accepted by the kernel and not yet taken by the program; `None` when the
    /// tables could not be read or the socket is no longer listed.
    pub fn waiting(&mut self) -> Option<u64> {
        for table in &mut self.tables {
            self.text.clear();
            if table.seek(SeekFrom::Start(0)).is_err() || table.read_to_end(&mut self.text).is_err()
            {
                continue;
            }
            if let Some(queued) = listening_queue(&self.text, self.inode) {
                return Some(queued);
            }
        }
        None
    }
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The accept-queue length of the listening socket `inode` in one `/proc/net/tcp` table:
/// columns `sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode …`; for a
/// listening socket (state `0A`) the kernel reports its accept backlog as `rx_queue`.
fn listening_queue(table: &[u8], inode: u64) -> Option<u64> {
    let text = std::str::from_utf8(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let state = fields.nth(3)?;
        let queues = fields.next()?;
        let entry_inode: u64 = fields.nth(4)?.parse().ok()?;
        if entry_inode != inode || state != "0A" {
            return None;
        }
        let (_, rx) = queues.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn the_listening_entry_gives_its_accept_queue() {
        assert_eq!(listening_queue(TABLE.as_bytes(), 4242), Some(3));
        assert_eq!(
            listening_queue(TABLE.as_bytes(), 4243),
            None,
            "not listening"
        );
        assert_eq!(listening_queue(TABLE.as_bytes(), 1), None);
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
    }

    #[test]
    fn connections_nobody_accepts_are_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut watch = BacklogWatch::open(&listener).expect("/proc is readable here");
        assert_eq!(watch.waiting(), Some(0));
        let addr = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        assert_eq!(watch.waiting(), Some(3));
        let _taken = listener.accept().unwrap();
        assert_eq!(watch.waiting(), Some(2));
        drop(clients);
    }
}
