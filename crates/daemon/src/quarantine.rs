//! Quarantine: a file found in new/ or retry/ that is not a job the daemon may run goes
//! to failed/ with a reason beside it, is journaled as `quarantined`, and is never given
//! to a handler and never deleted.
//!
//! [`Rejection`] is every reason a file is turned away (the claim protocol refused it, its
//! name, its header, its id); [`quarantine`] is the one way to act on it, for the
//! workers (new/) and the retry mover (retry/) alike. Moving into failed/ is
//! `failed::bury`'s; deciding that a file is not a job is the caller's.

use std::ffi::OsStr;

use spoolq_claim::RejectReason;
use spoolq_spool::failed::{FailedName, FoundIn, Reason};
use spoolq_spool::journal;
use spoolq_spool::names::printable;
use spoolq_spool::{HeaderError, JobId, QuarantineCause, Record};
use tracing::{error, warn};

use crate::failed::{Movable, bury};
use crate::state::{Shared, Stats};

/// Why a file is not a job the daemon may run.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// The claim protocol refused it (a symlink, not a regular file, hard-linked,
    /// unreadable); `job` is the id its name carries, if the caller takes one from it.
    ClaimRefused {
        reason: RejectReason,
        job: Option<JobId>,
    },
    /// In new/: the name is not `<id>` or `<id>.<attempts>`.
    NotAJobName,
    /// In retry/: the name is not `<id>.<attempts>.<due ms>`; `job` is the id its name
    /// carries, if any.
    NotARetryName { job: Option<JobId> },
    /// The header of the file named for `job` is invalid.
    BadHeader { job: JobId, error: HeaderError },
    /// The file is named for job `named` but its header says `inside`.
    IdMismatch { named: JobId, inside: JobId },
}

impl Rejection {
    /// The reason code of the reason file and the journal record.
    fn cause(&self) -> QuarantineCause {
        match self {
            Rejection::ClaimRefused { reason, .. } => QuarantineCause::from(*reason),
            Rejection::NotAJobName => QuarantineCause::NotAJobName,
            Rejection::NotARetryName { .. } => QuarantineCause::NotARetryName,
            Rejection::BadHeader { error, .. } => QuarantineCause::from(error),
            Rejection::IdMismatch { .. } => QuarantineCause::IdMismatch,
        }
    }

    /// The job the file belongs to, as far as it is known.
    fn job(&self) -> Option<JobId> {
        match self {
            Rejection::ClaimRefused { job, .. } | Rejection::NotARetryName { job } => *job,
            Rejection::NotAJobName => None,
            Rejection::BadHeader { job, .. } => Some(*job),
            Rejection::IdMismatch { inside, .. } => Some(*inside),
        }
    }

    /// What the reason file and the log say, for the file named `name`.
    fn message(&self, name: &OsStr) -> String {
        match self {
            Rejection::ClaimRefused { reason, .. } => format!("{} {reason}", printable(name)),
            Rejection::NotAJobName => format!(
                "{} is not a job name (<id> or <id>.<attempts>): write jobs with spoolq, \
                 or name them after the id in their header",
                printable(name)
            ),
            Rejection::NotARetryName { .. } => format!(
                "{} is not a retry name (<id>.<attempts>.<due ms>): only the daemon puts files in retry/",
                printable(name)
            ),
            Rejection::BadHeader { error, .. } => error.to_string(),
            Rejection::IdMismatch { named, inside } => format!(
                "the file is named for job {named} but its header says {inside}: the id inside is the \
                 authority, so a mismatched name is never run"
            ),
        }
    }
}

/// Moves `item`, found as `name` in `found_in`, to failed/ with its reason, and journals
/// it. On failure the file stays where it is (logged); it is never deleted. Blocking.
pub(crate) fn quarantine<M: Movable>(
    shared: &Shared,
    item: M,
    name: &OsStr,
    found_in: FoundIn,
    worker: u32,
    why: Rejection,
) {
    let cause = why.cause();
    let job = why.job();
    let message = why.message(name);
    let mut reason = Reason::new(cause, message.clone(), name);
    reason.found_in = found_in;
    reason.job = job;
    match bury(
        shared.spool.failed(),
        item,
        FailedName::original(name),
        reason,
        &shared.daemon_id(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_names_its_cause_its_job_and_the_file() {
        let (named, inside) = (JobId::generate(), JobId::generate());
        let name = OsStr::new("a-name");
        let cases = [
            (
                Rejection::ClaimRefused {
                    reason: RejectReason::Symlink,
                    job: None,
                },
                QuarantineCause::Symlink,
                None,
            ),
            (Rejection::NotAJobName, QuarantineCause::NotAJobName, None),
            (
                Rejection::NotARetryName { job: Some(named) },
                QuarantineCause::NotARetryName,
                Some(named),
            ),
            (
                Rejection::BadHeader {
                    job: named,
                    error: HeaderError::Empty,
                },
                QuarantineCause::Empty,
                Some(named),
            ),
            (
                Rejection::IdMismatch { named, inside },
                QuarantineCause::IdMismatch,
                Some(inside),
            ),
        ];
        for (rejection, cause, job) in cases {
            assert_eq!(rejection.cause(), cause, "{rejection:?}");
            assert_eq!(rejection.job(), job, "{rejection:?}");
            let message = rejection.message(name);
            match rejection {
                Rejection::BadHeader { error, .. } => assert_eq!(message, error.to_string()),
                Rejection::IdMismatch { .. } => {
                    assert!(
                        message.contains(&format!("named for job {named}")),
                        "{message}"
                    );
                    assert!(
                        message.contains(&format!("header says {inside}")),
                        "{message}"
                    );
                }
                _ => assert!(message.starts_with("a-name "), "{message}"),
            }
        }
    }
}
