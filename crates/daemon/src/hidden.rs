//! Drain mode's sweep of stale hidden names in new/.
//!
//! Names starting with `.` are never jobs and the daemon never claims them. But launchd's
//! QueueDirectories and systemd's `DirectoryNotEmpty=` count them, so a `.DS_Store` left in
//! new/ would relaunch an on-demand daemon forever. So a drain, once it found no
//! claimable job, moves hidden names older than [`HIDDEN_MIN_AGE`] to failed/ under a
//! visible name (`FailedName::hidden`: `<name without leading dots>.hidden.<unix ms>`,
//! so `ls` and `spoolq status` count it) with a reason beside it. Younger ones may be a transfer in progress (rsync's
//! `.name.XXXXXX`) and are left alone. Nothing is deleted; the long-running daemon never
//! sweeps.

use std::ffi::{OsStr, OsString};
use std::time::{Duration, SystemTime};

use spoolq_claim::{Dir, MoveFailed};
use spoolq_spool::failed::{FailedName, Reason, ReasonCode};
use spoolq_spool::names::{is_hidden, printable};
use tracing::{error, warn};

use crate::failed::{Movable, bury};
use crate::state::Shared;

/// How old a hidden name must be before a drain moves it away.
pub(crate) const HIDDEN_MIN_AGE: Duration = Duration::from_secs(60);

/// A name moved as it is: hidden files are never claimed, so there is no lock to hold.
struct ByName<'a> {
    from: &'a Dir,
    name: OsString,
}

impl Movable for ByName<'_> {
    fn move_into(self, to: &Dir, name: &OsStr) -> Result<(), Box<MoveFailed<Self>>> {
        match self.from.rename_noreplace(&self.name, to, name) {
            Ok(()) => Ok(()),
            Err(error) => Err(Box::new(MoveFailed {
                error: error.into(),
                claim: self,
            })),
        }
    }
}

/// Moves stale hidden names out of new/. Blocking. Returns how many were moved.
pub(crate) fn sweep(shared: &Shared, daemon: &str) -> usize {
    let new = shared.spool.new_dir();
    let Ok(entries) = new.entries() else {
        return 0;
    };
    let now = SystemTime::now();
    let hidden: Vec<OsString> = entries
        .filter_map(Result::ok)
        .filter(|n| is_hidden(n))
        .collect();
    let mut moved = 0;
    for name in hidden {
        let Ok(stat) = new.stat_at(&name) else {
            continue;
        };
        if now.duration_since(stat.mtime).unwrap_or_default() < HIDDEN_MIN_AGE {
            continue;
        }
        let reason = Reason::new(
            ReasonCode::HiddenInNew,
            "hidden file in new/: names starting with '.' are never jobs; it was moved \
             here so that an on-demand daemon (launchd QueueDirectories, systemd \
             DirectoryNotEmpty=) is not relaunched for it forever",
            &name,
        );
        let item = ByName {
            from: new,
            name: name.clone(),
        };
        match bury(
            shared.spool.failed(),
            item,
            FailedName::hidden(&name, now),
            reason,
            daemon,
        ) {
            Ok(buried) => {
                moved += 1;
                warn!(name = %printable(&name), stored_as = %printable(&buried.stored_as),
                    "drain: moved a stale hidden file out of new/ into failed/");
            }
            Err(failed) => {
                error!(name = %printable(&name), error = %failed.error,
                    "drain: could not move a stale hidden file out of new/; it stays");
            }
        }
    }
    moved
}
