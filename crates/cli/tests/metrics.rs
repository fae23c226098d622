//! `spoolq status --format prometheus` on a seeded spool: every state counted, the text
//! parsed and linted by `promtool check metrics` (Debian's prometheus package), as
//! node_exporter's textfile collector would read it.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{TempSpool, skip, spoolq};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Samples `name{labels}` to value, from lines that are not comments.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect()
}

#[test]
fn status_as_prometheus_counts_every_state_and_promtool_reads_it() {
    let spool = TempSpool::new();
    let ids = spool.drop_jobs(3);
    let now = now_ms();
    let retry = spool.folder("retry");
    let other = spoolq_spool::JobId::generate();
    std::fs::write(retry.join(format!("{other}.1.{}", now - 1_000)), b"x").unwrap();
    let later = spoolq_spool::JobId::generate();
    std::fs::write(retry.join(format!("{later}.2.{}", now + 3_600_000)), b"x").unwrap();
    let scheduled = spoolq_spool::JobId::generate();
    std::fs::write(
        retry.join(format!("{scheduled}.0.{}", now + 3_600_000)),
        b"x",
    )
    .unwrap();
    let dead = spoolq_spool::JobId::generate();
    std::fs::write(spool.folder("failed").join(dead.to_string()), b"x").unwrap();
    std::fs::write(
        spool.folder("failed").join(format!("{dead}.reason.json")),
        b"{}",
    )
    .unwrap();
    std::fs::write(spool.folder("new").join(".DS_Store"), b"").unwrap();
    std::fs::write(spool.folder("tmp").join("leftover.1.2"), b"").unwrap();
    // One job in flight: its lock held (by this process; /proc/locks lists it).
    let held = std::fs::File::open(spool.folder("new").join(ids[0].to_string())).unwrap();
    held.try_lock().unwrap();

    let out = spoolq()
        .args(["status", "--format", "prometheus", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");

    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let checked = child.wait_with_output().unwrap();
            assert!(
                checked.status.success(),
                "promtool: {}{}\n{text}",
                String::from_utf8_lossy(&checked.stdout),
                String::from_utf8_lossy(&checked.stderr)
            );
        }
        Err(_) => skip("promtool (Debian's prometheus package), the Prometheus text parser"),
    }

    let canonical = std::fs::canonicalize(spool.path()).unwrap();
    let label = format!("spool=\"{}\"", canonical.display());
    let values = samples(&text);
    let value = |key: String| {
        *values
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in:\n{text}"))
    };
    for (state, n) in [
        ("ready", 2.0),
        ("in_flight", 1.0),
        ("retrying", 2.0),
        ("scheduled", 1.0),
        ("failed", 1.0),
    ] {
        assert_eq!(
            value(format!("spoolq_jobs{{{label},state=\"{state}\"}}")),
            n,
            "{state}"
        );
    }
    assert_eq!(value(format!("spoolq_retry_due_jobs{{{label}}}")), 1.0);
    assert_eq!(value(format!("spoolq_hidden_in_new{{{label}}}")), 1.0);
    assert_eq!(value(format!("spoolq_tmp_files{{{label}}}")), 1.0);
    assert!(value(format!("spoolq_oldest_ready_age_seconds{{{label}}}")) >= 0.0);
    assert_eq!(
        value(format!(
            "spoolq_recent_processes{{{label},role=\"daemon\"}}"
        )),
        0.0
    );
    drop(held);

    // Text and JSON tell the scheduled job apart from the retries as well.
    let human = spoolq()
        .args(["status", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let human = String::from_utf8(human.stdout).unwrap();
    assert!(human.contains("retry      2 (1 due now)"), "{human}");
    assert!(human.contains("scheduled  1 (next due "), "{human}");
    let json = spoolq()
        .args(["status", "--format", "json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["scheduled"]["waiting"], 1);
    assert_eq!(json["retry"]["waiting"], 2);
}

#[test]
fn status_refuses_json_with_another_format_and_an_unknown_format() {
    let spool = TempSpool::new();
    for args in [
        &["--json", "--format", "prometheus"][..],
        &["--format", "xml"],
    ] {
        let out = spoolq()
            .arg("status")
            .args(args)
            .arg("--spool")
            .arg(spool.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
