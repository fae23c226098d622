//! The sweep of tmp/: leftovers of producers that died mid-write.
//!
//! A producer writes a job in tmp/ and renames it into new/; if it dies in between, the
//! file stays in tmp/ forever. Nothing ever claims from tmp/, so the only question is
//! when a file there is certainly abandoned: when it was not modified for
//! `tmp_max_age` (a live producer writing a large payload keeps the mtime fresh). The
//! sweep runs at start and at each periodic rescan, and removes only regular files and
//! symlinks (never followed) older than that; fresh ones are never touched, folders are
//! left alone. Several daemons may sweep at once: a name already gone is not an error.

use std::time::{Duration, SystemTime};

use spoolq_os::FileKind;
use spoolq_spool::names::printable;
use tracing::{debug, error, warn};

use crate::state::{Shared, Stats};

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SweepReport {
    pub removed: u64,
    pub kept_fresh: u64,
}

/// Removes files in tmp/ not modified for longer than `max_age`. Blocking.
pub(crate) fn sweep(shared: &Shared, max_age: Duration) -> SweepReport {
    let mut report = SweepReport::default();
    let tmp = shared.spool.tmp();
    let names: Vec<_> = match tmp.entries() {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(e) => {
            error!(error = %e, "cannot list tmp/ to sweep leftovers; trying again at the next rescan");
            Stats::bump(&shared.stats.errors);
            return report;
        }
    };
    let now = SystemTime::now();
    for name in names {
        let Ok(stat) = tmp.stat_at(&name) else {
            continue;
        };
        if !matches!(stat.kind, FileKind::Regular | FileKind::Symlink) {
            debug!(name = %printable(&name), "tmp/ sweep: not a file, left alone");
            continue;
        }
        // A modification time in the future counts as fresh.
        let age = now.duration_since(stat.mtime).unwrap_or(Duration::ZERO);
        if age <= max_age {
            report.kept_fresh += 1;
            continue;
        }
        match tmp.unlink(&name) {
            Ok(()) => {
                report.removed += 1;
                warn!(
                    name = %printable(&name),
                    bytes = stat.size,
                    unmodified_for = %humantime::format_duration(Duration::from_secs(age.as_secs())),
                    "removed a leftover in tmp/ (a producer died mid-write; older than --tmp-max-age)"
                );
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                error!(name = %printable(&name), error = %e, "cannot remove a leftover in tmp/");
                Stats::bump(&shared.stats.errors);
            }
        }
    }
    report
}
