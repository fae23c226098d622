//! The journal's wire format, pinned: `fixtures/journal-v1.jsonl` holds one line of each
//! event kind (and the variants of results, errnos and optional fields; among them the
//! releases of a name left alone and of an attempt that could not be counted, and a job
//! given up) exactly as the
//! daemon and producer write them, with and without the keys added since (the writer's
//! boot id, the claimed file's identity, the time an outcome was done under the lock).
//! Every line must read into the typed record spelled out here, and be written again
//! byte for byte, apart from the stamps a writer puts on (times, host, pid): the format
//! cannot drift, nor the meaning of a word change, without this test failing.

use std::path::PathBuf;
use std::sync::Arc;

use spoolq_claim::{Dir, Step, Strategy};
use spoolq_spool::journal::{
    ClaimStep, Claimed, Dead, Done, Paused, Produced, Pruned, Quarantined, Released, Requeued,
    Resumed, Retry, Role, Start, Stop, Stuck, parse_line,
};
use spoolq_spool::{
    DeadCause, DoneResult, Errno, Event, JobId, JournalWriter, QuarantineCause, Record,
    ReleaseCause, RequeueCause, WriterOptions,
};

fn golden_lines() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v1.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines().map(str::to_owned).collect()
}

fn read(line: &str) -> Record {
    parse_line(line.as_bytes(), true)
        .unwrap_or_else(|e| panic!("{e:?}: {line}"))
        .expect("not blank")
        .into_record()
        .unwrap_or_else(|| panic!("not understood: {line}"))
}

fn job(id: &str) -> JobId {
    id.parse().unwrap()
}

fn record(mono_ns: u64, wall: &str, pid: u32, event: impl Into<Event>) -> Record {
    Record {
        mono_ns,
        wall: wall.to_owned(),
        host: "vm".to_owned(),
        pid,
        boot: None,
        event: event.into(),
    }
}

/// A record of the boot the newer lines name.
fn booted(mono_ns: u64, wall: &str, event: impl Into<Event>) -> Record {
    Record {
        boot: Some("3b6e1f0a-2c4d-4e8f-9a1b-7c5d3e2f1a0b".to_owned()),
        ..record(mono_ns, wall, 20001, event)
    }
}

