//! Reading spoolq journals: proves (or disproves) that no job ran twice and none was
//! lost, measures latency, and shows how a duplicate happened.
//!
//! [`audit`] streams every journal through [`Merged`] (one pending record per file in
//! memory), ordered by the shared CLOCK_MONOTONIC, and keeps a compact state per job
//! (its produced time, its claims, whether it reached a terminal outcome): memory grows
//! with jobs and claims, not with events. [`timeline`] gathers every record of one job
//! and [`render_timeline`] / [`timeline_svg`] draw it.
//!
//! # Classification
//!
//! A claim is a `claimed` record; its interval ends at the next outcome record (done,
//! retry, dead, released, quarantined) for that job from the same process and worker.
//! When claim tracing journaled a `close` step for it, the interval ends there instead,
//! because that is when the lock was released. A claim with no outcome is taken to have
//! lasted until its process's last journal record (it died, or is still running). For
//! every pair of claims of one job, the later one is:
//! - *concurrent* when it began before the earlier interval ended (mutual exclusion
//!   broken);
//! - *after completion* when the earlier claim completed the job: a `done` (whatever its
//!   result: the naive strategy journals `done` with result `enoent` when its unlink lost
//!   the race), or `dead`/`quarantined` with no `requeued` record in between;
//! - *redelivery* otherwise (the earlier attempt was retried, released, or died without
//!   outcome): expected at-least-once behaviour, not a violation.
//!
//! Caveat: without claim tracing, a claim's end is its outcome *record*, written just
//! after the lock is released; a second claimer that journals `claimed` in that short
//! gap makes the pair look concurrent rather than after completion. Both are violations.
//! Monotonic times of different hosts are not comparable: audit one host's journals.
//!
//! Boundaries: this crate only reads (journals, and names in new/, retry/ and failed/).
//! It prints nothing and chooses no exit code; the `render_*` functions return text.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod render;
mod svg;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use spoolq_claim::{Step, Strategy};
use spoolq_spool::journal::{Event, JournalName, RetryResult, Role, journal_files};
use spoolq_spool::{
    DeadCause, DoneResult, EventKind, FailedEntry, JobId, LayoutError, Merged, Problem,
    QuarantineCause, ReadyName, Record, ReleaseCause, RetryName, Spool, UnknownEntry,
};

pub use render::{render_report, render_timeline};
pub use svg::timeline_svg;

/// What to audit.
#[derive(Clone, Debug, Default)]
pub struct AuditInput {
    /// A spool: its journal/ is read, and its new/ and retry/ are listed to tell pending
    /// jobs from lost ones. Without it, pending and lost are unknown.
    pub spool: Option<PathBuf>,
    /// More journal files, or folders of `*.jsonl` files (journals copied from elsewhere).
    pub journals: Vec<PathBuf>,
}

/// Why an audit could not run. Problems inside journals are never errors: they are in
/// [`Report::problems`].
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Neither a spool nor a journal was given.
    #[error("nothing to audit: give a spool (--spool DIR) or journals (--journal PATH)")]
    NoInput,
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] LayoutError),
    /// A journal path given does not exist.
    #[error("journal {}: no such file or directory; pass a journal file or a folder of *.jsonl files", path.display())]
    JournalNotFound {
        /// The path.
        path: PathBuf,
    },
    /// A folder of journals could not be listed.
    #[error("listing journals under {}: {source}", path.display())]
    ListJournals {
        /// The folder.
        path: PathBuf,
        /// The listing's error.
        source: std::io::Error,
    },
    /// new/, retry/ or failed/ could not be listed, so pending and lost jobs are unknown.
    #[error("listing {}: {source}; check its permissions", path.display())]
    ListSpool {
        /// The folder.
        path: PathBuf,
        /// The listing's error.
        source: spoolq_claim::Error,
    },
}

/// The three classes of duplicate processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicateClass {
    /// Two claims of one job overlapped: mutual exclusion was broken.
    Concurrent,
    /// A claim began after another claim had completed the job: the race that
    /// `docs/protocol.md` describes.
    AfterCompletion,
    /// A claim after an earlier attempt failed, was released, or died: expected.
    Redelivery,
}

impl DuplicateClass {
    /// Every class, most severe first.
    pub const ALL: [DuplicateClass; 3] = [
        DuplicateClass::Concurrent,
        DuplicateClass::AfterCompletion,
        DuplicateClass::Redelivery,
    ];

