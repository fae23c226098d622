//! The auditor on hand-built journals: real JSON-lines files in temp folders, one per
//! process, as the writer makes them (each file in monotonic order).

use std::io::Write;
use std::path::{Path, PathBuf};

use spoolq_auditor::{
    AuditInput, ClaimEnd, DuplicateClass, Finding, audit, render_report, render_timeline, timeline,
    timeline_svg,
};
use spoolq_claim::{Step, Strategy};
use spoolq_spool::journal::{
    ClaimStep, Claimed, Dead, Done, Produced, Requeued, Retry, Role, Start, WhyUnknown,
};
use spoolq_spool::{
    CreateOptions, DeadCause, DoneResult, Errno, Event, EventKind, JobId, ProblemKind, ReadyName,
    Record, RetryName, Spool,
};

/// A journal file being written by hand.
struct Journal {
    path: PathBuf,
    host: &'static str,
    pid: u32,
    lines: Vec<String>,
}

impl Journal {
    fn new(dir: &Path, role: &str, pid: u32) -> Journal {
        Journal {
            path: dir.join(format!("{role}-testhost-{pid}-0-0000.jsonl")),
            host: "testhost",
            pid,
            lines: Vec::new(),
        }
    }

    fn record(&mut self, mono_ns: u64, mut record: Record) -> &mut Journal {
        record.mono_ns = mono_ns;
        record.host = self.host.to_owned();
        record.pid = self.pid;
        record.wall = format!("2026-11-26T22:00:00.{mono_ns:06}Z");
        self.lines.push(serde_json::to_string(&record).unwrap());
        self
    }

    fn ev(&mut self, mono_ns: u64, kind: EventKind, job: JobId, worker: u32) -> &mut Journal {
        self.record(mono_ns, Record::new(event(kind, job, worker)))
    }

    fn produced(&mut self, mono_ns: u64, job: JobId) -> &mut Journal {
        self.record(mono_ns, Record::new(Produced { job }))
    }

    fn step(
        &mut self,
        mono_ns: u64,
        job: JobId,
        step: Step,
        result: Result<(), Errno>,
    ) -> &mut Journal {
        let step = ClaimStep {
            job: Some(job),
            worker: 0,
            strategy: Strategy::Naive,
            name: job.to_string(),
            step,
            result,
        };
        self.record(mono_ns, Record::new(step))
    }

    fn raw(&mut self, line: &str) -> &mut Journal {
        self.lines.push(line.to_owned());
        self
    }

    fn write(&self) {
        let mut text = self.lines.join("\n");
        text.push('\n');
        std::fs::write(&self.path, text).unwrap();
    }
}

/// A naive daemon's record of `kind` for `job`: the first attempt, under the job's name,
/// with the plain result of its kind.
fn event(kind: EventKind, job: JobId, worker: u32) -> Event {
    let (strategy, attempt, name) = (Strategy::Naive, 1, job.to_string());
    match kind {
        EventKind::Claimed => Claimed {
            job,
            worker,
            strategy,
            attempt,
            name,
            ino: None,
            btime_ns: None,
        }
        .into(),
        EventKind::Done => done(job, worker, DoneResult::Ok),
        EventKind::Retry => Retry {
            job,
            worker,
            strategy,
            attempt,
            name: format!("{name}.1.1796161361587"),
            exit: Some(75),
            signal: None,
            detail: "exit 75".into(),
            outcome_ns: None,
        }
        .into(),
        EventKind::Dead => Dead {
            job,
            worker,
            strategy,
            attempt,
            name,
            result: DeadCause::PermanentFailure,
            exit: Some(100),
            signal: None,
            detail: "permanent failure".into(),
            outcome_ns: None,
        }
        .into(),
        other => panic!("no plain {other} record"),
    }
}

fn done(job: JobId, worker: u32, result: DoneResult) -> Event {
    Done {
        job,
        worker,
        strategy: Strategy::Naive,
        attempt: 1,
        name: job.to_string(),
        result,
        exit: Some(0),
        signal: None,
        detail: None,
        outcome_ns: None,
    }
    .into()
}

fn id(n: u128) -> JobId {
    JobId(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
    ))
}

fn journals_only(dir: &Path) -> AuditInput {
    AuditInput {
        spool: None,
        journals: vec![dir.to_owned()],
        ..AuditInput::default()
    }
}

fn json(report: &spoolq_auditor::Report) -> serde_json::Value {
    serde_json::to_value(report).unwrap()
}

