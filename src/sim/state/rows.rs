//! What `print` shows: one row per item with its computed properties (queue rates and
//! counters, resource numbers, uptimes), plus the interface rates `monitor-traffic` reads.

use super::sessions::Session;
use super::{mix, unit, SimState};
use crate::model::format_duration;
use crate::sim::table::{Item, Kind, Table};
use crate::sim::values::{
    display_version, format_id, format_pair, parse_id, parse_ipv4, parse_rate_pair, parse_version,
};

/// One printed row: property names and raw values, in print order.
pub type Row = Vec<(&'static str, Vec<u8>)>;

/// Which properties a print needs (its `.proplist` plus the names its query reads);
/// `all()` when there is no `.proplist`. Leaving the rest out saves most of the work.
pub(crate) struct Want<'a>(Option<Vec<&'a [u8]>>);

impl<'a> Want<'a> {
    pub fn all() -> Want<'a> {
        Want(None)
    }

    pub fn only(names: Vec<&'a [u8]>) -> Want<'a> {
        Want(Some(names))
    }

    pub fn has(&self, name: &str) -> bool {
        match &self.0 {
            None => true,
            Some(names) => name == ".id" || names.contains(&name.as_bytes()),
        }
    }
}

/// Numbers a queue's computed properties are printed from.
#[derive(Debug, Clone, Copy)]
struct QueueStats {
    rate: (u64, u64),
    bytes: (u64, u64),
}

