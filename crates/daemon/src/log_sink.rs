//! Where the daemon's log lines go: standard error, best effort.
//!
//! A log that cannot be written (a closed pipe after `2>&1 | head`, a log shipper that
//! died, a full disk under `2> file`) must never stop work nor panic: a line whose write
//! fails is dropped and counted, and the count goes into the `stop` record and the run's
//! summary, so an operator learns how much of the log is missing. The binary installs
//! [`stderr`] as its log subscriber's writer; this module knows nothing of log formats.
//!
//! The count is the process's, like its stderr: daemons run in one process (tests)
//! share it.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Log lines that could not be written since the process started.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many log lines could not be written to stderr and were dropped, so far.
pub fn dropped_log_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A writer for one log line on stderr that never fails: a failed write drops the line
/// and counts it (see the module's doc). A log subscriber makes one per line; as a
/// function it is what `tracing_subscriber`'s `with_writer` takes.
pub fn stderr() -> LogLine {
    LogLine
}

/// One log line on its way to stderr (see [`stderr`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogLine;

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        if err.write_all(buf).and_then(|()| err.flush()).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
