//! The daemon's journal: one writer per process (role "daemon"), plus the step hook
//! that journals claim protocol steps (`--trace-claims`) and widens the race window for
//! the lab (`--race-window`).
//!
//! Journal writes are blocking system calls: callers run them on the blocking pool
//! (they are made from inside the same blocking closures as the claims they describe).

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use spoolq_claim::{Step, StepEvent, StepHook, Strategy};
use spoolq_spool::{Event, JobId, JournalError, JournalWriter, ReadyName, Record, RetryName};
use tracing::error;

/// The process's journal writer with the daemon's strategy stamped on every record.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    writer: Arc<JournalWriter>,
    strategy: Strategy,
}

impl Journal {
    pub fn new(writer: Arc<JournalWriter>, strategy: Strategy) -> Journal {
        Journal { writer, strategy }
    }

    /// A record for one job event, with worker, strategy and attempt filled in.
    pub fn job_record(
        &self,
        event: Event,
        id: Option<JobId>,
        worker: u32,
        attempt: Option<u32>,
    ) -> Record {
        let mut record = Record::new(event)
            .worker(worker)
            .strategy(self.strategy.as_str());
        record.job = id;
        record.attempt = attempt;
        record
    }

    /// Writes a record; a failure is logged (with the event) and returned.
    pub fn write(&self, record: Record) -> Result<Record, JournalError> {
        let event = record.event;
        self.writer.write(record).inspect_err(|e| {
            error!(event = event.as_str(), error = %e, "journal write failed");
        })
    }

    pub fn writer(&self) -> &Arc<JournalWriter> {
        &self.writer
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
            let mut record = journal.job_record(
                Event::Step,
                id_from_name(ev.name),
                u32::try_from(ev.claimer).unwrap_or(u32::MAX),
                None,
            );
            record.step = Some(ev.step.as_str().to_owned());
            record.name = Some(spoolq_spool::names::printable(ev.name));
            match ev.result {
                Ok(()) => record.result = Some("ok".to_owned()),
                Err(errno) => {
                    record.result = Some("err".to_owned());
                    record.errno = Some(errno.name().to_owned());
                }
            }
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
