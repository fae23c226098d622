//! The claim strategy a daemon runs and, for the shared strategy, its private folder
//! and the recovery of jobs other claimers left in theirs.
//!
//! - The strategy: `--claim` if given, otherwise the file system's
//!   ([`Strategy::for_file_system`]): verified where spoolq's one-host assumptions hold,
//!   shared elsewhere. Verified (or naive) where they are not known to hold is refused
//!   unless `--force-claim` says to run it anyway.
//! - The private folder: `claimed/<host>.<boot>.<pid>/`, made at start and removed at
//!   a clean stop once empty; only this daemon renames into it. The verified and naive
//!   strategies need it only to recover others' jobs: where it cannot be made (an older
//!   spool whose root this daemon may not write) they run without it, and say so.
//! - Recovery: at start and at each rescan every other claimer's folder is listed; a file
//!   whose lock can be taken has no live claim (its claimer died, or its file system
//!   session expired), so it is taken into this daemon's folder by the same rename and
//!   listing check as any shared claim, then given back to new/ under the name that
//!   counts its started attempts. The claim path runs it from there, or buries it unrun
//!   past `--max-attempts`. No clock and no lease: the lock alone tells.

use std::ffi::{OsStr, OsString};
use std::sync::Arc;

use spoolq_claim::{Claimer, Outcome, Strategy};
use spoolq_os::FileSystem;
use spoolq_spool::Spool;
use spoolq_spool::names::{is_hidden, printable};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::state::{ClaimFolders, ClaimSetup, Shared, Stats};

/// Why the claim could not be set up; the crate root turns it into a `DaemonError`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// Verified or naive on a file system where they are not known to be correct.
    #[error("--claim {strategy} on {file_system}")]
    UnsafeHere {
        strategy: Strategy,
        file_system: String,
    },
    /// claimed/ could not be made or opened.
    #[error(transparent)]
    Layout(spoolq_spool::LayoutError),
    /// The private folder could not be made or opened.
    #[error("{}: {source}", path.display())]
    NotWritable {
        path: std::path::PathBuf,
        source: spoolq_os::Error,
    },
}

/// Chooses the strategy for the spool's file system and makes the private folder.
/// Blocking.
pub(crate) fn setup(
    config: &Config,
    spool: &Spool,
    file_system: &FileSystem,
    host: &str,
    boot: Option<&str>,
) -> Result<ClaimSetup, SetupError> {
    let local = file_system.sharing.local_assumptions_hold();
    let (strategy, chosen_by) = match config.strategy {
        None => (
            Strategy::for_file_system(local),
            format!(
                "chosen for {} ({}): spoolq's one-host assumptions {}",
                file_system.name,
                file_system.sharing,
                if local {
                    "hold"
                } else {
                    "are not known to hold"
                }
            ),
        ),
        Some(strategy @ (Strategy::Verified | Strategy::Naive)) if !local => {
            if !config.force_claim {
                return Err(SetupError::UnsafeHere {
                    strategy,
                    file_system: file_system.to_string(),
                });
            }
            (
                strategy,
                format!(
                    "--claim {strategy} --force-claim on {}, where its checks may be answered \
                     from a client's cache",
                    file_system.name
                ),
            )
        }
        Some(strategy) => (strategy, format!("--claim {strategy}")),
    };
    let token = OsString::from(token(host, boot, std::process::id()));
    let folders = match folders(spool, &token) {
        Ok(folders) => Some(folders),
        Err(e) if strategy == Strategy::Shared => return Err(e),
        Err(e) => {
            warn!(error = %e, "no private folder in claimed/: jobs that shared-strategy \
                claimers left there when they died are not recovered by this daemon");
            None
        }
    };
    Ok(ClaimSetup {
        strategy,
        chosen_by,
        folders,
        token,
    })
}

