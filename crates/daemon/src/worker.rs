//! A worker: take a name from the queue, claim it, validate it, journal the claim, run
//! the handler, and act on the outcome (complete, retry, failed/, release).
//!
//! The claim, validation, journal writes and moves run on the blocking pool; only the
//! handler runs on the async side. Every move happens under the claim's lock.
//!
//! Exit codes: 0 completes the job; 100 sends it to failed/ (permanent failure); any
//! other failure (75 is the documented way to ask, any non-zero exit, a signal, a
//! timeout, a failed spawn) moves it to retry/ with backoff, until `max_attempts`
//! attempts were made, then to failed/.

use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::SystemTime;

use spoolq_claim::{Claimer, Strategy};
use spoolq_spool::failed::{FailedName, Reason};
use spoolq_spool::journal;
use spoolq_spool::names::printable;
use spoolq_spool::{DeadCause, DoneResult, JobId, Record, ReleaseCause, RetryName};
use tokio::sync::{Mutex as AsyncMutex, mpsc};
use tracing::{debug, error, info, warn};

use crate::claiming::{
    Claimed, claim_and_journal, claim_valid, claimed_record, journaled, release_unjournaled,
};
use crate::failed::{bury, rfc3339};
use crate::handler::{self, Run, Settings};
use crate::lifecycle::Lifecycle;
use crate::state::{Shared, Stats, blocking};
use crate::{EXIT_PERMANENT, backoff, record};

/// The worker task.
pub(crate) async fn worker(
    shared: Arc<Shared>,
    id: u32,
    receiver: Arc<AsyncMutex<mpsc::Receiver<OsString>>>,
) {
    let mut lifecycle = shared.lifecycle.clone();
    let mut claimer =
        Claimer::new(shared.spool.new_dir().clone(), shared.config.strategy).with_id(u64::from(id));
    if let Some(hook) = record::step_hook(
        &shared.journal,
        shared.config.trace_claims,
        shared.config.race_window,
    ) {
        claimer = claimer.with_hook(hook);
    }
    let settings = Settings {
        command: shared.config.command.clone(),
        simulate_work: shared.config.simulate_work,
        timeout: shared.config.job_timeout,
        kill_grace: shared.config.kill_grace,
    };
    // The built-in handler without simulated work returns at once: the worker is then
    // one blocking-pool thread for the daemon's life that waits for names itself and
    // runs claim, handler and outcome of a whole batch in place. A name offered by the
    // watcher's thread wakes this thread directly: one thread hand-off per job instead
    // of three (watcher, async worker task, blocking pool), which is what a producer
    // and the daemon sharing two cores pay for every job that trickles in.
    if settings.command.is_none() && settings.simulate_work.is_none() {
        let runtime = tokio::runtime::Handle::current();
        let ran =
            blocking(move || inline_worker(&runtime, &shared, &claimer, id, &receiver, lifecycle))
                .await;
        if let Err(e) = ran {
            error!(error = %e, "a worker stopped");
        }
        return;
    }
    loop {
        let names = tokio::select! {
            biased;
            () = lifecycle.wait_stopping() => break,
            names = take_batch(&receiver, 1) => match names {
                Some(names) => names,
                None => break,
            },
        };
        for name in names {
            if shared.lifecycle.claims_new() {
                process(&shared, &claimer, &settings, id, &name, &mut lifecycle).await;
            }
            shared.queue.done(&name);
        }
    }
}

/// The worker for the built-in handler, on a blocking-pool thread: waits for a batch
/// of names (parking this thread on the runtime's handle), processes it, repeats until
/// stopped. A panic on one batch is logged and the worker goes on, as when each batch
/// was its own blocking task.
fn inline_worker(
    runtime: &tokio::runtime::Handle,
    shared: &Shared,
    claimer: &Claimer,
    id: u32,
    receiver: &AsyncMutex<mpsc::Receiver<OsString>>,
    mut lifecycle: Lifecycle,
) {
    loop {
        let names = runtime.block_on(async {
            tokio::select! {
                biased;
                () = lifecycle.wait_stopping() => None,
                names = take_batch(receiver, INLINE_BATCH) => names,
            }
        });
        let Some(names) = names else { break };
        let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            process_inline(shared, claimer, id, &names);
        }));
        if processed.is_err() {
            error!("a batch of jobs failed (panic): its jobs stay in new/ for a later claim");
        }
        shared.queue.done_all(&names);
    }
}

/// Names a worker takes from the queue at once for the inline built-in handler. Small
/// enough that two workers share a short queue, large enough that the hand-off to the
/// blocking pool is paid once per many jobs.
const INLINE_BATCH: usize = 32;

