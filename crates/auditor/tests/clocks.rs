//! Verdicts that hold across boots and hosts, on hand-written journals: a reboot and a
//! second host cannot be staged in a test, so their journals are written here as the
//! writer writes them (one file per process, each in its own monotonic order, every
//! record naming its host and boot), with monotonic clocks that restart at boot and do
//! not agree between hosts. Each verdict must rest on evidence that needs no shared
//! clock, or on wall clocks beyond the skew bound, or say that nothing orders the claims.

use std::path::{Path, PathBuf};
use std::time::Duration;

use spoolq_auditor::{
    AuditInput, DuplicateClass, Finding, OrderingBasis, Report, audit, render_report,
    render_timeline, timeline, timeline_svg,
};
use spoolq_claim::Strategy;
use spoolq_spool::journal::{Claimed, Done, Produced, Retry};
use spoolq_spool::{DoneResult, Event, JobId, Record};

const BOOT_1: &str = "11111111-1111-4111-8111-111111111111";
const BOOT_2: &str = "22222222-2222-4222-8222-222222222222";
const BOOT_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

/// 2026-12-02T10:00:00Z in nanoseconds since the epoch.
const T0: i64 = 1_796_205_600_000_000_000;
const SECOND: u64 = 1_000_000_000;

/// One process's journal: its host, boot (None: a journal that predates boot ids), pid,
/// and the wall clock its boot's monotonic zero corresponds to.
struct Journal {
    path: PathBuf,
    host: &'static str,
    boot: Option<&'static str>,
    pid: u32,
    /// Wall-clock nanoseconds at monotonic zero.
    wall_at_zero: i64,
    lines: Vec<String>,
}

impl Journal {
    fn new(
        dir: &Path,
        role: &str,
        host: &'static str,
        boot: Option<&'static str>,
        pid: u32,
        wall_at_zero: i64,
    ) -> Journal {
        // The writer names a file after its process's start, which tells apart two
        // processes of one pid in different boots.
        let start_ms = wall_at_zero.max(0) / 1_000_000;
        Journal {
            path: dir.join(format!("{role}-{host}-{pid}-{start_ms}-0000.jsonl")),
            host,
            boot,
            pid,
            wall_at_zero,
            lines: Vec::new(),
        }
    }

    fn record(&mut self, mono_ns: u64, event: impl Into<Event>) -> &mut Journal {
        let mut record = Record::new(event);
        record.mono_ns = mono_ns;
        record.host = self.host.to_owned();
        record.boot = self.boot.map(str::to_owned);
        record.pid = self.pid;
        let wall = self.wall_at_zero + mono_ns as i64;
        let t = std::time::UNIX_EPOCH + Duration::from_nanos(wall as u64);
        record.wall = humantime::format_rfc3339_micros(t).to_string();
        self.lines.push(serde_json::to_string(&record).unwrap());
        self
    }

    fn claimed(&mut self, mono_ns: u64, job: JobId, claim: Claim) -> &mut Journal {
        self.record(
            mono_ns,
            Claimed {
                job,
                worker: claim.worker,
                strategy: claim.strategy,
                attempt: claim.attempt,
                name: job.to_string(),
                ino: claim.ino,
                btime_ns: claim.btime_ns,
            },
        )
    }

    fn done(
        &mut self,
        mono_ns: u64,
        job: JobId,
        claim: Claim,
        result: DoneResult,
        outcome_ns: Option<u64>,
    ) -> &mut Journal {
        self.record(
            mono_ns,
            Done {
                job,
                worker: claim.worker,
                strategy: claim.strategy,
                attempt: claim.attempt,
                name: job.to_string(),
                result,
                exit: Some(0),
                signal: None,
                detail: None,
                outcome_ns,
            },
        )
    }

    fn retry(&mut self, mono_ns: u64, job: JobId, claim: Claim) -> &mut Journal {
        self.record(
            mono_ns,
            Retry {
                job,
                worker: claim.worker,
                strategy: claim.strategy,
                attempt: claim.attempt,
                name: format!("{job}.{}.1796205601000", claim.attempt),
                exit: Some(75),
                signal: None,
                detail: "exit 75".into(),
                outcome_ns: Some(mono_ns - 1_000),
            },
        )
    }

