//! The job header parser on arbitrary bytes: what the daemon reads from any file that
//! lands in new/. Must never panic; a header it accepts must survive a render and
//! re-parse unchanged (id, length), and its length must lie within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoolq_spool::{Job, JobHeader};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, len)) = JobHeader::parse_prefix(data) {
        assert!(len <= data.len());
        let rendered = header.render();
        let (again, n) = JobHeader::parse_prefix(&rendered).expect("a rendered header parses");
        assert_eq!((again.id, again.length), (header.id, header.length));
        assert_eq!(n, rendered.len());
    }
    if let Ok(job) = Job::parse(data) {
        assert_eq!(job.payload.len() as u64, job.header.length);
    }
});