    /// `concurrent`, `after-completion`, `redelivery`.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateClass::Concurrent => "concurrent",
            DuplicateClass::AfterCompletion => "after-completion",
            DuplicateClass::Redelivery => "redelivery",
        }
    }

    /// Words for people: `concurrent`, `after completion`, `redelivery`.
    pub fn label(self) -> &'static str {
        match self {
            DuplicateClass::Concurrent => "concurrent",
            DuplicateClass::AfterCompletion => "after completion",
            DuplicateClass::Redelivery => "redelivery",
        }
    }

    /// True for the classes that break the protocol's promise.
    pub fn is_violation(self) -> bool {
        self != DuplicateClass::Redelivery
    }
}

/// One processing interval of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimInterval {
    /// `host:pid`.
    pub process: String,
    /// The worker that claimed.
    pub worker: u32,
    /// The strategy of the claim.
    pub strategy: Strategy,
    /// The attempt it ran.
    pub attempt: u32,
    /// The `claimed` record's monotonic time.
    pub start_mono_ns: u64,
    /// The outcome record's monotonic time; `None` when there was none (died).
    pub end_mono_ns: Option<u64>,
    /// When the lock was released, if a `close` step was journaled (claim tracing).
    pub released_mono_ns: Option<u64>,
    /// How the claim ended, as its outcome record says; `None` when there was none.
    pub outcome: Option<ClaimEnd>,
}

/// How a claim ended: the outcome record that closed it, with its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimEnd {
    /// A `done` record: the job was completed.
    Done(DoneResult),
    /// A `retry` record: the job went to retry/.
    Retry,
    /// A `dead` record: the job went to failed/ for good.
    Dead(DeadCause),
    /// A `quarantined` record: the file was not a valid job.
    Quarantined(QuarantineCause),
    /// A `released` record: the job was left where it was.
    Released(ReleaseCause),
}

impl ClaimEnd {
    /// The claim's outcome event, if `event` is one.
    pub fn of(event: &Event) -> Option<ClaimEnd> {
        match event {
            Event::Done(e) => Some(ClaimEnd::Done(e.result)),
            Event::Retry(_) => Some(ClaimEnd::Retry),
            Event::Dead(e) => Some(ClaimEnd::Dead(e.result)),
            Event::Quarantined(e) => Some(ClaimEnd::Quarantined(e.result)),
            Event::Released(e) => Some(ClaimEnd::Released(e.result)),
            Event::Start(_)
            | Event::Stop(_)
            | Event::Produced(_)
            | Event::Claimed(_)
            | Event::Requeued(_)
            | Event::Step(_) => None,
        }
    }

    /// The outcome record's event.
    pub fn kind(self) -> EventKind {
        match self {
            ClaimEnd::Done(_) => EventKind::Done,
            ClaimEnd::Retry => EventKind::Retry,
            ClaimEnd::Dead(_) => EventKind::Dead,
            ClaimEnd::Quarantined(_) => EventKind::Quarantined,
            ClaimEnd::Released(_) => EventKind::Released,
        }
    }

    /// The outcome record's result word (`ok`, `enoent`, a cause).
    pub fn result_word(self) -> &'static str {
        match self {
            ClaimEnd::Done(r) => r.as_str(),
            ClaimEnd::Retry => RetryResult::Retry.as_str(),
            ClaimEnd::Dead(r) => r.as_str(),
            ClaimEnd::Quarantined(r) => r.as_str(),
            ClaimEnd::Released(r) => r.as_str(),
        }
    }

    /// Whether the claim finished the job: completed it (a `done`, whatever its result:
    /// the naive strategy journals `done` with `enoent` when its unlink lost the race),
    /// or moved it to failed/.
    fn finished_the_job(self) -> bool {
        matches!(
            self,
            ClaimEnd::Done(_) | ClaimEnd::Dead(_) | ClaimEnd::Quarantined(_)
        )
    }
}