/// The seed's interleaving (the race of docs/protocol.md), as two daemons journaled it
/// with claim tracing: B opens the job while A holds it, A completes and closes, B's
/// lock succeeds and B processes the job again; B's unlink fails with ENOENT.
fn seed_interleaving(dir: &Path, job: JobId) {
    let mut producer = Journal::new(dir, "producer", 100);
    producer.produced(50, job).write();
    let mut a = Journal::new(dir, "daemon", 101);
    a.step(90, job, Step::AfterOpen, Ok(()))
        .step(95, job, Step::AfterLock, Ok(()))
        .ev(100, EventKind::Claimed, job, 0)
        .step(190, job, Step::AfterComplete, Ok(()))
        .step(195, job, Step::AfterClose, Ok(()))
        .record(200, Record::new(done(job, 0, DoneResult::Ok)))
        .write();
    let mut b = Journal::new(dir, "daemon", 102);
    b.step(150, job, Step::AfterOpen, Ok(()))
        .step(198, job, Step::AfterLock, Ok(()))
        .ev(199, EventKind::Claimed, job, 0)
        .record(400, Record::new(done(job, 0, DoneResult::Enoent)))
        .write();
}

#[test]
fn clean_run_has_no_duplicates_and_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (j1, j2) = (id(1), id(2));
    let mut p = Journal::new(dir.path(), "producer", 10);
    p.produced(10, j1).produced(20, j2).write();
    let mut d = Journal::new(dir.path(), "daemon", 11);
    d.ev(30, EventKind::Claimed, j1, 0)
        .ev(40, EventKind::Claimed, j2, 1)
        .ev(1_000_030, EventKind::Done, j1, 0)
        .ev(2_000_040, EventKind::Done, j2, 1)
        .write();
    let report = audit(&journals_only(dir.path())).unwrap();
    assert_eq!(report.counts.produced, 2);
    assert_eq!(report.counts.claimed, 2);
    assert_eq!(report.counts.completed, 2);
    assert_eq!(report.counts.pending, None);
    assert_eq!(report.counts.lost, None);
    assert!(report.duplicates.is_empty());
    assert_eq!(report.events, 6);
    assert_eq!(report.jobs, 2);
    assert!(report.findings(&Finding::DEFAULT).is_empty());
    let l = report.latency.claimed_to_outcome.unwrap();
    assert_eq!((l.samples, l.p50_ns, l.max_ns), (2, 1_000_000, 2_000_000));
    let l = report.latency.produced_to_claimed.unwrap();
    assert_eq!((l.samples, l.p50_ns, l.max_ns), (2, 20, 20));
    assert_eq!(report.processes.len(), 2);
    // Read one journal after another: the daemon's file, then the producer's.
    assert_eq!(report.processes[0].role, Some(Role::Daemon));
    assert_eq!(report.processes[0].completed, 2);
    assert_eq!(report.processes[1].role, Some(Role::Producer));

    let text = render_report(&report);
    assert!(
        text.contains("pending              unknown (no spool given)"),
        "{text}"
    );
    assert!(text.contains("journal problems: none"), "{text}");
    let v = json(&report);
    assert_eq!(v["counts"]["completed"], 2);
    assert_eq!(v["counts"]["lost"], serde_json::Value::Null);
}

