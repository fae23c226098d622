//! Reading journal/ as a hostile producer may fill it (producers may write there): a
//! FIFO, symlinks to a secret and to an endless device, a file with no newline, a flood
//! of bad lines, a copy of a journal beside it. Nothing hangs, nothing is followed, no
//! line is held whole past the bound, every file is read once, and each refusal is a
//! problem with the file's name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spoolq_claim::{Dir, Strategy};
use spoolq_spool::journal::{
    self, Aside, Done, FileItem, FileRecords, JournalSet, KEPT_ASIDE, MAX_LINE_BYTES, Produced,
    Role,
};
use spoolq_spool::status::Status;
use spoolq_spool::{
    CreateOptions, DoneResult, JobId, JournalWriter, ProblemKind, Record, Spool, WriterOptions,
};

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A real producer journal with `n` records, in `dir`.
fn producer_journal(dir: &Path, n: usize) -> PathBuf {
    let writer = JournalWriter::create(
        Arc::new(Dir::open(dir).unwrap()),
        Role::Producer,
        WriterOptions::default(),
    )
    .unwrap();
    for _ in 0..n {
        writer
            .write(Record::new(Produced {
                job: JobId::generate(),
            }))
            .unwrap();
    }
    writer.path()
}

/// Every item of every file under `dir`, as the auditor reads them.
fn read_everything(dir: &Path) -> (Vec<Record>, Aside) {
    let files = journal::journal_files(&[dir.to_owned()]).unwrap();
    let set = JournalSet::identify(&files);
    let mut aside = Aside::default();
    for problem in set.problems {
        aside.add_problem(problem);
    }
    let mut records = Vec::new();
    for file in &set.files {
        match FileRecords::open(file) {
            Ok(items) => records.extend(items.filter_map(|i| aside.take(i)).map(|e| e.record)),
            Err(problem) => aside.add_problem(problem),
        }
    }
    (records, aside)
}

fn kinds_of(aside: &Aside) -> Vec<(String, ProblemKind)> {
    let mut kinds: Vec<(String, ProblemKind)> = aside
        .problems
        .iter()
        .map(|p| {
            let name = p.file.file_name().unwrap().to_string_lossy().into_owned();
            (name, p.kind.clone())
        })
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    kinds
}

#[test]
fn fifos_symlinks_and_devices_are_refused_by_name_and_never_opened_for_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    producer_journal(dir, 3);
    mkfifo(&dir.join("fifo.jsonl"));
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.jsonl")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.jsonl")).unwrap();
    std::fs::create_dir(dir.join("folder.jsonl")).unwrap();

    // Each is refused as it is, without blocking on the FIFO (no writer ever comes).
    let (records, aside) = read_everything(dir);
    assert_eq!(records.len(), 3, "the real journal is read whole");
    assert_eq!(
        kinds_of(&aside),
        [
            (
                "fifo.jsonl".to_owned(),
                ProblemKind::NotRegular("fifo".into())
            ),
            (
                "folder.jsonl".to_owned(),
                ProblemKind::NotRegular("directory".into())
            ),
            ("passwd.jsonl".to_owned(), ProblemKind::Symlink),
            ("zero.jsonl".to_owned(), ProblemKind::Symlink),
        ]
    );
    let text = aside.problems[0].to_string();
    assert!(text.contains("not read"), "{text}");

    // A file given by path is opened the same way: a link is not followed even then.
    let err = FileRecords::open(&dir.join("zero.jsonl")).unwrap_err();
    assert_eq!(err.kind, ProblemKind::Symlink);
    let err = FileRecords::open(&dir.join("fifo.jsonl")).unwrap_err();
    assert_eq!(err.kind, ProblemKind::NotRegular("fifo".into()));
}

#[test]
fn a_line_past_the_bound_is_skipped_to_its_newline_and_the_next_line_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let real = producer_journal(tmp.path(), 2);
    let text = std::fs::read_to_string(&real).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // A huge line between two records, then a file that is nothing but one unending line.
    let huge = "x".repeat(3 * MAX_LINE_BYTES);
    let mixed = tmp.path().join("mixed.jsonl");
    std::fs::write(&mixed, format!("{}\n{huge}\n{}\n", lines[0], lines[1])).unwrap();
    let endless = tmp.path().join("endless.jsonl");
    std::fs::write(&endless, "y".repeat(4 * 1024 * 1024)).unwrap();

    let items: Vec<FileItem> = FileRecords::open(&mixed).unwrap().collect();
    assert_eq!(items.len(), 3);
    assert!(matches!(&items[0], FileItem::Record(e) if e.line == 1));
    assert!(matches!(&items[1], FileItem::Problem(p)
        if p.line == 2 && p.kind == ProblemKind::LineTooLong { bytes: huge.len() as u64 + 1 }));
    assert!(matches!(&items[2], FileItem::Record(e) if e.line == 3));

    let items: Vec<FileItem> = FileRecords::open(&endless).unwrap().collect();
    assert_eq!(items.len(), 1);
    let FileItem::Problem(problem) = &items[0] else {
        panic!("{:?}", items[0]);
    };
    assert_eq!(
        problem.kind,
        ProblemKind::LineTooLong {
            bytes: 4 * 1024 * 1024
        }
    );
    assert!(problem.to_string().contains("4194304 bytes"), "{problem}");

    // A line just within the bound is still read (and judged: this one is not JSON).
    let edge = tmp.path().join("edge.jsonl");
    std::fs::write(&edge, format!("{}\n", "z".repeat(MAX_LINE_BYTES))).unwrap();
    let items: Vec<FileItem> = FileRecords::open(&edge).unwrap().collect();
    assert!(
        matches!(&items[..], [FileItem::Problem(p)] if matches!(p.kind, ProblemKind::Malformed(_))),
        "{items:?}"
    );
}

