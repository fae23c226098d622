//! What becomes of a claimed job once its handler ran: completed (unlinked), moved to
//! retry/ with backoff, buried in failed/, or released, each under the claim's lock and
//! journaled.
//!
//! Exit codes: 0 completes the job; 100 sends it to failed/ (permanent failure); any
//! other failure (75 is the documented way to ask, any non-zero exit, a signal, a
//! timeout, a failed spawn) moves it to retry/ with backoff, until `max_attempts`
//! attempts were made, then to failed/.
//!
//! The job arrives claimed (`claiming`) with its handler's [`Run`]; this module decides
//! and does, and never runs or claims anything itself. Files that are not jobs at all
//! are `quarantine`'s.

use std::time::SystemTime;

use spoolq_claim::Strategy;
use spoolq_spool::failed::{FailedName, Reason};
use spoolq_spool::journal;
use spoolq_spool::names::printable;
use spoolq_spool::{DeadCause, DoneResult, JobId, Record, ReleaseCause, RetryName};
use tracing::{debug, error, info, warn};

use crate::backoff;
use crate::claiming::Claimed;
use crate::failed::{bury, rfc3339};
use crate::handler::Run;
use crate::state::{Shared, Stats};

/// Exit code with which a handler asks for a retry (sysexits' EX_TEMPFAIL). Any other
/// failure retries too; this one is simply the documented way to ask.
pub const EXIT_TEMPFAIL: i32 = 75;
/// Exit code with which a handler declares a permanent failure: no retry, failed/.
pub const EXIT_PERMANENT: i32 = 100;

/// Acts on the handler's outcome. Blocking.
pub(crate) fn finish(shared: &Shared, job: Claimed, run: Run) {
    let attempt = job.attempt();
    let id = job.header.id;
    if run.interrupted {
        let outcome = OutcomeFields::of(shared, &job, &run);
        drop(job.claim);
        Stats::bump(&shared.stats.released);
        let _ = shared
            .journal
            .write(outcome.released(ReleaseCause::Shutdown, run.describe()));
        warn!(job = %id, attempt, "handler terminated at shutdown: job released, it stays in new/");
        return;
    }
    if succeeded(&run) {
        complete(shared, job, &run);
    } else if run.code == Some(EXIT_PERMANENT) && !run.timed_out {
        bury_dead(
            shared,
            job,
            &run,
            DeadCause::PermanentFailure,
            format!("the handler exited with {EXIT_PERMANENT}: permanent failure, not retried"),
        );
    } else if attempt >= shared.config.max_attempts {
        let message = format!(
            "attempt {attempt} of {} failed ({}): attempts exhausted",
            shared.config.max_attempts,
            run.describe()
        );
        bury_dead(shared, job, &run, DeadCause::AttemptsExhausted, message);
    } else {
        retry(shared, job, &run);
    }
}

/// The handler succeeded: exit 0, in time.
pub(crate) fn succeeded(run: &Run) -> bool {
    run.code == Some(0) && !run.timed_out && run.spawn_error.is_none()
}

/// What every outcome record of an attempt carries: the job, the attempt, and how its
/// handler ended.
struct OutcomeFields {
    job: JobId,
    worker: u32,
    strategy: Strategy,
    attempt: u32,
    /// The job's name in new/ (printable).
    name: String,
    exit: Option<i32>,
    signal: Option<i32>,
    /// When the outcome was done: read here, while the caller still holds the job's lock
    /// (the record is written after the lock is let go).
    outcome_ns: u64,
}

impl OutcomeFields {
    /// Call while holding the job's lock, just before acting on it.
    fn of(shared: &Shared, job: &Claimed, run: &Run) -> OutcomeFields {
        OutcomeFields {
            job: job.header.id,
            worker: job.worker,
            strategy: shared.journal.strategy(),
            attempt: job.attempt(),
            name: printable(&job.name),
            exit: run.code,
            signal: run.signal,
            outcome_ns: spoolq_os::monotonic_ns(),
        }
    }

    fn done(self, result: DoneResult, detail: Option<String>) -> Record {
        let OutcomeFields {
            job,
            worker,
            strategy,
            attempt,
            name,
            exit,
            signal,
            outcome_ns,
        } = self;
        Record::new(journal::Done {
            job,
            worker,
            strategy,
            attempt,
            name,
            result,
            exit,
            signal,
            detail,
            outcome_ns: Some(outcome_ns),
        })
    }

    /// `retry_name`: the job's name in retry/.
    fn retry(self, retry_name: String, detail: String) -> Record {
        let OutcomeFields {
            job,
            worker,
            strategy,
            attempt,
            name: _,
            exit,
            signal,
            outcome_ns,
        } = self;
        Record::new(journal::Retry {
            job,
            worker,
            strategy,
            attempt,
            name: retry_name,
            exit,
            signal,
            detail,
            outcome_ns: Some(outcome_ns),
        })
    }

    /// `stored_as`: the job's name in failed/.
    fn dead(self, stored_as: String, result: DeadCause, detail: String) -> Record {
        let OutcomeFields {
            job,
            worker,
            strategy,
            attempt,
            name: _,
            exit,
            signal,
            outcome_ns,
        } = self;
        Record::new(journal::Dead {
            job,
            worker,
            strategy,
            attempt,
            name: stored_as,
            result,
            exit,
            signal,
            detail,
            outcome_ns: Some(outcome_ns),
        })
    }

    fn released(self, result: ReleaseCause, detail: String) -> Record {
        let OutcomeFields {
            job,
            worker,
            strategy,
            attempt,
            name,
            exit,
            signal,
            outcome_ns,
        } = self;
        Record::new(journal::Released {
            job,
            worker,
            strategy,
            attempt,
            name: Some(name),
            result,
            exit,
            signal,
            detail,
            outcome_ns: Some(outcome_ns),
        })
    }
}