#[test]
fn seed_interleaving_is_one_after_completion_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let job = id(7);
    seed_interleaving(dir.path(), job);
    let report = audit(&journals_only(dir.path())).unwrap();
    assert_eq!(report.duplicate_counts.after_completion, 1);
    assert_eq!(report.duplicate_counts.concurrent, 0);
    assert_eq!(report.duplicate_counts.redelivery, 0);
    assert_eq!(report.counts.completed, 2);
    assert_eq!(report.duplicates.len(), 1);
    let dup = &report.duplicates[0];
    assert_eq!((dup.job, dup.class), (job, DuplicateClass::AfterCompletion));
    assert_eq!(dup.claims.len(), 2);
    assert_eq!(dup.flagged, vec![1]);
    assert_eq!(dup.claims[0].process, "testhost:101");
    assert_eq!(dup.claims[0].released_mono_ns, Some(195));
    assert_eq!(dup.claims[1].process, "testhost:102");
    assert_eq!(
        dup.claims[1].outcome,
        Some(ClaimEnd::Done(DoneResult::Enoent))
    );
    assert_eq!(
        report.findings(&Finding::DEFAULT),
        vec![Finding::AfterCompletion]
    );

    let text = render_report(&report);
    assert!(
        text.contains(&format!("after completion job {job}")),
        "{text}"
    );
    assert!(text.contains("<- after completion"), "{text}");
    assert!(text.contains("done (enoent)"), "{text}");
    let v = json(&report);
    assert_eq!(v["duplicate_counts"]["after_completion"], 1);
    assert_eq!(v["duplicates"][0]["class"], "after-completion");
    assert_eq!(v["duplicates"][0]["claims"][1]["process"], "testhost:102");
    assert_eq!(v["duplicates"][0]["claims"][0]["outcome"], "done");

    // The timeline: every record of the job, in monotonic order, from the 3 processes.
    let tl = timeline(&[dir.path().to_owned()], job).unwrap();
    let times: Vec<u64> = tl.events.iter().map(|e| e.record.mono_ns).collect();
    assert_eq!(
        times,
        vec![50, 90, 95, 100, 150, 190, 195, 198, 199, 200, 400]
    );
    assert_eq!(tl.processes.len(), 3);
    assert_eq!(tl.flag_of(1), Some(DuplicateClass::AfterCompletion));
    let text = render_timeline(&tl);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[2].contains("produced"), "{text}");
    assert!(
        lines[6].contains("testhost:102") && lines[6].contains("step open"),
        "{text}"
    );
    assert!(
        text.contains("AFTER COMPLETION: the claim by testhost:102 w0"),
        "{text}"
    );

    // The SVG parses as XML and has one lane per process, with the duplicate labelled.
    let svg = timeline_svg(&tl);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let lanes = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .count();
    assert_eq!(lanes, 3);
    let bars = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("claim"))
        .count();
    assert_eq!(bars, 2);
    assert!(
        doc.descendants()
            .any(|n| n.text() == Some("AFTER COMPLETION"))
    );
}

#[test]
fn overlapping_claims_are_concurrent() {
    let dir = tempfile::tempdir().unwrap();
    let job = id(3);
    Journal::new(dir.path(), "daemon", 1)
        .ev(100, EventKind::Claimed, job, 0)
        .ev(300, EventKind::Done, job, 0)
        .write();
    Journal::new(dir.path(), "daemon", 2)
        .ev(200, EventKind::Claimed, job, 4)
        .ev(400, EventKind::Done, job, 4)
        .write();
    let report = audit(&journals_only(dir.path())).unwrap();
    assert_eq!(report.duplicate_counts.concurrent, 1);
    assert_eq!(report.duplicate_counts.after_completion, 0);
    assert_eq!(report.duplicates[0].claims[1].worker, 4);
    assert_eq!(report.duplicates[0].claims[1].strategy, Strategy::Naive);
    assert_eq!(report.duplicates[0].claims[0].end_mono_ns, Some(300));
    assert_eq!(
        report.findings(&Finding::DEFAULT),
        vec![Finding::Concurrent]
    );
    assert!(render_report(&report).contains("<- concurrent"));
    assert_eq!(json(&report)["duplicates"][0]["class"], "concurrent");
}

#[test]
fn retry_and_died_claims_are_redelivery_not_violations() {
    let dir = tempfile::tempdir().unwrap();
    let (retried, died) = (id(4), id(5));
    Journal::new(dir.path(), "daemon", 1)
        .record(
            5,
            Record::new(Start {
                strategy: Strategy::Naive,
                detail: "workers=2 drain=false".into(),
            }),
        )
        .ev(100, EventKind::Claimed, retried, 0)
        .ev(200, EventKind::Retry, retried, 0)
        .ev(210, EventKind::Claimed, died, 1)
        .write(); // then the process died: no outcome for `died`
    Journal::new(dir.path(), "daemon", 2)
        .record(
            250,
            Record::new(Requeued {
                job: retried,
                worker: 0,
                strategy: Strategy::Naive,
                attempt: 2,
                name: format!("{retried}.1"),
                result: None,
            }),
        )
        .ev(300, EventKind::Claimed, retried, 0)
        .ev(400, EventKind::Done, retried, 0)
        .ev(500, EventKind::Claimed, died, 0)
        .ev(600, EventKind::Done, died, 0)
        .write();
    let report = audit(&journals_only(dir.path())).unwrap();
    assert_eq!(report.duplicate_counts.redelivery, 2);
    assert_eq!(report.duplicate_counts.concurrent, 0);
    assert_eq!(report.duplicate_counts.after_completion, 0);
    assert_eq!(report.unfinished_claims, 1);
    assert_eq!(report.counts.retried, 1);
    assert_eq!(report.counts.claimed, 4);
    assert!(report.findings(&Finding::DEFAULT).is_empty());
    assert_eq!(
        report.findings(&[Finding::Redelivery]),
        vec![Finding::Redelivery]
    );
    let text = render_report(&report);
    assert!(
        text.contains("no outcome (process died or still running)"),
        "{text}"
    );
    assert!(text.contains("redelivery                    2"), "{text}");
}

