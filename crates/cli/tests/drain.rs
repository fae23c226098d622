//! Drain mode for on-demand starts: launchd's QueueDirectories and systemd's
//! DirectoryNotEmpty= start the daemon again for as long as new/ is not empty, so a drain
//! must leave it empty and lose nothing: valid jobs done, malformed files in failed/ with
//! a reason, jobs whose retry is not due left waiting in retry/ (outside the watched
//! folder), and stray names such as `.DS_Store` dealt with.

mod common;

use std::time::{Duration, SystemTime};

use common::{PATIENCE, SpawnDaemon, TempSpool};
use spoolq_spool::{EventKind, JobId, RetryName};

#[test]
fn drain_leaves_new_empty_and_loses_nothing() {
    let spool = TempSpool::new();
    let valid = spool.drop_jobs(5);

    // Malformed files: no header at all, and a header that lies about its id.
    std::fs::write(spool.folder("new").join("not-a-job.txt"), b"hello").unwrap();
    let liar = JobId::generate();
    let other = JobId::generate();
    std::fs::write(
        spool.folder("new").join(liar.to_string()),
        format!("spoolq-job 1\nid: {other}\ncreated: 2026-11-26T10:00:00Z\nlength: 0\n\n"),
    )
    .unwrap();

    // Jobs whose retry is due in an hour: moved from new/ to retry/ by hand, as the
    // daemon would have after a failed attempt.
    let mut waiting = Vec::new();
    for id in spool.drop_jobs(2) {
        let due = SystemTime::now() + Duration::from_secs(3600);
        let name = RetryName::new(id, 1, due).to_string();
        std::fs::rename(
            spool.folder("new").join(id.to_string()),
            spool.folder("retry").join(&name),
        )
        .unwrap();
        waiting.push(name);
    }

    // Finder's litter, old enough for the policy to apply.
    let ds_store = spool.folder("new").join(".DS_Store");
    std::fs::write(&ds_store, b"\0\0\0\x01Bud1").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&ds_store)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(600))
        .unwrap();

    let mut daemon = spool.daemon(
        &["--drain", "--workers", "2"],
        &["/bin/sh", "-c", "cat > /dev/null"],
    );
    let status = daemon.wait(PATIENCE);
    assert!(
        status.success(),
        "drain exit {status:?}; log:\n{}",
        daemon.log_text()
    );

    // new/ holds no job.
    let left: Vec<String> = spool
        .names("new")
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(
        left.is_empty(),
        "left in new/: {left:?}\n{}",
        daemon.log_text()
    );

    // Every valid job done exactly once.
    let done = spool.count_per_job(EventKind::Done);
    for id in &valid {
        assert_eq!(done.get(id), Some(&1), "job {id}: {done:?}");
    }

    // Malformed files in failed/, each with its reason; never deleted.
    let failed = spool.names("failed");
    for name in ["not-a-job.txt".to_owned(), liar.to_string()] {
        assert!(failed.contains(&name), "{name} in failed/: {failed:?}");
        assert!(
            failed.contains(&format!("{name}.reason.json")),
            "a reason beside {name}: {failed:?}"
        );
    }

    // Not-yet-due retries untouched, in retry/.
    assert_eq!(spool.names("retry"), {
        let mut w = waiting.clone();
        w.sort();
        w
    });

    // The hidden file.
    let hidden_left = spool.names("new").contains(&".DS_Store".to_owned());
    assert!(!hidden_left, "a stale .DS_Store must not stay in new/");
    // Moved to a visible name, so that `ls` and `spoolq status` count it.
    let moved = failed
        .iter()
        .find(|n| n.starts_with("DS_Store.hidden.") && !n.ends_with(".reason.json"))
        .unwrap_or_else(|| panic!("DS_Store.hidden.<ms> in failed/: {failed:?}"));
    assert!(
        failed.contains(&format!("{moved}.reason.json")),
        "{failed:?}"
    );

    // And `spoolq status` agrees.
    let out = common::spoolq()
        .args(["status", "--json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ready"], 0);
    assert_eq!(json["in_flight"], 0);
    assert_eq!(json["retry"]["waiting"], 2);
    assert_eq!(json["failed"], 3);
}
