//! What every task of the daemon shares: [`Shared`] (the settings, the open spool, the
//! journal, the counters, the queue, the lifecycle, the jobs it could not act on) and
//! [`Stats`], the counters that
//! become the run's summary; and [`blocking`], how a task runs blocking system calls.
//!
//! It holds state and decides nothing: the crate root builds it, the other modules
//! read it and bump its counters.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spoolq_claim::{Dir, Strategy};

use crate::config::Config;
use crate::lifecycle::Lifecycle;
use crate::queue::Queue;
use crate::record::Journal;
use crate::stuck::StuckJobs;
use spoolq_spool::Spool;

/// Counters shared by every task, turned into the run's summary at the end.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub claimed: AtomicU64,
    pub completed: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    pub quarantined: AtomicU64,
    pub released: AtomicU64,
    pub requeued: AtomicU64,
    pub errors: AtomicU64,
    /// How long each handler run took, for `/metrics`.
    pub handler_durations: HandlerDurations,
}

/// The daemon's handler-duration histogram (`spoolq-metrics`' buckets), for its life.
#[derive(Debug, Clone)]
pub(crate) struct HandlerDurations(spoolq_metrics::Histogram);

impl Default for HandlerDurations {
    fn default() -> HandlerDurations {
        HandlerDurations(spoolq_metrics::handler_duration_histogram())
    }
}

impl HandlerDurations {
    /// Counts one handler run that went from `started` to `ended`.
    pub fn observe(&self, started: std::time::SystemTime, ended: std::time::SystemTime) {
        let took = ended.duration_since(started).unwrap_or_default();
        self.0.observe(took.as_secs_f64());
    }

    /// The histogram, to register in a scrape's registry.
    pub fn histogram(&self) -> &spoolq_metrics::Histogram {
        &self.0
    }
}

impl Stats {
    /// Counts one more.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A number that grows whenever a job moved on (completed, retried, buried,
    /// quarantined, moved back from retry/); drain uses it to tell progress from
    /// spinning on jobs that cannot move: held by another daemon, released because the
    /// journal cannot be written or a move failed.
    pub fn progress(&self) -> u64 {
        [
            &self.completed,
            &self.retried,
            &self.dead,
            &self.quarantined,
            &self.requeued,
        ]
        .into_iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// The claim strategy this daemon runs, and where shared claims go.
#[derive(Debug)]
pub(crate) struct ClaimSetup {
    pub strategy: Strategy,
    /// Why: the flag, or the file system.
    pub chosen_by: String,
    /// claimed/ and claimed/<token>/, this daemon's private folder; always there for
    /// the shared strategy.
    pub folders: Option<ClaimFolders>,
    pub token: OsString,
}

#[derive(Debug)]
pub(crate) struct ClaimFolders {
    pub claimed: Arc<Dir>,
    pub private: Arc<Dir>,
}

/// State shared by discovery and the workers.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The effective settings (defaults filled in).
    pub config: Config,
    /// The spool, its folders opened at start.
    pub spool: Spool,
    /// This process's journal.
    pub journal: Journal,
    /// What the run did so far.
    pub stats: Stats,
    /// Names between discovery and the workers.
    pub queue: Queue,
    /// Running, stopping or terminating, and the folders given up.
    pub lifecycle: Lifecycle,
    /// The jobs the daemon could not act on, and those it gave up.
    pub stuck: StuckJobs,
    /// The claim strategy run, and the shared strategy's folders.
    pub claims: ClaimSetup,
}

impl Shared {
    /// How this daemon names itself in reason files: host and pid.
    pub fn daemon_id(&self) -> String {
        let writer = self.journal.writer();
        format!("{}:{}", writer.host(), writer.pid())
    }
}

/// Runs `f` on tokio's blocking pool (claims, renames, journal writes).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TaskFailed> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TaskFailed(e.to_string()))
}

/// A task on the blocking pool panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("internal error: a daemon task failed: {0}")]
pub(crate) struct TaskFailed(pub String);
