//! What becomes of a claimed job once its handler ran: completed (unlinked), moved to
//! retry/ with backoff, buried in failed/, or released, each under the claim's lock and
//! journaled.
//!
//! Exit codes: 0 completes the job; 100 sends it to failed/ (permanent failure); any
//! other failure (75 is the documented way to ask, any non-zero exit, a signal, a
//! timeout, a failed spawn) moves it to retry/ with backoff, until `max_attempts`
//! attempts were made, then to failed/.
//!
//! Every act is on the claimed file only: a name that no longer names it when checked
//! under the lock (a newer file renamed over it, a person's `rm` or `mv`) is left alone
//! and journaled as `released` with `name_changed`. An act that fails (the unlink, a
//! move, the rename that counts an attempt) leaves the job where it is, `released`, and
//! counts in `stuck`: after `--max-attempts` such failures the daemon gives the job up.
//!
//! The job arrives claimed (`claiming`) with its handler's [`Run`]; this module decides
//! and does, and never runs or claims anything itself. Files that are not jobs at all
//! are `quarantine`'s.

use std::time::SystemTime;

use spoolq_claim::{ActError, NameNow, Strategy};
use spoolq_spool::failed::{FailedName, Reason};
use spoolq_spool::journal;
use spoolq_spool::names::printable;
use spoolq_spool::{DeadCause, DoneResult, JobId, Record, ReleaseCause, RetryName};
use tracing::{debug, error, warn};

use crate::backoff;
use crate::claiming::Claimed;
use crate::failed::{bury, rfc3339};
use crate::handler::Run;
use crate::state::{Shared, Stats};
use crate::stuck::Failure;

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
            attempt,
        );
    } else if attempt >= shared.config.max_attempts {
        let message = format!(
            "attempt {attempt} of {} failed ({}): attempts exhausted",
            shared.config.max_attempts,
            run.describe()
        );
        bury_dead(
            shared,
            job,
            &run,
            DeadCause::AttemptsExhausted,
            message,
            attempt,
        );
    } else {
        retry(shared, job, &run);
    }
}

/// The claimed name counts `--max-attempts` attempts or more, so the attempt about to
/// start would be one too many: the last ones did not end (the daemon or its handler
/// was killed each time; a failed one would have buried the job). Buries it in failed/
/// with `attempts_exhausted`, unrun. Blocking.
pub(crate) fn bury_unstarted(shared: &Shared, job: Claimed) {
    let made = job.ready.attempts;
    let max = shared.config.max_attempts;
    let message = format!(
        "{made} attempts started and none ended (the daemon or the handler was killed each          time): one more would exceed --max-attempts {max}; not run again"
    );
    let run = Run::not_started();
    bury_dead(
        shared,
        job,
        &run,
        DeadCause::AttemptsExhausted,
        message,
        made,
    );
}

/// The rename that counts the attempt about to start failed: the job keeps its name and
/// its handler does not run. Blocking.
pub(crate) fn count_failed(shared: &Shared, job: Claimed, error: &ActError) {
    let run = Run::not_started();
    let outcome = OutcomeFields::of(shared, &job, &run);
    drop(job.claim);
    if let Some(now) = error.name_now() {
        left_alone(shared, outcome, "count its attempt", now, &run);
        return;
    }
    could_not_act(
        shared,
        outcome,
        "renaming it to count the attempt about to start (the handler did not run)",
        ReleaseCause::RenameFailed,
        &error.to_string(),
    );
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
            name: printable(job.name()),
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
    let mut records = Vec::with_capacity(2);
    complete_unjournaled(shared, job, run, &mut records);
    let _ = shared.journal.write_batch(records);
}

