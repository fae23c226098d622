//! `JournalWriter::write_batch` on real files: one `write(2)` per batch up to
//! `MAX_WRITE_BYTES` (counted by the kernel, in /proc/thread-self/io), complete lines in
//! order, rotation where single writes would rotate, and a full file system (a small
//! tmpfs, where mounting is permitted) cutting a batch short.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use spoolq_claim::Dir;
use spoolq_claim::Strategy;
use spoolq_spool::journal::{self, Done, MAX_WRITE_BYTES, Role, Start, Stop};
use spoolq_spool::{DoneResult, Event, JobId, JournalWriter, ProblemKind, Record, WriterOptions};
use spoolq_testkit::{TmpfsMount, skip};

fn no_rotation() -> WriterOptions {
    WriterOptions {
        fsync: false,
        rotate_bytes: None,
    }
}

/// A writer in a folder of its own, `dir/label` (writers of one process started in the
/// same millisecond would otherwise pick the same file name).
fn writer_in(dir: &Path, label: &str, options: WriterOptions) -> JournalWriter {
    let dir = dir.join(label);
    std::fs::create_dir(&dir).unwrap();
    let dir = Arc::new(Dir::open(&dir).unwrap());
    JournalWriter::create(dir, Role::Daemon, options).unwrap()
}

/// `write(2)` calls made by this thread so far (None where the kernel does not say).
fn writes_by_this_thread() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The lines of a file, each with its newline.
fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn parse(line: &[u8]) -> Record {
    let text = line.strip_suffix(b"\n").expect("a complete line");
    journal::parse_line(text, true)
        .expect("a valid line")
        .expect("not blank")
        .into_record()
        .expect("a record this build understands")
}

/// `n` records, told apart by their worker number, with `detail` bytes of detail.
fn batch(n: u32, detail: usize) -> Vec<Record> {
    let id = JobId::generate();
    (0..n)
        .map(|i| {
            Record::new(Done {
                job: id,
                worker: i,
                strategy: Strategy::Verified,
                attempt: 1,
                name: id.to_string(),
                result: DoneResult::Ok,
                exit: Some(0),
                signal: None,
                detail: Some("d".repeat(detail)),
                outcome_ns: None,
            })
        })
        .collect()
}

/// Replaces the detail of a record made by [`batch`].
fn set_detail(record: &mut Record, detail: String) {
    let Event::Done(done) = &mut record.event else {
        panic!("not a batch record: {record:?}");
    };
    done.detail = Some(detail);
}

fn start() -> Record {
    Record::new(Start {
        strategy: Strategy::Verified,
        detail: "workers=1 drain=false".into(),
    })
}

fn workers(records: &[Record]) -> Vec<u32> {
    records.iter().map(|r| r.event.worker().unwrap()).collect()
}

/// `append_batch` writes the lines `write_batch` writes (the writer's stamps in each) and
/// gives the records back as they were given.
#[test]
fn an_appended_batch_is_stamped_in_its_lines_and_its_records_come_back_unstamped() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = writer_in(tmp.path(), "a", no_rotation());
    let given = batch(50, 10);
    let returned = writer.append_batch(given.clone()).unwrap();
    assert_eq!(returned, given, "the records as given");
    let stamped = writer.write_batch(given.clone()).unwrap();
    let lines = lines(&writer.path());
    assert_eq!(lines.len(), 100);
    let read: Vec<Record> = lines.iter().map(|l| parse(l)).collect();
    for (appended, written) in read[..50].iter().zip(&stamped) {
        assert_eq!(appended.event, written.event);
        assert_eq!(
            (
                appended.host.as_str(),
                appended.pid,
                appended.boot.as_deref()
            ),
            (writer.host(), writer.pid(), writer.boot())
        );
        assert!(
            humantime::parse_rfc3339(&appended.wall).is_ok(),
            "{}",
            appended.wall
        );
    }
    assert_eq!(&read[50..], &stamped[..]);
    assert!(read.windows(2).all(|w| w[0].mono_ns <= w[1].mono_ns));
}

