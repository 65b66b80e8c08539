//! A router registry read from a CSV file (`ROUTERS_FILE`): `serve` without MySQL.
//!
//! The file has the columns of `net-engine seed` (`name,host,port,username,password[,use_tls]`).
//! Router ids follow the order of the records: the k-th record after the header is router k
//! (bad records keep their number), so appending routers keeps every id stable. A bad record is
//! logged with its line number and skipped; a router listed twice (same host and port) keeps
//! its first record. A file that cannot be read or has a bad header fails the load, and the
//! engine keeps the routers it has.

use super::csv::parse_routers_csv_lenient;
use super::{RouterRegistry, StoreError};
use crate::model::{RouterConfig, RouterId};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The registry behind `ROUTERS_FILE`.
#[derive(Debug, Clone)]
pub struct FileRegistry {
    path: PathBuf,
}

/// What one read of the file found.
#[derive(Debug, Clone, Default)]
pub struct FileLoad {
    pub routers: Vec<RouterConfig>,
    /// One line per skipped record: `routers.csv line 4: port must be ...`.
    pub skipped: Vec<String>,
}

impl FileRegistry {
    pub fn new(path: impl Into<PathBuf>) -> FileRegistry {
        FileRegistry { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the file, reporting (not failing on) bad records.
    pub fn read(&self) -> Result<FileLoad, StoreError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            StoreError::Unavailable(format!("cannot read {}: {e}", self.path.display()))
        })?;
        let (rows, errors) = parse_routers_csv_lenient(&text)
            .map_err(|e| StoreError::BadData(format!("{}: {e}", self.path.display())))?;
        let mut load = FileLoad {
            skipped: errors
                .iter()
                .map(|e| format!("{} {e}", self.path.display()))
                .collect(),
            ..FileLoad::default()
        };
        let mut seen = BTreeSet::new();
        for (number, row) in rows {
            if !seen.insert((row.host.clone(), row.port)) {
                load.skipped.push(format!(
                    "{} line {}: {}:{} is listed twice; keeping the first",
                    self.path.display(),
                    row.line,
                    row.host,
                    row.port
                ));
                continue;
            }
            load.routers.push(RouterConfig {
                id: RouterId(number as u64),
                name: row.name,
                host: row.host,
                port: row.port,
                username: row.username,
                password: row.password,
                use_tls: row.use_tls,
            });
        }
        Ok(load)
    }
}

impl RouterRegistry for FileRegistry {
    fn load_routers(&self) -> Result<Vec<RouterConfig>, StoreError> {
        let load = self.read()?;
        for skipped in &load.skipped {
            log::warn!("{skipped} (record skipped)");
        }
        Ok(load.routers)
    }

    /// Modification time and length: a change to either means the file was written.
    fn fingerprint(&self) -> Option<String> {
        let fingerprint = match std::fs::metadata(&self.path) {
            Ok(meta) => {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                format!("{modified}:{}", meta.len())
            }
            Err(e) => format!("missing: {}", e.kind()),
        };
        Some(fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_with(text: &str) -> (tempfile::NamedTempFile, FileRegistry) {
        let mut file = tempfile::NamedTempFile::new().expect("a temp file");
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("temp file is writable");
        let registry = FileRegistry::new(file.path());
        (file, registry)
    }

    #[test]
    fn ids_follow_records_and_bad_records_are_skipped_with_their_line() {
        let (_file, registry) = registry_with(
            "name,host,port,username,password\n\
             a,127.0.0.1,8728,admin,\n\
             b,127.0.0.1,notaport,admin,pw-hidden-1\n\
             c,127.0.0.2,8728,admin,pw-hidden-2\n\
             d,127.0.0.1,8728,admin,\n",
        );
        let load = registry.read().unwrap();
        let ids: Vec<(u64, &str)> = load
            .routers
            .iter()
            .map(|r| (r.id.0, r.name.as_str()))
            .collect();
        assert_eq!(ids, [(1, "a"), (3, "c")]);
        assert_eq!(load.skipped.len(), 2, "{:?}", load.skipped);
        assert!(
            load.skipped[0].contains("line 3: port"),
            "{}",
            load.skipped[0]
        );
        assert!(load.skipped[1].contains("line 5") && load.skipped[1].contains("twice"));
        assert!(!load.skipped.iter().any(|s| s.contains("pw-hidden")));
    }

    #[test]
    fn a_bad_header_or_a_missing_file_fails_the_load() {
        let (_file, registry) = registry_with("name,address\nx,y\n");
        assert!(matches!(
            registry.load_routers(),
            Err(StoreError::BadData(_))
        ));
        let missing = FileRegistry::new("/nonexistent/net-engine/routers.csv");
        assert!(matches!(
            missing.load_routers(),
            Err(StoreError::Unavailable(_))
        ));
        assert!(missing.fingerprint().is_some());
    }

    #[test]
    fn the_fingerprint_moves_when_the_file_is_written() {
        let (file, registry) = registry_with("name,host,port,username,password\n");
        let before = registry.fingerprint();
        std::fs::write(file.path(), "name,host,port,username,password\na,h,1,u,p\n").unwrap();
        assert_ne!(registry.fingerprint(), before);
    }
}
