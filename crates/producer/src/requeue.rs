//! Sending dead jobs back: from failed/ to new/, with a fresh attempt count.
//!
//! Each job is claimed in failed/ with the verified claim (so two operators, or a
//! requeue and anything else that claims there, never both move it), its reason file
//! read and its header checked through the locked descriptor, its `requeued` record
//! journaled while the lock is held, and then it is moved to `new/<id>` with
//! [`Claim::move_to`], which never replaces a name. Its reason file is removed only once
//! the job is in new/, so a job still in failed/ never loses its reason.
//!
//! Only jobs that ran and failed (`permanent_failure`, `attempts_exhausted`) are sent
//! back. Quarantined files (not valid jobs) are refused: they need a person.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;

use spoolq_claim::{Claim, Claimer, Outcome, RejectReason, Strategy};
use spoolq_spool::failed::{FailedEntry, FailedName};
use spoolq_spool::journal::Requeued;
use spoolq_spool::names::printable;
use spoolq_spool::{
    DeadCause, JobHeader, JobId, JournalError, JournalWriter, ReadyName, Reason, ReasonCode,
    Record, RequeueCause, Spool,
};

use crate::find_existing;

/// What to send back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequeueRequest {
    /// These jobs (whatever their reason; quarantined ones are refused).
    pub ids: Vec<JobId>,
    /// Every job in failed/ whose reason is in `reasons`.
    pub all: bool,
    /// Only files whose reason code is one of these; `None`: with `all`, the reasons of
    /// jobs that ran ([`RequeueRequest::DEFAULT_REASONS`]), with `ids`, any.
    pub reasons: Option<Vec<ReasonCode>>,
    /// Check and report, move nothing.
    pub dry_run: bool,
}

impl RequeueRequest {
    /// The reasons `all` selects when none are given: the jobs that ran and failed.
    pub const DEFAULT_REASONS: [ReasonCode; 2] = [
        ReasonCode::Dead(DeadCause::PermanentFailure),
        ReasonCode::Dead(DeadCause::AttemptsExhausted),
    ];

    fn selects(&self, id: JobId, reason: Option<ReasonCode>) -> bool {
        if !self.all && !self.ids.contains(&id) {
            return false;
        }
        match (&self.reasons, reason) {
            (Some(reasons), Some(code)) => reasons.contains(&code),
            // Without a readable reason the file is selected only by its id: refused
            // then, with why.
            (Some(_), None) => !self.all,
            (None, Some(code)) => !self.all || Self::DEFAULT_REASONS.contains(&code),
            (None, None) => !self.all,
        }
    }
}

/// A job sent back (or, with `dry_run`, that would be).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RequeuedJob {
    /// The job.
    pub job: JobId,
    /// Its name in failed/.
    pub from: String,
    /// Its name in new/ (`<id>`: a fresh attempt count).
    pub to: String,
    /// Why it was in failed/.
    pub reason: String,
    /// The attempts it had made, from its reason file.
    pub attempts: Option<u32>,
    /// Set when the job is in new/ but its reason file could not be removed (why).
    pub reason_file_left: Option<String>,
}

/// A file selected but not sent back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    /// Its name in failed/.
    pub name: String,
    /// The job its name names.
    pub job: JobId,
    /// Why, in a word (`quarantined`, `in_spool`, ...).
    pub code: &'static str,
    /// Why, for a person, with what to do.
    pub why: String,
}

/// What a requeue did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequeueReport {
    /// Nothing was moved: `requeued` lists what would have been.
    pub dry_run: bool,
    /// The jobs sent back to new/.
    pub requeued: Vec<RequeuedJob>,
    /// Files selected and refused.
    pub refused: Vec<Refused>,
    /// Ids asked for that name no file in failed/.
    pub not_found: Vec<JobId>,
    /// Files in failed/ not selected (other reasons, quarantined files, names that name
    /// no job), reason files not counted.
    pub left_in_failed: u64,
}

impl RequeueReport {
    /// Whether something asked for was not done: a refusal, or an id not in failed/.
    pub fn incomplete(&self) -> bool {
        !self.refused.is_empty() || !self.not_found.is_empty()
    }
}

/// Why a requeue could not run at all (a refused job is in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum RequeueError {
    /// failed/ could not be listed.
    #[error("listing {}: {source}; check its permissions", path.display())]
    List {
        /// The folder.
        path: std::path::PathBuf,
        /// The listing's error.
        source: spoolq_claim::Error,
    },
}

/// Sends the jobs `request` selects from failed/ back to new/, journaling each as
/// `requeued` (with [`RequeueCause::FromFailed`]) in `journal`.
pub fn requeue(
    spool: &Spool,
    request: &RequeueRequest,
    journal: &JournalWriter,
) -> Result<RequeueReport, RequeueError> {
    let failed = spool.failed();
    let list_err = |source| RequeueError::List {
        path: failed.path().to_owned(),
        source,
    };
    let mut moved = Vec::new();
    for name in failed.entries().map_err(list_err)? {
        let name = name.map_err(list_err)?;
        if let FailedEntry::Moved(parsed) = FailedEntry::parse(&name) {
            moved.push((name, parsed));
        }
    }
    moved.sort_by(|a, b| a.0.cmp(&b.0));
    let mut report = RequeueReport {
        dry_run: request.dry_run,
        ..RequeueReport::default()
    };
    let mut found = HashSet::new();
    let claimer = Claimer::new(failed.clone(), Strategy::Verified);
    for (name, parsed) in moved {
        let Some(id) = parsed.job() else {
            report.left_in_failed += 1;
            continue;
        };
        let reason = read_reason(spool, &parsed);
        let code = reason.as_ref().ok().map(|r| r.reason);
        if !request.selects(id, code) {
            report.left_in_failed += 1;
            continue;
        }
        found.insert(id);
        match send_back(spool, &claimer, &name, id, reason, request.dry_run, journal) {
            Ok(job) => report.requeued.push(job),
            Err((code, why)) => report.refused.push(Refused {
                name: printable(&name),
                job: id,
                code,
                why,
            }),
        }
    }
    report.not_found = request
        .ids
        .iter()
        .copied()
        .filter(|id| !found.contains(id))
        .collect();
    Ok(report)
}