/// Completes (unlinks, under the lock) a job whose handler succeeded, and adds its
/// outcome record to `records` for the caller to write: `done`; `released` if the name
/// no longer named the job (left alone) or the unlink failed (then also counted in
/// `stuck`, and followed by the `stuck` record when the job is given up).
pub(crate) fn complete_unjournaled(
    shared: &Shared,
    job: Claimed,
    run: &Run,
    records: &mut Vec<Record>,
) {
    let id = job.header.id;
    let attempt = job.attempt();
    let outcome = OutcomeFields::of(shared, &job, run);
    match job.claim.complete() {
        Ok(()) => {
            Stats::bump(&shared.stats.completed);
            shared.stuck.succeeded(id);
            debug!(target: crate::log_sink::JOB_LOG_TARGET, job = %id, attempt, "job done");
            records.push(outcome.done(DoneResult::Ok, None));
        }
        Err(ActError::NotAtName {
            now: NameNow::Gone,
            path,
        }) if outcome.strategy == Strategy::Naive => {
            // The naive strategy's race: another consumer completed this job while we
            // waited for the lock, and we ran it again. Record it; keep serving.
            Stats::bump(&shared.stats.completed);
            warn!(job = %id, attempt,
                "completing: the job's name was already gone (completed by another consumer \
                 while this one waited for the lock: the race of the naive strategy)");
            let detail = format!("{}: the name was already gone", path.display());
            records.push(outcome.done(DoneResult::Enoent, Some(detail)));
        }
        Err(ActError::Io(e)) if e.is_gone() => {
            // The name, checked a moment before, was gone at the unlink itself (ENOENT, or
            // ESTALE from a network client): removed through another mount or by hand in
            // between. The handler ran; nothing is left to remove.
            Stats::bump(&shared.stats.completed);
            warn!(job = %id, attempt, error = %e,
                "completing: the job's name was gone at the unlink (removed through another \
                 mount or by hand since it was checked)");
            records.push(outcome.done(DoneResult::Enoent, Some(e.to_string())));
        }
        Err(ActError::NotAtName { now, .. }) => {
            records.push(left_alone_record(shared, outcome, "remove it", now, run));
        }
        Err(ActError::Io(e)) => records.extend(could_not_act_records(
            shared,
            outcome,
            "removing it after its handler succeeded",
            ReleaseCause::CompleteFailed,
            &e.to_string(),
        )),
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
                shared.stuck.succeeded(id);
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
                drop(failed.claim);
                match failed.error {
                    ActError::NotAtName { now, .. } => {
                        left_alone(shared, outcome, "move it to retry/", now, run);
                    }
                    ActError::Io(error) => could_not_act(
                        shared,
                        outcome,
                        "moving it to retry/",
                        ReleaseCause::RetryMoveFailed,
                        &error.to_string(),
                    ),
                }
                return;
            }
        }
    }
    drop(claim);
    could_not_act(
        shared,
        outcome,
        "moving it to retry/",
        ReleaseCause::RetryMoveFailed,
        "no free name in retry/ (16 due times taken)",
    );
}

