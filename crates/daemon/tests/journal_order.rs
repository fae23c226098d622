//! The built-in handler journals a batch of jobs in two writes (all `claimed` records,
//! then all `done` records): the journal keeps its order per job, read in file order,
//! not re-sorted by time.

mod common;

use std::collections::HashMap;

use common::*;
use spoolq_spool::journal::{self, Claimed, Done, parse_line};
use spoolq_spool::{DoneResult, Event, JobId, Record};

/// Every record of the spool's one journal file, in file order.
fn journal_in_file_order(spool: &TempSpool) -> Vec<Record> {
    let files = journal::journal_files(&[spool.folder("journal")]).unwrap();
    assert_eq!(files.len(), 1, "one daemon, no rotation: {files:?}");
    let text = std::fs::read(&files[0]).unwrap();
    assert!(text.ends_with(b"\n"), "the journal ends with a whole line");
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            parse_line(line, true)
                .unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(line)))
                .expect("no blank lines")
                .into_record()
                .expect("a record spoolq wrote")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_is_claimed_before_it_is_done_once_in_journal_file_order() {
    const JOBS: usize = 200;
    let spool = TempSpool::new();
    let ids = spool.drop_jobs(JOBS);
    let summary = drain(spool.config()).await;
    assert_eq!(summary.claimed, JOBS as u64);
    assert_eq!(summary.completed, JOBS as u64);
    assert_eq!(summary.released, 0);
    assert!(spool.names("new").is_empty());

    let records = journal_in_file_order(&spool);
    assert!(
        records.windows(2).all(|w| w[0].mono_ns <= w[1].mono_ns),
        "a journal file is in monotonic order"
    );
    // Line numbers of each job's claimed and done records.
    let mut claimed: HashMap<JobId, Vec<(usize, u64, &Claimed)>> = HashMap::new();
    let mut done: HashMap<JobId, Vec<(usize, u64, &Done)>> = HashMap::new();
    for (line, r) in records.iter().enumerate() {
        let Some(id) = r.job() else { continue };
        match &r.event {
            Event::Claimed(c) => claimed.entry(id).or_default().push((line, r.mono_ns, c)),
            Event::Done(d) => done.entry(id).or_default().push((line, r.mono_ns, d)),
            other => panic!("unexpected {other:?} record for job {id}"),
        }
    }
    assert_eq!(claimed.len(), JOBS);
    assert_eq!(done.len(), JOBS);
    for id in &ids {
        let [(c_line, c_mono, c)] = claimed[id][..] else {
            panic!("job {id}: claimed {:?}", claimed[id]);
        };
        let [(d_line, d_mono, d)] = done[id][..] else {
            panic!("job {id}: done {:?}", done[id]);
        };
        assert!(
            c_line < d_line,
            "job {id}: claimed on line {c_line}, done on {d_line}"
        );
        assert!(c_mono < d_mono);
        // The same attempt, by the same worker, and the done record as before.
        assert_eq!((c.attempt, c.worker), (1, d.worker));
        assert_eq!(d.attempt, 1);
        assert_eq!(d.result, DoneResult::Ok);
        assert_eq!(d.exit, Some(0));
        assert_eq!(c.name, id.to_string());
        assert_eq!(d.name, c.name);
    }
}

/// The evidence the auditor reads off a claim and its outcome, from a real run with
/// claim tracing: every `claimed` record names the file it holds (its inode and birth
/// time, as the dropped file had them), and every outcome's `outcome_ns` was read while
/// the lock was held: after the claim, before the `close` step the step hook journals as
/// the lock is let go, so before the outcome record too. Both handler paths: the batched
/// built-in handler, and a command that fails the first attempt (a retry, then done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_stamped_under_the_lock_and_claims_name_their_file() {
    use std::os::unix::fs::MetadataExt;
    for command in [None, sh(r#"[ "$SPOOLQ_JOB_ATTEMPT" -ge 2 ]"#)] {
        let retried = command.is_some();
        let spool = TempSpool::new();
        let ids = spool.drop_jobs(if retried { 6 } else { 100 });
        let files: HashMap<JobId, (u64, Option<u64>)> = ids
            .iter()
            .map(|id| {
                let meta = std::fs::metadata(spool.folder("new").join(id.to_string())).unwrap();
                let born = meta.created().ok().map(|t| {
                    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap();
                    u64::try_from(since.as_nanos()).unwrap()
                });
                (*id, (meta.ino(), born))
            })
            .collect();
        let mut config = spool.config();
        config.trace_claims = true;
        config.command = command;
        // A draining daemon would exit while the failed attempts wait out their backoff
        // in retry/: run until every job's done record is journaled.
        let daemon = Running::start(config);
        wait_until("every job done", PATIENCE, || {
            spool.events(spoolq_spool::EventKind::Done).len() == ids.len()
        })
        .await;
        let summary = daemon.stop().await;
        assert_eq!(summary.completed, ids.len() as u64);

        let records = journal_in_file_order(&spool);
        let boot = spoolq_os::boot_id().unwrap();
        assert!(records.iter().all(|r| r.boot.as_deref() == Some(&boot)));
        let mut outcomes = 0;
        for (i, r) in records.iter().enumerate() {
            let Some(outcome_ns) = r.event.outcome_ns() else {
                assert!(
                    !matches!(r.event, Event::Done(_) | Event::Retry(_)),
                    "an outcome without outcome_ns: {r:?}"
                );
                continue;
            };
            let (job, worker) = (r.job().unwrap(), r.event.worker().unwrap());
            let claimed = records[..i]
                .iter()
                .rev()
                .find(
                    |c| matches!(&c.event, Event::Claimed(e) if e.job == job && e.worker == worker),
                )
                .expect("a claim before its outcome");
            let Event::Claimed(claim) = &claimed.event else {
                unreachable!()
            };
            assert_eq!(
                (claim.ino, claim.btime_ns),
                (Some(files[&job].0), files[&job].1)
            );
            let close = records[..i]
                .iter()
                .rev()
                .find(|s| {
                    matches!(&s.event, Event::Step(step)
                        if step.job == Some(job) && step.worker == worker
                            && step.step == spoolq_claim::Step::AfterClose)
                })
                .expect("the close step of the claim, journaled before its outcome");
            assert!(claimed.mono_ns < outcome_ns, "{claimed:?} {r:?}");
            assert!(outcome_ns < close.mono_ns, "{r:?} stamped after {close:?}");
            assert!(close.mono_ns <= r.mono_ns);
            outcomes += 1;
        }
        let expected = if retried { 2 * ids.len() } else { ids.len() };
        assert_eq!(outcomes, expected, "every outcome checked");
    }
}