fn complete(shared: &Shared, job: Claimed, run: &Run) {
    let record = complete_unjournaled(shared, job, run);
    let _ = shared.journal.write(record);
}

/// Completes (unlinks, under the lock) a job whose handler succeeded, and returns its
/// outcome record for the caller to write: `done`, or `released` if the unlink failed.
pub(crate) fn complete_unjournaled(shared: &Shared, job: Claimed, run: &Run) -> Record {
    let id = job.header.id;
    let attempt = job.attempt();
    let outcome = OutcomeFields::of(shared, &job, run);
    match job.claim.complete() {
        Ok(()) => {
            Stats::bump(&shared.stats.completed);
            info!(job = %id, attempt, "job done");
            outcome.done(DoneResult::Ok, None)
        }
        Err(e) if e.is_gone() => {
            // The naive strategy's race: another consumer completed this job while we
            // waited for the lock, and we ran it again. Record it; keep serving.
            Stats::bump(&shared.stats.completed);
            warn!(job = %id, attempt,
                "completing: the job's name was already gone (completed by another consumer \
                 while this one waited for the lock: the race of the naive strategy)");
            outcome.done(DoneResult::Enoent, Some(e.to_string()))
        }
        Err(e) => {
            Stats::bump(&shared.stats.errors);
            Stats::bump(&shared.stats.released);
            error!(job = %id, error = %e,
                "the handler succeeded but the job could not be removed; it stays in new/ \
                 and will run again");
            outcome.released(ReleaseCause::CompleteFailed, e.to_string())
        }
    }
}

fn retry(shared: &Shared, job: Claimed, run: &Run) {
    let id = job.header.id;
    let attempt = job.attempt();
    let config = &shared.config;
    let delay = backoff::delay(config.retry_base, config.retry_max, attempt);
    let mut target = RetryName::new(id, attempt, SystemTime::now() + delay);
    let outcome = OutcomeFields::of(shared, &job, run);
    let mut claim = job.claim;
    for _ in 0..16 {
        let name = target.to_os_string();
        match claim.move_to(shared.spool.retry(), &name) {
            Ok(()) => {
                Stats::bump(&shared.stats.retried);
                let detail = format!("{}; retry due at {}", run.describe(), rfc3339(target.due()));
                let _ = shared
                    .journal
                    .write(outcome.retry(printable(&name), detail));
                warn!(job = %id, attempt, outcome = %run.describe(),
                    retry_in = %humantime::format_duration(round_ms(delay)),
                    "handler failed: job moved to retry/");
                for line in &run.stderr_tail {
                    debug!(job = %id, "stderr: {line}");
                }
                return;
            }
            // Another retry of the same id with the same due millisecond: shift by 1 ms.
            Err(failed) if failed.error.is_already_exists() => {
                claim = failed.claim;
                target.due_ms = target.due_ms.saturating_add(1);
            }
            Err(failed) => {
                released_after_failed_move(
                    shared,
                    outcome,
                    "retry/",
                    ReleaseCause::RetryMoveFailed,
                    &failed.error,
                );
                return;
            }
        }
    }
    Stats::bump(&shared.stats.errors);
    error!(job = %id, "no free name in retry/ for the failed job; it stays in new/");
}

fn round_ms(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn bury_dead(shared: &Shared, job: Claimed, run: &Run, cause: DeadCause, message: String) {
    let id = job.header.id;
    let attempt = job.attempt();
    let mut reason = Reason::new(cause, message.clone(), &job.name);
    reason.job = Some(id);
    reason.attempts = Some(attempt);
    reason.exit_status = run.code;
    reason.signal = run.signal;
    reason.timed_out = run.timed_out;
    reason.stderr_tail = run.stderr_tail.clone();
    reason.created = Some(rfc3339(job.header.created));
    reason.last_attempt_started = Some(rfc3339(run.started));
    reason.last_attempt_ended = Some(rfc3339(run.ended));
    let outcome = OutcomeFields::of(shared, &job, run);
    match bury(
        shared.spool.failed(),
        job.claim,
        FailedName::original(&job.name),
        reason,
        &shared.daemon_id(),
    ) {
        Ok(buried) => {
            Stats::bump(&shared.stats.dead);
            let stored_as = printable(&buried.stored_as);
            let _ = shared
                .journal
                .write(outcome.dead(stored_as, cause, message.clone()));
            warn!(job = %id, attempt, reason = %cause, "{message}: job moved to failed/");
            if let Some(e) = buried.reason_error {
                error!(job = %id, error = %e, "writing the reason file beside it failed");
            }
        }
        Err(failed) => {
            // Release the lock; the file stays in new/.
            drop(failed.item);
            released_after_failed_move(
                shared,
                outcome,
                "failed/",
                ReleaseCause::BuryFailed,
                &failed.error,
            );
        }
    }
}

/// A move to retry/ or failed/ failed: the claim was (or is about to be) released and
/// the job stays in new/ to run again; count, log and journal that.
fn released_after_failed_move(
    shared: &Shared,
    outcome: OutcomeFields,
    folder: &str,
    cause: ReleaseCause,
    error: &spoolq_claim::Error,
) {
    Stats::bump(&shared.stats.errors);
    Stats::bump(&shared.stats.released);
    error!(job = %outcome.job, error = %error,
        "moving the job to {folder} failed; it stays in new/ and runs again");
    let _ = shared
        .journal
        .write(outcome.released(cause, error.to_string()));
}