    fn write(&self) {
        let mut text = self.lines.join("\n");
        text.push('\n');
        std::fs::write(&self.path, text).unwrap();
    }
}

/// What a claim's records say about it.
#[derive(Clone, Copy)]
struct Claim {
    worker: u32,
    strategy: Strategy,
    attempt: u32,
    ino: Option<u64>,
    btime_ns: Option<u64>,
}

/// A verified first attempt on the job's file.
fn verified() -> Claim {
    Claim {
        worker: 1,
        strategy: Strategy::Verified,
        attempt: 1,
        ino: Some(4242),
        btime_ns: Some(1_796_205_000_000_000_000),
    }
}

fn naive() -> Claim {
    Claim {
        strategy: Strategy::Naive,
        ..verified()
    }
}

fn id(n: u128) -> JobId {
    JobId(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
    ))
}

fn audit_dir(dir: &Path) -> Report {
    audit(&AuditInput {
        journals: vec![dir.to_owned()],
        ..AuditInput::default()
    })
    .unwrap()
}

/// (class, ordering) of every flagged claim in the report.
fn verdicts(report: &Report) -> Vec<(DuplicateClass, OrderingBasis)> {
    let mut v: Vec<_> = report
        .duplicates
        .iter()
        .flat_map(|d| d.orderings.iter().map(move |&o| (d.class, o)))
        .collect();
    v.sort();
    v
}

/// The case of the issue: a verified claim cut off by a reboot (no outcome), and after
/// the boot the job claimed again and completed. The new boot's monotonic clock starts
/// near zero, so by monotonic time alone the cut claim comes after the completion and
/// looks like a violation. Verdict: a redelivery, resting on the unlink (the verified
/// claim saw the file linked, so it came before the unlink that succeeded) and on the
/// two boots of one host never overlapping.
#[test]
fn a_claim_cut_by_a_reboot_is_a_redelivery_not_a_claim_after_completion() {
    let dir = tempfile::tempdir().unwrap();
    let job = id(1);
    // Boot 1 had run for 58 days when the claim was made; boot 2 began ten minutes later.
    let up = 5_000_000 * SECOND;
    let mut before = Journal::new(
        dir.path(),
        "daemon",
        "web",
        Some(BOOT_1),
        700,
        T0 - up as i64,
    );
    before.claimed(up, job, verified()).write();
    let mut after = Journal::new(
        dir.path(),
        "daemon",
        "web",
        Some(BOOT_2),
        700,
        T0 + 600 * SECOND as i64,
    );
    after
        .claimed(30 * SECOND, job, verified())
        .done(
            31 * SECOND,
            job,
            verified(),
            DoneResult::Ok,
            Some(31 * SECOND - 5),
        )
        .write();
    let report = audit_dir(dir.path());
    assert_eq!(report.clock_domains.len(), 2);
    assert_eq!(
        verdicts(&report),
        [(DuplicateClass::Redelivery, OrderingBasis::Unlink)]
    );
    // Display order puts the cut claim first (wall clock), and it is the one judged
    // against.
    let dup = &report.duplicates[0];
    assert_eq!(dup.claims[0].boot.as_deref(), Some(BOOT_1));
    assert_eq!(
        (dup.flagged.clone(), dup.against.clone()),
        (vec![1], vec![0])
    );
    assert!(report.findings(&Finding::DEFAULT).is_empty());
    let text = render_report(&report);
    assert!(text.contains("ordering: 2 clock domains"), "{text}");
    assert!(text.contains("by unlink result"), "{text}");
    assert!(text.contains(&format!("boot {BOOT_2}")), "{text}");

    // The same with the naive strategy (no proof the file was linked): the boots'
    // wall-clock spans order them, ten minutes apart against a one-second bound.
    let dir = tempfile::tempdir().unwrap();
    let mut before = Journal::new(
        dir.path(),
        "daemon",
        "web",
        Some(BOOT_1),
        700,
        T0 - up as i64,
    );
    before.claimed(up, job, naive()).write();
    let mut after = Journal::new(
        dir.path(),
        "daemon",
        "web",
        Some(BOOT_2),
        700,
        T0 + 600 * SECOND as i64,
    );
    after
        .claimed(30 * SECOND, job, naive())
        .done(31 * SECOND, job, naive(), DoneResult::Ok, None)
        .write();
    let report = audit_dir(dir.path());
    assert_eq!(
        verdicts(&report),
        [(DuplicateClass::Redelivery, OrderingBasis::BootOrder)]
    );
    // With a skew bound longer than the reboot, the spans no longer order the boots, and
    // nothing else does: unordered, never a violation.
    let report = audit(&AuditInput {
        journals: vec![dir.path().to_owned()],
        max_clock_skew: Duration::from_secs(3600),
        ..AuditInput::default()
    })
    .unwrap();
    assert_eq!(
        verdicts(&report),
        [(DuplicateClass::Unordered, OrderingBasis::None)]
    );
    assert_eq!(report.duplicate_counts.unordered, 1);
    assert!(report.findings(&Finding::DEFAULT).is_empty());
    assert_eq!(report.findings(&[Finding::Unordered]), [Finding::Unordered]);
    let text = render_report(&report);
    assert!(text.contains("unordered                     1"), "{text}");
    assert!(text.contains("no evidence orders it"), "{text}");
}

