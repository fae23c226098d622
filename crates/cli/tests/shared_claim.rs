//! The shared claim strategy through the binary on a local file system: jobs a claimer
//! left in its private folder (claimed/<claimer>/) when it died are given back and run
//! by another daemon, their started attempts counted; a live claim there is left alone;
//! status and the auditor count them.

mod common;

use std::process::Stdio;

use common::*;
use spoolq_spool::EventKind;

/// A dead claimer's folder, as a daemon on another host would have left it.
const DEAD: &str = "other-host.0f3243b9.4242";

/// Drops one job and moves it into a dead claimer's folder as `<id>.<attempts>`, as a
/// claimer that died during its attempt `attempts` leaves it.
fn job_left_by_a_dead_claimer(spool: &TempSpool, attempts: u32) -> (String, std::path::PathBuf) {
    let id = spool.drop_job("left behind").to_string();
    let dead = spool.folder("claimed").join(DEAD);
    std::fs::create_dir_all(&dead).unwrap();
    let left = dead.join(format!("{id}.{attempts}"));
    std::fs::rename(spool.folder("new").join(&id), &left).unwrap();
    (id, left)
}

fn audit(spool: &TempSpool) -> serde_json::Value {
    let out = spoolq()
        .args(["audit", "--json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn drain(spool: &TempSpool, extra: &[&str]) -> String {
    let out = spoolq()
        .args(["daemon", "--drain", "--claim", "shared"])
        .args(extra)
        .arg("--spool")
        .arg(spool.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    log
}

#[test]
fn a_job_a_dead_claimer_left_is_given_back_and_run_with_its_attempt_counted() {
    let spool = TempSpool::new();
    let (_, left) = job_left_by_a_dead_claimer(&spool, 1);

    // Before recovery: status counts it in flight, the audit as pending, not lost.
    let out = spoolq()
        .args(["status", "--json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["claimed"], 1, "{status:#}");
    assert_eq!(status["in_flight"], 1, "{status:#}");
    let report = audit(&spool);
    assert_eq!(report["counts"]["pending"], 1, "{report:#}");
    assert_eq!(report["counts"]["lost"], 0, "{report:#}");

    let log = drain(&spool, &[]);
    assert!(
        log.contains("recovered a job its claimer released unfinished"),
        "{log}"
    );
    assert!(!left.exists());
    assert!(spool.names("new").is_empty());
    assert!(
        std::fs::read_dir(spool.folder("claimed").join(DEAD))
            .unwrap()
            .next()
            .is_none()
    );
    // The daemon's own folder is gone with its clean stop.
    let folders: Vec<_> = std::fs::read_dir(spool.folder("claimed"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(folders, [DEAD], "{folders:?}");
    let claims = spool.events(EventKind::Claimed);
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].event.attempt(), Some(2), "{claims:?}");
    assert_eq!(spool.events(EventKind::Done).len(), 1);
    let report = audit(&spool);
    assert_eq!(report["counts"]["completed"], 1, "{report:#}");
    assert_eq!(report["counts"]["lost"], 0, "{report:#}");
}

#[test]
fn a_recovered_job_past_max_attempts_goes_to_failed_unrun() {
    let spool = TempSpool::new();
    let (id, _) = job_left_by_a_dead_claimer(&spool, 3);
    drain(&spool, &["--max-attempts", "3"]);
    assert!(spool.names("failed").iter().any(|n| n.starts_with(&id)));
    assert!(spool.events(EventKind::Done).is_empty());
}

#[test]
fn a_file_whose_lock_is_held_in_another_claimers_folder_is_left_alone() {
    let spool = TempSpool::new();
    let (_, left) = job_left_by_a_dead_claimer(&spool, 1);
    // A live claim: its claimer holds the lock (here a python3 process).
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); \
             print('locked', flush=True); sys.stdin.read()",
        ])
        .arg(&left)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    drain(&spool, &[]);
    assert!(left.exists(), "a held claim is never taken");
    assert!(spool.events(EventKind::Claimed).is_empty());
    drop(holder.stdin.take());
    holder.wait().unwrap();
    // Its claimer gone (the lock freed), the next daemon runs it.
    drain(&spool, &[]);
    assert!(!left.exists());
    assert_eq!(spool.events(EventKind::Done).len(), 1);
}
