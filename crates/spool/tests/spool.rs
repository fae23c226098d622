//! The job format, the names, the layout, the atomic drop and the journal, on real files.

use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use spoolq_claim::Strategy;
use spoolq_spool::journal::{self, Claimed, Done, Merged, Produced, Role, WhyUnknown};
use spoolq_spool::{
    CreateOptions, DoneResult, DropError, Durability, EventKind, HeaderError, Job, JobHeader,
    JobId, JournalWriter, LayoutError, ProblemKind, ReadyName, Record, RetryName, Spool,
    WriterOptions,
};

fn header(length: u64) -> JobHeader {
    JobHeader {
        id: JobId::generate(),
        created: SystemTime::UNIX_EPOCH + Duration::new(1_790_000_000, 123_456_789),
        length,
    }
}

#[test]
fn round_trip_binary_and_empty_payloads() {
    let binary: Vec<u8> = (0..=255u8).chain(b"\n\n\r\0".iter().copied()).collect();
    for payload in [&binary[..], b"", b"\n\n"] {
        let job = Job {
            header: header(payload.len() as u64),
            payload,
        };
        let bytes = job.render();
        assert_eq!(Job::parse(&bytes).unwrap(), job);
    }
}

#[test]
fn each_malformed_form_has_its_error() {
    let good = String::from_utf8(header(0).render()).unwrap();
    let id = JobId::generate();
    let cases: Vec<(Vec<u8>, HeaderError)> = vec![
        (b"".to_vec(), HeaderError::Empty),
        (b"garbage\n\npayload".to_vec(), HeaderError::NotAJob),
        (
            b"spoolq-job 9\nid: x\n\n".to_vec(),
            HeaderError::UnsupportedVersion("9".into()),
        ),
        (
            good.trim_end().as_bytes().to_vec(),
            HeaderError::Unterminated,
        ),
        (b"spoolq-job 1\nid: \xff\n\n".to_vec(), HeaderError::NotUtf8),
        (
            b"spoolq-job 1\nnonsense\n\n".to_vec(),
            HeaderError::MalformedLine { line: 2 },
        ),
        (
            b"spoolq-job 1\ncolour: red\n\n".to_vec(),
            HeaderError::UnknownField("colour".into()),
        ),
        (
            format!("spoolq-job 1\nid: {id}\nid: {id}\n\n").into_bytes(),
            HeaderError::DuplicateField("id".into()),
        ),
        (
            format!("spoolq-job 1\nid: {id}\nlength: 0\n\n").into_bytes(),
            HeaderError::MissingField("created"),
        ),
        (
            b"spoolq-job 1\nid: 42\n\n".to_vec(),
            HeaderError::BadId("42".into()),
        ),
        (
            format!("spoolq-job 1\nid: {id}\ncreated: yesterday\n\n").into_bytes(),
            HeaderError::BadTime("yesterday".into()),
        ),
        (
            format!("spoolq-job 1\nid: {id}\nlength: -1\n\n").into_bytes(),
            HeaderError::BadLength("-1".into()),
        ),
        (
            [good.as_bytes(), b"extra"].concat(),
            HeaderError::LengthMismatch {
                declared: 0,
                actual: 5,
            },
        ),
        (vec![b'x'; 10_000], HeaderError::NotAJob),
        (
            [b"spoolq-job 1\n".as_slice(), &vec![b'a'; 5000]].concat(),
            HeaderError::Unterminated,
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            Job::parse(&bytes).unwrap_err(),
            expected,
            "{:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        );
    }
}

#[test]
fn length_may_be_written_without_padding() {
    let id = JobId::generate();
    let bytes = format!("spoolq-job 1\nid: {id}\ncreated: 2026-11-26T10:00:00Z\nlength: 3\n\nabc");
    let job = Job::parse(bytes.as_bytes()).unwrap();
    assert_eq!(job.header.id, id);
    assert_eq!(job.payload, b"abc");
}

proptest! {
    #[test]
    fn parse_of_render_is_identity(
        payload in proptest::collection::vec(any::<u8>(), 0..512),
        secs in 0u64..250_000_000_000,
        nanos in 0u32..1_000_000_000,
        id in any::<u128>(),
    ) {
        let job = Job {
            header: JobHeader {
                id: JobId(uuid::Uuid::from_u128(id)),
                created: SystemTime::UNIX_EPOCH + Duration::new(secs, nanos),
                length: payload.len() as u64,
            },
            payload: &payload,
        };
        let bytes = job.render();
        prop_assert_eq!(Job::parse(&bytes).unwrap(), job);
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Job::parse(&bytes);
        let mut prefixed = b"spoolq-job 1\n".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = Job::parse(&prefixed);
    }
}

#[test]
fn names_round_trip() {
    let id = JobId::generate();
    let ready = ReadyName::new(id, 0);
    assert_eq!(ready.to_string(), id.to_string());
    assert_eq!(ReadyName::parse(&ready.to_os_string()), Some(ready));
    let again = ReadyName::new(id, 3);
    assert_eq!(ReadyName::parse(&again.to_os_string()), Some(again));
    let retry = RetryName::new(id, 2, SystemTime::UNIX_EPOCH + Duration::from_millis(1234));
    assert_eq!(retry.to_string(), format!("{id}.2.1234"));
    assert_eq!(RetryName::parse(&retry.to_os_string()), Some(retry));
    for bad in [
        "",
        "x",
        "abc.1",
        &format!("{id}."),
        &format!("{id}.x"),
        &format!("{id}.1.2.3"),
    ] {
        assert_eq!(ReadyName::parse(OsStr::new(bad)), None, "{bad}");
    }
}

#[test]
fn layout_is_created_idempotently_with_its_mode_and_refuses_symlinked_folders() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("spool");
    Spool::create(&root, CreateOptions::default()).unwrap();
    Spool::create(&root, CreateOptions::default()).unwrap();
    for name in spoolq_spool::layout::FOLDERS {
        let mode = std::fs::metadata(root.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o750, "{name}");
    }
    let spool = Spool::open(&root).unwrap();
    assert!(spool.moved_folders().is_empty());

    std::fs::rename(root.join("retry"), tmp.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), root.join("retry")).unwrap();
    assert_eq!(spool.moved_folders(), ["retry"]);
    match Spool::open(&root) {
        Err(e @ LayoutError::NotADirectory { .. }) => {
            let LayoutError::NotADirectory { path, kind } = &e else {
                unreachable!()
            };
            assert!(path.ends_with("retry"));
            assert_eq!(*kind, "symbolic link");
            assert!(e.to_string().contains("never follows links"), "{e}");
        }
        other => panic!("expected NotADirectory, got {other:?}"),
    }
    match Spool::open(&tmp.path().join("missing")) {
        Err(e @ LayoutError::NotFound { .. }) => assert!(e.to_string().contains("spoolq init")),
        other => panic!("expected NotFound, got {other:?}"),
    }
    std::fs::remove_file(root.join("retry")).unwrap();
    match Spool::open(&root) {
        Err(LayoutError::FolderMissing { folder, .. }) => assert_eq!(folder, "retry"),
        other => panic!("expected FolderMissing, got {other:?}"),
    }
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    match Spool::open(&file) {
        Err(LayoutError::RootNotADirectory { kind, .. }) => assert_eq!(kind, "regular file"),
        other => panic!("expected RootNotADirectory, got {other:?}"),
    }
}

