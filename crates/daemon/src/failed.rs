//! Moving into failed/: dead letters (exit 100, attempts exhausted) and quarantined
//! files (not a valid job, or rejected by the claim crate), each with its reason file
//! beside it. The names and the reason file's schema are `spoolq_spool::failed`'s.
//!
//! The file is moved under its claim's lock (or, for a file that could not even be
//! opened, by name), never replacing anything in failed/: if the name is taken, `.1`,
//! `.2`... is appended; if the name (or its reason file's name) would be too long, a
//! generated name is used and the original is recorded in the reason. The reason is
//! written after the move, through a hidden temporary file renamed into place, so it is
//! either whole or absent.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::time::SystemTime;

use spoolq_claim::{ActError, Claim, Dir, Errno, Error, MoveFailed, Rejected};
use spoolq_spool::failed::{FailedName, Reason, reason_temp_name};

/// Something that can be moved into failed/ under its lock.
pub(crate) trait Movable: Sized {
    fn move_into(self, to: &Dir, name: &OsStr) -> Result<(), Box<MoveFailed<Self>>>;
}

impl Movable for Claim {
    fn move_into(self, to: &Dir, name: &OsStr) -> Result<(), Box<MoveFailed<Self>>> {
        self.move_to(to, name)
    }
}

impl Movable for Rejected {
    fn move_into(self, to: &Dir, name: &OsStr) -> Result<(), Box<MoveFailed<Self>>> {
        self.move_to(to, name)
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Why burying failed; the item comes back (still locked, if it was) so the caller can
/// release it, leaving the file where it was.
#[derive(Debug)]
pub(crate) struct BuryFailed<M> {
    pub error: ActError,
    pub item: M,
}

/// Where the file went and whether its reason file was written.
#[derive(Debug)]
pub(crate) struct Buried {
    pub stored_as: OsString,
    pub reason_error: Option<Error>,
}

/// Moves `item` into `failed` under the name `wanted` (or, if taken or too long, the
/// next free form of it), then writes `reason` beside it.
pub(crate) fn bury<M: Movable>(
    failed: &Dir,
    mut item: M,
    wanted: FailedName,
    mut reason: Reason,
    daemon: &str,
) -> Result<Buried, Box<BuryFailed<M>>> {
    let mut candidate = if wanted.fits() {
        wanted
    } else {
        FailedName::generated()
    };
    let stored = loop {
        if !candidate.fits() {
            candidate = FailedName::generated();
            continue;
        }
        // An orphaned reason file (a crash between move and reason) also takes the name.
        if failed.stat_at(&candidate.reason_name()).is_ok() {
            candidate = candidate.next_collision();
            continue;
        }
        match item.move_into(failed, &candidate.to_os_string()) {
            Ok(()) => break candidate,
            Err(failed_move) => {
                let MoveFailed { error, claim } = *failed_move;
                item = claim;
                match error.errno() {
                    Some(Errno::EEXIST) if candidate.collision < 10_000 => {
                        candidate = candidate.next_collision();
                    }
                    Some(Errno::ENAMETOOLONG) if !candidate.is_generated() => {
                        candidate = FailedName::generated();
                    }
                    _ => return Err(Box::new(BuryFailed { error, item })),
                }
            }
        }
    };
    reason.stored_as = stored.to_string();
    reason.failed_at = rfc3339(SystemTime::now());
    reason.daemon = daemon.to_owned();
    let reason_error = write_reason(failed, &stored, &reason).err();
    Ok(Buried {
        stored_as: stored.to_os_string(),
        reason_error,
    })
}

fn write_reason(failed: &Dir, stored: &FailedName, reason: &Reason) -> Result<(), Error> {
    let tmp = reason_temp_name();
    let mut file = failed.create_new(&tmp, 0o640)?;
    if let Err(source) = file.write_all(&reason.to_file_bytes()) {
        let _ = failed.unlink(&tmp);
        return Err(Error::Io {
            op: spoolq_claim::Op::Create,
            path: failed.display_path(&tmp),
            source,
        });
    }
    drop(file);
    failed
        .rename_replace(&tmp, failed, &stored.reason_name())
        .inspect_err(|_| {
            let _ = failed.unlink(&tmp);
        })
}
