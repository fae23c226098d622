//! Journal retention through the binary: pruning a daemon's old journal makes no job look
//! lost (a job produced in the shared producer journal, which stays, and completed in
//! the removed file is not judged), while a job lost after the horizon is still found;
//! a running daemon's journal is never removed, however old, and a daemon prunes at start.

mod common;

use std::process::Output;
use std::time::{Duration, SystemTime};

use common::{PATIENCE, SpawnDaemon, TempSpool, spoolq, wait_until};
use spoolq_spool::JobId;

fn run(args: &[&str], spool: &TempSpool) -> Output {
    spoolq()
        .args(args)
        .arg("--spool")
        .arg(spool.path())
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn produce(spool: &TempSpool) -> JobId {
    let out = run(&["produce"], spool);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn journals(spool: &TempSpool, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(spool.folder("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn age(path: &std::path::Path, days: u64) {
    std::fs::File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

#[test]
fn pruning_a_journal_makes_no_job_look_lost_and_losses_after_it_are_still_found() {
    let spool = TempSpool::new();
    produce(&spool);
    let mut daemon = spool.daemon(&["--drain", "--workers", "1"], &[]);
    assert!(daemon.wait(PATIENCE).success(), "{}", daemon.log_text());
    let daemons = journals(&spool, "daemon-");
    assert_eq!(daemons.len(), 1);
    age(&daemons[0], 40);

    // The daemon's journal (which completed the job) goes; the producers' stays.
    let out = run(&["journal", "prune", "--json"], &spool);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = json(&out);
    assert_eq!(report["removed"].as_array().unwrap().len(), 1, "{report:#}");
    assert!(!daemons[0].exists());
    assert_eq!(journals(&spool, "producer-").len(), 1);

    // The job was produced before the horizon: not judged lost.
    let out = run(&["audit", "--json"], &spool);
    let audit = json(&out);
    assert_eq!(out.status.code(), Some(0), "{audit:#}");
    assert_eq!(audit["counts"]["lost"], 0);
    assert_eq!(audit["counts"]["before_horizon"], 1);
    assert!(
        audit["journal_window"]["pruned_before"].is_string(),
        "{audit:#}"
    );
    let human = String::from_utf8(run(&["audit"], &spool).stdout).unwrap();
    assert!(human.contains("were removed by retention"), "{human}");

    // A job produced after the horizon and then lost is still found (skew bound 0, so
    // that it need not wait a second to lie beyond it).
    let second = produce(&spool);
    std::fs::remove_file(spool.folder("new").join(second.to_string())).unwrap();
    let out = run(&["audit", "--json", "--max-clock-skew", "0s"], &spool);
    let audit = json(&out);
    assert_eq!(out.status.code(), Some(1), "{audit:#}");
    assert_eq!(audit["lost_jobs"], serde_json::json!([second.to_string()]));
}

#[test]
fn a_running_daemons_journal_is_never_pruned_and_a_daemon_prunes_at_start() {
    let spool = TempSpool::new();
    produce(&spool);
    let mut old = spool.daemon(&["--drain", "--workers", "1"], &[]);
    assert!(old.wait(PATIENCE).success());
    let stale = journals(&spool, "daemon-");
    assert_eq!(stale.len(), 1);

    // A long-running daemon whose size limit every other file is over: at start it
    // removes the stale daemon's journal and the idle producers' one, never its own.
    let mut daemon = spool.daemon(&["--workers", "1", "--journal-max-bytes", "1"], &[]);
    wait_until("the daemon pruned at start", PATIENCE, || {
        !stale[0].exists() && journals(&spool, "producer-").is_empty()
    });
    let own = journals(&spool, "daemon-");
    assert_eq!(own.len(), 1, "{own:?}");
    // Its own file, however old, stays: it still writes it.
    age(&own[0], 400);
    let out = run(&["journal", "prune", "--json"], &spool);
    let report = json(&out);
    assert!(report["kept_live"].as_u64().unwrap() >= 1, "{report:#}");
    assert!(own[0].exists());
    daemon.signal("TERM");
    assert!(daemon.wait(PATIENCE).success());
    let text = std::fs::read_to_string(&own[0]).unwrap();
    assert!(text.contains("\"event\":\"pruned\""), "{text}");
}

#[test]
fn prune_flags_are_checked_and_a_dry_run_removes_nothing() {
    let spool = TempSpool::new();
    let mut daemon = spool.daemon(&["--drain", "--workers", "1"], &[]);
    assert!(daemon.wait(PATIENCE).success());
    let old = journals(&spool, "daemon-");
    age(&old[0], 40);
    let out = run(&["journal", "prune", "--dry-run"], &spool);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("would remove 1 file(s)"), "{text}");
    assert!(old[0].exists());
    for args in [
        &["journal", "prune", "--max-age", "0s"][..],
        &["journal", "prune", "--max-bytes", "lots"],
        &["journal", "prune", "--max-bytes", "0"],
    ] {
        assert_eq!(run(args, &spool).status.code(), Some(2), "{args:?}");
    }
    let help = spoolq()
        .args(["journal", "prune", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
}

/// Producers appending to the shared journal at once: every record lands whole, one per
/// line, none lost or torn, and the audit counts each job once.
#[test]
fn concurrent_one_shot_producers_share_one_file_without_a_torn_line() {
    let spool = TempSpool::new();
    let children: Vec<_> = (0..6)
        .map(|_| {
            spoolq()
                .args(["produce", "--count", "40", "--sync", "never", "--spool"])
                .arg(spool.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let out = run(&["audit", "--json"], &spool);
    let audit = json(&out);
    assert_eq!(audit["counts"]["produced"], 240, "{audit:#}");
    assert_eq!(audit["problem_count"], 0, "{audit:#}");
    assert_eq!(audit["counts"]["pending"], 240);
    if spoolq_os::boot_id().is_ok() {
        assert_eq!(journals(&spool, "producer-").len(), 1);
    }
}
