//! A worker: take names from the queue and run each through claim, handler and outcome.
//!
//! With an external handler a worker is an async task: the claim (`claiming`) and the
//! outcome (`outcome`) run on the blocking pool, the handler (`handler`) on the async
//! side, so that its parent-death signal follows a long-lived runtime thread. With the
//! built-in handler and no simulated work a worker is one blocking-pool thread for the
//! daemon's life that does a whole batch in place, with two journal writes per batch.
//!
//! An external handler's job goes: claim and check it, bury it unrun if its name counts
//! `--max-attempts` started attempts already, journal the claim, count the attempt in its
//! name (`claiming::count_attempt`), run the handler, act on its end. The inline built-in
//! handler, which no crash can outlive, skips the counting rename.
//!
//! This module only sequences the steps and tells the queue when a name is done; each
//! step is its own module's, and every move happens under the claim's lock there.

use std::sync::Arc;

use spoolq_claim::Claimer;
use tokio::sync::{Mutex as AsyncMutex, mpsc};
use tracing::error;

use crate::claiming::{
    Claimed, claim_valid, claimed_record, count_attempt, journal_claim, journaled,
    release_unjournaled,
};
use crate::handler::{self, Settings};
use crate::lifecycle::Lifecycle;
use crate::log_sink;
use crate::outcome::{bury_unstarted, complete_unjournaled, count_failed, finish, succeeded};
use crate::queue::Offered;
use crate::record;
use crate::state::{Shared, blocking};

/// The worker task: until the daemon stops, takes names from the queue and runs each
/// through claim, handler and outcome.
pub(crate) async fn worker(
    shared: Arc<Shared>,
    id: u32,
    receiver: Arc<AsyncMutex<mpsc::Receiver<Offered>>>,
) {
    let mut lifecycle = shared.lifecycle.clone();
    let mut claimer = crate::claimed::claimer(&shared).with_id(u64::from(id));
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
    // watcher's thread wakes this thread directly: one thread hand-off per job rather
    // than three (watcher, async worker task, blocking pool), which a producer and the
    // daemon sharing two cores pay for every job that trickles in.
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
            names = take_batch(&shared, &receiver, 1) => match names {
                Some(names) => names,
                None => break,
            },
        };
        for offered in names {
            let name = offered.name.clone();
            if shared.lifecycle.claims_new() {
                process(&shared, &claimer, &settings, id, offered, &mut lifecycle).await;
            }
            shared.queue.done(&name);
        }
    }
}

/// The worker for the built-in handler, on a blocking-pool thread: waits for a batch
/// of names (parking this thread on the runtime's handle), processes it, repeats until
/// stopped. A panic on one batch is logged and the worker goes on: one bad batch must
/// not take a worker away for the daemon's life.
fn inline_worker(
    runtime: &tokio::runtime::Handle,
    shared: &Shared,
    claimer: &Claimer,
    id: u32,
    receiver: &AsyncMutex<mpsc::Receiver<Offered>>,
    mut lifecycle: Lifecycle,
) {
    loop {
        let names = runtime.block_on(async {
            tokio::select! {
                biased;
                () = lifecycle.wait_stopping() => None,
                names = take_batch(shared, receiver, INLINE_BATCH) => names,
            }
        });
        let Some(names) = names else { break };
        let processed = {
            // The batch's log lines (one per job) go out in one write at its end.
            let _lines = log_sink::hold_lines();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                process_inline(shared, claimer, id, &names);
            }))
        };
        if processed.is_err() {
            error!("a batch of jobs failed (panic): its jobs stay in new/ for a later claim");
        }
        shared.queue.done_all(&names);
    }
}

/// Names a worker takes from the queue at once for the inline built-in handler. Small
/// enough that two workers share a short queue, large enough that a batch's journal
/// records take two writes rather than two per job.
const INLINE_BATCH: usize = 32;

