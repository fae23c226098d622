//! Replays the committed fuzz seed corpus (fuzz/corpus/<target>/) through the same
//! checks as the cargo-fuzz targets in fuzz/fuzz_targets/, so `cargo test` covers them
//! without nightly or libFuzzer. Files named `valid-*` must be accepted, `unknown-*`
//! (journal lines from a newer writer) kept unread, and `bad-*` rejected; every file
//! must be judged without a panic. Inputs that fuzzing finds worth keeping (crashes once
//! fixed, new coverage) go into the same folders.

use std::path::PathBuf;

use spoolq_spool::journal::{FileItem, FileRecords, Line, MAX_LINE_BYTES, parse_line};
use spoolq_spool::{Job, JobHeader, ProblemKind};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the seed corpus of {target} is missing");
    files
}

/// How a target judged an input.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Accepted,
    KeptUnknown,
    Rejected,
}

/// The job_header fuzz target's checks.
fn job_header(data: &[u8]) -> Verdict {
    if let Ok((header, len)) = JobHeader::parse_prefix(data) {
        assert!(len <= data.len());
        let rendered = header.render();
        let (again, n) = JobHeader::parse_prefix(&rendered).expect("a rendered header parses");
        assert_eq!((again.id, again.length), (header.id, header.length));
        assert_eq!(n, rendered.len());
    }
    match Job::parse(data) {
        Ok(job) => {
            assert_eq!(job.payload.len() as u64, job.header.length);
            Verdict::Accepted
        }
        Err(_) => Verdict::Rejected,
    }
}

/// The journal_line fuzz target's checks: a record read is written back as a line that
/// reads as the same record; a line not understood is kept exactly as it was.
fn journal_line(data: &[u8]) -> Verdict {
    let (text, complete) = match data.split_last() {
        Some((b'\n', rest)) => (rest, true),
        _ => (data, false),
    };
    match parse_line(text, complete) {
        Ok(Some(Line::Record(record))) => {
            let line = serde_json::to_vec(&record).expect("a record serializes");
            let again = parse_line(&line, true)
                .expect("a serialized record parses")
                .expect("and is not blank");
            assert_eq!(again, Line::Record(record));
            Verdict::Accepted
        }
        Ok(Some(Line::Unknown(unknown))) => {
            assert_eq!(unknown.raw, String::from_utf8_lossy(text));
            Verdict::KeptUnknown
        }
        Ok(None) => Verdict::Accepted,
        Err(_) => Verdict::Rejected,
    }
}

/// The journal_file fuzz target's checks: line numbers only grow and count newlines, a
/// line too long is reported with its length, records read back. A file is accepted
/// when every line is a record (or blank), kept unknown when some line is from a newer
/// writer and none is a problem, rejected when some line is a problem.
fn journal_file(data: &[u8]) -> Verdict {
    let lines = data.split(|&b| b == b'\n').count() as u64;
    let reader = FileRecords::from_reader(
        std::path::Path::new("corpus.jsonl"),
        std::io::Cursor::new(data.to_vec()),
        data.len() as u64,
    );
    let (mut last, mut unknown, mut problems) = (0, 0, 0);
    for item in reader {
        let line = match &item {
            FileItem::Record(entry) => {
                let text = serde_json::to_vec(&entry.record).expect("a record serializes");
                let again = parse_line(&text, true).expect("parses").expect("not blank");
                assert_eq!(again, Line::Record(entry.record.clone()));
                entry.line
            }
            FileItem::Unknown(entry) => {
                unknown += 1;
                entry.line
            }
            FileItem::Problem(problem) => {
                problems += 1;
                if let ProblemKind::LineTooLong { bytes } = problem.kind {
                    assert!(bytes > MAX_LINE_BYTES as u64);
                }
                problem.line
            }
        };
        assert!(
            line > last && line <= lines,
            "line {line} after {last} of {lines}"
        );
        last = line;
    }
    match (problems, unknown) {
        (0, 0) => Verdict::Accepted,
        (0, _) => Verdict::KeptUnknown,
        _ => Verdict::Rejected,
    }
}

fn replay(target: &str, check: fn(&[u8]) -> Verdict) {
    for (name, data) in corpus(target) {
        let verdict = check(&data);
        let expected = if name.starts_with("valid-") {
            Verdict::Accepted
        } else if name.starts_with("unknown-") {
            Verdict::KeptUnknown
        } else if name.starts_with("bad-") {
            Verdict::Rejected
        } else {
            continue;
        };
        assert_eq!(verdict, expected, "{target}/{name}");
    }
}

#[test]
fn job_header_corpus() {
    replay("job_header", job_header);
}

#[test]
fn journal_line_corpus() {
    replay("journal_line", journal_line);
}

#[test]
fn journal_file_corpus() {
    replay("journal_file", journal_file);
}

#[test]
fn journal_line_torn_and_malformed_are_told_apart() {
    use spoolq_spool::ProblemKind;
    let torn = br#"{"v":1,"event":"claimed","mono_ns":1"#;
    assert_eq!(parse_line(torn, false), Err(ProblemKind::Torn));
    assert!(matches!(
        parse_line(torn, true),
        Err(ProblemKind::Malformed(_))
    ));
    assert_eq!(parse_line(b"  ", true), Ok(None));
}