#[test]
fn three_claims_after_completion_are_one_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let job = id(6);
    Journal::new(dir.path(), "daemon", 1)
        .ev(100, EventKind::Claimed, job, 0)
        .ev(200, EventKind::Done, job, 0)
        .ev(300, EventKind::Claimed, job, 0)
        .ev(400, EventKind::Done, job, 0)
        .write();
    Journal::new(dir.path(), "daemon", 2)
        .ev(500, EventKind::Claimed, job, 0)
        .ev(600, EventKind::Done, job, 0)
        .write();
    let report = audit(&journals_only(dir.path())).unwrap();
    assert_eq!(report.duplicate_counts.after_completion, 1);
    assert_eq!(report.duplicates.len(), 1);
    assert_eq!(report.duplicates[0].claims.len(), 3);
    assert_eq!(report.duplicates[0].flagged, vec![1, 2]);
}

#[test]
fn lost_pending_and_dead_with_a_spool() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::create(&dir.path().join("spool"), CreateOptions::default()).unwrap();
    let (pending, retrying, lost, dead, done) = (id(10), id(11), id(12), id(13), id(14));
    std::fs::write(
        spool
            .new_dir()
            .path()
            .join(ReadyName::new(pending, 0).to_string()),
        b"x",
    )
    .unwrap();
    std::fs::write(
        spool
            .retry()
            .path()
            .join(RetryName::new(retrying, 1, std::time::SystemTime::now()).to_string()),
        b"x",
    )
    .unwrap();
    let journal = spool.journal().path().to_owned();
    let mut p = Journal::new(&journal, "producer", 1);
    for (t, job) in [(1, pending), (2, retrying), (3, lost), (4, dead), (5, done)] {
        p.produced(t, job);
    }
    p.write();
    Journal::new(&journal, "daemon", 2)
        .ev(10, EventKind::Claimed, retrying, 0)
        .ev(11, EventKind::Retry, retrying, 0)
        .ev(20, EventKind::Claimed, dead, 0)
        .ev(21, EventKind::Dead, dead, 0)
        .ev(30, EventKind::Claimed, done, 0)
        .ev(31, EventKind::Done, done, 0)
        .write();
    let input = AuditInput {
        spool: Some(spool.path().to_owned()),
        journals: vec![],
        ..AuditInput::default()
    };
    let report = audit(&input).unwrap();
    assert_eq!(report.counts.produced, 5);
    assert_eq!(report.counts.pending, Some(2));
    assert_eq!(report.counts.lost, Some(1));
    assert_eq!(report.counts.dead, 1);
    assert_eq!(report.counts.retried, 1);
    assert_eq!(report.counts.completed, 1);
    assert_eq!(report.lost_jobs, vec![lost]);
    assert_eq!(report.findings(&Finding::DEFAULT), vec![Finding::Lost]);
    let text = render_report(&report);
    assert!(text.contains("lost jobs (produced, never completed, not in the spool)"));
    assert!(text.contains(&format!("  {lost}")));
    assert!(text.contains("pending                       2"), "{text}");
    let v = json(&report);
    assert_eq!(v["counts"]["lost"], 1);
    assert_eq!(v["counts"]["pending"], 2);
    assert_eq!(v["lost_jobs"][0], lost.to_string());

    // The same journals without the spool: pending and lost are unknown, not guessed.
    let report = audit(&journals_only(&journal)).unwrap();
    assert_eq!((report.counts.pending, report.counts.lost), (None, None));
    assert!(report.findings(&Finding::DEFAULT).is_empty());
}