#[test]
fn drop_publishes_a_parseable_job_and_never_replaces_an_id() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = Spool::create(tmp.path(), CreateOptions::default()).unwrap();
    let id = JobId::generate();
    for durability in [Durability::ALWAYS, Durability::NEVER] {
        let id = JobId::generate();
        spool
            .drop_job(id, &mut &b"payload"[..], durability)
            .unwrap();
        let bytes = std::fs::read(tmp.path().join("new").join(id.to_string())).unwrap();
        let job = Job::parse(&bytes).unwrap();
        assert_eq!((job.header.id, job.payload), (id, &b"payload"[..]));
    }
    spool
        .drop_job(id, &mut &b"first"[..], Durability::NEVER)
        .unwrap();
    match spool.drop_job(id, &mut &b"second"[..], Durability::NEVER) {
        Err(DropError::IdTaken { id: taken }) => assert_eq!(taken, id),
        other => panic!("expected IdTaken, got {other:?}"),
    }
    let bytes = std::fs::read(tmp.path().join("new").join(id.to_string())).unwrap();
    assert_eq!(Job::parse(&bytes).unwrap().payload, b"first");
    assert_eq!(
        std::fs::read_dir(tmp.path().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn a_failing_payload_leaves_nothing_behind() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let spool = Spool::create(tmp.path(), CreateOptions::default()).unwrap();
    let err = spool
        .drop_job(JobId::generate(), &mut Failing, Durability::NEVER)
        .unwrap_err();
    assert!(err.to_string().contains("disk on fire"));
    assert_eq!(
        std::fs::read_dir(tmp.path().join("new")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("tmp")).unwrap().count(),
        0
    );
}

fn claimed(job: JobId, worker: u32) -> Record {
    Record::new(Claimed {
        job,
        worker,
        strategy: Strategy::Verified,
        attempt: 1,
        name: job.to_string(),
        ino: None,
        btime_ns: None,
    })
}

fn done(job: JobId, worker: u32) -> Record {
    Record::new(Done {
        job,
        worker,
        strategy: Strategy::Verified,
        attempt: 1,
        name: job.to_string(),
        result: DoneResult::Ok,
        exit: Some(0),
        signal: None,
        detail: None,
        outcome_ns: None,
    })
}

fn journal_dir() -> (tempfile::TempDir, Spool) {
    let tmp = tempfile::tempdir().unwrap();
    let spool = Spool::create(tmp.path(), CreateOptions::default()).unwrap();
    (tmp, spool)
}

#[test]
fn writer_and_reader_merge_files_by_monotonic_time() {
    let (tmp, spool) = journal_dir();
    let a = JournalWriter::create(
        spool.journal().clone(),
        Role::Daemon,
        WriterOptions::default(),
    )
    .unwrap();
    let b = JournalWriter::create(
        spool.journal().clone(),
        Role::Producer,
        WriterOptions::default(),
    )
    .unwrap();
    let id = JobId::generate();
    let mut written = Vec::new();
    for i in 0..10u32 {
        let writer = if i % 3 == 0 { &a } else { &b };
        written.push(writer.write(claimed(id, i)).unwrap());
    }
    let (entries, aside) = journal::read_all(&[tmp.path().join("journal")]).unwrap();
    assert_eq!(aside, Default::default());
    let workers: Vec<_> = entries
        .iter()
        .map(|e| e.record.event.worker().unwrap())
        .collect();
    assert_eq!(workers, (0..10).collect::<Vec<_>>());
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].record.mono_ns <= w[1].record.mono_ns)
    );
    assert_eq!(entries[0].record, written[0]);
}