impl serde::Serialize for ClaimInterval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The interval's JSON: the outcome as its event and its result word.
        #[derive(serde::Serialize)]
        struct View<'a> {
            process: &'a str,
            worker: u32,
            strategy: &'static str,
            attempt: u32,
            start_mono_ns: u64,
            end_mono_ns: Option<u64>,
            released_mono_ns: Option<u64>,
            outcome: Option<EventKind>,
            result: Option<&'static str>,
        }
        View {
            process: &self.process,
            worker: self.worker,
            strategy: self.strategy.as_str(),
            attempt: self.attempt,
            start_mono_ns: self.start_mono_ns,
            end_mono_ns: self.end_mono_ns,
            released_mono_ns: self.released_mono_ns,
            outcome: self.outcome.map(ClaimEnd::kind),
            result: self.outcome.map(ClaimEnd::result_word),
        }
        .serialize(s)
    }
}

/// A job processed more than once, in one class. A job that shows several classes is
/// listed once per class.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Duplicate {
    /// The job.
    pub job: JobId,
    /// The class its flagged claims show.
    pub class: DuplicateClass,
    /// Every claim of the job, in start order.
    pub claims: Vec<ClaimInterval>,
    /// Indexes into `claims` of the claims that are this class's duplicates.
    pub flagged: Vec<usize>,
}

/// Event counts. `pending` and `lost` are `None` when no spool was given.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// `produced` records.
    pub produced: u64,
    /// `claimed` records.
    pub claimed: u64,
    /// `done` records.
    pub completed: u64,
    /// `retry` records.
    pub retried: u64,
    /// `dead` records.
    pub dead: u64,
    /// `quarantined` records that name a job.
    pub quarantined: u64,
    /// `released` records.
    pub released: u64,
    /// Jobs now in new/ or retry/.
    pub pending: Option<u64>,
    /// Jobs produced, never completed, dead nor quarantined, and not in the spool.
    pub lost: Option<u64>,
    /// Jobs gone from the spool whose last claim ended with its process dying before it
    /// journaled an outcome: completed (or moved to failed/) by that process in its last
    /// instant. A dead process holds no lock and leaves its job in place, so only its own
    /// unlink or move can have removed the file. Reported, not a failure.
    pub unconfirmed: Option<u64>,
}

/// How many jobs show each duplicate class.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DuplicateCounts {
    /// Jobs with claims that overlapped.
    pub concurrent: u64,
    /// Jobs claimed again after they were completed.
    pub after_completion: u64,
    /// Jobs claimed again after a failed, released or interrupted attempt.
    pub redelivery: u64,
}

impl DuplicateCounts {
    /// The count of one class.
    pub fn get(&self, class: DuplicateClass) -> u64 {
        match class {
            DuplicateClass::Concurrent => self.concurrent,
            DuplicateClass::AfterCompletion => self.after_completion,
            DuplicateClass::Redelivery => self.redelivery,
        }
    }
}

/// Latency percentiles (nearest rank), in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Latency {
    /// How many intervals were measured.
    pub samples: u64,
    /// The median.
    pub p50_ns: u64,
    /// The 90th percentile.
    pub p90_ns: u64,
    /// The 99th percentile.
    pub p99_ns: u64,
    /// The longest.
    pub max_ns: u64,
}

impl Latency {
    fn of(mut samples: Vec<u64>) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |p: usize| samples[(n * p).div_ceil(100).clamp(1, n) - 1];
        Some(Latency {
            samples: n as u64,
            p50_ns: rank(50),
            p90_ns: rank(90),
            p99_ns: rank(99),
            max_ns: samples[n - 1],
        })
    }
}

/// The two latencies the report measures.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Latencies {
    /// From `produced` to the job's first `claimed`.
    pub produced_to_claimed: Option<Latency>,
    /// From each `claimed` to its outcome.
    pub claimed_to_outcome: Option<Latency>,
}

/// What one process journaled.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessCounts {
    /// `host:pid`.
    pub process: String,
    /// From its journal file's name; `None` for a file not named as spoolq names them.
    pub role: Option<Role>,
    /// Its records about jobs.
    pub events: u64,
    /// Its `produced` records.
    pub produced: u64,
    /// Its `claimed` records.
    pub claimed: u64,
    /// Its `done` records.
    pub completed: u64,
    /// Its `retry` records.
    pub retried: u64,
    /// Its `dead` records.
    pub dead: u64,
    /// Its `quarantined` records that name a job.
    pub quarantined: u64,
    /// Its `released` records.
    pub released: u64,
    /// Claims it journaled with no outcome.
    pub unfinished: u64,
}