impl SimState {
    fn render(
        table: &Table,
        want: &Want,
        mut computed: impl FnMut(&Item, &'static str) -> Option<Vec<u8>>,
    ) -> Vec<Row> {
        table
            .items
            .iter()
            .map(|item| {
                let mut row: Row = vec![(".id", format_id(item.id))];
                for (at, prop) in table.schema.iter().enumerate() {
                    if prop.kind == Kind::Hidden || !want.has(prop.name) {
                        continue;
                    }
                    let value = if prop.kind == Kind::Computed {
                        computed(item, prop.name)
                    } else {
                        item.values[at].clone()
                    };
                    if let Some(value) = value {
                        row.push((prop.name, value));
                    }
                }
                row
            })
            .collect()
    }

    pub(crate) fn resource_row(&self) -> Row {
        let now = self.now();
        let cpu_load = self.cpu_override.unwrap_or_else(|| {
            let load = self.base_cpu as f64
                + self.sessions.len() as f64 * 0.05
                + 15.0 * unit(mix(self.seed ^ 0xC0, now));
            (load as u32).min(100)
        });
        let board = self.board;
        let used = board.total_memory / 4
            + (board.total_memory / 8) * (mix(self.seed, now / 10) % 100) / 100;
        let free_memory = board.total_memory - used;
        let free_hdd = board.total_hdd - board.total_hdd / 3;
        let write_sect = 400 + now / 600;
        let mut row: Row = vec![
            ("uptime", format_duration(now).into_bytes()),
            ("version", display_version(&self.version).into_bytes()),
            ("build-time", b"2025-03-10 11:24:06".to_vec()),
            ("free-memory", free_memory.to_string().into_bytes()),
            ("total-memory", board.total_memory.to_string().into_bytes()),
            ("cpu", board.cpu.as_bytes().to_vec()),
            ("cpu-count", board.cpu_count.to_string().into_bytes()),
            (
                "cpu-frequency",
                board.cpu_frequency.to_string().into_bytes(),
            ),
            ("cpu-load", cpu_load.to_string().into_bytes()),
            ("free-hdd-space", free_hdd.to_string().into_bytes()),
            ("total-hdd-space", board.total_hdd.to_string().into_bytes()),
            (
                "write-sect-since-reboot",
                write_sect.to_string().into_bytes(),
            ),
            (
                "write-sect-total",
                (250_000 + write_sect).to_string().into_bytes(),
            ),
            ("bad-blocks", b"0".to_vec()),
            ("architecture-name", board.architecture.as_bytes().to_vec()),
            ("board-name", board.name.as_bytes().to_vec()),
            ("platform", b"MikroTik".to_vec()),
        ];
        if parse_version(&self.version).0 >= 7 {
            row.insert(3, ("factory-software", b"7.5".to_vec()));
        }
        row
    }

    pub(crate) fn identity_row(&self) -> Row {
        vec![("name", self.identity.clone())]
    }

    pub(crate) fn secret_rows(&self, want: &Want) -> Vec<Row> {
        Self::render(&self.secrets, want, |_, _| None)
    }

    pub(crate) fn profile_rows(&self, want: &Want) -> Vec<Row> {
        Self::render(&self.profiles, want, |_, _| None)
    }

    pub(crate) fn address_list_rows(&self, want: &Want) -> Vec<Row> {
        let now = self.now();
        let rows = Self::render(&self.address_list, want, |_, _| None);
        rows.into_iter()
            .map(|mut row| {
                // `timeout` shows the time left.
                let id = row.first().and_then(|(_, v)| parse_id(v)).unwrap_or(0);
                if let Some(&until) = self.address_expiry.get(&id) {
                    for (name, value) in row.iter_mut() {
                        if *name == "timeout" {
                            *value = format_duration(until.saturating_sub(now)).into_bytes();
                        }
                    }
                }
                row
            })
            .collect()
    }

    pub(crate) fn file_rows(&self, want: &Want) -> Vec<Row> {
        Self::render(&self.files, want, |_, _| None)
    }

    pub(crate) fn active_rows(&self) -> Vec<Row> {
        let now = self.now();
        self.sessions
            .iter()
            .map(|s| {
                vec![
                    (".id", format_id(s.id)),
                    ("name", s.name.clone()),
                    ("service", s.service.as_bytes().to_vec()),
                    ("caller-id", s.caller_id.clone()),
                    ("address", s.address.to_string().into_bytes()),
                    (
                        "uptime",
                        format_duration(now.saturating_sub(s.since)).into_bytes(),
                    ),
                    ("encoding", Vec::new()),
                    ("session-id", format!("0x{:08X}", s.session_id).into_bytes()),
                    ("limit-bytes-in", b"0".to_vec()),
                    ("limit-bytes-out", b"0".to_vec()),
                    ("radius", b"false".to_vec()),
                ]
            })
            .collect()
    }

    /// The session a queue measures: the `<pppoe-U>` interface it targets, or the address.
    fn target_session(&self, target: &[u8]) -> Option<&Session> {
        let first = target.split(|&b| b == b',').next().unwrap_or(&[]);
        if let Some(user) = first
            .strip_prefix(b"<pppoe-")
            .and_then(|r| r.strip_suffix(b">"))
        {
            return self.sessions.iter().find(|s| s.name == user);
        }
        let address = first.strip_suffix(b"/32").unwrap_or(first);
        let address = parse_ipv4(address)?;
        self.sessions.iter().find(|s| s.address == address)
    }

    pub(crate) fn queue_rows(&self, want: &Want) -> Vec<Row> {
        let now = self.now();
        let target_at = self.queues.prop_index("target");
        let max_at = self.queues.prop_index("max-limit");
        let created_at = self.queues.prop_index("created");
        let value = |item: &Item, at: Option<usize>| at.and_then(|at| item.values[at].clone());
        // Every computed property of one queue comes from the same numbers: work them out
        // once per queue, not once per property.
        let mut cached: Option<(u32, QueueStats)> = None;
        Self::render(&self.queues, want, |item, name| {
            let stats = match &cached {
                Some((id, stats)) if *id == item.id => *stats,
                _ => {
                    let target = value(item, target_at).unwrap_or_default();
                    let max = value(item, max_at)
                        .and_then(|v| parse_rate_pair(&v))
                        .unwrap_or((0, 0));
                    let created = value(item, created_at)
                        .and_then(|v| std::str::from_utf8(&v).ok().and_then(|t| t.parse().ok()))
                        .unwrap_or(now);
                    let stats = self.queue_stats(&target, max, created, now);
                    cached = Some((item.id, stats));
                    stats
                }
            };
            let (up, down) = stats.rate;
            match name {
                "rate" => Some(format_pair(stats.rate)),
                "packet-rate" => Some(format_pair((up / 8 / 600, down / 8 / 1200))),
                "bytes" => Some(format_pair(stats.bytes)),
                "packets" => Some(format_pair((stats.bytes.0 / 600, stats.bytes.1 / 1200))),
                "dropped" | "queued-packets" | "queued-bytes" => Some(b"0/0".to_vec()),
                _ => Some(b"0".to_vec()),
            }
        })
    }

    /// A queue's current rate (clamped to its max-limit) and byte counters.
    fn queue_stats(&self, target: &[u8], max: (u64, u64), created: u64, now: u64) -> QueueStats {
        let clamp = |rate: u64, limit: u64| if limit == 0 { rate } else { rate.min(limit) };
        let rate = match self.target_session(target) {
            Some(session) => {
                let (up, down) = self.session_traffic(session, now);
                (clamp(up, max.0), clamp(down, max.1))
            }
            None => (0, 0),
        };
        let age = now.saturating_sub(created);
        // Counters: as if the queue had carried about half its current rate all along.
        QueueStats {
            rate,
            bytes: (rate.0 / 16 * age, rate.1 / 16 * age),
        }
    }

    pub(crate) fn interface_rows(&self, want: &Want) -> Vec<Row> {
        let mut rows = Self::render(&self.interfaces, want, |_, _| None);
        for s in &self.sessions {
            let mut name = b"<pppoe-".to_vec();
            name.extend_from_slice(&s.name);
            name.push(b'>');
            rows.push(vec![
                (".id", format_id(s.interface_id)),
                ("name", name),
                ("type", b"pppoe-in".to_vec()),
                ("mtu", b"1480".to_vec()),
                ("actual-mtu", b"1480".to_vec()),
                ("running", b"true".to_vec()),
                ("disabled", b"false".to_vec()),
                ("dynamic", b"true".to_vec()),
            ]);
        }
        rows
    }

    /// `(rx, tx)` bits/s on one interface now, `None` for an unknown interface.
    pub(crate) fn interface_traffic(&self, name: &[u8]) -> Option<(u64, u64)> {
        let now = self.now();
        if let Some(user) = name
            .strip_prefix(b"<pppoe-")
            .and_then(|r| r.strip_suffix(b">"))
        {
            let session = self.sessions.iter().find(|s| s.name == user)?;
            // rx = what the router receives from the customer = the upload.
            return Some(self.session_traffic(session, now));
        }
        let (up, down) = self
            .sessions
            .iter()
            .map(|s| self.session_traffic(s, now))
            .fold((0u64, 0u64), |acc, (u, d)| (acc.0 + u, acc.1 + d));
        match name {
            b"aggregate" => Some((up + down, up + down)),
            b"ether1" => Some((down, up)),
            b"ether2" => Some((up, down)),
            _ => self.interfaces.find_by_name(name).map(|_| (0, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_state as state;
    use super::*;

    #[test]
    fn interface_traffic_matches_the_dynamic_queue() {
        let mut s = state(10, false);
        s.set_user_traffic("ali", Some((1_203_000, 15_400_000)));
        assert_eq!(
            s.interface_traffic(b"<pppoe-ali>"),
            Some((1_203_000, 15_400_000))
        );
        let row = s
            .queue_rows(&Want::all())
            .into_iter()
            .find(|r| r[1].1 == b"<pppoe-ali>")
            .unwrap();
        let rate = row.iter().find(|(n, _)| *n == "rate").unwrap();
        assert_eq!(rate.1, b"1203000/15400000");
        assert_eq!(s.interface_traffic(b"nonexistent"), None);
    }
}