#[test]
fn rotated_files_read_as_one() {
    let (tmp, spool) = journal_dir();
    let options = WriterOptions {
        fsync: false,
        rotate_bytes: Some(300),
    };
    let writer = JournalWriter::create(spool.journal().clone(), Role::Daemon, options).unwrap();
    let id = JobId::generate();
    for i in 0..20 {
        writer.write(done(id, i)).unwrap();
    }
    let files = journal::journal_files(&[tmp.path().join("journal")]).unwrap();
    assert!(files.len() > 2, "{files:?}");
    let merged: Vec<_> = Merged::open(&files)
        .map(|e| e.record.event.worker().unwrap())
        .collect();
    assert_eq!(merged, (0..20).collect::<Vec<_>>());
}

#[test]
fn torn_last_line_is_skipped_and_counted_bad_lines_are_reported_and_newer_ones_kept() {
    let (tmp, spool) = journal_dir();
    let writer = JournalWriter::create(
        spool.journal().clone(),
        Role::Producer,
        WriterOptions::default(),
    )
    .unwrap();
    let id = JobId::generate();
    writer.write(Record::new(Produced { job: id })).unwrap();
    let path: PathBuf = writer.path();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    let mut future = serde_json::to_value(Record::new(Produced { job: id })).unwrap();
    future["v"] = 99.into();
    let future = future.to_string();
    writeln!(file, "{future}").unwrap();
    writeln!(file, "not json").unwrap();
    writer.write(done(id, 1)).unwrap();
    file.write_all(br#"{"v":1,"event":"clai"#).unwrap();
    drop(file);

    let (entries, aside) = journal::read_all(&[tmp.path().join("journal")]).unwrap();
    let events: Vec<_> = entries.iter().map(|e| e.record.kind()).collect();
    assert_eq!(events, [EventKind::Produced, EventKind::Done]);
    // The newer line is kept whole, with where it was: not a problem, not dropped.
    assert_eq!(aside.unknown.len(), 1, "{:?}", aside.unknown);
    let newer = &aside.unknown[0];
    assert_eq!((newer.file.as_path(), newer.line), (path.as_path(), 2));
    assert_eq!(newer.record.v, 99);
    assert_eq!(newer.record.event, "produced");
    assert_eq!(newer.record.why, WhyUnknown::Version { v: 99 });
    assert_eq!(newer.record.raw, future);
    assert!(newer.to_string().contains("newer"), "{newer}");
    let problems = aside.problems;
    let kinds: Vec<_> = problems.iter().map(|p| (p.line, p.kind.clone())).collect();
    assert!(
        matches!(kinds[0], (3, ProblemKind::Malformed(_))),
        "{kinds:?}"
    );
    assert_eq!(kinds[1], (5, ProblemKind::Torn));
    assert_eq!(problems.len(), 2);
    assert!(problems[1].to_string().contains("torn"));
}

#[test]
fn drop_writes_the_right_length_for_small_boundary_and_streamed_payloads() {
    // drop_job writes payloads up to 16 KiB in one write with the header, and streams
    // larger ones, patching the length afterwards: both must parse back exactly.
    let tmp = tempfile::tempdir().unwrap();
    let spool = Spool::create(tmp.path(), CreateOptions::default()).unwrap();
    for size in [0usize, 1, 16 * 1024, 16 * 1024 + 1, 200_000] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let id = JobId::generate();
        let dropped = spool
            .drop_job(id, &mut payload.as_slice(), Durability::NEVER)
            .unwrap();
        assert_eq!(dropped.payload_len, size as u64);
        let bytes = std::fs::read(tmp.path().join("new").join(id.to_string())).unwrap();
        let job = Job::parse(&bytes).unwrap();
        assert_eq!(job.header.id, id);
        assert_eq!(job.payload, payload.as_slice(), "payload of {size} bytes");
    }
}