#[test]
fn a_batch_is_one_write_of_complete_lines_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = writer_in(tmp.path(), "b", no_rotation());
    writer.write(start()).unwrap();

    let before = writes_by_this_thread();
    let written = writer.write_batch(batch(100, 20)).unwrap();
    let after = writes_by_this_thread();
    if let (Some(before), Some(after)) = (before, after) {
        assert_eq!(after - before, 1, "100 short records in one write(2)");
    }

    assert_eq!(workers(&written), (0..100).collect::<Vec<_>>());
    let lines = lines(&writer.path());
    assert_eq!(lines.len(), 101);
    let read: Vec<Record> = lines[1..].iter().map(|l| parse(l)).collect();
    // Stamped like single writes: process and both clocks, in file order.
    assert_eq!(read, written);
    for r in &read {
        assert_eq!((r.host.as_str(), r.pid), (writer.host(), writer.pid()));
        assert!(humantime::parse_rfc3339(&r.wall).is_ok(), "{}", r.wall);
    }
    let start = parse(&lines[0]);
    assert!(start.mono_ns <= read[0].mono_ns);
    assert!(read.windows(2).all(|w| w[0].mono_ns <= w[1].mono_ns));

    // An empty batch writes nothing.
    let before = writes_by_this_thread();
    assert!(writer.write_batch(Vec::new()).unwrap().is_empty());
    assert_eq!(writes_by_this_thread(), before);
    assert_eq!(self::lines(&writer.path()).len(), 101);
}

#[test]
fn an_oversized_batch_is_split_between_records_into_writes_within_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = writer_in(tmp.path(), "b", no_rotation());
    // About 1 KiB per line, 300 lines: five writes or so; one record longer than the cap
    // on its own in the middle.
    let mut records = batch(300, 1000);
    set_detail(&mut records[150], "x".repeat(MAX_WRITE_BYTES + 10));

    let before = writes_by_this_thread();
    let written = writer.write_batch(records).unwrap();
    let after = writes_by_this_thread();
    assert_eq!(workers(&written), (0..300).collect::<Vec<_>>());

    let lines = lines(&writer.path());
    let read: Vec<Record> = lines.iter().map(|l| parse(l)).collect();
    assert_eq!(read, written);
    assert!(read.windows(2).all(|w| w[0].mono_ns <= w[1].mono_ns));

    // The writes are the lines packed greedily under the cap, a longer line alone.
    let mut expected = 0u64;
    let mut open = 0usize;
    for line in &lines {
        if open > 0 && open + line.len() > MAX_WRITE_BYTES {
            expected += 1;
            open = 0;
        }
        open += line.len();
    }
    expected += 1;
    assert!(expected >= 6, "{expected}");
    if let (Some(before), Some(after)) = (before, after) {
        assert_eq!(after - before, expected);
    }
}

#[test]
fn a_batch_rotates_where_single_writes_would() {
    let tmp = tempfile::tempdir().unwrap();
    let limit = 2000u64;
    let options = WriterOptions {
        fsync: false,
        rotate_bytes: Some(limit),
    };
    let writer = writer_in(tmp.path(), "r", options);
    let written = writer.write_batch(batch(40, 100)).unwrap();
    let files = journal::journal_files(&[tmp.path().join("r")]).unwrap();
    assert!(files.len() >= 4, "{files:?}");
    let mut read = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let lines = lines(file);
        let size: u64 = lines.iter().map(|l| l.len() as u64).sum();
        if n + 1 < files.len() {
            // Full: it reached the limit, and only with its last line.
            let last = lines.last().unwrap().len() as u64;
            assert!(size >= limit && size - last < limit, "{}", file.display());
        }
        read.extend(lines.iter().map(|l| parse(l)));
    }
    assert_eq!(read, written);
}

