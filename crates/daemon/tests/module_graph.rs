//! The daemon's modules depend one way: every module imports (through `crate::` paths)
//! only modules below it in `ORDER`, the module graph of the crate docs (src/lib.rs).

use std::collections::BTreeSet;
use std::path::Path;

/// The modules from top to bottom, as the crate docs list them.
const ORDER: &[&str] = &[
    "lib",
    "worker",
    "outcome",
    "claiming",
    "discovery",
    "claimed",
    "remote_drops",
    "retry_mover",
    "watcher",
    "quarantine",
    "hidden",
    "tmp",
    "prune",
    "pause",
    "metrics_server",
    "notify",
    "handler",
    "state",
    "stuck",
    "record",
    "config",
    "lifecycle",
    "queue",
    "failed",
    "backoff",
    "log_sink",
];

/// Modules that import nothing from the crate.
const LEAVES: &[&str] = &[
    "config",
    "lifecycle",
    "queue",
    "failed",
    "backoff",
    "log_sink",
];

/// The first path segment of every `crate::` path in `source`, comments left out;
/// `crate::{a, b::c}` yields `a` and `b`.
fn crate_imports(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let segment = item.trim().split("::").next().unwrap_or_default();
                    if !segment.is_empty() {
                        found.insert(segment.to_owned());
                    }
                }
            } else {
                let segment: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.insert(segment);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("rs"),
            "{}: the daemon's modules are files in src/",
            path.display()
        );
        files.insert(path.file_stem().unwrap().to_str().unwrap().to_owned());
    }
    let listed: BTreeSet<String> = ORDER.iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(
        files, listed,
        "every module is in ORDER and the crate docs' graph"
    );

    let mut upward = Vec::new();
    for (rank, module) in ORDER.iter().enumerate() {
        let source = std::fs::read_to_string(src.join(format!("{module}.rs"))).unwrap();
        for import in crate_imports(&source) {
            let allowed = match ORDER.iter().position(|m| *m == import) {
                // An item of the crate root (`crate::Config`) is an import of lib.
                None => *module == "lib",
                Some(_) if LEAVES.contains(module) => false,
                Some(target) => target > rank,
            };
            if !allowed {
                upward.push(format!("{module} -> {import}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports against the order: {upward:?}");
}

#[test]
fn crate_paths_are_read_whole_and_grouped() {
    let source = "use crate::state::{Shared, Stats};\n\
                  use crate::{backoff, record::step_hook};\n\
                  // crate::worker in a comment is no import\n\
                  let x = crate::failed::rfc3339(t); // and crate::lib neither\n";
    let found: Vec<String> = crate_imports(source).into_iter().collect();
    assert_eq!(found, ["backoff", "failed", "record", "state"]);
}
