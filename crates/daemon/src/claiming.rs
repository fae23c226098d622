//! Claiming one name from new/: claim it through the protocol, check that it is a job
//! (its name, its header, the id in both), journal the claim, and count the attempt in
//! the job's name before a handler runs.
//!
//! The result is a [`Claimed`] job, its lock held, ready for a handler; or nothing, when
//! the name was busy, gone, stale, not a job (handed to `quarantine`), given up by this
//! daemon (`stuck`) or could not be journaled (released). Running the handler and
//! acting on its end are not here.

use std::ffi::{OsStr, OsString};
use std::io::{Seek, SeekFrom};
use std::os::fd::AsFd;

use spoolq_claim::{ActError, Claim, Claimer, FileKind, Outcome};
use spoolq_spool::failed::FoundIn;
use spoolq_spool::job::ReadHeaderError;
use spoolq_spool::journal;
use spoolq_spool::names::printable;
use spoolq_spool::{JobHeader, JournalError, ReadyName, Record, ReleaseCause};
use tracing::{debug, error};

use crate::quarantine::{Rejection, quarantine};
use crate::record;
use crate::state::{Shared, Stats};

/// A claimed job whose name, header and id were checked; its lock is held until the
/// outcome completes, moves or releases it.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub claim: Claim,
    /// The name as claimed: the job and the attempts made before this one.
    pub ready: ReadyName,
    pub header: JobHeader,
    /// A duplicate of the locked descriptor at the payload, for the handler's stdin: the
    /// same open file description, so the same lock.
    pub payload: Option<std::fs::File>,
    pub worker: u32,
    /// The name [`count_attempt`] gave the job, which the worker holds in the queue
    /// until the job is done with.
    pub held: Option<OsString>,
}

impl Claimed {
    /// This attempt's number, 1-based: one more than the attempts the claimed name
    /// counts.
    pub fn attempt(&self) -> u32 {
        self.ready.attempts.saturating_add(1)
    }

    /// The job's name in new/: the name claimed, or the one [`count_attempt`] gave it.
    pub fn name(&self) -> &OsStr {
        self.claim.name()
    }

    /// The name that counts this attempt, `<id>.<attempt>`.
    pub fn counted_name(&self) -> OsString {
        ReadyName::new(self.ready.id, self.attempt()).to_os_string()
    }
}

/// Journals the claim of a job about to run, before anything is done to it. False when
/// the record could not be written: the job was released unprocessed.
pub(crate) fn journal_claim(shared: &Shared, job: Claimed, name: OsString) -> Option<Claimed> {
    if shared.lifecycle.is_stopping() {
        // Claimed after shutdown began: nothing was journaled, just let go.
        return None;
    }
    if let Err(e) = shared
        .journal
        .write_claimed(claimed_record(shared, &job, &name))
    {
        // Logged by write_claimed, once per episode.
        release_unjournaled(shared, job, &e);
        return None;
    }
    journaled(shared, &job);
    Some(job)
}

/// Counts the attempt about to start in the job's name, under its lock: renames
/// `<id>.<n>` (or `<id>`) to `<id>.<n+1>` without replacing anything, so that the name
/// counts every attempt that started, one cut short by a crash included, and the next
/// claim knows. The new name is held in the queue first, so that the watcher's report of
/// it costs no second claim. On failure the job keeps its name (and the caller releases
/// it unrun).
pub(crate) fn count_attempt(shared: &Shared, job: &mut Claimed) -> Result<(), ActError> {
    let counted = job.counted_name();
    let held = shared.queue.hold(&counted);
    match job.claim.rename(&counted) {
        Ok(()) => {
            if held {
                job.held = Some(counted);
            }
            Ok(())
        }
        Err(e) => {
            if held {
                shared.queue.done(&counted);
            }
            Err(e)
        }
    }
}

/// The `claimed` record of a job, whose name in new/ is (or is about to be) `name`.
pub(crate) fn claimed_record(shared: &Shared, job: &Claimed, name: &OsStr) -> Record {
    let (ino, btime_ns) = journal::file_identity(job.claim.stat());
    Record::new(journal::Claimed {
        job: job.ready.id,
        worker: job.worker,
        strategy: shared.journal.strategy(),
        attempt: job.attempt(),
        name: printable(name),
        ino,
        btime_ns,
    })
}

/// A job's `claimed` record is written: count it.
pub(crate) fn journaled(shared: &Shared, job: &Claimed) {
    Stats::bump(&shared.stats.claimed);
    debug!(target: crate::log_sink::JOB_LOG_TARGET, job = %job.ready.id, attempt = job.attempt(),
        worker = job.worker, "claimed");
}

/// A job's `claimed` record could not be written: release it unprocessed (it stays in
/// new/) and say so in the journal, if the journal takes it.
pub(crate) fn release_unjournaled(shared: &Shared, job: Claimed, error: &JournalError) {
    let (id, attempt, worker) = (job.ready.id, job.attempt(), job.worker);
    let outcome_ns = spoolq_os::monotonic_ns();
    drop(job);
    Stats::bump(&shared.stats.released);
    let _ = shared.journal.write_quiet(Record::new(journal::Released {
        job: id,
        worker,
        strategy: shared.journal.strategy(),
        attempt,
        name: None,
        result: ReleaseCause::JournalFailed,
        exit: None,
        signal: None,
        detail: error.to_string(),
        outcome_ns: Some(outcome_ns),
    }));
}

