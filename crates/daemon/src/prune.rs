//! Journal retention in the daemon: at start, and at rescans at most once a minute,
//! removes old journal files as `Config::journal_retention` says
//! (`spoolq_spool::journal::retention::prune`: never a file a live process writes, the
//! horizon journaled first). A drain prunes once, at its start.

use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info};

use crate::state::{Shared, Stats};

/// The shortest time between two prunings: listing journal/ at every rescan would cost
/// the idle daemon for nothing, and files age by days.
const EVERY: Duration = Duration::from_secs(60);

/// When the daemon last pruned.
#[derive(Debug, Default)]
pub(crate) struct Pruner {
    last: Option<Instant>,
}

impl Pruner {
    /// Whether a pruning is due (the first always is).
    pub fn due(&self) -> bool {
        self.last.is_none_or(|last| last.elapsed() >= EVERY)
    }

    /// Notes that a pruning ran now.
    pub fn ran(&mut self) {
        self.last = Some(Instant::now());
    }
}

/// Prunes journal/ once. Blocking.
pub(crate) fn prune(shared: &Shared) {
    let retention = shared.config.journal_retention;
    if retention.max_age.is_none() && retention.max_bytes.is_none() {
        return;
    }
    let result = spoolq_spool::journal::retention::prune(
        shared.spool.journal(),
        &retention,
        SystemTime::now(),
        shared.journal.writer(),
        false,
    );
    match result {
        Ok(report) if !report.removed.is_empty() => info!(
            removed = report.removed.len(),
            bytes = report.bytes_before - report.bytes_after,
            left = report.files_after,
            kept_live = report.kept_live,
            horizon = report.horizon.as_deref().unwrap_or("-"),
            "journal retention: removed old journal files"
        ),
        Ok(_) => {}
        Err(e) => {
            error!(error = %e, "journal retention failed; trying again later");
            Stats::bump(&shared.stats.errors);
        }
    }
}
