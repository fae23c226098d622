//! `spoolq pause` / `spoolq resume`: a running daemon sees the spool's pause marker, lets
//! its handler in flight run to completion, claims nothing until the resume, then
//! claims again; a drain of a paused spool exits 0 at once without claiming; status
//! shows the pause in text, JSON and the Prometheus gauge. Every step waits for the
//! daemon's journal records, and the order of those records is the proof.

mod common;

use std::process::Output;

use common::{PATIENCE, SpawnDaemon, TempSpool, spoolq, wait_until};
use spoolq_spool::{EventKind, JobId, Record};

fn run(spool: &TempSpool, args: &[&str]) -> Output {
    let (command, rest) = args.split_first().unwrap();
    spoolq()
        .arg(command)
        .arg("--spool")
        .arg(spool.path())
        .args(rest)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// The first record of `kind` (about `job`, if given), by the monotonic clock.
fn first(spool: &TempSpool, kind: EventKind, job: Option<JobId>) -> Option<Record> {
    spool
        .events(kind)
        .into_iter()
        .find(|r| job.is_none() || r.job() == job)
}

fn wait_for(spool: &TempSpool, kind: EventKind, job: Option<JobId>) -> Record {
    let what = format!("a {} record for {job:?}", kind.as_str());
    wait_until(&what, PATIENCE, || first(spool, kind, job).is_some());
    first(spool, kind, job).unwrap()
}

#[test]
fn a_paused_daemon_finishes_its_running_handler_claims_nothing_until_resumed_then_drains() {
    let spool = TempSpool::new();
    let gate = spool.scratch().join("gate");
    let status = std::process::Command::new("mkfifo")
        .arg(&gate)
        .status()
        .unwrap();
    assert!(status.success());
    let long = spool.drop_job("long");
    // The long job's handler blocks until the test writes into the FIFO; the others
    // exit at once.
    let handler = format!(
        "cat > /dev/null; if [ \"$SPOOLQ_JOB_ID\" = {long} ]; then read line < '{}'; fi",
        gate.display()
    );
    let mut daemon = spool.daemon(&["--workers", "2"], &["sh", "-c", &handler]);
    wait_for(&spool, EventKind::Claimed, Some(long));

    let paused = run(&spool, &["pause", "--reason", "disk swap", "--json"]);
    assert_eq!(paused.status.code(), Some(0), "{paused:?}");
    let report = json(&paused);
    assert_eq!(report["action"], "paused");
    assert_eq!(report["pause"]["reason"], "disk swap");
    assert!(spool.path().join("paused").is_file());
    let paused_record = wait_for(&spool, EventKind::Paused, None);
    assert!(
        paused_record.event.detail().unwrap().contains("disk swap"),
        "{paused_record:?}"
    );

    // Pausing again keeps the first marker.
    let again = run(&spool, &["pause", "--reason", "other"]);
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already paused"));

    // Jobs dropped while paused wait; status says why, in every format.
    let waiting = spool.drop_jobs(3);
    let text = run(&spool, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("paused     since") && text.contains("reason: disk swap"),
        "{text}"
    );
    let status = json(&run(&spool, &["status", "--json"]));
    assert_eq!(status["paused"]["reason"], "disk swap", "{status:#}");
    assert!(status["paused"]["for_secs"].as_f64().unwrap() >= 0.0);
    let prometheus = run(&spool, &["status", "--format", "prometheus"]);
    let prometheus = String::from_utf8_lossy(&prometheus.stdout);
    assert!(
        prometheus
            .lines()
            .any(|l| l.starts_with("spoolq_paused{") && l.ends_with(" 1")),
        "{prometheus}"
    );

    // The handler in flight runs to completion while paused.
    std::fs::write(&gate, b"go\n").unwrap();
    let long_done = wait_for(&spool, EventKind::Done, Some(long));
    assert!(long_done.mono_ns > paused_record.mono_ns);
    for job in &waiting {
        assert!(
            first(&spool, EventKind::Claimed, Some(*job)).is_none(),
            "{job} was claimed while the spool was paused:\n{}",
            daemon.log_text()
        );
    }
    assert_eq!(spool.names("new").len(), 3);

    let resumed = run(&spool, &["resume", "--json"]);
    assert_eq!(resumed.status.code(), Some(0), "{resumed:?}");
    let report = json(&resumed);
    assert_eq!(report["action"], "resumed");
    assert_eq!(report["pause"]["reason"], "disk swap");
    assert!(!spool.path().join("paused").exists());
    let resumed_record = wait_for(&spool, EventKind::Resumed, None);
    for job in &waiting {
        let done = wait_for(&spool, EventKind::Done, Some(*job));
        let claimed = first(&spool, EventKind::Claimed, Some(*job)).unwrap();
        assert!(
            claimed.mono_ns > resumed_record.mono_ns,
            "{job} was claimed before the resume was seen"
        );
        assert!(done.mono_ns > claimed.mono_ns);
    }
    assert!(spool.names("new").is_empty());
    let not_paused = run(&spool, &["resume"]);
    assert_eq!(not_paused.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&not_paused.stdout).contains("was not paused"));

    daemon.signal("TERM");
    assert!(daemon.wait(PATIENCE).success(), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(
        log.contains("spool paused") && log.contains("spool resumed"),
        "{log}"
    );
}

#[test]
fn a_drain_of_a_paused_spool_exits_at_once_without_claiming() {
    let spool = TempSpool::new();
    let jobs = spool.drop_jobs(2);
    let paused = run(&spool, &["pause"]);
    assert_eq!(paused.status.code(), Some(0), "{paused:?}");
    assert!(String::from_utf8_lossy(&paused.stdout).contains("paused "));

    let mut daemon = spool.daemon(&["--drain"], &["sh", "-c", "cat > /dev/null"]);
    let status = daemon.wait(PATIENCE);
    assert!(status.success(), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(log.contains("drain: the spool is paused"), "{log}");
    assert!(spool.events(EventKind::Claimed).is_empty());
    assert_eq!(spool.events(EventKind::Paused).len(), 1);
    assert_eq!(spool.names("new").len(), 2);

    // A resumed spool drains.
    assert_eq!(run(&spool, &["resume"]).status.code(), Some(0));
    let mut daemon = spool.daemon(&["--drain"], &["sh", "-c", "cat > /dev/null"]);
    assert!(daemon.wait(PATIENCE).success(), "{}", daemon.log_text());
    for job in jobs {
        assert!(first(&spool, EventKind::Done, Some(job)).is_some());
    }
}

#[test]
fn pause_and_resume_refuse_a_missing_spool_and_bad_flags() {
    let spool = TempSpool::new();
    let missing = spool.scratch().join("nowhere");
    for command in ["pause", "resume"] {
        let out = spoolq()
            .arg(command)
            .arg("--spool")
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("spoolq init"), "{err}");
        let bad = spoolq().args([command, "--frobnicate"]).output().unwrap();
        assert_eq!(bad.status.code(), Some(2));
        let help = spoolq().args([command, "--help"]).output().unwrap();
        assert_eq!(help.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
    }
    // `spoolq init` on a paused spool leaves the marker: it is the spool's own.
    assert_eq!(run(&spool, &["pause"]).status.code(), Some(0));
    let init = spoolq().arg("init").arg(spool.path()).output().unwrap();
    assert_eq!(init.status.code(), Some(0), "{init:?}");
    assert!(spool.path().join("paused").is_file());
}