/// Waits for one name, then takes up to `max` without waiting. None once the queue is
/// closed.
async fn take_batch(
    receiver: &AsyncMutex<mpsc::Receiver<OsString>>,
    max: usize,
) -> Option<Vec<OsString>> {
    let mut rx = receiver.lock().await;
    let first = rx.recv().await?;
    let mut names = Vec::with_capacity(max);
    names.push(first);
    while names.len() < max {
        match rx.try_recv() {
            Ok(name) => names.push(name),
            Err(_) => break,
        }
    }
    Some(names)
}

/// Claim, built-in handler and outcome of a batch of names, all on the calling (blocking)
/// thread, in phases that keep the journal's order per job with two journal writes for
/// the whole batch: claim and validate every name (holding each lock); write all the
/// `claimed` records in one write; run the handler and complete (unlink) each job; write
/// all their `done` records in one write. A job that does not simply succeed takes the
/// per-job path of [`finish`].
fn process_inline(shared: &Shared, claimer: &Claimer, worker: u32, names: &[OsString]) {
    let mut jobs = Vec::with_capacity(names.len());
    for name in names {
        if !shared.lifecycle.claims_new() {
            break;
        }
        if let Some(job) = claim_valid(shared, claimer, worker, name.clone(), false) {
            jobs.push(job);
        }
    }
    if jobs.is_empty() || shared.lifecycle.is_stopping() {
        // Claimed after shutdown began: nothing was journaled, just let go.
        return;
    }
    let records = jobs.iter().map(|job| claimed_record(shared, job)).collect();
    if let Err(e) = shared.journal.write_claimed_batch(records) {
        // Logged by write_claimed_batch, once per episode. Each job whose record did
        // not make it is released as a single failed `claimed` record releases it; those
        // before the failure are journaled as claimed and run (a full file system cuts a
        // write between lines: their outcome then waits for space, as any outcome does).
        for job in jobs.split_off(e.written.len()) {
            release_unjournaled(shared, job, &e.error);
        }
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        journaled(shared, &job);
        let run = handler::builtin_now(job.header.id, job.attempt(), job.header.length);
        if succeeded(&run) && !run.interrupted {
            outcomes.push(complete_unjournaled(shared, job, &run));
        } else {
            finish(shared, job, run);
        }
    }
    if !outcomes.is_empty() {
        let _ = shared.journal.write_batch(outcomes);
    }
}

async fn process(
    shared: &Arc<Shared>,
    claimer: &Claimer,
    settings: &Settings,
    worker: u32,
    name: &OsStr,
    lifecycle: &mut Lifecycle,
) {
    let prepared = {
        let (shared, claimer, name) = (shared.clone(), claimer.clone(), name.to_owned());
        blocking(move || claim_and_journal(&shared, &claimer, worker, name, true)).await
    };
    let mut job = match prepared {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(e) => {
            error!(error = %e, "claiming failed");
            return;
        }
    };
    let Some(payload) = job.payload.take() else {
        return;
    };
    let run = handler::run(
        settings,
        handler::Job {
            id: job.header.id,
            attempt: job.attempt(),
            payload,
            length: job.header.length,
            spool: shared.spool.path(),
        },
        lifecycle,
    )
    .await;
    let s = shared.clone();
    if let Err(e) = blocking(move || finish(&s, job, run)).await {
        error!(error = %e, "finishing a job failed");
    }
}

/// Acts on the handler's outcome. Blocking.
fn finish(shared: &Shared, job: Claimed, run: Run) {
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
fn succeeded(run: &Run) -> bool {
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
}

impl OutcomeFields {
    fn of(shared: &Shared, job: &Claimed, run: &Run) -> OutcomeFields {
        OutcomeFields {
            job: job.header.id,
            worker: job.worker,
            strategy: shared.journal.strategy(),
            attempt: job.attempt(),
            name: printable(&job.name),
            exit: run.code,
            signal: run.signal,
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
        })
    }
}

fn complete(shared: &Shared, job: Claimed, run: &Run) {
    let record = complete_unjournaled(shared, job, run);
    let _ = shared.journal.write(record);
}

/// Completes (unlinks, under the lock) a job whose handler succeeded, and returns its
/// outcome record for the caller to write: `done`, or `released` if the unlink failed.
fn complete_unjournaled(shared: &Shared, job: Claimed, run: &Run) -> Record {
    let id = job.header.id;
    let attempt = job.attempt();
    let outcome = OutcomeFields::of(shared, &job, run);
    match job.claim.complete() {
        Ok(()) => {
            Stats::bump(&shared.stats.completed);
            info!(job = %id, attempt, "job done");
            outcome.done(DoneResult::Ok, None)
        }
        Err(e) if e.is_not_found() => {
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
