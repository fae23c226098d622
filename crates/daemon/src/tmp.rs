//! The sweep of tmp/: leftovers of producers that died mid-write.
//!
//! A producer writes a job in tmp/ and renames it into new/; if it dies in between, the
//! file stays in tmp/ forever. Nothing ever claims from tmp/, so the only question is
//! when a file there is certainly abandoned: when neither its content nor its inode
//! changed for `tmp_max_age`. Its age is taken from the later of its modification time
//! and its inode change time (ctime): a live producer writing a large payload keeps
//! both fresh, and a file copied in a moment ago with preserved times (`cp -p`,
//! `rsync -a`, `tar x`) carries an old mtime but a fresh ctime, which no program can set
//! back. The sweep runs at start and at each periodic rescan, and removes only regular
//! files and symlinks (never followed) older than that; fresh ones are never touched,
//! folders are left alone. Several daemons may sweep at once: a name already gone is not
//! an error.
//!
//! The sweep goes through the descriptor of tmp/ opened at start, so it must first check
//! that tmp/ is still that folder: once tmp/ was moved away (or replaced), the files in
//! the moved folder are someone else's now, and nothing is swept until the daemon is
//! restarted on a repaired spool (discovery logs the moved folder).

use std::ffi::OsStr;
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
    /// tmp/ was not swept: moved away, replaced, or its identity could not be checked.
    pub skipped: bool,
}

/// Removes files in tmp/ unchanged for longer than `max_age`, if tmp/ is still the
/// folder opened at start. Blocking.
pub(crate) fn sweep(shared: &Shared, max_age: Duration) -> SweepReport {
    let mut report = SweepReport::default();
    let tmp = shared.spool.tmp();
    match tmp.still_at(shared.spool.root(), OsStr::new("tmp")) {
        Ok(true) => {}
        Ok(false) => {
            debug!("tmp/ was moved away or replaced since start: not swept");
            report.skipped = true;
            return report;
        }
        Err(e) => {
            error!(error = %e, "cannot check that tmp/ is the folder opened at start; not swept");
            Stats::bump(&shared.stats.errors);
            report.skipped = true;
            return report;
        }
    }
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
        // The later of the two times, so that a copy with preserved times is young; a
        // time in the future counts as fresh.
        let changed = stat.mtime.max(stat.ctime);
        let age = now.duration_since(changed).unwrap_or(Duration::ZERO);
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
                    unchanged_for = %humantime::format_duration(Duration::from_secs(age.as_secs())),
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
