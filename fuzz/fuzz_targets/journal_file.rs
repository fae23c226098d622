//! The journal file reader (`journal::FileRecords`) on arbitrary bytes: what the auditor
//! and `spoolq status` read from journal/, where producers may write. Must never panic
//! nor hold a line past `MAX_LINE_BYTES`; line numbers only grow and count the newlines;
//! a line too long is reported with its length; a record read serializes and parses back
//! equal.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use spoolq_spool::ProblemKind;
use spoolq_spool::journal::{FileItem, FileRecords, Line, MAX_LINE_BYTES, parse_line};

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count() as u64;
    let reader = FileRecords::from_reader(
        Path::new("fuzz.jsonl"),
        Cursor::new(data.to_vec()),
        data.len() as u64,
    );
    let mut last = 0;
    for item in reader {
        let line = match &item {
            FileItem::Record(entry) => {
                let text = serde_json::to_vec(&entry.record).expect("a record serializes");
                let again = parse_line(&text, true).expect("parses").expect("not blank");
                assert_eq!(again, Line::Record(entry.record.clone()));
                entry.line
            }
            FileItem::Unknown(unknown) => {
                assert!(unknown.record.raw.len() <= 3 * MAX_LINE_BYTES + 3);
                unknown.line
            }
            FileItem::Problem(problem) => {
                if let ProblemKind::LineTooLong { bytes } = problem.kind {
                    assert!(bytes > MAX_LINE_BYTES as u64);
                }
                problem.line
            }
        };
        assert!(line > last && line <= lines, "line {line} after {last} of {lines}");
        last = line;
    }
});
