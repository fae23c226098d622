//! The daemon's journal: one writer per process (role "daemon"), plus the step hook
//! that journals claim protocol steps (`--trace-claims`) and widens the race window for
//! the lab (`--race-window`).
//!
//! Journal writes are blocking system calls: callers run them on the blocking pool
//! (they are made from inside the same blocking closures as the claims they describe).
//!
//! The record types and the line format are `spoolq_spool::journal`'s; this module
//! decides when a failed write waits for space (outcomes) and when it gives up (claims,
//! and everything once the daemon is stopping). Batches go through
//! `JournalWriter::append_batch`: the stamps are in the lines, and the records handed
//! back are the ones given (the daemon keeps none).

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spoolq_claim::{Step, StepEvent, StepHook, Strategy};
use spoolq_spool::journal::ClaimStep;
use spoolq_spool::{
    BatchError, Errno, Event, EventKind, JobId, JournalError, JournalWriter, ReadyName, Record,
    RetryName,
};
use tracing::{error, info, warn};

use crate::lifecycle::Lifecycle;

/// The longest pause between two tries of an outcome record on a full file system.
const SPACE_POLL_MAX: Duration = Duration::from_secs(1);

/// The process's journal writer, and the daemon's strategy, which its records carry.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    writer: Arc<JournalWriter>,
    strategy: Strategy,
    /// Once it is stopping, outcome records stop waiting for space (one try each).
    lifecycle: Lifecycle,
    /// `claimed` records are failing: logged once per episode, not once per job.
    claims_failing: Arc<AtomicBool>,
}