#[test]
fn a_flood_of_bad_lines_keeps_the_first_problems_and_counts_them_all() {
    let tmp = tempfile::tempdir().unwrap();
    let flood = "not json\n".repeat(KEPT_ASIDE * 5);
    std::fs::write(tmp.path().join("flood.jsonl"), flood).unwrap();
    let (records, aside) = read_everything(tmp.path());
    assert!(records.is_empty());
    assert_eq!(aside.problems.len(), KEPT_ASIDE);
    assert_eq!(aside.problem_count, (KEPT_ASIDE * 5) as u64);
    assert_eq!(aside.problems.last().unwrap().line, KEPT_ASIDE as u64);
}

/// A copy of a journal (a `cp -r` of journal/ taken while the writer was still
/// appending, given again with `--journal`) is the same writer's journal: read once, the
/// longer one. A file named as the same writer's journal whose bytes differ is not read
/// and is reported.
#[test]
fn copies_of_a_journal_are_read_once_and_a_conflicting_one_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let copy = tmp.path().join("copy");
    let forged = tmp.path().join("forged");
    for d in [&live, &copy, &forged] {
        std::fs::create_dir(d).unwrap();
    }
    let writer = JournalWriter::create(
        Arc::new(Dir::open(&live).unwrap()),
        Role::Daemon,
        WriterOptions::default(),
    )
    .unwrap();
    let id = JobId::generate();
    let done = |worker| {
        Record::new(Done {
            job: id,
            worker,
            strategy: Strategy::Verified,
            attempt: 1,
            name: id.to_string(),
            result: DoneResult::Ok,
            exit: Some(0),
            signal: None,
            detail: None,
            outcome_ns: None,
        })
    };
    writer.write(done(1)).unwrap();
    let name = writer.path().file_name().unwrap().to_owned();
    std::fs::copy(writer.path(), copy.join(&name)).unwrap();
    writer.write(done(2)).unwrap();
    // The same name and first line, then another record than the live file's.
    let first = std::fs::read_to_string(writer.path()).unwrap();
    let first = first.lines().next().unwrap();
    let other = serde_json::to_string(&done(9)).unwrap();
    std::fs::write(forged.join(&name), format!("{first}\n{other}\n")).unwrap();

    let inputs = [copy.clone(), live.clone(), forged.clone()];
    let files = journal::journal_files(&inputs).unwrap();
    assert_eq!(files.len(), 3);
    let set = JournalSet::identify(&files);
    assert_eq!(set.files, [live.join(&name)], "the longest, once");
    assert_eq!(set.copies.len(), 1);
    assert_eq!(set.copies[0].file, copy.join(&name));
    assert_eq!(set.copies[0].same_as, live.join(&name));
    assert_eq!(set.problems.len(), 1);
    assert_eq!(set.problems[0].file, forged.join(&name));
    assert_eq!(
        set.problems[0].kind,
        ProblemKind::ConflictingCopy {
            same_writer_as: live.join(&name)
        }
    );
    assert!(set.problems[0].to_string().contains("not read"));
}

/// Journals are read one process at a time, each process's files in rotation order,
/// even past the sequence numbers whose names no longer sort (9999, 10000).
#[test]
fn a_process_files_are_read_in_rotation_order() {
    let tmp = tempfile::tempdir().unwrap();
    let line = |worker: u32| {
        let mut r = Record::new(Produced {
            job: JobId::generate(),
        });
        r.host = "h".into();
        r.pid = 7;
        r.wall = format!("2026-12-02T10:00:00.{worker:06}Z");
        r.mono_ns = u64::from(worker);
        serde_json::to_string(&r).unwrap() + "\n"
    };
    for (sequence, worker) in [(10000, 3), (9999, 2), (0, 1)] {
        let name = format!("producer-h-7-1796205600000-{sequence:04}.jsonl");
        std::fs::write(tmp.path().join(name), line(worker)).unwrap();
    }
    let files = journal::journal_files(&[tmp.path().to_owned()]).unwrap();
    let set = JournalSet::identify(&files);
    let order: Vec<String> = set
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        order,
        [
            "producer-h-7-1796205600000-0000.jsonl",
            "producer-h-7-1796205600000-9999.jsonl",
            "producer-h-7-1796205600000-10000.jsonl",
        ]
    );
}

/// `spoolq status` reads journal/ too: a FIFO or a symlink named like a recent journal
/// is neither opened nor counted as a process, and is reported.
#[test]
fn status_reports_journal_names_that_are_not_regular_files_without_opening_them() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = Spool::create(tmp.path(), CreateOptions::default()).unwrap();
    let journal_dir = tmp.path().join("journal");
    producer_journal(&journal_dir, 1);
    mkfifo(&journal_dir.join("daemon-h-1-1796205600000-0000.jsonl"));
    std::os::unix::fs::symlink(
        "/dev/zero",
        journal_dir.join("daemon-h-2-1796205600000-0000.jsonl"),
    )
    .unwrap();
    let status = Status::collect(&spool, std::time::SystemTime::now()).unwrap();
    assert_eq!(status.recent_processes.len(), 1, "{status:?}");
    assert_eq!(status.recent_processes[0].role, Role::Producer);
    assert_eq!(status.journal_problems.count, 2);
    let mut kinds: Vec<ProblemKind> = status
        .journal_problems
        .first
        .iter()
        .map(|p| p.kind.clone())
        .collect();
    kinds.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(
        kinds,
        [ProblemKind::NotRegular("fifo".into()), ProblemKind::Symlink]
    );
}