/// Waits for one name, then takes up to `max` without waiting. None once the queue is
/// closed. Taking the last queued name wakes the watcher if it waits for that.
async fn take_batch(
    shared: &Shared,
    receiver: &AsyncMutex<mpsc::Receiver<Offered>>,
    max: usize,
) -> Option<Vec<Offered>> {
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
    if rx.is_empty() {
        shared.queue.taken();
    }
    Some(names)
}

/// Claim, built-in handler and outcome of a batch of names, all on the calling (blocking)
/// thread, in phases that keep the journal's order per job with two journal writes for
/// the whole batch: claim and validate every name (holding each lock); write all the
/// `claimed` records in one write; run the handler and complete (unlink) each job; write
/// all their `done` records in one write. A job that does not simply succeed takes the
/// per-job path of [`finish`].
fn process_inline(shared: &Shared, claimer: &Claimer, worker: u32, names: &[Offered]) {
    let mut jobs = Vec::with_capacity(names.len());
    for offered in names {
        if !shared.lifecycle.claims_new() {
            break;
        }
        let claimed = claim_valid(shared, claimer, worker, &offered.name, offered.seen, false);
        match claimed {
            Some(job) if exhausted(shared, &job) => bury_unstarted(shared, job),
            Some(job) => jobs.push(job),
            None => {}
        }
    }
    if jobs.is_empty() || shared.lifecycle.is_stopping() {
        // Claimed after shutdown began: nothing was journaled, just let go.
        return;
    }
    let records = jobs
        .iter()
        .map(|job| claimed_record(shared, job, job.name()))
        .collect();
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
        shared
            .stats
            .handler_durations
            .observe(run.started, run.ended);
        if succeeded(&run) && !run.interrupted {
            complete_unjournaled(shared, job, &run, &mut outcomes);
        } else {
            finish(shared, job, run);
        }
    }
    if !outcomes.is_empty() {
        let _ = shared.journal.write_batch(outcomes);
    }
}

/// Whether the name a job was claimed under counts `--max-attempts` attempts already:
/// the attempt about to start would be one too many.
fn exhausted(shared: &Shared, job: &Claimed) -> bool {
    job.ready.attempts >= shared.config.max_attempts
}

/// Claims one offered name for an external handler (or simulated work) and makes it
/// ready to run: buries it unrun if its attempts are exhausted, journals the claim,
/// counts the attempt in its name (an external handler only). None when there is nothing
/// to run. Blocking.
fn prepare(
    shared: &Shared,
    claimer: &Claimer,
    worker: u32,
    offered: Offered,
    external: bool,
) -> Option<Claimed> {
    let job = claim_valid(shared, claimer, worker, &offered.name, offered.seen, true)?;
    if exhausted(shared, &job) {
        bury_unstarted(shared, job);
        return None;
    }
    let name = if external {
        job.counted_name()
    } else {
        job.name().to_owned()
    };
    let mut job = journal_claim(shared, job, name)?;
    if external && let Err(e) = count_attempt(shared, &mut job) {
        count_failed(shared, job, &e);
        return None;
    }
    Some(job)
}

/// One name with an external handler (or simulated work): claim and journal it on the
/// blocking pool, run the handler here, act on how it ended on the blocking pool.
async fn process(
    shared: &Arc<Shared>,
    claimer: &Claimer,
    settings: &Settings,
    worker: u32,
    offered: Offered,
    lifecycle: &mut Lifecycle,
) {
    let external = settings.command.is_some();
    let prepared = {
        let (shared, claimer) = (shared.clone(), claimer.clone());
        blocking(move || prepare(&shared, &claimer, worker, offered, external)).await
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
        if let Some(held) = job.held.take() {
            shared.queue.done(&held);
        }
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
    shared
        .stats
        .handler_durations
        .observe(run.started, run.ended);
    // The name that counts this attempt leaves the queue's known names before the job
    // leaves it, so that the retry mover can offer it again once it is due.
    if let Some(held) = job.held.take() {
        shared.queue.done(&held);
    }
    let s = shared.clone();
    if let Err(e) = blocking(move || finish(&s, job, run)).await {
        error!(error = %e, "finishing a job failed");
    }
}
