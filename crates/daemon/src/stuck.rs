//! What the daemon remembers of jobs it could not act on: a job whose handler ran (or
//! was about to) but whose unlink, move to retry/ or failed/, or attempt-counting rename
//! failed stays where it is, and would be claimed again at every rescan, forever. Each
//! such failure counts here, by job id; after `--max-attempts` of them the daemon gives
//! the job up: it claims it no more and journals a `stuck` record, which `spoolq status`
//! shows. A later success (the cause went away) forgets the job.
//!
//! The memory lives as long as the process: a daemon started later tries the job again
//! (at most `--max-attempts` times). What a failure means for the job and what is logged
//! is `outcome`'s; this module counts and remembers.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use spoolq_spool::journal::Stuck;
use spoolq_spool::{JobId, ReadyName, Record};

use crate::record::Journal;

/// What one more failure to act on a job means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The job's first failure in this process.
    First,
    /// Another one, below the limit: the `n`th.
    Again(u32),
    /// The `n`th, which reaches the limit: the job is given up from now on.
    GiveUp(u32),
}

/// A job's failures so far, and its `stuck` record once given up.
#[derive(Debug, Default)]
struct Memory {
    failures: u32,
    stuck: Option<Stuck>,
}

/// The jobs the daemon failed to act on, by id.
#[derive(Debug)]
pub(crate) struct StuckJobs {
    limit: u32,
    jobs: Mutex<HashMap<JobId, Memory>>,
    /// Some job is remembered: without it, the hot path never takes the lock.
    any: AtomicBool,
    /// Some job was given up: names are checked before they are claimed.
    any_given_up: AtomicBool,
    /// Where the journal was when the `stuck` records were last written (file, bytes).
    reminded_at: Mutex<Option<(OsString, u64)>>,
}

impl StuckJobs {
    /// Gives a job up after `limit` failures.
    pub fn new(limit: u32) -> StuckJobs {
        StuckJobs {
            limit: limit.max(1),
            jobs: Mutex::new(HashMap::new()),
            any: AtomicBool::new(false),
            any_given_up: AtomicBool::new(false),
            reminded_at: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Memory>> {
        // Counters and records only: consistent across a panic.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more failure to act on `job`; at the limit, `stuck` (the record to
    /// journal) is kept and the job is given up.
    pub fn failed(&self, job: JobId, stuck: impl FnOnce(u32) -> Stuck) -> Failure {
        let mut jobs = self.lock();
        self.any.store(true, Ordering::SeqCst);
        let memory = jobs.entry(job).or_default();
        memory.failures = memory.failures.saturating_add(1);
        let n = memory.failures;
        if n >= self.limit {
            memory.stuck = Some(stuck(n));
            self.any_given_up.store(true, Ordering::SeqCst);
            Failure::GiveUp(n)
        } else if n == 1 {
            Failure::First
        } else {
            Failure::Again(n)
        }
    }

    /// The `stuck` record of a given-up job.
    pub fn record(&self, job: JobId) -> Option<Stuck> {
        self.lock()
            .get(&job)
            .and_then(|memory| memory.stuck.clone())
    }

    /// Acting on `job` succeeded: forget its failures.
    pub fn succeeded(&self, job: JobId) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let mut jobs = self.lock();
        jobs.remove(&job);
        self.any.store(!jobs.is_empty(), Ordering::SeqCst);
    }

    /// Whether the job `name` names (a name in new/) was given up.
    pub fn given_up(&self, name: &OsStr) -> bool {
        if !self.any_given_up.load(Ordering::Relaxed) {
            return false;
        }
        ReadyName::parse(name).is_some_and(|ready| {
            self.lock()
                .get(&ready.id)
                .is_some_and(|memory| memory.stuck.is_some())
        })
    }

    /// How many jobs were given up.
    pub fn count(&self) -> u64 {
        if !self.any_given_up.load(Ordering::Relaxed) {
            return 0;
        }
        self.lock().values().filter(|m| m.stuck.is_some()).count() as u64
    }

    /// Journals every given-up job's `stuck` record again once the journal moved on to
    /// another file or by half the stretch `spoolq status` reads of its end, so that
    /// the end of the journal keeps naming them while the daemon runs. Blocking.
    pub fn remind(&self, journal: &Journal) {
        if !self.any_given_up.load(Ordering::Relaxed) {
            return;
        }
        let (file, bytes) = journal.writer().position();
        let mut reminded = self.reminded_at.lock().unwrap_or_else(|p| p.into_inner());
        let due = match &*reminded {
            None => true,
            Some((last_file, last_bytes)) => {
                *last_file != file
                    || bytes.saturating_sub(*last_bytes)
                        >= spoolq_spool::status::RECENT_TAIL_BYTES / 2
            }
        };
        if !due {
            return;
        }
        let records: Vec<Record> = self
            .lock()
            .values()
            .filter_map(|memory| memory.stuck.clone())
            .map(Record::new)
            .collect();
        if journal.write_batch(records).is_ok() {
            *reminded = Some(journal.writer().position());
        }
    }

    /// The journal was written at `position` with the `stuck` records: no reminder is
    /// due before it moves on.
    pub fn reminded(&self, position: (OsString, u64)) {
        *self.reminded_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(position);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoolq_claim::Strategy;
    use spoolq_spool::ReleaseCause;

    fn record(job: JobId, n: u32) -> Stuck {
        Stuck {
            job,
            worker: 1,
            strategy: Strategy::Verified,
            attempt: 1,
            name: job.to_string(),
            result: ReleaseCause::CompleteFailed,
            detail: format!("failed {n} times"),
        }
    }

    #[test]
    fn a_job_is_given_up_at_the_limit_and_forgotten_on_success() {
        let stuck = StuckJobs::new(3);
        let (a, b) = (JobId::generate(), JobId::generate());
        let name = OsString::from(a.to_string());
        assert_eq!(stuck.failed(a, |n| record(a, n)), Failure::First);
        assert_eq!(stuck.failed(a, |n| record(a, n)), Failure::Again(2));
        assert!(!stuck.given_up(&name));
        assert_eq!(stuck.failed(b, |n| record(b, n)), Failure::First);
        stuck.succeeded(b);
        assert_eq!(stuck.failed(a, |n| record(a, n)), Failure::GiveUp(3));
        assert!(stuck.given_up(&name));
        assert!(stuck.given_up(OsStr::new(&format!("{a}.4"))));
        assert!(!stuck.given_up(OsStr::new(&b.to_string())));
        assert_eq!(stuck.count(), 1);
        assert_eq!(stuck.failed(b, |n| record(b, n)), Failure::First);
    }
}