/// The result of an audit; `Serialize` for `--json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The journal files read, in the order given.
    pub journal_files: Vec<PathBuf>,
    /// Records about jobs read.
    pub events: u64,
    /// Distinct job ids seen.
    pub jobs: u64,
    /// Event counts, pending and lost jobs.
    pub counts: Counts,
    /// How many jobs show each class of duplicate.
    pub duplicate_counts: DuplicateCounts,
    /// Every duplicate, most severe class first.
    pub duplicates: Vec<Duplicate>,
    /// Produced-to-claimed and claimed-to-outcome latencies.
    pub latency: Latencies,
    /// What each process journaled.
    pub processes: Vec<ProcessCounts>,
    /// Claims with no outcome: their process died (or is still running).
    pub unfinished_claims: u64,
    /// Lost job ids (empty when unknown: see `counts.lost`).
    pub lost_jobs: Vec<JobId>,
    /// Unconfirmed job ids (see `counts.unconfirmed`).
    pub unconfirmed_jobs: Vec<JobId>,
    /// Damaged journal lines and unreadable files: reported, never fatal.
    pub problems: Vec<Problem>,
    /// Records this build does not understand, from newer writers (or other tools): kept
    /// whole with where they were, counted here and in no other figure.
    pub unknown_records: Vec<UnknownEntry>,
}

/// A finding that makes `spoolq audit` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Finding {
    /// A concurrent duplicate.
    Concurrent,
    /// An after-completion duplicate.
    AfterCompletion,
    /// A redelivery (not a violation; a finding only when asked for).
    Redelivery,
    /// A lost job.
    Lost,
}

impl Finding {
    /// The default: the protocol's violations and lost jobs.
    pub const DEFAULT: [Finding; 3] =
        [Finding::Concurrent, Finding::AfterCompletion, Finding::Lost];
}

/// The error of parsing a [`Finding`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding {0:?}: expected concurrent, after-completion, redelivery or lost")]
pub struct ParseFindingError(pub String);

impl FromStr for Finding {
    type Err = ParseFindingError;
    fn from_str(s: &str) -> Result<Finding, ParseFindingError> {
        match s {
            "concurrent" => Ok(Finding::Concurrent),
            "after-completion" => Ok(Finding::AfterCompletion),
            "redelivery" => Ok(Finding::Redelivery),
            "lost" => Ok(Finding::Lost),
            other => Err(ParseFindingError(other.to_owned())),
        }
    }
}