/// The fixture's lines as typed records, in file order.
fn golden_records() -> Vec<Record> {
    use Strategy::{Naive, Verified};
    let (a, b, c, d, e) = (
        "01a2338f-5694-7230-a4df-4cbd601e1280",
        "01a2338f-5697-77d7-9bba-c589bb549db7",
        "01a2338f-569a-701f-a8f1-1427733c89a3",
        "01a2338f-65b2-75c8-bf36-24fe625b3a46",
        "01a2338f-7a00-7c2e-8e55-1d2c3b4a5f60",
    );
    vec![
        record(
            921222041247,
            "2026-12-01T21:42:41.556371Z",
            17534,
            Produced { job: job(a) },
        ),
        record(
            921236027436,
            "2026-12-01T21:42:41.570357Z",
            17548,
            Start {
                strategy: Verified,
                detail: "workers=1 drain=true".into(),
            },
        ),
        record(
            921241226209,
            "2026-12-01T21:42:41.575556Z",
            17548,
            Claimed {
                job: job(b),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: b.into(),
                ino: None,
                btime_ns: None,
            },
        ),
        record(
            921249384291,
            "2026-12-01T21:42:41.583714Z",
            17548,
            Done {
                job: job(a),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: a.into(),
                result: DoneResult::Ok,
                exit: Some(0),
                signal: None,
                detail: None,
                outcome_ns: None,
            },
        ),
        record(
            967497759273,
            "2026-12-01T21:43:27.832089Z",
            18075,
            Done {
                job: job(e),
                worker: 2,
                strategy: Naive,
                attempt: 1,
                name: e.into(),
                result: DoneResult::Enoent,
                exit: Some(0),
                signal: None,
                detail: Some(format!(
                    "unlink new/{e}: No such file or directory (ENOENT)"
                )),
                outcome_ns: None,
            },
        ),
        record(
            921251913857,
            "2026-12-01T21:42:41.586243Z",
            17548,
            Retry {
                job: job(c),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: format!("{c}.1.1796161361587"),
                exit: Some(75),
                signal: None,
                detail: "exit 75; retry due at 2026-12-01T21:42:41.587Z".into(),
                outcome_ns: None,
            },
        ),
        record(
            921243854978,
            "2026-12-01T21:42:41.578185Z",
            17548,
            Dead {
                job: job(b),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: b.into(),
                result: DeadCause::PermanentFailure,
                exit: Some(100),
                signal: None,
                detail: "the handler exited with 100: permanent failure, not retried".into(),
                outcome_ns: None,
            },
        ),
        record(
            921269962261,
            "2026-12-01T21:42:41.604292Z",
            17548,
            Dead {
                job: job(c),
                worker: 1,
                strategy: Verified,
                attempt: 2,
                name: format!("{c}.1"),
                result: DeadCause::AttemptsExhausted,
                exit: Some(75),
                signal: None,
                detail: "attempt 2 of 2 failed (exit 75): attempts exhausted".into(),
                outcome_ns: None,
            },
        ),
        record(
            921240883018,
            "2026-12-01T21:42:41.575213Z",
            17548,
            Quarantined {
                job: None,
                worker: 1,
                strategy: Verified,
                name: "junk".into(),
                result: QuarantineCause::NotAJobName,
                detail: "junk is not a job name (<id> or <id>.<attempts>): write jobs with \
                         spoolq, or name them after the id in their header (stored as \
                         failed/junk)"
                    .into(),
            },
        ),
        record(
            967497831696,
            "2026-12-01T21:43:27.832161Z",
            18075,
            Quarantined {
                job: Some(job(e)),
                worker: 1,
                strategy: Verified,
                name: e.into(),
                result: QuarantineCause::IdMismatch,
                detail: "the file is named for job x but its header says y (stored as failed/z)"
                    .into(),
            },
        ),
        record(
            925308353508,
            "2026-12-01T21:42:45.642683Z",
            17863,
            Released {
                job: job(d),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: Some(d.into()),
                result: ReleaseCause::Shutdown,
                exit: None,
                signal: Some(15),
                detail: "interrupted by shutdown (killed by signal 15)".into(),
                outcome_ns: None,
            },
        ),
        record(
            967497817256,
            "2026-12-01T21:43:27.832147Z",
            18075,
            Released {
                job: job(e),
                worker: 3,
                strategy: Verified,
                attempt: 2,
                name: None,
                result: ReleaseCause::JournalFailed,
                exit: None,
                signal: None,
                detail: "writing journal /spool/journal/daemon-vm-1-2-0000.jsonl: No space \
                         left on device (os error 28)"
                    .into(),
                outcome_ns: None,
            },
        ),
        record(
            921254491792,
            "2026-12-01T21:42:41.588821Z",
            17548,
            Requeued {
                job: job(c),
                worker: 0,
                strategy: Verified,
                attempt: 2,
                name: format!("{c}.1"),
                result: None,
            },
        ),
        booted(
            921254491800,
            "2026-12-01T21:42:41.588829Z",
            Requeued {
                job: job(c),
                worker: 0,
                strategy: Verified,
                attempt: 3,
                name: format!("{c}.2"),
                result: Some(RequeueCause::Due),
            },
        ),
        booted(
            921254491900,
            "2026-12-01T21:42:41.588929Z",
            Requeued {
                job: job(c),
                worker: 0,
                strategy: Verified,
                attempt: 1,
                name: c.to_owned(),
                result: Some(RequeueCause::FromFailed),
            },
        ),
        booted(
            921254492000,
            "2026-12-01T21:42:41.589029Z",
            Pruned {
                horizon_ns: 1_796_160_000_123_456_789,
                detail: "files=3 bytes=4096".into(),
            },
        ),
        booted(
            921254492100,
            "2026-12-01T21:42:41.589129Z",
            Paused {
                detail: "since 2026-12-01T21:42:40.000001Z by vm:20010: disk swap".into(),
            },
        ),
        booted(
            921254492200,
            "2026-12-01T21:42:41.589229Z",
            Resumed {
                detail: "since 2026-12-01T21:42:40.000001Z by vm:20010: disk swap".into(),
            },
        ),
        record(
            921240493209,
            "2026-12-01T21:42:41.574823Z",
            17548,
            ClaimStep {
                job: None,
                worker: 1,
                strategy: Verified,
                name: "junk".into(),
                step: Step::BeforeOpen,
                result: Ok(()),
            },
        ),
        record(
            921240698127,
            "2026-12-01T21:42:41.575028Z",
            17548,
            ClaimStep {
                job: None,
                worker: 1,
                strategy: Verified,
                name: "junk".into(),
                step: Step::AfterClose,
                result: Ok(()),
            },
        ),
        record(
            921249614369,
            "2026-12-01T21:42:41.583944Z",
            17548,
            ClaimStep {
                job: None,
                worker: 1,
                strategy: Verified,
                name: "fifo".into(),
                step: Step::AfterVerify,
                result: Err(Errno::Known(spoolq_os::Errno::EINVAL)),
            },
        ),
        record(
            921254417367,
            "2026-12-01T21:42:41.588747Z",
            17548,
            ClaimStep {
                job: Some(job(c)),
                worker: 1,
                strategy: Verified,
                name: format!("{c}.1"),
                step: Step::AfterLock,
                result: Err(Errno::Known(spoolq_os::Errno::EWOULDBLOCK)),
            },
        ),
        record(
            967497802026,
            "2026-12-01T21:43:27.832132Z",
            18075,
            ClaimStep {
                job: Some(job(e)),
                worker: 2,
                strategy: Naive,
                name: e.into(),
                step: Step::AfterComplete,
                result: Err(Errno::Known(spoolq_os::Errno::ENOENT)),
            },
        ),
        record(
            921288220923,
            "2026-12-01T21:42:41.622551Z",
            17548,
            Stop {
                strategy: Verified,
                detail: "completed=1 retried=1 dead=2 quarantined=3 released=0 requeued=1 \
                         errors=0"
                    .into(),
            },
        ),
        booted(
            1021241226209,
            "2026-12-02T10:00:00.100000Z",
            Claimed {
                job: job(b),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: b.into(),
                ino: Some(1311753),
                btime_ns: Some(1796205599912345678),
            },
        ),
        booted(
            1021249384291,
            "2026-12-02T10:00:00.108158Z",
            Done {
                job: job(b),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: b.into(),
                result: DoneResult::Ok,
                exit: Some(0),
                signal: None,
                detail: None,
                outcome_ns: Some(1021249301877),
            },
        ),
        booted(
            1021251913857,
            "2026-12-02T10:00:00.110687Z",
            Retry {
                job: job(c),
                worker: 2,
                strategy: Verified,
                attempt: 1,
                name: format!("{c}.1.1796205601110"),
                exit: Some(75),
                signal: None,
                detail: "exit 75; retry due at 2026-12-02T10:00:01.110Z".into(),
                outcome_ns: Some(1021251872044),
            },
        ),
        booted(
            1021269962261,
            "2026-12-02T10:00:00.128736Z",
            Dead {
                job: job(c),
                worker: 2,
                strategy: Verified,
                attempt: 2,
                name: format!("{c}.1"),
                result: DeadCause::AttemptsExhausted,
                exit: Some(75),
                signal: None,
                detail: "attempt 2 of 2 failed (exit 75): attempts exhausted".into(),
                outcome_ns: Some(1021269910020),
            },
        ),
        booted(
            1025308353508,
            "2026-12-02T10:00:04.167127Z",
            Released {
                job: job(d),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: Some(d.into()),
                result: ReleaseCause::Shutdown,
                exit: None,
                signal: Some(15),
                detail: "interrupted by shutdown (killed by signal 15)".into(),
                outcome_ns: Some(1025308301655),
            },
        ),
        booted(
            1026100000000,
            "2026-12-02T10:00:04.958819Z",
            Released {
                job: job(e),
                worker: 2,
                strategy: Verified,
                attempt: 1,
                name: Some(format!("{e}.1")),
                result: ReleaseCause::NameChanged,
                exit: Some(0),
                signal: None,
                detail: "the name now names another file (the daemon was about to remove it; \
                         the handler: exit 0)"
                    .into(),
                outcome_ns: Some(1026099950000),
            },
        ),
        booted(
            1026200000000,
            "2026-12-02T10:00:05.058819Z",
            Released {
                job: job(a),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: Some(a.into()),
                result: ReleaseCause::RenameFailed,
                exit: None,
                signal: None,
                detail: format!("rename new/{a}.1: Operation not permitted (EPERM)"),
                outcome_ns: Some(1026199990000),
            },
        ),
        booted(
            1026200010000,
            "2026-12-02T10:00:05.058829Z",
            Stuck {
                job: job(a),
                worker: 1,
                strategy: Verified,
                attempt: 1,
                name: a.into(),
                result: ReleaseCause::RenameFailed,
                detail: format!(
                    "renaming it to count the attempt about to start (the handler did not \
                     run) failed 5 times; the last time: rename new/{a}.1: Operation not \
                     permitted (EPERM)"
                ),
            },
        ),
    ]
}