/// A refusal: its word and its sentence.
type Refusal = (&'static str, String);

/// The reason file beside `name` in failed/, read and parsed.
fn read_reason(spool: &Spool, name: &FailedName) -> Result<Reason, String> {
    let reason_name = name.reason_name();
    let file = spool
        .failed()
        .open_read(&reason_name)
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    // A reason file is a few KiB; anything far larger is not one.
    (&file)
        .take(1 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Reason::from_file_bytes(&bytes).map_err(|e| format!("not a reason file: {e}"))
}

#[allow(clippy::too_many_arguments)]
fn send_back(
    spool: &Spool,
    claimer: &Claimer,
    name: &OsStr,
    id: JobId,
    reason: Result<Reason, String>,
    dry_run: bool,
    journal: &JournalWriter,
) -> Result<RequeuedJob, Refusal> {
    let reason = reason.map_err(|e| {
        (
            "no_reason",
            format!(
                "its reason file cannot be read ({e}): look at the file, then move it into \
                 new/ by hand if it is a job"
            ),
        )
    })?;
    match reason.reason {
        ReasonCode::Dead(_) => {}
        code @ (ReasonCode::Quarantined(_) | ReasonCode::HiddenInNew) => {
            return Err((
                "quarantined",
                format!(
                    "quarantined ({code}: {}): it is not a valid job, and needs a person \
                     (repair it and produce it again)",
                    reason.message
                ),
            ));
        }
    }
    if reason.job.is_some_and(|job| job != id) {
        return Err((
            "reason_mismatch",
            "its reason file names another job: look at both before moving anything".into(),
        ));
    }
    match find_existing(spool, id) {
        Ok(Some(location)) => {
            return Err((
                "in_spool",
                format!(
                    "a job with this id is already in the spool as {}: it stays in failed/",
                    location.display()
                ),
            ));
        }
        Ok(None) => {}
        Err(e) => return Err(("io", e.to_string())),
    }
    let claim = match claimer.claim(name) {
        Ok(Outcome::Claimed(claim)) => claim,
        Ok(Outcome::Busy) => {
            return Err((
                "busy",
                "another process holds it (another requeue?): try again".into(),
            ));
        }
        Ok(Outcome::Gone | Outcome::Stale(_)) => {
            return Err(("gone", "it left failed/ meanwhile".into()));
        }
        Ok(Outcome::Rejected(rejected)) => {
            return Err(("not_a_job", rejected_why(rejected.reason())));
        }
        Err(e) => return Err(("io", e.to_string())),
    };
    check_header(&claim, id).map_err(|e| {
        (
            "not_a_job",
            format!("its header is not a job's ({e}): it needs a person"),
        )
    })?;
    let ready = ReadyName::new(id, 0).to_os_string();
    let mut job = RequeuedJob {
        job: id,
        from: printable(name),
        to: printable(&ready),
        reason: reason.reason.to_string(),
        attempts: reason.attempts,
        reason_file_left: None,
    };
    if dry_run {
        return Ok(job);
    }
    // Journaled under the lock, before the move: a daemon's claim of the job in new/,
    // which may follow the move at once, always comes after this record.
    journal_requeue(journal, id, &ready).map_err(|e| {
        (
            "journal",
            format!("its requeued record cannot be journaled ({e}): it stays in failed/"),
        )
    })?;
    claim.move_to(spool.new_dir(), &ready).map_err(|failed| {
        let why = if failed.error.is_already_exists() {
            format!(
                "new/{} appeared meanwhile: it stays in failed/",
                printable(&ready)
            )
        } else {
            format!(
                "moving it to new/ failed ({}): it stays in failed/",
                failed.error
            )
        };
        ("move", why)
    })?;
    let reason_name = FailedName::parse(name)
        .map(|n| n.reason_name())
        .unwrap_or_else(|| {
            let mut n = OsString::from(name);
            n.push(spoolq_spool::failed::REASON_SUFFIX);
            n
        });
    if let Err(e) = spool.failed().unlink(&reason_name) {
        job.reason_file_left = Some(e.to_string());
    }
    Ok(job)
}

fn journal_requeue(journal: &JournalWriter, job: JobId, ready: &OsStr) -> Result<(), JournalError> {
    journal
        .write(Record::new(Requeued {
            job,
            worker: 0,
            strategy: Strategy::Verified,
            attempt: 1,
            name: printable(ready),
            result: Some(RequeueCause::FromFailed),
        }))
        .map(drop)
}

fn rejected_why(reason: RejectReason) -> String {
    format!("it {reason}; it needs a person")
}

/// Reads the header through the locked descriptor and checks it is job `id`'s, of the
/// file's real length.
fn check_header(claim: &Claim, id: JobId) -> Result<(), String> {
    let (header, _) =
        JobHeader::read_from(claim.file(), claim.stat().size).map_err(|e| e.to_string())?;
    if header.id != id {
        return Err(format!("it holds job {}", header.id));
    }
    Ok(())
}