/// claimed/ (made if missing) and this daemon's folder in it.
fn folders(spool: &Spool, token: &OsStr) -> Result<ClaimFolders, SetupError> {
    let claimed = spool.claimed().map_err(SetupError::Layout)?;
    let not_writable = |e| SetupError::NotWritable {
        path: claimed.path().to_owned(),
        source: e,
    };
    claimed.create_subdir(token, 0o700).map_err(not_writable)?;
    let private = claimed
        .open_subdir(token)
        .map(Arc::new)
        .map_err(not_writable)?;
    Ok(ClaimFolders { claimed, private })
}

/// `<host>.<boot>.<pid>`: unique among the live claimers of every host (the boot's
/// first 8 characters tell a rebooted host's pids from its earlier boot's).
fn token(host: &str, boot: Option<&str>, pid: u32) -> String {
    let host: String = host
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    let boot: String = boot.unwrap_or("noboot").chars().take(8).collect();
    format!("{host}.{boot}.{pid}")
}

/// A claimer for new/ with this daemon's strategy.
pub(crate) fn claimer(shared: &Shared) -> Claimer {
    let claims = &shared.claims;
    let claimer = Claimer::new(shared.spool.new_dir().clone(), claims.strategy);
    match (&claims.folders, claims.strategy) {
        (Some(folders), Strategy::Shared) => claimer.with_private(folders.private.clone()),
        _ => claimer,
    }
}

/// Removes this daemon's private folder if it is empty (at a clean stop).
pub(crate) fn remove_private(shared: &Shared) {
    let claims = &shared.claims;
    if let Some(folders) = &claims.folders {
        let _ = std::fs::remove_dir(folders.claimed.path().join(&claims.token));
    }
}

/// Gives back to new/ every job another claimer's folder holds unlocked. Returns how
/// many. Blocking.
pub(crate) fn recover(shared: &Shared) -> u64 {
    let claims = &shared.claims;
    let Some(ClaimFolders { claimed, private }) = &claims.folders else {
        return 0;
    };
    let folders: Vec<OsString> = match claimed.entries() {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(e) => {
            warn!(error = %e, "cannot list claimed/ to recover released claims; trying again at \
                the next rescan");
            Stats::bump(&shared.stats.errors);
            return 0;
        }
    };
    let mut recovered = 0;
    for folder in folders {
        if folder == claims.token || shared.lifecycle.is_stopping() {
            continue;
        }
        let Ok(dir) = claimed.open_subdir(&folder) else {
            continue;
        };
        let dir = Arc::new(dir);
        let names: Vec<OsString> = match dir.entries() {
            Ok(entries) => entries.filter_map(Result::ok).collect(),
            Err(_) => continue,
        };
        let claimer = Claimer::shared(dir.clone(), private.clone());
        for name in names {
            if is_hidden(&name) {
                continue;
            }
            if recover_one(shared, &claimer, &folder, &name) {
                recovered += 1;
            }
        }
    }
    recovered
}

fn recover_one(shared: &Shared, claimer: &Claimer, folder: &OsStr, name: &OsStr) -> bool {
    let claim = match claimer.claim(name) {
        Ok(Outcome::Claimed(claim)) => claim,
        Ok(other) => {
            // Busy: a live claim. Gone or stale: someone else recovered it first.
            debug!(folder = %printable(folder), name = %printable(name), outcome = other.code(),
                "claimed/ file not recovered");
            return false;
        }
        Err(e) => {
            warn!(folder = %printable(folder), name = %printable(name), error = %e,
                "cannot recover a released claim; it stays where it is");
            return false;
        }
    };
    match claim.move_to(shared.spool.new_dir(), name) {
        Ok(()) => {
            info!(name = %printable(name), from = %printable(folder),
                "recovered a job its claimer released unfinished (it died or lost its lock): \
                 back in new/, its started attempts counted in its name");
            true
        }
        Err(failed) => {
            // Let go: the claim goes back to the folder it was taken from.
            warn!(name = %printable(name), from = %printable(folder), error = %failed.error,
                "cannot give a released claim back to new/; it stays in claimed/");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_host_boot_and_pid_and_never_a_path() {
        assert_eq!(
            token("web-1", Some("0f4c2a9e-1111"), 42),
            "web-1.0f4c2a9e.42"
        );
        assert_eq!(token("a/b", None, 7), "a_b.noboot.7");
    }
}
