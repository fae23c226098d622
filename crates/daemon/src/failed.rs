//! failed/: dead letters (exit 100, attempts exhausted) and quarantined files (not a
//! valid job, or rejected by the claim crate), each with `<name>.reason.json` beside it.
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

use spoolq_claim::{Claim, Dir, Errno, Error, MoveFailed, Rejected};
use spoolq_spool::JobId;
use spoolq_spool::names::{printable, reason_name};

/// The longest file name most file systems accept (NAME_MAX).
const NAME_MAX: usize = 255;

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

/// The reason file's contents.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Reason {
    /// Format version of this file.
    pub v: u32,
    /// A short machine-readable code: `permanent_failure`, `attempts_exhausted`, or a
    /// quarantine code (`not_a_job_name`, `id_mismatch`, a header error's code, a reject
    /// reason's code).
    pub reason: String,
    /// What happened, for a person.
    pub message: String,
    /// The name the file had where it was found (printable).
    pub original_name: String,
    /// The folder it was found in: "new" or "retry".
    pub found_in: &'static str,
    /// The name it has in failed/ (filled in by [`bury`]).
    pub stored_as: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    /// Attempts made, including the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// When the job was created (from its header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When the last attempt started and ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_ended: Option<String>,
    pub failed_at: String,
    /// The daemon that moved it: `host:pid`.
    pub daemon: String,
}

impl Reason {
    pub fn new(reason: impl Into<String>, message: impl Into<String>, original: &OsStr) -> Reason {
        Reason {
            v: 1,
            reason: reason.into(),
            message: message.into(),
            original_name: printable(original),
            found_in: "new",
            stored_as: String::new(),
            job: None,
            attempts: None,
            exit_status: None,
            signal: None,
            timed_out: false,
            stderr_tail: Vec::new(),
            created: None,
            last_attempt_started: None,
            last_attempt_ended: None,
            failed_at: String::new(),
            daemon: String::new(),
        }
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Why burying failed; the item comes back (still locked, if it was) so the caller can
/// release it, leaving the file where it was.
#[derive(Debug)]
pub(crate) struct BuryFailed<M> {
    pub error: Error,
    pub item: M,
}

/// Where the file went and whether its reason file was written.
#[derive(Debug)]
pub(crate) struct Buried {
    pub stored_as: OsString,
    pub reason_error: Option<Error>,
}

fn generated_name() -> OsString {
    OsString::from(format!("quarantined-{}", JobId::generate()))
}

fn fits(name: &OsStr) -> bool {
    reason_name(name).len() <= NAME_MAX
}

/// Moves `item` (named `original` in its folder) into `failed`, then writes `reason`
/// beside it.
pub(crate) fn bury<M: Movable>(
    failed: &Dir,
    mut item: M,
    original: &OsStr,
    mut reason: Reason,
    daemon: &str,
) -> Result<Buried, Box<BuryFailed<M>>> {
    let mut base = if fits(original) {
        original.to_owned()
    } else {
        generated_name()
    };
    let mut suffix = 0u32;
    let stored = loop {
        let mut candidate = base.clone();
        if suffix > 0 {
            candidate.push(format!(".{suffix}"));
        }
        if !fits(&candidate) {
            base = generated_name();
            suffix = 0;
            continue;
        }
        // An orphaned reason file (a crash between move and reason) also takes the name.
        if failed.stat_at(&reason_name(&candidate)).is_ok() {
            suffix += 1;
            continue;
        }
        match item.move_into(failed, &candidate) {
            Ok(()) => break candidate,
            Err(failed_move) => {
                let MoveFailed { error, claim } = *failed_move;
                item = claim;
                match error.errno() {
                    Some(Errno::EEXIST) if suffix < 10_000 => suffix += 1,
                    Some(Errno::ENAMETOOLONG)
                        if !base.to_string_lossy().starts_with("quarantined-") =>
                    {
                        base = generated_name();
                        suffix = 0;
                    }
                    _ => return Err(Box::new(BuryFailed { error, item })),
                }
            }
        }
    };
    reason.stored_as = printable(&stored);
    reason.failed_at = rfc3339(SystemTime::now());
    reason.daemon = daemon.to_owned();
    let reason_error = write_reason(failed, &stored, &reason).err();
    Ok(Buried {
        stored_as: stored,
        reason_error,
    })
}

fn write_reason(failed: &Dir, stored: &OsStr, reason: &Reason) -> Result<(), Error> {
    let tmp = OsString::from(format!(".reason-{}.tmp", JobId::generate()));
    let mut file = failed.create_new(&tmp, 0o640)?;
    let mut json = serde_json::to_vec_pretty(reason).unwrap_or_else(|_| b"{}".to_vec());
    json.push(b'\n');
    if let Err(source) = file.write_all(&json) {
        let _ = failed.unlink(&tmp);
        return Err(Error::Io {
            op: spoolq_claim::Op::Create,
            path: failed.display_path(&tmp),
            source,
        });
    }
    drop(file);
    failed
        .rename_replace(&tmp, failed, &reason_name(stored))
        .inspect_err(|_| {
            let _ = failed.unlink(&tmp);
        })
}