/// Claims `name` (seen by its offerer as `seen`, if it saw its kind) and validates it
/// (name, header, id), and dups the payload descriptor if asked. None when there is
/// nothing to run (busy, gone, stale, quarantined, given up, an error).
pub(crate) fn claim_valid(
    shared: &Shared,
    claimer: &Claimer,
    worker: u32,
    name: &OsStr,
    seen: Option<FileKind>,
    want_payload: bool,
) -> Option<Claimed> {
    if shared.lifecycle.is_stopping() || shared.stuck.given_up(name) {
        return None;
    }
    let claim = match claimer.claim_seen(name, seen) {
        Ok(Outcome::Claimed(claim)) => claim,
        Ok(Outcome::Rejected(rejected)) => {
            match publishing(shared, &rejected, name) {
                Publishing::Finished => {
                    drop(rejected);
                    return claim_valid(shared, claimer, worker, name, seen, want_payload);
                }
                Publishing::Young => {
                    debug!(name = %printable(name), "two links, freshly made: a publish in \
                        progress through another mount; left for a later claim");
                    return None;
                }
                Publishing::No => {}
            }
            let why = Rejection::ClaimRefused {
                reason: rejected.reason(),
                job: record::id_from_name(name),
            };
            quarantine(shared, rejected, name, FoundIn::New, worker, why);
            return None;
        }
        Ok(other) => {
            debug!(name = %printable(name), outcome = other.code(), "not claimed");
            return None;
        }
        Err(e) => {
            error!(name = %printable(name), error = %e, "claiming failed; the file stays in new/");
            Stats::bump(&shared.stats.errors);
            return None;
        }
    };
    let Some(ready) = ReadyName::parse(name) else {
        quarantine(
            shared,
            claim,
            name,
            FoundIn::New,
            worker,
            Rejection::NotAJobName,
        );
        return None;
    };
    let header = match read_header(&claim) {
        Ok(header) => header,
        Err(ReadHeaderError::Io(e)) => {
            error!(job = %ready.id, error = %spoolq_os::describe_io(&e), "reading the job failed; it stays in new/");
            Stats::bump(&shared.stats.errors);
            return None;
        }
        Err(ReadHeaderError::Invalid(error)) => {
            let why = Rejection::BadHeader {
                job: ready.id,
                error,
            };
            quarantine(shared, claim, name, FoundIn::New, worker, why);
            return None;
        }
    };
    let (header, header_len) = header;
    if header.id != ready.id {
        let why = Rejection::IdMismatch {
            named: ready.id,
            inside: header.id,
        };
        quarantine(shared, claim, name, FoundIn::New, worker, why);
        return None;
    }
    let payload = match want_payload
        .then(|| payload_at(&claim, header_len as u64))
        .transpose()
    {
        Ok(payload) => payload,
        Err(e) => {
            error!(job = %ready.id, error = %spoolq_os::describe_io(&e), "cannot open the payload; the job stays in new/");
            Stats::bump(&shared.stats.errors);
            return None;
        }
    };
    Some(Claimed {
        claim,
        ready,
        header,
        payload,
        worker,
        held: None,
    })
}

/// A duplicate of the claim's descriptor (the same open file description, so the same
/// lock) at the payload's first byte, blocking, for a handler's stdin: a regular file's
/// reads never wait, and a program may refuse a non-blocking stdin.
fn payload_at(claim: &Claim, offset: u64) -> std::io::Result<std::fs::File> {
    let mut file = claim.file().try_clone()?;
    file.seek(SeekFrom::Start(offset))?;
    spoolq_os::fs::clear_nonblocking(file.as_fd()).map_err(spoolq_os::Errno::to_io)?;
    Ok(file)
}

/// What a job file with two links is, as far as publishing goes.
enum Publishing {
    /// Its other link was its producer's tmp/ name, now removed: claim it again.
    Finished,
    /// Its other link is nowhere to be found, but its links changed less than
    /// [`LINKS_SETTLE`] ago on a file system other hosts share: a publish another client
    /// finished while this one's caches still show two links. Left in new/ for a later
    /// claim.
    Young,
    /// Not a publish: a hard link someone made, to be quarantined.
    No,
}

/// How long after its last change of links a file with two links in new/ may still be a
/// publish seen through a client's attribute cache (GlusterFS's default is one second).
const LINKS_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// A file rejected for a second link may be a job being published where the file system
/// has no no-replace rename (link into new/, then unlink from tmp/; docs/protocol.md):
/// finish that publish, or leave a fresh one alone. Blocking.
fn publishing(shared: &Shared, rejected: &spoolq_claim::Rejected, name: &OsStr) -> Publishing {
    let (spoolq_claim::RejectReason::HardLinked { nlink: 2 }, Some(stat), Some(ready)) =
        (rejected.reason(), rejected.stat(), ReadyName::parse(name))
    else {
        return Publishing::No;
    };
    match shared.spool.finish_publish(ready.id, stat.ino) {
        Ok(true) => return Publishing::Finished,
        Ok(false) => {}
        Err(e) => {
            error!(name = %printable(name), error = %e, "looking for the producer's name in tmp/ \
                failed; the file stays in new/");
            return Publishing::Young;
        }
    }
    // A local file system's link count is never a cache's: two links are two links.
    let local = shared
        .spool
        .new_dir()
        .file_system()
        .is_ok_and(|fs| fs.sharing.local_assumptions_hold());
    let young = match std::time::SystemTime::now().duration_since(stat.ctime) {
        Ok(age) => age < LINKS_SETTLE,
        // A change time ahead of this host's clock: another host's clock runs ahead.
        Err(_) => true,
    };
    if young && !local {
        Publishing::Young
    } else {
        Publishing::No
    }
}

/// Reads and checks the header through the locked descriptor.
fn read_header(claim: &Claim) -> Result<(JobHeader, usize), ReadHeaderError> {
    JobHeader::read_from(claim.file(), claim.stat().size)
}