#[test]
fn golden_lines_read_as_the_typed_records() {
    let golden = golden_lines();
    let want = golden_records();
    assert_eq!(golden.len(), want.len());
    for (line, want) in golden.iter().zip(&want) {
        assert_eq!(&read(line), want, "{line}");
    }
    // One of each event kind, at least.
    let kinds: std::collections::HashSet<_> = want.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), spoolq_spool::EventKind::ALL.len());
}

#[test]
fn typed_records_serialize_to_the_golden_lines_byte_for_byte() {
    for (record, line) in golden_records().iter().zip(golden_lines()) {
        assert_eq!(serde_json::to_string(record).unwrap(), line);
    }
}

/// `written` (a line the writer stamped as `stamped`) with the golden record's stamps
/// put back in place of the writer's.
fn with_golden_stamps(written: &str, golden: &Record, stamped: &Record) -> String {
    let (from, to) = (golden, stamped);
    let mut line = written.to_owned();
    for (a, b) in [
        (
            format!("\"mono_ns\":{},", to.mono_ns),
            format!("\"mono_ns\":{},", from.mono_ns),
        ),
        (
            format!("\"wall\":\"{}\",", to.wall),
            format!("\"wall\":\"{}\",", from.wall),
        ),
        (
            format!("\"host\":{},", serde_json::to_string(&to.host).unwrap()),
            format!("\"host\":{},", serde_json::to_string(&from.host).unwrap()),
        ),
        (
            format!("\"pid\":{},", to.pid),
            format!("\"pid\":{},", from.pid),
        ),
        (boot_key(to.boot.as_deref()), boot_key(from.boot.as_deref())),
    ] {
        if a.is_empty() {
            continue;
        }
        assert_eq!(line.matches(&a).count(), 1, "{a} in {line}");
        line = line.replacen(&a, &b, 1);
    }
    line
}

/// The `boot` key as a line carries it (nothing when there is no boot id).
fn boot_key(boot: Option<&str>) -> String {
    boot.map(|b| format!("\"boot\":{},", serde_json::to_string(b).unwrap()))
        .unwrap_or_default()
}

#[test]
fn the_writer_writes_the_golden_lines_byte_for_byte_apart_from_stamps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Arc::new(Dir::open(tmp.path()).unwrap());
    let writer = JournalWriter::create(dir, Role::Daemon, WriterOptions::default()).unwrap();
    let golden = golden_lines();
    let records = golden_records();
    let stamped = writer.write_batch(records.clone()).unwrap();
    let text = std::fs::read_to_string(writer.path()).unwrap();
    let written: Vec<&str> = text.lines().collect();
    assert_eq!(written.len(), golden.len());
    for (((line, original), stamped), want) in
        written.iter().zip(&records).zip(&stamped).zip(&golden)
    {
        assert_eq!(&with_golden_stamps(line, original, stamped), want);
        assert_eq!(stamped.event, original.event);
        // The boot id, read once when the writer was made, is on every record.
        assert_eq!(stamped.boot.as_deref(), writer.boot());
        assert_eq!(writer.boot(), spoolq_os::boot_id().ok().as_deref());
    }
}
