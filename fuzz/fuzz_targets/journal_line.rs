//! The journal reader's judgement of one line (`journal::parse_line`) on arbitrary
//! bytes: what the auditor reads from journals torn by crashes or written by other
//! tools. Must never panic; a record it accepts must serialize and parse back equal; a
//! line it does not understand (from a newer writer) must be kept exactly as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoolq_spool::journal::{Line, parse_line};

fuzz_target!(|data: &[u8]| {
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
        }
        Ok(Some(Line::Unknown(unknown))) => {
            assert_eq!(unknown.raw, String::from_utf8_lossy(text));
        }
        Ok(None) | Err(_) => {}
    }
});
