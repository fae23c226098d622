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
//!
//! A worker that handles a batch of jobs in place holds a [`LineBatch`] meanwhile: the
//! lines its thread logs are kept and go out in one write when the batch ends (or the
//! buffer fills), instead of one write per line. An urgent line ([`stderr_urgent`]: the
//! binary's warnings and errors) goes out at once with everything held before it, since a
//! batch may then wait (for space on a full journal) and the line says why. Lines of
//! other threads are not held.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The log target of the lines every job gets (claimed, the built-in handler's receipt,
/// done), all at debug: a daemon's default log carries what needs attention, and the
/// journal records every job. `SPOOLQ_LOG=info,spoolq::job=debug` shows them alone.
pub const JOB_LOG_TARGET: &str = "spoolq::job";

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
    LogLine { urgent: false }
}

/// [`stderr`] for a line that must not wait in a [`LineBatch`] (a warning or an error):
/// it is written at once, after the lines held before it.
pub fn stderr_urgent() -> LogLine {
    LogLine { urgent: true }
}

/// One log line on its way to stderr (see [`stderr`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogLine {
    urgent: bool,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let held = HELD.with(|held| {
            let mut held = held.borrow_mut();
            let lines = held.as_mut()?;
            lines.extend_from_slice(buf);
            Some(self.urgent || lines.len() >= HELD_MAX)
        });
        match held {
            Some(true) => flush_held(),
            Some(false) => {}
            None => write_lines(buf),
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes of held lines that make a write before the batch ends.
const HELD_MAX: usize = 64 * 1024;

thread_local! {
    /// This thread's held lines, while a [`LineBatch`] lives on it.
    static HELD: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Holds the lines this thread logs until it is dropped, then writes them at once
/// (see the module's doc). Nested batches hold into the outermost one.
#[derive(Debug)]
#[must_use = "the lines are held only while the batch lives"]
pub struct LineBatch {
    outermost: bool,
}

/// Starts holding this thread's log lines (see [`LineBatch`]).
pub fn hold_lines() -> LineBatch {
    let outermost = HELD.with(|held| {
        let mut held = held.borrow_mut();
        if held.is_some() {
            return false;
        }
        *held = Some(Vec::new());
        true
    });
    LineBatch { outermost }
}

impl Drop for LineBatch {
    fn drop(&mut self) {
        if self.outermost {
            flush_held();
            HELD.with(|held| held.borrow_mut().take());
        }
    }
}

/// Writes this thread's held lines, if any, and keeps holding.
fn flush_held() {
    let lines = HELD.with(|held| held.borrow_mut().as_mut().map(std::mem::take));
    if let Some(lines) = lines
        && !lines.is_empty()
    {
        write_lines(&lines);
        HELD.with(|held| {
            // Give the buffer back, so that a long batch does not allocate per write.
            if let Some(buf) = held.borrow_mut().as_mut()
                && buf.is_empty()
            {
                *buf = lines;
                buf.clear();
            }
        });
    }
}

/// One write of whole lines to stderr; when it fails, every line in it is counted.
fn write_lines(lines: &[u8]) {
    let mut err = std::io::stderr().lock();
    if err.write_all(lines).and_then(|()| err.flush()).is_err() {
        let count = lines.iter().filter(|&&b| b == b'\n').count().max(1);
        DROPPED.fetch_add(count as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> Option<Vec<u8>> {
        HELD.with(|held| held.borrow().clone())
    }

    #[test]
    fn a_batch_holds_its_threads_lines_until_it_ends_and_nested_batches_hold_into_it() {
        assert_eq!(held(), None, "nothing is held outside a batch");
        {
            let _outer = hold_lines();
            stderr()
                .write_all(b"log_sink test: first held line\n")
                .unwrap();
            {
                let _inner = hold_lines();
                stderr()
                    .write_all(b"log_sink test: second held line\n")
                    .unwrap();
            }
            assert_eq!(
                held().as_deref(),
                Some(&b"log_sink test: first held line\nlog_sink test: second held line\n"[..]),
                "the inner batch's end writes nothing: the outer one holds every line"
            );
            // Another thread's lines are its own, never held here.
            std::thread::spawn(|| assert_eq!(held(), None))
                .join()
                .unwrap();
        }
        assert_eq!(
            held(),
            None,
            "the batch's end wrote its lines and stopped holding"
        );
    }

    #[test]
    fn an_urgent_line_goes_out_at_once_with_the_lines_held_before_it() {
        let _batch = hold_lines();
        stderr().write_all(b"log_sink test: a held line\n").unwrap();
        stderr_urgent()
            .write_all(b"log_sink test: an urgent line\n")
            .unwrap();
        assert_eq!(held().as_deref(), Some(&b""[..]), "written, still holding");
    }
}
