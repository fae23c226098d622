//! The journal's wire format, pinned: `fixtures/journal-v1.jsonl` holds one line of each
//! event kind (and the variants of results, errnos and optional fields) exactly as the
//! daemon and producer wrote them. Every line must read back and be written again byte
//! for byte, apart from the stamps a writer puts on (times, host, pid), so the format
//! cannot drift without this test failing.

use std::path::PathBuf;
use std::sync::Arc;

use spoolq_claim::Dir;
use spoolq_spool::journal::parse_line;
use spoolq_spool::{JournalWriter, Record, WriterOptions};

fn golden_lines() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v1.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines().map(str::to_owned).collect()
}

fn read(line: &str) -> Record {
    parse_line(line.as_bytes(), true)
        .unwrap_or_else(|e| panic!("{e:?}: {line}"))
        .expect("not blank")
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
    ] {
        assert_eq!(line.matches(&a).count(), 1, "{a} in {line}");
        line = line.replacen(&a, &b, 1);
    }
    line
}

#[test]
fn golden_lines_serialize_back_byte_for_byte() {
    for line in golden_lines() {
        let record = read(&line);
        assert_eq!(serde_json::to_string(&record).unwrap(), line);
    }
}

#[test]
fn the_writer_writes_golden_lines_byte_for_byte_apart_from_stamps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Arc::new(Dir::open(tmp.path()).unwrap());
    let writer = JournalWriter::create(dir, "daemon", WriterOptions::default()).unwrap();
    let golden = golden_lines();
    let records: Vec<Record> = golden.iter().map(|l| read(l)).collect();
    let stamped = writer.write_batch(records.clone()).unwrap();
    let text = std::fs::read_to_string(writer.path()).unwrap();
    let written: Vec<&str> = text.lines().collect();
    assert_eq!(written.len(), golden.len());
    for (((line, original), stamped), want) in
        written.iter().zip(&records).zip(&stamped).zip(&golden)
    {
        assert_eq!(&with_golden_stamps(line, original, stamped), want);
    }
}
