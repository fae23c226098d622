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
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use spoolq_claim::{Claim, Claimer, Outcome, Strategy};
use spoolq_spool::failed::{FailedName, FoundIn, Reason};
use spoolq_spool::job::MAX_HEADER_LEN;
use spoolq_spool::journal;
use spoolq_spool::names::printable;
use spoolq_spool::{
    DeadCause, DoneResult, JobHeader, JobId, JournalError, QuarantineCause, ReadyName, Record,
    ReleaseCause, RetryName,
};
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::failed::{Movable, bury, rfc3339};
use crate::handler::{self, Run, Settings};
use crate::{EXIT_PERMANENT, Shared, Stats, backoff, blocking, record};

/// A claimed, validated job whose claimed record is journaled.
#[derive(Debug)]
struct Claimed {
    claim: Claim,
    name: OsString,
    ready: ReadyName,
    header: JobHeader,
    /// A duplicate of the locked descriptor at the payload, for the handler's stdin.
    payload: Option<std::fs::File>,
    worker: u32,
}

impl Claimed {
    /// This attempt's number, 1-based.
    fn attempt(&self) -> u32 {
        self.ready.attempts.saturating_add(1)
    }
}

/// The worker task.
pub(crate) async fn worker(
    shared: Arc<Shared>,
    id: u32,
    receiver: Arc<AsyncMutex<mpsc::Receiver<OsString>>>,
    mut stop: watch::Receiver<bool>,
    terminate: watch::Receiver<bool>,
) {
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
            blocking(move || inline_worker(&runtime, &shared, &claimer, id, &receiver, stop)).await;
        if let Err(e) = ran {
            error!(error = %e, "a worker stopped");
        }
        return;
    }
    loop {
        let names = tokio::select! {
            biased;
            () = crate::flag_set(&mut stop) => break,
            names = take_batch(&receiver, 1) => match names {
                Some(names) => names,
                None => break,
            },
        };
        for name in names {
            if !shared.is_stopping() && !shared.new_gone.load(Ordering::SeqCst) {
                process(&shared, &claimer, &settings, id, &name, terminate.clone()).await;
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
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let names = runtime.block_on(async {
            tokio::select! {
                biased;
                () = crate::flag_set(&mut stop) => None,
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
        if shared.is_stopping() || shared.new_gone.load(Ordering::SeqCst) {
            break;
        }
        if let Some(job) = claim_valid(shared, claimer, worker, name.clone(), false) {
            jobs.push(job);
        }
    }
    if jobs.is_empty() || shared.is_stopping() {
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
    terminate: watch::Receiver<bool>,
) {
    let prepared = {
        let (shared, claimer, name) = (shared.clone(), claimer.clone(), name.to_owned());
        blocking(move || prepare(&shared, &claimer, worker, name, true)).await
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
        terminate,
    )
    .await;
    let s = shared.clone();
    if let Err(e) = blocking(move || finish(&s, job, run)).await {
        error!(error = %e, "finishing a job failed");
    }
}

/// Claims `name`, validates it, dups the payload descriptor and journals the claim.
/// None when there is nothing to run (busy, gone, stale, quarantined, released).
fn prepare(
    shared: &Shared,
    claimer: &Claimer,
    worker: u32,
    name: OsString,
    want_payload: bool,
) -> Option<Claimed> {
    let job = claim_valid(shared, claimer, worker, name, want_payload)?;
    if shared.is_stopping() {
        // Claimed after shutdown began: nothing was journaled, just let go.
        return None;
    }
    if let Err(e) = shared.journal.write_claimed(claimed_record(shared, &job)) {
        // Logged by write_claimed, once per episode.
        release_unjournaled(shared, job, &e);
        return None;
    }
    journaled(shared, &job);
    Some(job)
}

/// The `claimed` record of a job.
fn claimed_record(shared: &Shared, job: &Claimed) -> Record {
    let (ino, btime_ns) = journal::file_identity(job.claim.stat());
    Record::new(journal::Claimed {
        job: job.ready.id,
        worker: job.worker,
        strategy: shared.journal.strategy(),
        attempt: job.attempt(),
        name: printable(&job.name),
        ino,
        btime_ns,
    })
}

/// A job's `claimed` record is written: count it.
fn journaled(shared: &Shared, job: &Claimed) {
    Stats::bump(&shared.stats.claimed);
    debug!(job = %job.ready.id, attempt = job.attempt(), worker = job.worker, "claimed");
}

/// A job's `claimed` record could not be written: release it unprocessed (it stays in
/// new/) and say so in the journal, if the journal takes it.
fn release_unjournaled(shared: &Shared, job: Claimed, error: &JournalError) {
    let (id, attempt, worker) = (job.ready.id, job.attempt(), job.worker);
    let outcome_ns = spoolq_os::monotonic_ns();
    drop(job);
    Stats::bump(&shared.stats.released);
    let _ = shared.journal.write_quiet(Record::new(journal::Released {
        job: id,
        worker,
        strategy: shared.journal.strategy(),
        attempt,
        name: None,
        result: ReleaseCause::JournalFailed,
        exit: None,
        signal: None,
        detail: error.to_string(),
        outcome_ns: Some(outcome_ns),
    }));
}

/// Claims `name` and validates it (name, header, id), and dups the payload descriptor if
/// asked. None when there is nothing to run (busy, gone, stale, quarantined, an error).
fn claim_valid(
    shared: &Shared,
    claimer: &Claimer,
    worker: u32,
    name: OsString,
    want_payload: bool,
) -> Option<Claimed> {
    if shared.is_stopping() {
        return None;
    }
    let claim = match claimer.claim(&name) {
        Ok(Outcome::Claimed(claim)) => claim,
        Ok(Outcome::Rejected(rejected)) => {
            let reason = rejected.reason();
            quarantine(
                shared,
                rejected,
                &name,
                FoundIn::New,
                worker,
                record::id_from_name(&name),
                QuarantineCause::from(reason),
                format!("{} {reason}", printable(&name)),
            );
            return None;
        }
        Ok(other) => {
            debug!(name = %printable(&name), outcome = other.code(), "not claimed");
            return None;
        }
        Err(e) => {
            error!(name = %printable(&name), error = %e, "claiming failed; the file stays in new/");
            Stats::bump(&shared.stats.errors);
            return None;
        }
    };
    let Some(ready) = ReadyName::parse(&name) else {
        quarantine(
            shared,
            claim,
            &name,
            FoundIn::New,
            worker,
            None,
            QuarantineCause::NotAJobName,
            format!(
                "{} is not a job name (<id> or <id>.<attempts>): write jobs with spoolq, \
                 or name them after the id in their header",
                printable(&name)
            ),
        );
        return None;
    };
    let header = match read_header(&claim) {
        Ok(header) => header,
        Err(HeaderProblem::Io(e)) => {
            error!(job = %ready.id, error = %e, "reading the job failed; it stays in new/");
            Stats::bump(&shared.stats.errors);
            return None;
        }
        Err(HeaderProblem::Invalid { cause, message }) => {
            quarantine(
                shared,
                claim,
                &name,
                FoundIn::New,
                worker,
                Some(ready.id),
                cause,
                message,
            );
            return None;
        }
    };
    let (header, header_len) = header;
    if header.id != ready.id {
        quarantine(
            shared,
            claim,
            &name,
            FoundIn::New,
            worker,
            Some(header.id),
            QuarantineCause::IdMismatch,
            format!(
                "the file is named for job {} but its header says {}: the id inside is the \
                 authority, so a mismatched name is never run",
                ready.id, header.id
            ),
        );
        return None;
    }
    let payload = match want_payload
        .then(|| {
            claim
                .file()
                .try_clone()
                .and_then(|mut f| f.seek(SeekFrom::Start(header_len as u64)).map(|_| f))
        })
        .transpose()
    {
        Ok(payload) => payload,
        Err(e) => {
            error!(job = %ready.id, error = %e, "cannot open the payload; the job stays in new/");
            Stats::bump(&shared.stats.errors);
            return None;
        }
    };
    Some(Claimed {
        claim,
        name,
        ready,
        header,
        payload,
        worker,
    })
}

enum HeaderProblem {
    Io(std::io::Error),
    Invalid {
        cause: QuarantineCause,
        message: String,
    },
}

/// Reads and checks the header through the locked descriptor.
fn read_header(claim: &Claim) -> Result<(JobHeader, usize), HeaderProblem> {
    let size = claim.stat().size;
    let want = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .min(MAX_HEADER_LEN);
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        match claim.file().read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HeaderProblem::Io(e)),
        }
    }
    let invalid = |e: spoolq_spool::HeaderError| HeaderProblem::Invalid {
        cause: QuarantineCause::from(&e),
        message: e.to_string(),
    };
    let (header, header_len) = JobHeader::parse_prefix(&buf[..filled]).map_err(invalid)?;
    header.check_length(header_len, size).map_err(invalid)?;
    Ok((header, header_len))
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
        &daemon_id(shared),
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

pub(crate) fn daemon_id(shared: &Shared) -> String {
    let writer = shared.journal.writer();
    format!("{}:{}", writer.host(), writer.pid())
}

/// Moves a file that is not a valid job to failed/ with its reason, and journals it.
/// On failure the file stays where it is (logged); it is never deleted. Blocking.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quarantine<M: Movable>(
    shared: &Shared,
    item: M,
    name: &OsStr,
    found_in: FoundIn,
    worker: u32,
    job: Option<JobId>,
    cause: QuarantineCause,
    message: String,
) {
    let mut reason = Reason::new(cause, message.clone(), name);
    reason.found_in = found_in;
    reason.job = job;
    match bury(
        shared.spool.failed(),
        item,
        FailedName::original(name),
        reason,
        &daemon_id(shared),
    ) {
        Ok(buried) => {
            Stats::bump(&shared.stats.quarantined);
            let record = Record::new(journal::Quarantined {
                job,
                worker,
                strategy: shared.journal.strategy(),
                name: printable(name),
                result: cause,
                detail: format!(
                    "{message} (stored as failed/{})",
                    printable(&buried.stored_as)
                ),
            });
            let _ = shared.journal.write(record);
            warn!(name = %printable(name), folder = %found_in, reason = %cause,
                stored_as = %printable(&buried.stored_as),
                "not a valid job: moved to failed/ ({message})");
            if let Some(e) = buried.reason_error {
                error!(error = %e, "writing the reason file failed");
            }
        }
        Err(failed) => {
            // Release the lock (if it was held); the file stays where it is.
            drop(failed.item);
            Stats::bump(&shared.stats.errors);
            error!(name = %printable(name), folder = %found_in, error = %failed.error,
                "not a valid job, and moving it to failed/ failed; it stays where it is");
        }
    }
}