/// `spoolq status` reports what a newer spoolq writes into the spool: records this build
/// does not understand at the end of the recent journals (with file and line), and
/// journal files it cannot name.
#[test]
fn status_counts_records_and_journal_files_from_a_newer_writer() {
    use spoolq_spool::status::{RECENT_TAIL_BYTES, Status};

    let (tmp, spool) = journal_dir();
    let writer = JournalWriter::create(
        spool.journal().clone(),
        Role::Daemon,
        WriterOptions::default(),
    )
    .unwrap();
    let id = JobId::generate();
    let newer = r#"{"v":2,"event":"claimed","mono_ns":5,"wall":"x","host":"h","pid":1}"#;
    let teleported = r#"{"v":1,"event":"teleported","mono_ns":6,"wall":"x","host":"h","pid":1}"#;
    // One newer record early in the file, then more than the tail window of records this
    // build reads, then two newer records at the end.
    let path = writer.path();
    let append = |line: &str| {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(file, "{line}").unwrap();
    };
    append(newer);
    let mut lines = 1;
    let mut size = 0;
    while size <= RECENT_TAIL_BYTES {
        size += serde_json::to_vec(&writer.write(claimed(id, 1)).unwrap())
            .unwrap()
            .len() as u64
            + 1;
        lines += 1;
    }
    append(teleported);
    append(newer);
    std::fs::write(
        tmp.path().join("journal/reaper-h-1-2-0000.jsonl"),
        format!("{newer}\n"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("journal/notes.txt"), "x").unwrap();

    let status = Status::collect(&spool, SystemTime::now()).unwrap();
    assert_eq!(status.recent_processes.len(), 1);
    assert_eq!(status.recent_processes[0].role, Role::Daemon);
    assert_eq!(status.unrecognized_journal_files, 2);
    let unknown = &status.unknown_records;
    assert_eq!(unknown.count, 2, "only the tail is read: {unknown:?}");
    let found: Vec<(u64, &str, &str)> = unknown
        .first
        .iter()
        .map(|u| (u.line, u.record.event.as_str(), u.record.raw.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (lines + 1, "teleported", teleported),
            (lines + 2, "claimed", newer)
        ]
    );
    assert!(unknown.first.iter().all(|u| u.file == path));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["unknown_records"]["count"], 2);
    assert_eq!(json["unknown_records"]["first"][1]["record"]["v"], 2);
}
