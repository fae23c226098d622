//! `spoolq requeue`: dead jobs go from failed/ back to new/ under the claim's lock with a
//! fresh attempt count, journaled as `requeued`; quarantined files and ids already in the
//! spool are refused; the audit counts a job sent back as pending again, not dead.

mod common;

use std::process::Output;

use common::{PATIENCE, SpawnDaemon, TempSpool, spoolq};
use spoolq_spool::{EventKind, JobId};

fn requeue(spool: &TempSpool, args: &[&str]) -> Output {
    spoolq()
        .arg("requeue")
        .arg("--spool")
        .arg(spool.path())
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn audit(spool: &TempSpool) -> (Option<i32>, serde_json::Value) {
    let out = spoolq()
        .args(["audit", "--json", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    (out.status.code(), json(&out))
}

/// Runs a draining daemon with `handler` until it exits.
fn drain(spool: &TempSpool, handler: &str) {
    let mut daemon = spool.daemon(&["--drain", "--workers", "1"], &["sh", "-c", handler]);
    let status = daemon.wait(PATIENCE);
    assert!(status.success(), "{}", daemon.log_text());
}

#[test]
fn dead_jobs_go_back_to_new_run_again_from_attempt_one_and_audit_clean() {
    let spool = TempSpool::new();
    let jobs = spool.drop_jobs(2);
    // Not a job: quarantined by the daemon, refused by requeue.
    let junk = JobId::generate();
    std::fs::write(spool.folder("new").join(junk.to_string()), b"not a job\n").unwrap();
    drain(&spool, "cat > /dev/null; exit 100");
    let mut failed = spool.names("failed");
    failed.sort();
    assert_eq!(failed.len(), 6, "{failed:?}");

    // A dry run moves nothing.
    let dry = requeue(&spool, &["--all", "--dry-run", "--json"]);
    assert_eq!(dry.status.code(), Some(0), "{dry:?}");
    let report = json(&dry);
    assert_eq!(report["requeued"].as_array().unwrap().len(), 2);
    assert_eq!(report["left_in_failed"], 1);
    assert_eq!(spool.names("failed").len(), 6);
    assert!(spool.names("new").is_empty());

    // The quarantined file is refused by id, and left with its reason; an unknown id is
    // not found. Both exit 1.
    let refused = requeue(&spool, &["--json", &junk.to_string()]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let report = json(&refused);
    assert_eq!(report["refused"][0]["code"], "quarantined", "{report:#}");
    assert!(
        spool
            .names("failed")
            .contains(&format!("{junk}.reason.json"))
    );
    let unknown = requeue(&spool, &[&JobId::generate().to_string()]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stdout).contains("not found"));

    let all = requeue(&spool, &["--all"]);
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(text.contains("2 requeued, 0 refused"), "{text}");
    let mut new = spool.names("new");
    new.sort();
    let mut want: Vec<String> = jobs.iter().map(JobId::to_string).collect();
    want.sort();
    assert_eq!(new, want, "fresh names: no attempt count");
    // Their reason files went once they were in new/; the quarantined file stays.
    assert_eq!(
        spool.names("failed").len(),
        2,
        "{:?}",
        spool.names("failed")
    );
    let requeued = spool.events(EventKind::Requeued);
    assert_eq!(requeued.len(), 2);
    for record in &requeued {
        let spoolq_spool::Event::Requeued(r) = &record.event else {
            unreachable!()
        };
        assert_eq!(r.result, Some(spoolq_spool::RequeueCause::FromFailed));
        assert_eq!(r.attempt, 1);
    }

    // They run again from attempt 1.
    let attempts = spool.scratch().join("attempts");
    drain(
        &spool,
        &format!(
            "cat > /dev/null; echo \"$SPOOLQ_JOB_ATTEMPT\" >> {}",
            attempts.display()
        ),
    );
    assert_eq!(
        std::fs::read_to_string(&attempts).unwrap(),
        "1\n1\n",
        "a fresh attempt count"
    );
    let (code, report) = audit(&spool);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["counts"]["sent_back"], 2);
    assert_eq!(report["counts"]["dead"], 2);
    assert_eq!(report["counts"]["completed"], 2);
    assert_eq!(report["counts"]["lost"], 0);
    assert_eq!(report["duplicate_counts"]["after_completion"], 0);
    assert_eq!(report["duplicate_counts"]["redelivery"], 2);
}

#[test]
fn a_job_sent_back_is_pending_again_so_losing_it_is_found() {
    let spool = TempSpool::new();
    // Produced through the binary, so that its `produced` record is journaled.
    let produced = spoolq()
        .args(["produce", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let job: JobId = String::from_utf8_lossy(&produced.stdout)
        .trim()
        .parse()
        .unwrap();
    drain(&spool, "cat > /dev/null; exit 100");
    // Dead in failed/: not lost.
    let (code, report) = audit(&spool);
    assert_eq!(
        (code, report["counts"]["lost"].clone()),
        (Some(0), 0.into())
    );
    assert_eq!(requeue(&spool, &[&job.to_string()]).status.code(), Some(0));
    let (code, report) = audit(&spool);
    assert_eq!(
        (code, report["counts"]["pending"].clone()),
        (Some(0), 1.into())
    );
    // Removed by hand from new/: the audit no longer takes it for dead.
    std::fs::remove_file(spool.folder("new").join(job.to_string())).unwrap();
    let (code, report) = audit(&spool);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["lost_jobs"][0], job.to_string());
}

#[test]
fn an_id_already_in_the_spool_is_refused_and_the_job_stays_dead() {
    let spool = TempSpool::new();
    let job = spool.drop_job("x");
    drain(&spool, "cat > /dev/null; exit 100");
    // The same id produced again meanwhile.
    let again = spoolq()
        .args(["produce", "--id", &job.to_string(), "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    let out = requeue(&spool, &["--json", &job.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["refused"][0]["code"], "in_spool");
    // Buried under the name that counts the one attempt it started.
    assert!(spool.names("failed").contains(&format!("{job}.1")));
    assert!(
        spool
            .names("failed")
            .contains(&format!("{job}.1.reason.json"))
    );
    assert!(spool.events(EventKind::Requeued).is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let spool = TempSpool::new();
    for args in [
        &[][..],
        &["--all", "--reason", "no_such_reason"],
        &["not-an-id"],
    ] {
        let out = requeue(&spool, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    let help = spoolq().args(["requeue", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
}