/// Journals that name no boot are read as one boot per host, as before boot ids were
/// journaled: the reboot is invisible to them and the cut claim still looks like one
/// after completion. This is why records name their boot.
#[test]
fn journals_without_boot_ids_are_one_boot_per_host() {
    let dir = tempfile::tempdir().unwrap();
    let job = id(2);
    let up = 5_000_000 * SECOND;
    let mut before = Journal::new(dir.path(), "daemon", "web", None, 700, T0 - up as i64);
    before.claimed(up, job, naive()).write();
    let mut after = Journal::new(
        dir.path(),
        "daemon",
        "web",
        None,
        701,
        T0 + 600 * SECOND as i64,
    );
    after
        .claimed(30 * SECOND, job, naive())
        .done(31 * SECOND, job, naive(), DoneResult::Ok, None)
        .write();
    let report = audit_dir(dir.path());
    assert_eq!(report.clock_domains.len(), 1);
    assert_eq!(report.clock_domains[0].boot, None);
    assert_eq!(
        verdicts(&report),
        [(DuplicateClass::AfterCompletion, OrderingBasis::Monotonic)]
    );
    assert!(render_report(&report).contains("boot not journaled"));
}

/// Two hosts on a shared file system, their monotonic clocks unrelated (host b's reads
/// far below host a's). Each pair is ordered by what needs no shared clock, by wall
/// clocks beyond the bound, or reported unordered.
#[test]
fn claims_on_two_hosts_rest_on_evidence_or_are_unordered() {
    let dir = tempfile::tempdir().unwrap();
    let (retried, raced, close, apart, overlapping) = (id(10), id(11), id(12), id(13), id(14));
    let mut a = Journal::new(
        dir.path(),
        "daemon",
        "a",
        Some(BOOT_1),
        100,
        T0 - 9_000_000 * SECOND as i64,
    );
    let mut b = Journal::new(
        dir.path(),
        "daemon",
        "b",
        Some(BOOT_B),
        100,
        T0 - 7 * SECOND as i64,
    );
    let at_a = |s: u64| 9_000_000 * SECOND + s;
    let at_b = |s: u64| 7 * SECOND + s;
    let second_attempt = Claim {
        attempt: 2,
        ..verified()
    };
    // Attempt 1 on a failed (retry); attempt 2 on b, 1 ms later by the wall clock.
    a.claimed(at_a(0), retried, verified())
        .retry(at_a(1_000_000), retried, verified());
    b.claimed(at_b(2_000_000), retried, second_attempt).done(
        at_b(3_000_000),
        retried,
        second_attempt,
        DoneResult::Ok,
        Some(at_b(2_900_000)),
    );
    // The naive race between hosts: b's unlink found the name a's had removed.
    a.claimed(at_a(10 * SECOND), raced, naive()).done(
        at_a(10 * SECOND + 1_000),
        raced,
        naive(),
        DoneResult::Ok,
        Some(at_a(10 * SECOND + 500)),
    );
    b.claimed(at_b(10 * SECOND + 800), raced, naive()).done(
        at_b(10 * SECOND + 2_000),
        raced,
        naive(),
        DoneResult::Enoent,
        Some(at_b(10 * SECOND + 1_500)),
    );
    // A verified claim on a whose process then died, the job completed on b 100 ms later:
    // the unlink shows a came first, but not whether it overlapped b within the bound.
    a.claimed(at_a(20 * SECOND), close, verified());
    b.claimed(at_b(20 * SECOND + 100_000_000), close, verified())
        .done(
            at_b(20 * SECOND + 200_000_000),
            close,
            verified(),
            DoneResult::Ok,
            Some(at_b(20 * SECOND + 150_000_000)),
        );
    // The same, with a released claim 10 s before b's: the wall clock orders them.
    let released = spoolq_spool::journal::Released {
        job: apart,
        worker: 1,
        strategy: Strategy::Verified,
        attempt: 1,
        name: Some(apart.to_string()),
        result: spoolq_spool::ReleaseCause::Shutdown,
        exit: None,
        signal: Some(15),
        detail: "shutdown".into(),
        outcome_ns: Some(at_a(30 * SECOND + 1_000)),
    };
    a.claimed(at_a(30 * SECOND), apart, verified())
        .record(at_a(30 * SECOND + 2_000), released);
    b.claimed(at_b(40 * SECOND), apart, verified()).done(
        at_b(41 * SECOND),
        apart,
        verified(),
        DoneResult::Ok,
        Some(at_b(41 * SECOND - 10)),
    );
    // Two naive claims held at once for seconds: concurrent, by the wall clock.
    a.claimed(at_a(50 * SECOND), overlapping, naive()).done(
        at_a(60 * SECOND),
        overlapping,
        naive(),
        DoneResult::Ok,
        Some(at_a(60 * SECOND - 10)),
    );
    b.claimed(at_b(53 * SECOND), overlapping, naive()).done(
        at_b(64 * SECOND),
        overlapping,
        naive(),
        DoneResult::Enoent,
        Some(at_b(64 * SECOND - 10)),
    );
    a.write();
    b.write();

    let report = audit_dir(dir.path());
    let by_job = |job: JobId| -> Vec<(DuplicateClass, OrderingBasis)> {
        let mut v: Vec<_> = report
            .duplicates
            .iter()
            .filter(|d| d.job == job)
            .flat_map(|d| d.orderings.iter().map(move |&o| (d.class, o)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        by_job(retried),
        [(DuplicateClass::Redelivery, OrderingBasis::ClaimSequence)]
    );
    assert_eq!(
        by_job(raced),
        [(DuplicateClass::AfterCompletion, OrderingBasis::Unlink)]
    );
    assert_eq!(
        by_job(close),
        [(DuplicateClass::Unordered, OrderingBasis::None)]
    );
    assert_eq!(
        by_job(apart),
        [(DuplicateClass::Redelivery, OrderingBasis::WallClock)]
    );
    // The unlink says b came after a's completion or overlapped it; the wall clock says
    // they overlapped by more than the bound: concurrent is the more severe, and proven.
    assert_eq!(
        by_job(overlapping),
        [(DuplicateClass::Concurrent, OrderingBasis::WallClock)]
    );
    let d = &report.duplicate_counts;
    assert_eq!(
        (d.concurrent, d.after_completion, d.unordered, d.redelivery),
        (1, 1, 1, 2)
    );
    assert_eq!(report.clock_domains.len(), 2);

    // The timeline of a job across hosts: placed by wall clock, marked as such, and the
    // verdict names its evidence.
    let tl = timeline(&[dir.path().to_owned()], raced).unwrap();
    assert_eq!(tl.clock_domains, 2);
    let hosts: Vec<&str> = tl.events.iter().map(|e| e.record.host.as_str()).collect();
    assert_eq!(hosts, ["a", "b", "a", "b"]);
    let text = render_timeline(&tl);
    assert!(text.contains("events from 2 clock domains"), "{text}");
    assert!(text.contains("AFTER COMPLETION"), "{text}");
    assert!(text.contains("by unlink result"), "{text}");
    let svg = timeline_svg(&tl);
    assert!(roxmltree::Document::parse(&svg).is_ok());
    assert!(svg.contains("wall clock between boots and hosts"));
}

/// A `done` record is written after the unlink and the close let the lock go; on a slow
/// file system another consumer's later claim (the naive race) is journaled before it.
/// With the completion's time read under the lock (`outcome_ns`), that claim is after
/// the completion, not concurrent; without it (older journals) it looks concurrent.
#[test]
fn the_completion_time_read_under_the_lock_orders_a_claim_journaled_before_the_done() {
    for (outcome_ns, class) in [
        (Some(150), DuplicateClass::AfterCompletion),
        (None, DuplicateClass::Concurrent),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let job = id(20);
        let mut a = Journal::new(dir.path(), "daemon", "web", Some(BOOT_1), 1, T0);
        a.claimed(100, job, naive())
            .done(400, job, naive(), DoneResult::Ok, outcome_ns)
            .write();
        let mut b = Journal::new(dir.path(), "daemon", "web", Some(BOOT_1), 2, T0);
        b.claimed(200, job, naive())
            .done(500, job, naive(), DoneResult::Enoent, Some(450))
            .write();
        let report = audit_dir(dir.path());
        assert_eq!(verdicts(&report), [(class, OrderingBasis::Monotonic)]);
        assert_eq!(
            report.duplicates[0].claims[0].outcome_mono_ns, outcome_ns,
            "the interval shows the stamp"
        );
    }
}

/// One id, two files: a copy of a job file under a second name (or in retry/ beside
/// new/) runs twice; each run is of its own file, so neither is a duplicate of the
/// other. The finding is the copy, counted and listed. The same inode number with
/// another birth time is another file too (the number was reused).
#[test]
fn an_id_claimed_in_two_files_is_a_copy_not_a_violation() {
    let dir = tempfile::tempdir().unwrap();
    let (copied, reused) = (id(30), id(31));
    let original = verified();
    let copy = Claim {
        ino: Some(5151),
        attempt: 2,
        ..verified()
    };
    let reborn = Claim {
        btime_ns: Some(1_796_205_999_000_000_000),
        ..verified()
    };
    let mut d = Journal::new(dir.path(), "daemon", "web", Some(BOOT_1), 1, T0);
    d.claimed(100, copied, original)
        .done(200, copied, original, DoneResult::Ok, Some(190))
        .claimed(300, copied, copy)
        .done(400, copied, copy, DoneResult::Ok, Some(390))
        .claimed(500, reused, original)
        .done(600, reused, original, DoneResult::Ok, Some(590))
        .claimed(700, reused, reborn)
        .done(800, reused, reborn, DoneResult::Ok, Some(790))
        .write();
    let report = audit_dir(dir.path());
    assert!(report.duplicates.is_empty(), "{:?}", report.duplicates);
    assert_eq!(report.counts.copied, 2);
    let jobs: Vec<JobId> = report.copies.iter().map(|c| c.job).collect();
    assert_eq!(jobs, [copied, reused]);
    assert!(report.copies.iter().all(|c| c.files == 2));
    assert_eq!(report.findings(&Finding::DEFAULT), [Finding::Copied]);
    let text = render_report(&report);
    assert!(
        text.contains("copies (one id in two or more files"),
        "{text}"
    );
    assert!(text.contains("ino 5151"), "{text}");
    assert!(text.contains("copied                        2"), "{text}");

    // A file processed twice is still judged, within that file.
    let dir = tempfile::tempdir().unwrap();
    let mut d = Journal::new(dir.path(), "daemon", "web", Some(BOOT_1), 1, T0);
    d.claimed(100, copied, original)
        .done(200, copied, original, DoneResult::Ok, Some(190))
        .claimed(300, copied, copy)
        .done(400, copied, copy, DoneResult::Ok, Some(390))
        .claimed(500, copied, original)
        .done(600, copied, original, DoneResult::Enoent, Some(590))
        .write();
    let report = audit_dir(dir.path());
    assert_eq!(report.counts.copied, 1);
    assert_eq!(
        verdicts(&report),
        [(DuplicateClass::AfterCompletion, OrderingBasis::Monotonic)]
    );
    let dup = &report.duplicates[0];
    assert_eq!(
        (dup.flagged.clone(), dup.against.clone()),
        (vec![2], vec![0])
    );
}

/// Produced on one host, claimed on another: the latency is measured by wall clocks,
/// not by subtracting monotonic times of different hosts.
#[test]
fn latency_across_hosts_is_by_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    let job = id(40);
    let mut p = Journal::new(
        dir.path(),
        "producer",
        "a",
        Some(BOOT_1),
        9,
        T0 - 1_000 * SECOND as i64,
    );
    p.record(1_000 * SECOND, Produced { job }).write();
    let mut d = Journal::new(dir.path(), "daemon", "b", Some(BOOT_B), 1, T0);
    d.claimed(2_000_000, job, verified())
        .done(3_000_000, job, verified(), DoneResult::Ok, Some(2_900_000))
        .write();
    let report = audit_dir(dir.path());
    let l = report.latency.produced_to_claimed.unwrap();
    assert_eq!((l.samples, l.p50_ns), (1, 2_000_000));
}

/// A job that died on one host after two attempts, sent back from failed/ (its attempt
/// count starts again), then completed on another host as attempt 1. The counts no
/// longer order its claims (attempt 1 on host B came after attempt 2 on host A): read as
/// a claim sequence they would put B's completion first and flag A's last attempt as a
/// run after completion. With the send-back journaled, the auditor orders them by other
/// evidence (here the wall clock) and finds redeliveries only.
#[test]
fn a_job_sent_back_from_failed_is_not_ordered_by_its_restarted_attempt_count() {
    use spoolq_spool::RequeueCause;
    use spoolq_spool::journal::{Dead, Requeued};
    let dir = tempfile::tempdir().unwrap();
    let job = id(7);
    let second = Claim {
        attempt: 2,
        ..verified()
    };
    let mut a = Journal::new(dir.path(), "daemon", "a", Some(BOOT_1), 10, T0);
    a.claimed(SECOND, job, verified())
        .retry(2 * SECOND, job, verified())
        .claimed(5 * SECOND, job, second)
        .record(
            6 * SECOND,
            Dead {
                job,
                worker: 1,
                strategy: Strategy::Verified,
                attempt: 2,
                name: job.to_string(),
                result: spoolq_spool::DeadCause::AttemptsExhausted,
                exit: Some(75),
                signal: None,
                detail: "exit 75".into(),
                outcome_ns: Some(6 * SECOND - 5),
            },
        )
        .write();
    let mut operator = Journal::new(dir.path(), "producer", "a", Some(BOOT_1), 11, T0);
    operator
        .record(
            20 * SECOND,
            Requeued {
                job,
                worker: 0,
                strategy: Strategy::Verified,
                attempt: 1,
                name: job.to_string(),
                result: Some(RequeueCause::FromFailed),
            },
        )
        .write();
    let mut b = Journal::new(dir.path(), "daemon", "b", Some(BOOT_B), 20, T0);
    b.claimed(30 * SECOND, job, verified())
        .done(
            31 * SECOND,
            job,
            verified(),
            DoneResult::Ok,
            Some(31 * SECOND - 5),
        )
        .write();
    let report = audit_dir(dir.path());
    assert_eq!(report.counts.sent_back, 1);
    assert_eq!(
        verdicts(&report),
        [
            (DuplicateClass::Redelivery, OrderingBasis::Monotonic),
            (DuplicateClass::Redelivery, OrderingBasis::WallClock),
        ],
        "{}",
        render_report(&report)
    );
    assert!(report.findings(&Finding::DEFAULT).is_empty());
}
