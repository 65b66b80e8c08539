//! Tidy checks: the layering the README states, kept true by reading the source.
//!
//! Each rule names a folder (or file) of `src/`, the paths it must not mention and why. Code
//! after a file's `#[cfg(test)]` is left out (tests may build what they check from any
//! layer); comments are left out too. A violation fails with `file:line`.

use std::path::{Path, PathBuf};

/// One layering rule.
struct Rule {
    /// Files under this prefix of `src/` (a folder ends with `/`).
    scope: &'static str,
    /// Files under these prefixes are exempt.
    except: &'static [&'static str],
    /// Paths (crate or module) the scope must not mention.
    forbidden: &'static [&'static str],
    reason: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        scope: "routeros/",
        except: &[],
        forbidden: &["std::net", "std::thread", "crossbeam_channel", "serde", "serde_json", "log"],
        reason: "the protocol codec is sans-IO: bytes in, sentences out, no sockets, threads, JSON or logging",
    },
    Rule {
        scope: "router/",
        except: &[],
        forbidden: &["crossbeam_channel", "serde", "serde_json", "tiny_http"],
        reason: "the client talks to ONE router over a blocking stream; it knows nothing of channels or HTTP",
    },
    Rule {
        scope: "fleet/",
        except: &[],
        forbidden: &[
            "serde", "serde_json", "tiny_http", "mysql", "ureq", "crate::http", "crate::store",
            "crate::webhook", "crate::metrics",
        ],
        reason: "the fleet runs router threads; HTTP bodies, storage, webhooks and metrics reach it only as observers",
    },
    Rule {
        scope: "http/",
        except: &[],
        forbidden: &["crate::router", "crate::routeros"],
        reason: "HTTP never opens a socket to a router and never sees a RouterOS word: it goes through the fleet",
    },
    Rule {
        scope: "sim/",
        except: &[],
        forbidden: &["crate::fleet", "crate::router", "crate::http", "crate::store", "signal_hook"],
        reason: "the simulator is a router, not a client: only the protocol and plain data (signals are the binary's)",
    },
    Rule {
        scope: "",
        except: &["webhook.rs"],
        forbidden: &["ureq"],
        reason: "webhook delivery is the only outgoing HTTP",
    },
    Rule {
        scope: "",
        except: &["store/mysql/", "store/dsn.rs"],
        forbidden: &["mysql"],
        reason: "the MySQL store (store/mysql/, with its DSN parsing) is the only module that speaks to MySQL",
    },
    Rule {
        scope: "",
        except: &["bin/"],
        forbidden: &["std::env"],
        reason: "only the binary reads the environment; the library takes configuration as values",
    },
];

/// A rule broken at one line.
#[derive(Debug, PartialEq)]
struct Violation {
    file: String,
    line: usize,
    path: &'static str,
    reason: &'static str,
}

/// True when `path` appears in `code` as a path: not as part of a longer name, not as the
/// tail of another path like `store::mysql`, and — for a bare crate name like `mysql` — only
/// when a path continues after it (`mysql::Opts`, not `pub mod mysql;` or `"mysql://"`).
fn mentions(code: &str, path: &str) -> bool {
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(found) = code[from..].find(path) {
        let start = from + found;
        let end = start + path.len();
        let before_ok = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        };
        let after_ok = if path.contains("::") {
            end == bytes.len() || {
                let c = bytes[end];
                !(c.is_ascii_alphanumeric() || c == b'_')
            }
        } else {
            code[end..].starts_with("::")
        };
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

/// The code of a line without its `//` comment (string literals holding `//` are rare in
/// `use` lines and paths, which is all this looks at).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// Checks one file (`relative` to `src/`) against every rule that covers it.
fn check_source(relative: &str, text: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let rules: Vec<&Rule> = RULES
        .iter()
        .filter(|rule| relative.starts_with(rule.scope))
        .filter(|rule| !rule.except.iter().any(|e| relative.starts_with(e)))
        .collect();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = code_of(line);
        for rule in &rules {
            for path in rule.forbidden {
                if mentions(code, path) {
                    violations.push(Violation {
                        file: relative.to_owned(),
                        line: index + 1,
                        path,
                        reason: rule.reason,
                    });
                }
            }
        }
    }
    violations
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn layers_import_only_what_the_architecture_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    let mut violations = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).expect("source is readable");
        violations.extend(check_source(&relative, &text));
    }
    let report: Vec<String> = violations
        .iter()
        .map(|v| {
            format!(
                "src/{}:{}: mentions `{}`: {}",
                v.file, v.line, v.path, v.reason
            )
        })
        .collect();
    assert!(report.is_empty(), "layering broken:\n{}", report.join("\n"));
}

/// RouterOS words the HTTP layer must never hold: menu paths and attribute names. The API's
/// own names (`remote_ip`, `cpu`) are translated below HTTP, in the fleet and the client.
const ROUTEROS_WORDS: &[&str] = &[
    "\"/ppp/",
    "\"/ip/",
    "\"/interface/",
    "\"/queue/",
    "\"/system/",
    "remote-address",
    "local-address",
    "caller-id",
    "cpu-load",
    "free-memory",
    "total-memory",
    "board-name",
    "rate-limit",
    "address-list",
    "=.id",
    ".proplist",
];

/// Lines of `text` (before its tests) that hold a RouterOS word, as `(line, word)`.
fn routeros_words(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = code_of(line);
        for word in ROUTEROS_WORDS {
            if code.contains(word) {
                found.push((index + 1, *word));
            }
        }
    }
    found
}

#[test]
fn http_never_names_a_routeros_word() {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    rust_files(&http, &mut files);
    let mut report = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source is readable");
        for (line, word) in routeros_words(&text) {
            report.push(format!("{}:{line}: `{word}`", file.display()));
        }
    }
    assert!(
        report.is_empty(),
        "RouterOS words in the HTTP layer (translate them in the fleet):\n{}",
        report.join("\n")
    );
    assert_eq!(
        routeros_words("let a = \"remote-address\";\n// caller-id in a comment\n"),
        vec![(1, "remote-address")]
    );
}

#[test]
fn the_checker_catches_a_wrong_import_and_ignores_tests_and_comments() {
    let source = "use crate::model::Secret;\n\
                  use crate::router::Client;\n\
                  // use crate::routeros::text; (a comment)\n\
                  #[cfg(test)]\n\
                  mod tests { use crate::router::RouterError; }\n";
    let found = check_source("http/handlers.rs", source);
    assert_eq!(
        found,
        vec![Violation {
            file: "http/handlers.rs".into(),
            line: 2,
            path: "crate::router",
            reason: RULES[3].reason,
        }]
    );
    assert!(check_source("store/mysql/mod.rs", "use mysql::prelude::*;\n").is_empty());
    assert_eq!(check_source("store/mod.rs", "use mysql::Opts;\n").len(), 1);
    assert!(check_source(
        "bin/net-engine/serve.rs",
        "use net_engine::store::mysql::X;\n"
    )
    .is_empty());
    assert!(check_source("fleet/mod.rs", "use crate::store::mysql::X;\n").len() == 1);
    assert!(!mentions("fn logger() {}", "log"));
    assert!(mentions("log::info!(\"x\")", "log"));
    assert!(!mentions("self.catalog::x", "log"));
    assert!(!mentions("let url = \"mysql://h/d\";", "mysql"));
    assert!(!mentions("pub mod mysql;", "mysql"));
}