/// A process that dies right after completing (or burying) a job leaves a claim without
/// outcome and no file: that is unconfirmed, not lost. A job sitting in failed/ without
/// a `dead` record is not lost either. A job that vanished after a journaled retry is.
#[test]
fn died_after_completing_is_unconfirmed_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::create(&dir.path().join("spool"), CreateOptions::default()).unwrap();
    let (died_after_unlink, buried_unjournaled, vanished) = (id(20), id(21), id(22));
    std::fs::write(
        spool
            .failed()
            .path()
            .join(format!("{buried_unjournaled}.1")),
        b"x",
    )
    .unwrap();
    let journal = spool.journal().path().to_owned();
    let mut p = Journal::new(&journal, "producer", 1);
    for (t, job) in [
        (1, died_after_unlink),
        (2, buried_unjournaled),
        (3, vanished),
    ] {
        p.produced(t, job);
    }
    p.write();
    Journal::new(&journal, "daemon", 2)
        .ev(10, EventKind::Claimed, died_after_unlink, 0)
        .ev(11, EventKind::Claimed, buried_unjournaled, 1)
        .ev(12, EventKind::Claimed, vanished, 0)
        .ev(13, EventKind::Retry, vanished, 0)
        .write();
    let report = audit(&AuditInput {
        spool: Some(spool.path().to_owned()),
        journals: vec![],
        ..AuditInput::default()
    })
    .unwrap();
    assert_eq!(report.counts.unconfirmed, Some(1));
    assert_eq!(report.unconfirmed_jobs, vec![died_after_unlink]);
    assert_eq!(report.counts.lost, Some(1));
    assert_eq!(report.lost_jobs, vec![vanished]);
    let text = render_report(&report);
    assert!(text.contains("unconfirmed"), "{text}");
    assert_eq!(json(&report)["counts"]["unconfirmed"], 1);
}

/// A claim that left its job's name alone because it no longer named the claimed file
/// (`released` with `name_changed`) did not lose the job: its file left the spool by
/// another hand. A job a daemon gave up on (`stuck`) is counted once however often it is
/// journaled, and is not lost while it is still in new/; a second claim of a file after
/// a name was left alone is a redelivery, not a duplicate.
#[test]
fn a_name_left_alone_and_a_stuck_job_are_not_lost_and_not_duplicates() {
    use spoolq_spool::ReleaseCause;
    use spoolq_spool::journal::{Released, Stuck};
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::create(&dir.path().join("spool"), CreateOptions::default()).unwrap();
    let (replaced, stuck, moved) = (id(30), id(31), id(32));
    std::fs::write(spool.new_dir().path().join(stuck.to_string()), b"x").unwrap();
    let journal = spool.journal().path().to_owned();
    let mut p = Journal::new(&journal, "producer", 1);
    for (t, job) in [(1, replaced), (2, stuck), (3, moved)] {
        p.produced(t, job);
    }
    p.write();
    let released = |job: JobId, result: ReleaseCause| Released {
        job,
        worker: 1,
        strategy: Strategy::Verified,
        attempt: 1,
        name: Some(job.to_string()),
        result,
        exit: Some(0),
        signal: None,
        detail: "the name now names another file".into(),
        outcome_ns: None,
    };
    let stuck_record = Stuck {
        job: stuck,
        worker: 1,
        strategy: Strategy::Verified,
        attempt: 1,
        name: stuck.to_string(),
        result: ReleaseCause::CompleteFailed,
        detail: "removing it failed 3 times".into(),
    };
    let mut d = Journal::new(&journal, "daemon", 2);
    d.ev(10, EventKind::Claimed, replaced, 1)
        .record(
            11,
            Record::new(released(replaced, ReleaseCause::NameChanged)),
        )
        .ev(12, EventKind::Claimed, moved, 1)
        .record(13, Record::new(released(moved, ReleaseCause::NameChanged)))
        // The file was moved to another name in new/ by hand, claimed again and done.
        .ev(14, EventKind::Claimed, moved, 1)
        .ev(15, EventKind::Done, moved, 1);
    for t in [16, 18, 20] {
        d.ev(t, EventKind::Claimed, stuck, 1).record(
            t + 1,
            Record::new(released(stuck, ReleaseCause::CompleteFailed)),
        );
    }
    d.record(22, Record::new(stuck_record.clone()))
        .record(23, Record::new(stuck_record));
    d.write();
    let report = audit(&AuditInput {
        spool: Some(spool.path().to_owned()),
        ..AuditInput::default()
    })
    .unwrap();
    assert_eq!(report.counts.lost, Some(0), "{:?}", report.lost_jobs);
    assert_eq!(report.counts.left_alone, 2);
    assert_eq!(report.counts.stuck, 1);
    assert_eq!(report.duplicate_counts.after_completion, 0);
    assert_eq!(report.duplicate_counts.concurrent, 0);
    assert_eq!(report.duplicate_counts.redelivery, 2);
    let text = render_report(&report);
    assert!(text.contains("names left alone"), "{text}");
    assert!(text.contains("stuck"), "{text}");
    assert_eq!(json(&report)["counts"]["left_alone"], 2);
    assert_eq!(json(&report)["counts"]["stuck"], 1);
}