fn page_size() -> Option<usize> {
    let out = Command::new("getconf").arg("PAGESIZE").output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// Fills the file system holding `path` with one file until ENOSPC, then frees its last
/// `free` bytes (whole pages).
fn fill_leaving(path: &Path, free: u64) -> std::fs::File {
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [64 * 1024, 4096, 512, 64, 8, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let len = f.metadata().unwrap().len();
    f.set_len(len - free).unwrap();
    f
}

#[test]
fn a_full_file_system_cuts_a_batch_after_its_last_whole_record() {
    if page_size() != Some(4096) {
        return skip("4 KiB pages (the test frees and fills whole pages)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let at = tmp.path().join("small");
    std::fs::create_dir(&at).unwrap();
    let _mount = match TmpfsMount::mount(&at, "256k") {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };

    // A batch of ~300-byte lines with one page free: the write stops after a page.
    let writer = writer_in(&at, "a", no_rotation());
    let filler = at.join(".filler");
    fill_leaving(&filler, 4096);
    let err = writer.write_batch(batch(40, 200)).unwrap_err();
    assert!(err.error.is_out_of_space(), "{err}");
    assert_eq!(std::fs::metadata(writer.path()).unwrap().len(), 4096);
    let whole = err.written.len();
    assert!(whole > 1 && whole < 40, "{whole} written");
    assert_eq!(
        workers(&err.unwritten),
        (whole as u32..40).collect::<Vec<_>>()
    );
    // What the reader finds in the file is exactly what was reported written.
    let (entries, _) = journal::read_all(&[writer.path()]).unwrap();
    let read: Vec<Record> = entries.into_iter().map(|e| e.record).collect();
    assert_eq!(read, err.written);
    // Space back: the rest goes in once, after the fragment's own (malformed) line.
    std::fs::remove_file(&filler).unwrap();
    let rest = writer.write_batch(err.unwritten).unwrap();
    assert_eq!(workers(&rest), (whole as u32..40).collect::<Vec<_>>());
    let (entries, aside) = journal::read_all(&[writer.path()]).unwrap();
    let problems = aside.problems;
    assert!(aside.unknown.is_empty(), "{:?}", aside.unknown);
    let all: Vec<Record> = entries.into_iter().map(|e| e.record).collect();
    assert_eq!(workers(&all), (0..40).collect::<Vec<_>>());
    assert!(problems.len() <= 1, "{problems:?}");
    assert!(
        problems
            .iter()
            .all(|p| matches!(p.kind, ProblemKind::Malformed(_))),
        "{problems:?}"
    );

    // A first record whose JSON is exactly one page: it lands without its newline, so
    // it is in the journal (the reader takes it) and not written again; the next write
    // starts with the newline it lacks.
    let writer = writer_in(&at, "b", no_rotation());
    let probe = writer_in(tmp.path(), "probe", no_rotation());
    let mut sized = batch(3, 0);
    let stamped = probe.write(sized[0].clone()).unwrap();
    let json_len = serde_json::to_vec(&stamped).unwrap().len();
    set_detail(&mut sized[0], "p".repeat(4096 - json_len));
    let sized_first = sized[0].clone();
    let filler = fill_leaving(&at.join(".filler"), 4096);
    let err = writer.write_batch(sized).unwrap_err();
    assert_eq!(workers(&err.written), [0], "{err}");
    assert_eq!(workers(&err.unwritten), [1, 2]);
    assert_eq!(std::fs::metadata(writer.path()).unwrap().len(), 4096);
    drop(filler);
    std::fs::remove_file(at.join(".filler")).unwrap();
    writer.write_batch(err.unwritten).unwrap();
    let (entries, aside) = journal::read_all(&[writer.path()]).unwrap();
    assert_eq!(aside, Default::default());
    let all: Vec<Record> = entries.into_iter().map(|e| e.record).collect();
    assert_eq!(workers(&all), [0, 1, 2]);
    assert_eq!(all[0], err.written[0]);

    // A single record in that case is written: `write` succeeds, and the record is in
    // the journal once, whole.
    let writer = writer_in(&at, "c", no_rotation());
    let filler = fill_leaving(&at.join(".filler"), 4096);
    let one = writer.write(sized_first.clone()).unwrap();
    assert_eq!(std::fs::metadata(writer.path()).unwrap().len(), 4096);
    drop(filler);
    std::fs::remove_file(at.join(".filler")).unwrap();
    let two = writer
        .write(Record::new(Stop {
            strategy: Strategy::Verified,
            detail: String::new(),
        }))
        .unwrap();
    let (entries, aside) = journal::read_all(&[writer.path()]).unwrap();
    assert_eq!(aside, Default::default());
    let all: Vec<Record> = entries.into_iter().map(|e| e.record).collect();
    assert_eq!(all, [one, two]);
}