fn round_ms(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Moves the job to failed/ with its reason; `attempts`: the attempts made.
fn bury_dead(
    shared: &Shared,
    job: Claimed,
    run: &Run,
    cause: DeadCause,
    message: String,
    attempts: u32,
) {
    let id = job.header.id;
    let attempt = job.attempt();
    let mut reason = Reason::new(cause, message.clone(), job.name());
    reason.job = Some(id);
    reason.attempts = Some(attempts);
    reason.exit_status = run.code;
    reason.signal = run.signal;
    reason.timed_out = run.timed_out;
    reason.stderr_tail = run.stderr_tail.clone();
    reason.created = Some(rfc3339(job.header.created));
    if !run.not_started {
        reason.last_attempt_started = Some(rfc3339(run.started));
        reason.last_attempt_ended = Some(rfc3339(run.ended));
    }
    let mut outcome = OutcomeFields::of(shared, &job, run);
    outcome.attempt = attempts.min(attempt);
    let failed_name = FailedName::original(job.name());
    match bury(
        shared.spool.failed(),
        job.claim,
        failed_name,
        reason,
        &shared.daemon_id(),
    ) {
        Ok(buried) => {
            Stats::bump(&shared.stats.dead);
            shared.stuck.succeeded(id);
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
            match failed.error {
                ActError::NotAtName { now, .. } => {
                    left_alone(shared, outcome, "move it to failed/", now, run);
                }
                ActError::Io(error) => could_not_act(
                    shared,
                    outcome,
                    "moving it to failed/",
                    ReleaseCause::BuryFailed,
                    &error.to_string(),
                ),
            }
        }
    }
}

/// The job's name no longer named the claimed file when the daemon went to `act` on it
/// (the claim was, or is about to be, released): the name was left alone. Journals
/// `released` with `name_changed`.
fn left_alone(shared: &Shared, outcome: OutcomeFields, act: &str, now: NameNow, run: &Run) {
    let record = left_alone_record(shared, outcome, act, now, run);
    let _ = shared.journal.write(record);
}

fn left_alone_record(
    shared: &Shared,
    outcome: OutcomeFields,
    act: &str,
    now: NameNow,
    run: &Run,
) -> Record {
    Stats::bump(&shared.stats.released);
    shared.stuck.succeeded(outcome.job);
    let what = match now {
        NameNow::Replaced => {
            "another file was renamed over it (publish without replacing: rename with \
             RENAME_NOREPLACE, or link then unlink; never `mv -f`); that file is a job of \
             its own and is claimed like any other"
        }
        NameNow::Gone => "it was removed or moved away by hand",
    };
    warn!(job = %outcome.job, attempt = outcome.attempt, name = %outcome.name,
        handler = %run.describe(),
        "the job's name no longer names the file this daemon claimed: {what}; the name \
         is left alone (the daemon was about to {act})");
    let detail = format!(
        "{now} (the daemon was about to {act}; the handler: {})",
        run.describe()
    );
    outcome.released(ReleaseCause::NameChanged, detail)
}

/// The daemon could not act on the job (`doing` failed with `error`): the claim was, or
/// is about to be, released and the job stays in new/. Counts, logs and journals that,
/// and gives the job up once it failed `--max-attempts` times.
fn could_not_act(
    shared: &Shared,
    outcome: OutcomeFields,
    doing: &str,
    cause: ReleaseCause,
    error: &str,
) {
    let records = could_not_act_records(shared, outcome, doing, cause, error);
    if let Ok(written) = shared.journal.write_batch(records)
        && written
            .iter()
            .any(|r| matches!(r.event, journal::Event::Stuck(_)))
    {
        shared.stuck.reminded(shared.journal.writer().position());
    }
}

fn could_not_act_records(
    shared: &Shared,
    outcome: OutcomeFields,
    doing: &str,
    cause: ReleaseCause,
    error: &str,
) -> Vec<Record> {
    Stats::bump(&shared.stats.errors);
    Stats::bump(&shared.stats.released);
    let max = shared.config.max_attempts;
    let failure = shared.stuck.failed(outcome.job, |n| journal::Stuck {
        job: outcome.job,
        worker: outcome.worker,
        strategy: outcome.strategy,
        attempt: outcome.attempt,
        name: outcome.name.clone(),
        result: cause,
        detail: format!("{doing} failed {n} times; the last time: {error}"),
    });
    match failure {
        Failure::First => error!(job = %outcome.job, attempt = outcome.attempt, error = %error,
            "{doing} failed; the job stays in new/ and is tried again, at most {max} times \
             in all by this daemon (logged once; the journal records each time)"),
        Failure::Again(n) => debug!(job = %outcome.job, error = %error,
            "{doing} failed again ({n} of {max} times); the job stays in new/"),
        Failure::GiveUp(n) => error!(job = %outcome.job, name = %outcome.name, error = %error,
            "{doing} failed {n} times: this daemon gives the job up and claims it no more; \
             it stays in new/ until a person acts (`spoolq status` lists it; a daemon \
             started later tries it again)"),
    }
    let mut records = Vec::with_capacity(2);
    let job = outcome.job;
    records.push(outcome.released(cause, error.to_owned()));
    if matches!(failure, Failure::GiveUp(_))
        && let Some(stuck) = shared.stuck.record(job)
    {
        records.push(Record::new(stuck));
    }
    records
}
