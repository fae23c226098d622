//! The retry mover: moves jobs in retry/ whose due time passed back to new/, under the
//! lock, offers them to the queue, and quarantines what is not a retry name.
//!
//! One pass ([`move_due`]) reports the next due time it saw; when to run a pass is
//! discovery's decision. It claims with the verified strategy whatever `--claim` says:
//! moving back is bookkeeping, and must never move a job another daemon already moved.

use std::ffi::OsStr;
use std::time::SystemTime;

use spoolq_claim::{Claimer, FileKind, Outcome, Strategy};
use spoolq_spool::failed::FoundIn;
use spoolq_spool::journal::Requeued;
use spoolq_spool::names::{is_hidden, printable};
use spoolq_spool::{Record, RequeueCause, RetryName};
use tracing::{debug, error, warn};

use crate::lifecycle::Folder;
use crate::quarantine::{Rejection, quarantine};
use crate::queue::Offer;
use crate::record;
use crate::state::{Shared, Stats};

/// What a pass over retry/ did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RetryReport {
    pub moved: u64,
    pub waiting: u64,
    pub next_due: Option<SystemTime>,
    pub full: bool,
}

/// Moves due jobs from retry/ back to new/ (under the lock), quarantines names that are
/// not retry names, and finds the next due time. Blocking.
pub(crate) fn move_due(shared: &Shared) -> RetryReport {
    let mut report = RetryReport::default();
    let dir = shared.spool.retry();
    // Moving back is internal bookkeeping: always verified, whatever `--claim` says, so
    // the retry mover never moves a job another daemon already moved.
    let mut claimer = Claimer::new(dir.clone(), Strategy::Verified).with_id(0);
    if let Some(hook) = record::step_hook(&shared.journal, shared.config.trace_claims, None) {
        claimer = claimer.with_hook(hook);
    }
    let entries = match dir.entries() {
        Ok(entries) => entries,
        Err(e) => {
            error!(error = %e, "cannot list retry/; retrying at the next rescan");
            Stats::bump(&shared.stats.errors);
            return report;
        }
    };
    let now = SystemTime::now();
    for entry in entries {
        if shared.lifecycle.is_stopping() {
            break;
        }
        let name = match entry {
            Ok(name) => name,
            Err(e) => {
                error!(error = %e, "listing retry/ failed midway");
                break;
            }
        };
        if is_hidden(&name) {
            continue;
        }
        let Some(retry) = RetryName::parse(&name) else {
            quarantine_from_retry(shared, &claimer, &name);
            continue;
        };
        if retry.due() > now {
            report.waiting += 1;
            if report.next_due.is_none_or(|due| retry.due() < due) {
                report.next_due = Some(retry.due());
            }
            continue;
        }
        requeue(shared, &claimer, &name, retry, &mut report);
    }
    report
}

fn requeue(
    shared: &Shared,
    claimer: &Claimer,
    name: &OsStr,
    retry: RetryName,
    report: &mut RetryReport,
) {
    let claim = match claimer.claim(name) {
        Ok(Outcome::Claimed(claim)) => claim,
        Ok(Outcome::Rejected(rejected)) => {
            let why = Rejection::ClaimRefused {
                reason: rejected.reason(),
                job: Some(retry.id),
            };
            quarantine(shared, rejected, name, FoundIn::Retry, 0, why);
            return;
        }
        // Another daemon is moving it, or already did.
        Ok(_) => return,
        Err(e) => {
            error!(error = %e, "claiming a due job in retry/ failed; it stays there");
            Stats::bump(&shared.stats.errors);
            return;
        }
    };
    let ready = retry.ready().to_os_string();
    match claim.move_to(shared.spool.new_dir(), &ready) {
        Ok(()) => {
            Stats::bump(&shared.stats.requeued);
            let record = Record::new(Requeued {
                job: retry.id,
                worker: 0,
                strategy: shared.journal.strategy(),
                attempt: retry.attempts + 1,
                name: printable(&ready),
                result: Some(RequeueCause::Due),
            });
            let _ = shared.journal.write(record);
            debug!(job = %retry.id, attempt = retry.attempts + 1, "retry due: moved back to new/");
            // Just moved there under its lock: a regular file, as its claim verified.
            let seen = Some(FileKind::Regular);
            if !shared.lifecycle.is_gone(Folder::New)
                && shared.queue.offer(&ready, seen) == Offer::Full
            {
                report.full = true;
            }
            report.moved += 1;
        }
        Err(failed) if failed.error.is_already_exists() => {
            warn!(
                job = %retry.id,
                "a job with the same name is already in new/: the retry stays in retry/ \
                 until that one is gone"
            );
        }
        Err(failed) if failed.error.name_now().is_some() => {
            warn!(job = %retry.id, error = %failed.error,
                "a due job's name in retry/ no longer names the file claimed; left alone");
        }
        Err(failed) => {
            error!(job = %retry.id, error = %failed.error,
                "moving a due job back to new/ failed; it stays in retry/");
            Stats::bump(&shared.stats.errors);
        }
    }
}

fn quarantine_from_retry(shared: &Shared, claimer: &Claimer, name: &OsStr) {
    match claimer.claim(name) {
        Ok(Outcome::Claimed(claim)) => {
            let why = Rejection::NotARetryName {
                job: record::id_from_name(name),
            };
            quarantine(shared, claim, name, FoundIn::Retry, 0, why);
        }
        Ok(Outcome::Rejected(rejected)) => {
            let why = Rejection::ClaimRefused {
                reason: rejected.reason(),
                job: None,
            };
            quarantine(shared, rejected, name, FoundIn::Retry, 0, why);
        }
        Ok(_) => {}
        Err(e) => {
            error!(error = %e, "claiming a stray file in retry/ failed; it stays there");
            Stats::bump(&shared.stats.errors);
        }
    }
}