impl Report {
    /// The findings among `fail_on` that this report shows.
    pub fn findings(&self, fail_on: &[Finding]) -> Vec<Finding> {
        fail_on
            .iter()
            .copied()
            .filter(|f| match f {
                Finding::Concurrent => self.duplicate_counts.concurrent > 0,
                Finding::AfterCompletion => self.duplicate_counts.after_completion > 0,
                Finding::Redelivery => self.duplicate_counts.redelivery > 0,
                Finding::Lost => self.counts.lost.unwrap_or(0) > 0,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The streaming analysis.

/// A claim, compactly: its process by index.
#[derive(Clone, Copy, Debug)]
struct ClaimRec {
    process: u32,
    worker: u32,
    strategy: Strategy,
    attempt: u32,
    start: u64,
    end: Option<u64>,
    released: Option<u64>,
    outcome: Option<ClaimEnd>,
}

const DONE: u8 = 1;
const DEAD: u8 = 2;
const QUARANTINED: u8 = 4;

#[derive(Debug, Default)]
struct JobState {
    produced: Option<u64>,
    terminal: u8,
    claims: Vec<ClaimRec>,
    /// Times of `requeued` records (a job back from retry/ or failed/).
    requeues: Vec<u64>,
}

#[derive(Debug, Default)]
struct ProcessState {
    counts: ProcessCounts,
    last_ns: u64,
}

#[derive(Debug, Default)]
struct Analyzer {
    only: Option<JobId>,
    jobs: HashMap<JobId, JobState>,
    processes: Vec<ProcessState>,
    by_pid: HashMap<u32, Vec<(String, u32)>>,
    counts: Counts,
    events: u64,
}

fn role_of(file: &Path) -> Option<Role> {
    JournalName::parse(file.file_name()?).map(|name| name.role)
}

impl Analyzer {
    fn process_index(&mut self, record: &Record, file: &Path) -> u32 {
        let slots = self.by_pid.entry(record.pid).or_default();
        if let Some((_, i)) = slots.iter().find(|(h, _)| *h == record.host) {
            return *i;
        }
        let i = self.processes.len() as u32;
        slots.push((record.host.clone(), i));
        self.processes.push(ProcessState {
            counts: ProcessCounts {
                process: record.process(),
                role: role_of(file),
                ..ProcessCounts::default()
            },
            last_ns: 0,
        });
        i
    }

    fn observe(&mut self, record: &Record, file: &Path) {
        let p = self.process_index(record, file);
        let process = &mut self.processes[p as usize];
        process.last_ns = process.last_ns.max(record.mono_ns);
        let Some(job) = record.job() else {
            return;
        };
        if self.only.is_some_and(|only| only != job) {
            return;
        }
        self.events += 1;
        process.counts.events += 1;
        let t = record.mono_ns;
        let state = self.jobs.entry(job).or_default();
        let pc = &mut process.counts;
        let c = &mut self.counts;
        let worker = match &record.event {
            Event::Produced(_) => {
                c.produced += 1;
                pc.produced += 1;
                state.produced = Some(state.produced.map_or(t, |p| p.min(t)));
                return;
            }
            Event::Claimed(claimed) => {
                c.claimed += 1;
                pc.claimed += 1;
                state.claims.push(ClaimRec {
                    process: p,
                    worker: claimed.worker,
                    strategy: claimed.strategy,
                    attempt: claimed.attempt,
                    start: t,
                    end: None,
                    released: None,
                    outcome: None,
                });
                return;
            }
            Event::Requeued(_) => {
                state.requeues.push(t);
                return;
            }
            Event::Step(step) => {
                if step.step == Step::AfterClose
                    && let Some(claim) = state.claims.iter_mut().rev().find(|cl| {
                        cl.released.is_none() && cl.process == p && cl.worker == step.worker
                    })
                {
                    claim.released = Some(t);
                }
                return;
            }
            Event::Done(e) => e.worker,
            Event::Retry(e) => e.worker,
            Event::Dead(e) => e.worker,
            Event::Quarantined(e) => e.worker,
            Event::Released(e) => e.worker,
            Event::Start(_) | Event::Stop(_) => return,
        };
        let Some(end) = ClaimEnd::of(&record.event) else {
            return;
        };
        match end {
            ClaimEnd::Done(_) => {
                c.completed += 1;
                pc.completed += 1;
                state.terminal |= DONE;
            }
            ClaimEnd::Retry => {
                c.retried += 1;
                pc.retried += 1;
            }
            ClaimEnd::Dead(_) => {
                c.dead += 1;
                pc.dead += 1;
                state.terminal |= DEAD;
            }
            ClaimEnd::Quarantined(_) => {
                c.quarantined += 1;
                pc.quarantined += 1;
                state.terminal |= QUARANTINED;
            }
            ClaimEnd::Released(_) => {
                c.released += 1;
                pc.released += 1;
            }
        }
        // Same process and worker; failing that (an outcome recorded by another worker
        // of the process), the same process.
        let open = |cl: &&mut ClaimRec| cl.end.is_none() && cl.process == p;
        let index = state
            .claims
            .iter_mut()
            .rposition(|cl| open(&cl) && cl.worker == worker)
            .or_else(|| state.claims.iter_mut().rposition(|cl| open(&cl)));
        if let Some(claim) = index.map(|i| &mut state.claims[i]) {
            claim.end = Some(t);
            claim.outcome = Some(end);
        }
    }

    fn interval(&self, claim: &ClaimRec) -> ClaimInterval {
        ClaimInterval {
            process: self.processes[claim.process as usize]
                .counts
                .process
                .clone(),
            worker: claim.worker,
            strategy: claim.strategy,
            attempt: claim.attempt,
            start_mono_ns: claim.start,
            end_mono_ns: claim.end,
            released_mono_ns: claim.released,
            outcome: claim.outcome,
        }
    }

    /// When the claim's hold on the job ended, as far as the journals tell.
    fn effective_end(&self, claim: &ClaimRec) -> u64 {
        claim
            .released
            .or(claim.end)
            .unwrap_or_else(|| self.processes[claim.process as usize].last_ns)
    }

    /// The classes a job's claims show, with the claims flagged for each.
    fn classify(&self, state: &JobState) -> [Vec<usize>; 3] {
        let mut flagged: [Vec<usize>; 3] = Default::default();
        let claims = &state.claims;
        for j in 1..claims.len() {
            let mut class_of_j: Option<DuplicateClass> = None;
            for i in 0..j {
                let (a, b) = (&claims[i], &claims[j]);
                let class = if b.start < self.effective_end(a) {
                    DuplicateClass::Concurrent
                } else {
                    let end = a.end.unwrap_or(a.start);
                    let requeued_between =
                        || state.requeues.iter().any(|&r| r >= end && r <= b.start);
                    match a.outcome {
                        Some(ClaimEnd::Done(_)) => DuplicateClass::AfterCompletion,
                        Some(end) if end.finished_the_job() && !requeued_between() => {
                            DuplicateClass::AfterCompletion
                        }
                        _ => DuplicateClass::Redelivery,
                    }
                };
                // The most severe relation to any earlier claim decides (Ord: concurrent
                // first).
                class_of_j = Some(class_of_j.map_or(class, |c| c.min(class)));
            }
            if let Some(class) = class_of_j {
                flagged[class as usize].push(j);
            }
        }
        flagged
    }

    fn duplicates_of(&self, job: JobId, state: &JobState) -> Vec<Duplicate> {
        if state.claims.len() < 2 {
            return Vec::new();
        }
        let flagged = self.classify(state);
        let mut out = Vec::new();
        for class in DuplicateClass::ALL {
            let indexes = &flagged[class as usize];
            if indexes.is_empty() {
                continue;
            }
            out.push(Duplicate {
                job,
                class,
                claims: state.claims.iter().map(|c| self.interval(c)).collect(),
                flagged: indexes.clone(),
            });
        }
        out
    }
}

fn check_journal_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, AuditError> {
    for path in paths {
        if std::fs::symlink_metadata(path).is_err() {
            return Err(AuditError::JournalNotFound { path: path.clone() });
        }
    }
    let mut files = Vec::new();
    for path in paths {
        files.extend(journal_files(std::slice::from_ref(path)).map_err(|source| {
            AuditError::ListJournals {
                path: path.clone(),
                source,
            }
        })?);
    }
    Ok(files)
}

/// Adds the ids named in new/ and retry/ to `present`; returns how many names there are.
fn list_pending(
    spool: &Spool,
    present: &mut std::collections::HashSet<JobId>,
) -> Result<u64, AuditError> {
    let mut count = 0;
    for (dir, retry) in [(spool.new_dir(), false), (spool.retry(), true)] {
        let err = |source| AuditError::ListSpool {
            path: dir.path().to_owned(),
            source,
        };
        for name in dir.entries().map_err(err)? {
            let name = name.map_err(err)?;
            let id = if retry {
                RetryName::parse(&name).map(|n| n.id)
            } else {
                ReadyName::parse(&name).map(|n| n.id)
            };
            if let Some(id) = id {
                present.insert(id);
                count += 1;
            }
        }
    }
    Ok(count)
}

/// Adds the ids of the jobs in failed/ (dead letters and quarantined files, whatever
/// suffix burying gave them, or their reason files) to `present`.
fn list_failed(
    spool: &Spool,
    present: &mut std::collections::HashSet<JobId>,
) -> Result<(), AuditError> {
    let dir = spool.failed();
    let err = |source| AuditError::ListSpool {
        path: dir.path().to_owned(),
        source,
    };
    for name in dir.entries().map_err(err)? {
        let name = name.map_err(err)?;
        if let Some(id) = FailedEntry::parse(&name).job() {
            present.insert(id);
        }
    }
    Ok(())
}

/// The journal files an input names: SPOOL/journal, then each `--journal` path.
fn input_files(input: &AuditInput, spool: Option<&Spool>) -> Result<Vec<PathBuf>, AuditError> {
    let mut paths = Vec::new();
    if let Some(spool) = spool {
        paths.push(spool.journal().path().to_owned());
    }
    paths.extend(input.journals.iter().cloned());
    let mut files = check_journal_paths(&paths)?;
    // The same file given twice (a folder and a file in it) must not count twice.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    Ok(files)
}

/// Audits the journals of `input`.
///
/// The spool's new/ and retry/ are listed before and after reading the journals, and a
/// job found in either listing is pending: a job that moves between folders while the
/// audit runs is not mistaken for lost. For exact figures, audit a quiet spool.
///
/// # Example
///
/// Produce a job and consume it through the libraries, journaling what the producer and
/// the daemon journal, then audit the spool: one job, completed once, none lost.
///
/// ```
/// use std::ffi::OsStr;
///
/// use spoolq_auditor::{AuditInput, audit};
/// use spoolq_claim::{Claimer, Outcome, Strategy};
/// use spoolq_spool::journal::{Claimed, Done, Produced, Role};
/// use spoolq_spool::{
///     CreateOptions, DoneResult, Durability, JobId, JournalWriter, Record, Spool,
///     WriterOptions,
/// };
///
/// let folder = tempfile::tempdir()?;
/// let spool = Spool::create(&folder.path().join("spool"), CreateOptions::default())?;
/// let journal = |role| {
///     JournalWriter::create(spool.journal().clone(), role, WriterOptions::default())
/// };
/// let (producer, daemon) = (journal(Role::Producer)?, journal(Role::Daemon)?);
///
/// let job = JobId::generate();
/// spool.drop_job(job, &mut &b"hello"[..], Durability::NEVER)?;
/// producer.write(Record::new(Produced { job }))?;
///
/// let name = job.to_string();
/// let claimer = Claimer::new(spool.new_dir().clone(), Strategy::Verified);
/// let Outcome::Claimed(claim) = claimer.claim(OsStr::new(&name))? else {
///     panic!("a job nobody holds is claimed");
/// };
/// let (worker, strategy, attempt) = (1, Strategy::Verified, 1);
/// daemon.write(Record::new(Claimed { job, worker, strategy, attempt, name: name.clone() }))?;
/// claim.complete()?;
/// daemon.write(Record::new(Done {
///     job, worker, strategy, attempt, name,
///     result: DoneResult::Ok, exit: Some(0), signal: None, detail: None,
/// }))?;
///
/// let input = AuditInput { spool: Some(spool.path().to_owned()), journals: vec![] };
/// let report = audit(&input)?;
/// assert_eq!((report.counts.produced, report.counts.completed), (1, 1));
/// assert!(report.duplicates.is_empty());
/// assert_eq!((report.counts.pending, report.counts.lost), (Some(0), Some(0)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn audit(input: &AuditInput) -> Result<Report, AuditError> {
    if input.spool.is_none() && input.journals.is_empty() {
        return Err(AuditError::NoInput);
    }
    let spool = input.spool.as_deref().map(Spool::open).transpose()?;
    let files = input_files(input, spool.as_ref())?;

    let mut present = std::collections::HashSet::new();
    if let Some(spool) = &spool {
        list_pending(spool, &mut present)?;
    }

    let mut analyzer = Analyzer::default();
    let mut merged = Merged::open(&files);
    for entry in merged.by_ref() {
        analyzer.observe(&entry.record, &entry.file);
    }
    let aside = merged.into_aside();

    let pending = match &spool {
        Some(spool) => Some(list_pending(spool, &mut present)?),
        None => None,
    };
    // A job moved to failed/ by a process that died before journaling it is not lost.
    if let Some(spool) = &spool {
        list_failed(spool, &mut present)?;
    }

    let mut report = Report {
        journal_files: files,
        events: analyzer.events,
        jobs: analyzer.jobs.len() as u64,
        problems: aside.problems,
        unknown_records: aside.unknown,
        ..Report::default()
    };
    let mut first_claim = Vec::new();
    let mut to_outcome = Vec::new();
    let mut lost = Vec::new();
    let mut unconfirmed = Vec::new();
    let mut duplicates = Vec::new();
    for (&job, state) in &analyzer.jobs {
        if let (Some(produced), Some(first)) = (state.produced, state.claims.first()) {
            // A consumer may journal `claimed` before the producer journals `produced`
            // (it is written after the rename): that is zero latency, not negative.
            first_claim.push(first.start.saturating_sub(produced));
        }
        for claim in &state.claims {
            match claim.end {
                Some(end) => to_outcome.push(end.saturating_sub(claim.start)),
                None => {
                    report.unfinished_claims += 1;
                    analyzer.processes[claim.process as usize].counts.unfinished += 1;
                }
            }
        }
        if spool.is_some()
            && state.produced.is_some()
            && state.terminal == 0
            && !present.contains(&job)
        {
            if state.claims.last().is_some_and(|c| c.end.is_none()) {
                unconfirmed.push(job);
            } else {
                lost.push(job);
            }
        }
        duplicates.extend(analyzer.duplicates_of(job, state));
    }
    // Classes in severity order, then by when the job was first claimed.
    duplicates.sort_by_key(|d| {
        (
            d.class,
            d.claims.first().map_or(0, |c| c.start_mono_ns),
            d.job,
        )
    });
    for d in &duplicates {
        match d.class {
            DuplicateClass::Concurrent => report.duplicate_counts.concurrent += 1,
            DuplicateClass::AfterCompletion => report.duplicate_counts.after_completion += 1,
            DuplicateClass::Redelivery => report.duplicate_counts.redelivery += 1,
        }
    }
    lost.sort();
    report.counts = analyzer.counts.clone();
    report.counts.pending = pending;
    report.counts.lost = spool.as_ref().map(|_| lost.len() as u64);
    report.lost_jobs = lost;
    unconfirmed.sort();
    report.counts.unconfirmed = spool.as_ref().map(|_| unconfirmed.len() as u64);
    report.unconfirmed_jobs = unconfirmed;
    report.duplicates = duplicates;
    report.latency = Latencies {
        produced_to_claimed: Latency::of(first_claim),
        claimed_to_outcome: Latency::of(to_outcome),
    };
    report.processes = analyzer.processes.into_iter().map(|p| p.counts).collect();
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Timeline.

/// One record of a timeline, with where it was read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TimelineEvent {
    /// The record.
    pub record: Record,
    /// The journal file it was read from.
    pub file: PathBuf,
    /// Its 1-based line number there.
    pub line: u64,
}

/// Every record of one job, from every journal, in monotonic order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Timeline {
    /// The job.
    pub job: JobId,
    /// Its records, in monotonic order.
    pub events: Vec<TimelineEvent>,
    /// The job's processing intervals, in start order.
    pub claims: Vec<ClaimInterval>,
    /// The job's duplicates, by class (`flagged` indexes into `claims`).
    pub duplicates: Vec<Duplicate>,
    /// The processes that journaled something for the job, in order of first event.
    pub processes: Vec<String>,
    /// Damaged journal lines and unreadable files met while reading.
    pub problems: Vec<Problem>,
    /// Records in the journals read that this build does not understand (any job's).
    pub unknown_records: Vec<UnknownEntry>,
}

impl Timeline {
    /// The class a claim was flagged with, if any (the most severe).
    pub fn flag_of(&self, claim: usize) -> Option<DuplicateClass> {
        self.duplicates
            .iter()
            .filter(|d| d.flagged.contains(&claim))
            .map(|d| d.class)
            .min()
    }
}

/// Journal paths for a spool and extra journals, for [`timeline`].
pub fn journal_paths(input: &AuditInput) -> Result<Vec<PathBuf>, AuditError> {
    if input.spool.is_none() && input.journals.is_empty() {
        return Err(AuditError::NoInput);
    }
    let spool = input.spool.as_deref().map(Spool::open).transpose()?;
    input_files(input, spool.as_ref())
}

/// Every record for `job` in the journals under `paths` (files or folders), merged by
/// the monotonic clock, with its claims classified.
pub fn timeline(paths: &[PathBuf], job: JobId) -> Result<Timeline, AuditError> {
    let files = check_journal_paths(paths)?;
    let mut analyzer = Analyzer {
        only: Some(job),
        ..Analyzer::default()
    };
    let mut events = Vec::new();
    let mut merged = Merged::open(&files);
    for entry in merged.by_ref() {
        // Every record counts for its process's last sign of life (a died claim's end).
        analyzer.observe(&entry.record, &entry.file);
        if entry.record.job() == Some(job) {
            events.push(TimelineEvent {
                record: entry.record,
                file: entry.file.to_path_buf(),
                line: entry.line,
            });
        }
    }
    // Files written by other tools may be out of order within themselves.
    events.sort_by_key(|e| e.record.mono_ns);
    let mut processes: Vec<String> = Vec::new();
    for e in &events {
        let p = e.record.process();
        if !processes.contains(&p) {
            processes.push(p);
        }
    }
    let (claims, duplicates) = match analyzer.jobs.get(&job) {
        Some(state) => (
            state.claims.iter().map(|c| analyzer.interval(c)).collect(),
            analyzer.duplicates_of(job, state),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let aside = merged.into_aside();
    Ok(Timeline {
        job,
        events,
        claims,
        duplicates,
        processes,
        problems: aside.problems,
        unknown_records: aside.unknown,
    })
}

/// A file name for messages.
pub(crate) fn short_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or(OsStr::new("?"))
        .to_string_lossy()
        .into_owned()
}
