//! `spoolq produce --at / --delay`: a scheduled job waits in retry/ as `<id>.0.<due>`,
//! counted as scheduled (never as a retry), and a running daemon runs it once due, not
//! before; the audit finds it neither lost nor retried.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{PATIENCE, SpawnDaemon, TempSpool, spoolq, wait_until};
use spoolq_spool::{EventKind, JobId, RetryName};

fn produce(spool: &TempSpool, args: &[&str], payload: &[u8]) -> Output {
    let mut child = spoolq()
        .arg("produce")
        .arg("--spool")
        .arg(spool.path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A usage error exits before reading stdin: the pipe may be closed already.
    let _ = child.stdin.take().unwrap().write_all(payload);
    child.wait_with_output().unwrap()
}

fn id_of(out: &Output) -> JobId {
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn wall_ns(record: &spoolq_spool::Record) -> i64 {
    record.wall_ns().unwrap()
}

#[test]
fn a_delayed_job_waits_in_retry_and_runs_once_due() {
    let spool = TempSpool::new();
    let before = SystemTime::now();
    let id = id_of(&produce(&spool, &["--delay", "2s"], b"later"));
    // In retry/ before its first attempt, due two seconds after the call.
    let names = spool.names("retry");
    assert_eq!(names.len(), 1, "{names:?}");
    let name = RetryName::parse(names[0].as_ref()).unwrap();
    assert_eq!((name.id, name.attempts), (id, 0));
    assert!(name.due() >= before + Duration::from_secs(2), "{name:?}");
    assert!(spool.names("new").is_empty());

    let status = spoolq()
        .args(["status", "--json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["scheduled"]["waiting"], 1, "{json:#}");
    assert_eq!(json["retry"]["waiting"], 0, "{json:#}");
    assert_eq!(json["ready"], 0);

    // A running daemon moves it to new/ when due and runs it: attempt 1.
    let attempt_file = spool.scratch().join("attempt");
    let handler = format!(
        "cat > /dev/null; echo \"$SPOOLQ_JOB_ATTEMPT\" > {}",
        attempt_file.display()
    );
    let mut daemon = spool.daemon(&["--workers", "1"], &["sh", "-c", &handler]);
    wait_until("the scheduled job is done", PATIENCE, || {
        !spool.events(EventKind::Done).is_empty()
    });
    daemon.signal("TERM");
    assert!(daemon.wait(PATIENCE).success());

    let claimed = spool.events(EventKind::Claimed);
    assert_eq!(claimed.len(), 1);
    // Never claimed before its due time.
    let due_ns = i64::try_from(name.due_ms).unwrap() * 1_000_000;
    assert!(wall_ns(&claimed[0]) >= due_ns, "claimed before due");
    let requeued = spool.events(EventKind::Requeued);
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0].job(), Some(id));
    assert_eq!(std::fs::read_to_string(&attempt_file).unwrap().trim(), "1");
    assert!(spool.names("retry").is_empty() && spool.names("new").is_empty());

    let audit = spoolq()
        .args(["audit", "--json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(audit.status.code(), Some(0), "{audit:?}");
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["counts"]["lost"], 0);
    assert_eq!(report["counts"]["retried"], 0);
    assert_eq!(report["counts"]["completed"], 1);
    // Latency runs from when it became claimable, not from when it was produced.
    let p50 = report["latency"]["produced_to_claimed"]["p50_ns"]
        .as_u64()
        .unwrap();
    assert!(p50 < 2_000_000_000, "latency {p50} ns counts the delay");
}

#[test]
fn a_job_scheduled_in_the_past_is_published_at_once_and_ids_stay_idempotent() {
    let spool = TempSpool::new();
    let past = id_of(&produce(&spool, &["--at", "2001-01-01T00:00:00Z"], b"x"));
    assert_eq!(spool.names("new"), [past.to_string()]);

    let chosen = JobId::generate().to_string();
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let at = format!("@{epoch}");
    let first = produce(&spool, &["--at", &at, "--id", &chosen], b"x");
    assert_eq!(id_of(&first).to_string(), chosen);
    let again = produce(&spool, &["--delay", "1h", "--id", &chosen], b"x");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in the spool"));
    assert_eq!(
        spool.names("retry"),
        [format!("{chosen}.0.{}", epoch * 1000)]
    );
}

#[test]
fn bad_times_and_conflicting_flags_are_usage_errors() {
    let spool = TempSpool::new();
    for args in [
        &["--at", "2026-12-01T18:30:00"][..],
        &["--at", "tomorrow"],
        &["--delay", "soon"],
        &["--at", "@5", "--delay", "1s"],
        &["--delay", "1s", "--count", "3"],
    ] {
        let out = produce(&spool, args, b"x");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    assert!(spool.names("new").is_empty() && spool.names("retry").is_empty());
}