impl Journal {
    pub fn new(writer: Arc<JournalWriter>, strategy: Strategy, lifecycle: Lifecycle) -> Journal {
        Journal {
            writer,
            strategy,
            lifecycle,
            claims_failing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The claim strategy the daemon's records carry.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Writes a record; a failure is logged (with the event) and returned.
    ///
    /// An outcome (done, retry, dead, quarantined, released, requeued) records something
    /// already done to a job, and an audit without it would call the job lost. So when
    /// the file system is full, an outcome waits for space (blocking this thread,
    /// retrying with a pause growing to a second) until it is written or the daemon shuts
    /// down. Meanwhile the worker holds no lock and new claims fail their `claimed`
    /// record and are released unprocessed: the daemon runs nothing it cannot journal.
    pub fn write(&self, record: Record) -> Result<Record, JournalError> {
        match self.write_batch(vec![record]) {
            Ok(mut written) => Ok(written.pop().expect("one record in, one record out")),
            Err(e) => Err(e.error),
        }
    }

    /// Writes records in order, in one `write(2)` (up to the writer's batch size), as
    /// [`write`](Self::write) writes one: when every record not yet written is an outcome,
    /// a full file system makes the rest wait for space. A failure is logged once and
    /// returned with what was written and what was not.
    pub fn write_batch(&self, records: Vec<Record>) -> Result<Vec<Record>, BatchError> {
        let mut pause = Duration::from_millis(10);
        // The outcome first found waiting for space (for the log line when space is back).
        let mut waited: Option<(EventKind, Option<JobId>)> = None;
        let mut pending = records;
        let mut written_before: Vec<Record> = Vec::new();
        loop {
            let result = self.writer.append_batch(pending);
            self.note_reopened();
            let error = match result {
                Ok(written) => {
                    if let Some((event, job)) = waited {
                        info!(
                            event = event.as_str(),
                            job = job.map(tracing::field::display),
                            records = written.len(),
                            "journal: space is back; the waiting outcome is recorded"
                        );
                    }
                    return Ok(if written_before.is_empty() {
                        written
                    } else {
                        written_before.extend(written);
                        written_before
                    });
                }
                Err(e) => e,
            };
            written_before.extend(error.written);
            pending = error.unwritten;
            let Some(first) = pending.first() else {
                // Nothing left unwritten: whatever failed, every record is in.
                return Ok(written_before);
            };
            let waits = pending.iter().all(|r| is_outcome(&r.event));
            if waits && error.error.is_out_of_space() && !self.lifecycle.is_stopping() {
                if waited.is_none() {
                    warn!(
                        event = first.kind().as_str(),
                        job = first.job().map(tracing::field::display),
                        error = %error.error,
                        "journal: the file system is full; waiting for space to record \
                         this outcome (new claims are released unprocessed meanwhile): \
                         free space under the spool's journal/"
                    );
                    waited = Some((first.kind(), first.job()));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(SPACE_POLL_MAX);
                continue;
            }
            error!(event = first.kind().as_str(), error = %error.error, "journal write failed");
            return Err(BatchError {
                written: written_before,
                unwritten: pending,
                error: error.error,
            });
        }
    }

    /// Writes a `claimed` record once, never waiting: the caller releases the job
    /// unprocessed if it fails. The first failure of an episode is logged as an error,
    /// the rest at debug (a full disk would otherwise log every job at every rescan);
    /// the first success after it says that claiming resumed.
    pub fn write_claimed(&self, record: Record) -> Result<Record, JournalError> {
        match self.write_claimed_batch(vec![record]) {
            Ok(mut written) => Ok(written.pop().expect("one record in, one record out")),
            Err(e) => Err(e.error),
        }
    }

    /// [`write_claimed`](Self::write_claimed) for several `claimed` records, in one
    /// `write(2)`. On failure, the records reported written are in the journal (a full
    /// file system cuts a write between lines): their jobs may run; the caller releases
    /// the others unprocessed.
    pub fn write_claimed_batch(&self, records: Vec<Record>) -> Result<Vec<Record>, BatchError> {
        let job = records.first().and_then(Record::job);
        let result = self.writer.append_batch(records);
        self.note_reopened();
        match result {
            Ok(written) => {
                if self.claims_failing.swap(false, Ordering::SeqCst) {
                    info!("journal: claimed records can be written again; claiming resumes");
                }
                Ok(written)
            }
            Err(e) => {
                if self.claims_failing.swap(true, Ordering::SeqCst) {
                    tracing::debug!(job = job.map(tracing::field::display), error = %e,
                        "claimed record not journaled: job released unprocessed");
                } else {
                    error!(
                        error = %e.error,
                        out_of_space = e.error.is_out_of_space(),
                        "journal: cannot write the claimed record, so no job is run: each \
                         claimed job is released unprocessed and stays in new/ until the \
                         journal can be written (free space under the spool's journal/)"
                    );
                }
                Err(e)
            }
        }
    }

    /// Writes a record once, without logging a failure (for a `released` record that
    /// follows a failed `claimed` one: the failure was already reported).
    pub fn write_quiet(&self, record: Record) -> Result<Record, JournalError> {
        let result = self.writer.write(record);
        self.note_reopened();
        result
    }

    /// Logs that the journal file was removed by hand and the writer went on in a new one.
    fn note_reopened(&self) {
        if let Some((removed, now)) = self.writer.take_reopened() {
            warn!(
                removed = %removed.display(),
                now = %now.display(),
                "journal: the journal file was removed while the daemon wrote it (by hand?); \
                 writing goes on in a new file, which also holds the records of the write \
                 that noticed it; the records in the removed file are lost with it"
            );
        }
    }

    pub fn writer(&self) -> &Arc<JournalWriter> {
        &self.writer
    }
}

/// Whether `event` records something already done to a job (and so waits for space).
fn is_outcome(event: &Event) -> bool {
    match event {
        Event::Done(_)
        | Event::Retry(_)
        | Event::Dead(_)
        | Event::Quarantined(_)
        | Event::Released(_)
        | Event::Requeued(_) => true,
        // A `stuck` record is written again while the daemon runs: one try is enough.
        Event::Start(_)
        | Event::Stop(_)
        | Event::Produced(_)
        | Event::Claimed(_)
        | Event::Stuck(_)
        | Event::Step(_)
        | Event::Pruned(_)
        | Event::Paused(_)
        | Event::Resumed(_) => false,
    }
}

/// The job id a spool name carries, if it is a ready or retry name.
pub(crate) fn id_from_name(name: &OsStr) -> Option<JobId> {
    ReadyName::parse(name)
        .map(|r| r.id)
        .or_else(|| RetryName::parse(name).map(|r| r.id))
}

/// The step hook for `--trace-claims` and `--race-window`, or None if neither is on.
/// It runs inside `Claimer::claim`, on the blocking pool, so sleeping there is fine.
pub(crate) fn step_hook(
    journal: &Journal,
    trace: bool,
    race_window: Option<Duration>,
) -> Option<StepHook> {
    if !trace && race_window.is_none() {
        return None;
    }
    let journal = journal.clone();
    Some(Arc::new(move |ev: &StepEvent<'_>| {
        if trace {
            let record = Record::new(ClaimStep {
                job: id_from_name(ev.name),
                worker: u32::try_from(ev.claimer).unwrap_or(u32::MAX),
                strategy: journal.strategy,
                name: spoolq_spool::names::printable(ev.name),
                step: ev.step,
                result: ev.result.map_err(Errno::from),
            });
            // Tracing is diagnostic: a failed write is logged by `write` and ignored.
            let _ = journal.write(record);
        }
        if let Some(window) = race_window
            && ev.step == Step::AfterOpen
            && ev.result.is_ok()
        {
            std::thread::sleep(window);
        }
    }))
}