#[test]
fn torn_and_malformed_lines_are_reported_and_newer_ones_kept_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let job = id(20);
    let newer = r#"{"v":99,"event":"done","mono_ns":15,"wall":"x","host":"h","pid":1}"#;
    let new_event = r#"{"v":1,"event":"teleported","mono_ns":16,"wall":"x","host":"h","pid":1}"#;
    let new_step = format!(
        r#"{{"v":1,"event":"step","mono_ns":17,"wall":"x","host":"h","pid":1,"job":"{job}","worker":0,"strategy":"naive","name":"{job}","step":"fence","result":"ok"}}"#
    );
    let mut j = Journal::new(dir.path(), "daemon", 1);
    j.ev(10, EventKind::Claimed, job, 0)
        .raw("{this is not json}")
        .raw(newer)
        .raw(new_event)
        .raw(&new_step)
        .ev(20, EventKind::Done, job, 0);
    j.write();
    // A torn last line: a crash mid-write leaves no newline.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&j.path)
        .unwrap();
    f.write_all(br#"{"v":1,"event":"claimed","mono_ns":30,"wa"#)
        .unwrap();
    drop(f);
    let report = audit(&journals_only(dir.path())).unwrap();
    assert_eq!(report.counts.claimed, 1);
    assert_eq!(report.counts.completed, 1);
    assert_eq!(report.problems.len(), 2);
    let kinds: Vec<(u64, &ProblemKind)> =
        report.problems.iter().map(|p| (p.line, &p.kind)).collect();
    assert!(matches!(kinds[0], (2, ProblemKind::Malformed(_))));
    assert_eq!(kinds[1], (7, &ProblemKind::Torn));
    assert!(report.problems.iter().all(|p| p.file == j.path));
    // Records from newer writers: kept whole, with file and line, counted apart.
    let kept: Vec<(u64, u32, &str, &WhyUnknown, &str)> = report
        .unknown_records
        .iter()
        .map(|u| {
            (
                u.line,
                u.record.v,
                u.record.event.as_str(),
                &u.record.why,
                u.record.raw.as_str(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (3, 99, "done", &WhyUnknown::Version { v: 99 }, newer),
            (
                4,
                1,
                "teleported",
                &WhyUnknown::Event {
                    event: "teleported".into()
                },
                new_event
            ),
            (
                5,
                1,
                "step",
                &WhyUnknown::Word {
                    key: "step",
                    word: "fence".into()
                },
                new_step.as_str()
            ),
        ]
    );
    assert!(report.unknown_records.iter().all(|u| u.file == j.path));
    let text = render_report(&report);
    assert!(text.contains("journal problems (2)"), "{text}");
    assert!(text.contains(":7: torn last line"), "{text}");
    assert!(
        text.contains("records from a newer writer, kept unread (3)"),
        "{text}"
    );
    assert!(text.contains(r#"v99 "done""#), "{text}");
    assert!(text.contains(":5: a record from a newer writer"), "{text}");
    let v = json(&report);
    assert_eq!(v["problems"][1]["kind"]["kind"], "torn");
    assert_eq!(v["problems"][1]["line"], 7);
    assert_eq!(v["unknown_records"][0]["line"], 3);
    assert_eq!(v["unknown_records"][0]["record"]["raw"], newer);
    assert_eq!(v["unknown_records"][2]["record"]["why"]["word"], "fence");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        audit(&AuditInput::default()),
        Err(spoolq_auditor::AuditError::NoInput)
    ));
    let missing = AuditInput {
        spool: Some(dir.path().join("nope")),
        journals: vec![],
        ..AuditInput::default()
    };
    let e = audit(&missing).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let e = audit(&journals_only(&dir.path().join("absent.jsonl"))).unwrap_err();
    assert!(matches!(
        e,
        spoolq_auditor::AuditError::JournalNotFound { .. }
    ));
    // A job nobody journaled: an empty timeline, not an error.
    let tl = timeline(&[dir.path().to_owned()], id(99)).unwrap();
    assert!(tl.events.is_empty());
    assert!(roxmltree::Document::parse(&timeline_svg(&tl)).is_ok());
    assert!(render_timeline(&tl).contains("no journal record names this job"));
}
