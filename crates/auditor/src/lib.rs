//! Reading spoolq journals: proves (or disproves) that no job ran twice and none was
//! lost, measures latency, and shows how a duplicate happened.
//!
//! [`audit`] reads every journal file once ([`JournalSet`]: a copy given beside its
//! journal is read once), one file after another, and keeps a compact state per job (its
//! produced stamp, its claims, whether it reached a terminal outcome): memory grows with
//! jobs and claims, not with events. [`timeline`] gathers every record of one job and
//! [`render_timeline`] / [`timeline_svg`] draw it.
//!
//! # Classification
//!
//! A claim is a `claimed` record; its hold on the job ends at its outcome (done, retry,
//! dead, released, quarantined) from the same process and worker, at the latest instant
//! the journal proves the lock still held: the outcome's `outcome_ns`, read under the
//! lock; in journals without it, the `close` step of claim tracing, else the outcome
//! record. A claim with no outcome is taken to have lasted until its process's last
//! journal record (it died, or is still running).
//!
//! Claims of one job are compared file by file: a `claimed` record names the file it
//! held (inode and birth time), and two files with one id are a **copy** (one id, two
//! files: reported and counted, not a protocol violation). For every pair of claims of
//! one file, what orders them is chosen by `order.rs` (the monotonic clock within one boot
//! of one host; across boots and hosts, the claim sequence, the unlink's result, boot
//! order, or wall clocks under a skew bound), and the later one is:
//! - *concurrent* when both held the job at once (mutual exclusion broken);
//! - *after completion* when the earlier claim completed the job: a `done` (whatever its
//!   result: the naive strategy journals `done` with result `enoent` when its unlink lost
//!   the race), or `dead`/`quarantined` with no `requeued` record in between;
//! - *unordered* when no evidence orders them: not a violation, not proven fine;
//! - *redelivery* otherwise (the earlier attempt was retried, released, or died without
//!   outcome): expected at-least-once behaviour, not a violation.
//!
//! Boundaries: this crate only reads (journals, and names in new/, retry/ and failed/).
//! It prints nothing and chooses no exit code; the `render_*` functions return text.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod order;
mod render;
mod svg;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use spoolq_claim::{Step, Strategy};
use spoolq_spool::journal::{
    Aside, Entry, Event, FileRecords, JournalCopy, JournalName, JournalSet, RetryResult, Role,
    journal_files,
};
use spoolq_spool::{
    DeadCause, DoneResult, EventKind, FailedEntry, JobId, LayoutError, Problem, QuarantineCause,
    ReadyName, Record, ReleaseCause, RequeueCause, RetryName, Spool, UnknownEntry,
};

pub use order::OrderingBasis;
pub use render::{render_report, render_timeline};
pub use svg::timeline_svg;

/// What to audit.
#[derive(Clone, Debug)]
pub struct AuditInput {
    /// A spool: its journal/ is read, and its new/ and retry/ are listed to tell pending
    /// jobs from lost ones. Without it, pending and lost are unknown.
    pub spool: Option<PathBuf>,
    /// More journal files, or folders of `*.jsonl` files (journals copied from elsewhere).
    pub journals: Vec<PathBuf>,
    /// How far apart the wall clocks of different hosts (and of one host across a boot)
    /// may be: two stamps of different clock domains are ordered by their wall clocks
    /// only when they are further apart than this.
    pub max_clock_skew: Duration,
}

impl AuditInput {
    /// The default skew bound: NTP keeps hosts within milliseconds; a second leaves
    /// room for a host whose clock is set at boot, and still orders the claims of a
    /// reboot (which takes longer).
    pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(1);
}

impl Default for AuditInput {
    fn default() -> AuditInput {
        AuditInput {
            spool: None,
            journals: Vec::new(),
            max_clock_skew: AuditInput::DEFAULT_MAX_CLOCK_SKEW,
        }
    }
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

/// The classes of duplicate processing, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicateClass {
    /// Two claims of one job overlapped: mutual exclusion was broken.
    Concurrent,
    /// A claim began after another claim had completed the job: the race that
    /// `docs/protocol.md` describes.
    AfterCompletion,
    /// Two claims of one job in different boots or on different hosts that no evidence
    /// orders (see docs/audit.md): not shown to be a violation, not shown to be fine.
    Unordered,
    /// A claim after an earlier attempt failed, was released, or died: expected.
    Redelivery,
}

impl DuplicateClass {
    /// Every class, most severe first.
    pub const ALL: [DuplicateClass; 4] = [
        DuplicateClass::Concurrent,
        DuplicateClass::AfterCompletion,
        DuplicateClass::Unordered,
        DuplicateClass::Redelivery,
    ];

    /// `concurrent`, `after-completion`, `unordered`, `redelivery`.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateClass::Concurrent => "concurrent",
            DuplicateClass::AfterCompletion => "after-completion",
            DuplicateClass::Unordered => "unordered",
            DuplicateClass::Redelivery => "redelivery",
        }
    }

    /// Words for people: `concurrent`, `after completion`, `unordered`, `redelivery`.
    pub fn label(self) -> &'static str {
        match self {
            DuplicateClass::Concurrent => "concurrent",
            DuplicateClass::AfterCompletion => "after completion",
            DuplicateClass::Unordered => "unordered",
            DuplicateClass::Redelivery => "redelivery",
        }
    }

    /// True for the classes that break the protocol's promise.
    pub fn is_violation(self) -> bool {
        matches!(
            self,
            DuplicateClass::Concurrent | DuplicateClass::AfterCompletion
        )
    }
}

/// One processing interval of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimInterval {
    /// `host:pid`.
    pub process: String,
    /// The boot its process ran in, when its journal names it.
    pub boot: Option<String>,
    /// The worker that claimed.
    pub worker: u32,
    /// The strategy of the claim.
    pub strategy: Strategy,
    /// The attempt it ran.
    pub attempt: u32,
    /// The claimed file's inode number and birth time (ns since the epoch), when the
    /// journal names them.
    pub ino: Option<u64>,
    /// See `ino`.
    pub btime_ns: Option<u64>,
    /// The `claimed` record's monotonic time.
    pub start_mono_ns: u64,
    /// The outcome record's monotonic time; `None` when there was none (died).
    pub end_mono_ns: Option<u64>,
    /// When the outcome was done, read under the lock (`outcome_ns`), if journaled.
    pub outcome_mono_ns: Option<u64>,
    /// When the lock was released, if a `close` step was journaled (claim tracing).
    pub released_mono_ns: Option<u64>,
    /// How the claim ended, as its outcome record says; `None` when there was none.
    pub outcome: Option<ClaimEnd>,
    /// The claim's start and outcome on the audit's display axis (nanoseconds): the
    /// monotonic clock when one boot of one host wrote every journal; otherwise each
    /// clock domain's monotonic time shifted to its wall clock. For drawing only: no
    /// verdict rests on it.
    pub axis_start_ns: i64,
    /// The end of the hold on the same axis; `None` when it has no outcome.
    pub axis_end_ns: Option<i64>,
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
            | Event::Stuck(_)
            | Event::Step(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => None,
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
            boot: Option<&'a str>,
            worker: u32,
            strategy: &'static str,
            attempt: u32,
            ino: Option<u64>,
            btime_ns: Option<u64>,
            start_mono_ns: u64,
            end_mono_ns: Option<u64>,
            outcome_mono_ns: Option<u64>,
            released_mono_ns: Option<u64>,
            outcome: Option<EventKind>,
            result: Option<&'static str>,
        }
        View {
            process: &self.process,
            boot: self.boot.as_deref(),
            worker: self.worker,
            strategy: self.strategy.as_str(),
            attempt: self.attempt,
            ino: self.ino,
            btime_ns: self.btime_ns,
            start_mono_ns: self.start_mono_ns,
            end_mono_ns: self.end_mono_ns,
            outcome_mono_ns: self.outcome_mono_ns,
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
    /// Every claim of the job (of every file with its id), in display order.
    pub claims: Vec<ClaimInterval>,
    /// Indexes into `claims` of the claims that are this class's duplicates.
    pub flagged: Vec<usize>,
    /// For each flagged claim, the claim it was judged against (an index into `claims`).
    pub against: Vec<usize>,
    /// For each flagged claim, what ordered it against that claim.
    pub orderings: Vec<OrderingBasis>,
}

/// A job id found in two or more files: each file was claimed (a copy of a job file
/// under a second name, in retry/ beside new/, or the id produced again once the first
/// was gone). Its claims are judged file by file; this is reported and counted, not a
/// protocol violation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CopiedJob {
    /// The job id the files share.
    pub job: JobId,
    /// How many distinct files were claimed.
    pub files: u64,
    /// Every claim of the job, in display order (`ino` and `btime_ns` tell the files
    /// apart).
    pub claims: Vec<ClaimInterval>,
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
    /// Files moved to failed/ as not valid jobs, whether or not they named a job.
    pub quarantined: u64,
    /// `released` records.
    pub released: u64,
    /// Jobs whose id was claimed in two or more files (see [`CopiedJob`]).
    pub copied: u64,
    /// Claims whose job's name no longer named the claimed file when the outcome was due
    /// (`released` with `name_changed`: another file renamed over it, or a person's `rm`
    /// or `mv`): the name was left alone. Such a job is not lost when no folder holds
    /// it: its file left the spool by another hand.
    pub left_alone: u64,
    /// Jobs a daemon gave up on (`stuck`): acting on them failed `--max-attempts` times,
    /// and they stay where they are until a person acts. Not lost while they are there.
    pub stuck: u64,
    /// `requeued` records of jobs sent back from failed/ (`spoolq requeue`): each such
    /// job is pending again (or done, if it ran since), no longer dead.
    pub sent_back: u64,
    /// Jobs now in new/ or retry/.
    pub pending: Option<u64>,
    /// Jobs produced, never completed, dead nor quarantined, and not in the spool.
    pub lost: Option<u64>,
    /// Jobs gone from the spool, with no outcome in the journals read, produced at or
    /// before the pruning horizon (plus the skew bound): their outcome may have been in a
    /// journal removed by retention, so they are not judged lost. `None` without a spool.
    pub before_horizon: Option<u64>,
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
    /// Jobs with claims in different boots or hosts that no evidence orders.
    pub unordered: u64,
    /// Jobs claimed again after a failed, released or interrupted attempt.
    pub redelivery: u64,
}

impl DuplicateCounts {
    /// The count of one class.
    pub fn get(&self, class: DuplicateClass) -> u64 {
        match class {
            DuplicateClass::Concurrent => self.concurrent,
            DuplicateClass::AfterCompletion => self.after_completion,
            DuplicateClass::Unordered => self.unordered,
            DuplicateClass::Redelivery => self.redelivery,
        }
    }

    fn bump(&mut self, class: DuplicateClass) {
        match class {
            DuplicateClass::Concurrent => self.concurrent += 1,
            DuplicateClass::AfterCompletion => self.after_completion += 1,
            DuplicateClass::Unordered => self.unordered += 1,
            DuplicateClass::Redelivery => self.redelivery += 1,
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
    /// From `produced` to the job's first `claimed`: by the monotonic clock when both
    /// are of one boot, else by wall clocks (a producer on another host).
    pub produced_to_claimed: Option<Latency>,
    /// From each `claimed` to its outcome.
    pub claimed_to_outcome: Option<Latency>,
}

/// What one process journaled, or, for producers, every producer process of one host
/// and boot (a `spoolq produce` per job makes a process per job).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessCounts {
    /// `host:pid`, or `host: N producers` for a group.
    pub process: String,
    /// The host it ran on.
    pub host: String,
    /// The boot it ran in, when its journal names it.
    pub boot: Option<String>,
    /// How many processes the row counts (1 but for a group of producers).
    pub processes: u64,
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

impl ProcessCounts {
    fn add(&mut self, other: &ProcessCounts) {
        self.processes += other.processes;
        self.events += other.events;
        self.produced += other.produced;
        self.claimed += other.claimed;
        self.completed += other.completed;
        self.retried += other.retried;
        self.dead += other.dead;
        self.quarantined += other.quarantined;
        self.released += other.released;
        self.unfinished += other.unfinished;
    }
}

/// One clock domain of the journals read: a boot of a host (or, for journals that do
/// not name their boot, a whole host). Monotonic times compare only within one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClockDomain {
    /// The host.
    pub host: String,
    /// `None` for journals that do not name their boot: read as one boot per host.
    pub boot: Option<String>,
    /// How many processes journaled in it.
    pub processes: u64,
    /// The earliest and latest wall-clock stamps of its records (RFC 3339).
    pub first_wall: Option<String>,
    /// See `first_wall`.
    pub last_wall: Option<String>,
}

/// What time the journals read cover (wall clock, RFC 3339).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct JournalWindow {
    /// The earliest stamp of the records read.
    pub first: Option<String>,
    /// The latest stamp of the records read.
    pub last: Option<String>,
    /// Journals removed by retention held nothing written after this (the latest
    /// `pruned` record's horizon); `None` when none were pruned, or their records are
    /// gone too.
    pub pruned_before: Option<String>,
    /// Lost jobs are judged only among jobs produced after this: the horizon plus the
    /// skew bound.
    pub judged_after: Option<String>,
}

/// The result of an audit; `Serialize` for `--json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The journal files read (each once).
    pub journal_files: Vec<PathBuf>,
    /// Files left out as copies of a file read (the same writer's journal).
    pub journal_copies: Vec<JournalCopy>,
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
    /// Job ids claimed in two or more files.
    pub copies: Vec<CopiedJob>,
    /// Produced-to-claimed and claimed-to-outcome latencies.
    pub latency: Latencies,
    /// What each process journaled.
    pub processes: Vec<ProcessCounts>,
    /// The clock domains the journals come from; more than one means some verdicts
    /// rest on evidence other than the monotonic clock (see `orderings`).
    pub clock_domains: Vec<ClockDomain>,
    /// The skew bound wall-clock evidence assumed, in nanoseconds.
    pub max_clock_skew_ns: u64,
    /// Claims with no outcome: their process died (or is still running).
    pub unfinished_claims: u64,
    /// Lost job ids (empty when unknown: see `counts.lost`).
    pub lost_jobs: Vec<JobId>,
    /// Unconfirmed job ids (see `counts.unconfirmed`).
    pub unconfirmed_jobs: Vec<JobId>,
    /// The time the journals read cover, and the horizon of those removed by retention.
    pub journal_window: JournalWindow,
    /// The first problems met (damaged lines, files not read), at most
    /// [`spoolq_spool::journal::KEPT_ASIDE`]; `problem_count` counts them all.
    pub problems: Vec<Problem>,
    /// How many problems were met in all.
    pub problem_count: u64,
    /// Records this build does not understand, from newer writers (or other tools): kept
    /// whole with where they were (the first
    /// [`spoolq_spool::journal::KEPT_ASIDE`]), counted in `unknown_record_count` and in no
    /// other figure.
    pub unknown_records: Vec<UnknownEntry>,
    /// How many such records were met in all.
    pub unknown_record_count: u64,
}

/// A finding that makes `spoolq audit` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Finding {
    /// A concurrent duplicate.
    Concurrent,
    /// An after-completion duplicate.
    AfterCompletion,
    /// A job id claimed in two or more files.
    Copied,
    /// Claims in different boots or hosts that no evidence orders.
    Unordered,
    /// A redelivery (not a violation; a finding only when asked for).
    Redelivery,
    /// A lost job.
    Lost,
}

impl Finding {
    /// The default: the protocol's violations, jobs run twice from copies of their file,
    /// and lost jobs.
    pub const DEFAULT: [Finding; 4] = [
        Finding::Concurrent,
        Finding::AfterCompletion,
        Finding::Copied,
        Finding::Lost,
    ];

    /// Every finding, in the order `--fail-on` lists them.
    pub const ALL: [Finding; 6] = [
        Finding::Concurrent,
        Finding::AfterCompletion,
        Finding::Copied,
        Finding::Unordered,
        Finding::Redelivery,
        Finding::Lost,
    ];

    /// The name `--fail-on` takes, and findings print as.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Concurrent => "concurrent",
            Finding::AfterCompletion => "after-completion",
            Finding::Copied => "copied",
            Finding::Unordered => "unordered",
            Finding::Redelivery => "redelivery",
            Finding::Lost => "lost",
        }
    }
}

/// The error of parsing a [`Finding`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown finding {0:?}: expected concurrent, after-completion, copied, unordered, \
     redelivery or lost"
)]
pub struct ParseFindingError(pub String);

impl FromStr for Finding {
    type Err = ParseFindingError;
    fn from_str(s: &str) -> Result<Finding, ParseFindingError> {
        Finding::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ParseFindingError(s.to_owned()))
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
                Finding::Copied => self.counts.copied > 0,
                Finding::Unordered => self.duplicate_counts.unordered > 0,
                Finding::Redelivery => self.duplicate_counts.redelivery > 0,
                Finding::Lost => self.counts.lost.unwrap_or(0) > 0,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The streaming analysis.

/// The file a claim held, as far as its `claimed` record names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct FileKey {
    ino: Option<u64>,
    btime: Option<u64>,
}

impl FileKey {
    /// Whether two claims may have held one file: the same inode number, and the same
    /// birth time where both are known (an inode number is reused once its file is
    /// freed). A claim whose record does not name its file (an older journal) may have
    /// held any.
    fn same_file(self, other: FileKey) -> bool {
        match (self.ino, other.ino) {
            (Some(a), Some(b)) => {
                a == b
                    && match (self.btime, other.btime) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    }
            }
            _ => true,
        }
    }
}

/// A claim, compactly: its process and clock domain by index.
#[derive(Clone, Copy, Debug)]
struct ClaimRec {
    process: u32,
    domain: u32,
    worker: u32,
    strategy: Strategy,
    attempt: u32,
    file: FileKey,
    /// The `claimed` record's monotonic time, and its wall clock (ns since the epoch).
    start: u64,
    start_wall: Option<i64>,
    /// The outcome record's monotonic time.
    end: Option<u64>,
    /// `outcome_ns` of the outcome: read under the lock.
    held_until: Option<u64>,
    /// The `close` step's monotonic time (claim tracing).
    released: Option<u64>,
    outcome: Option<ClaimEnd>,
}

const DONE: u8 = 1;
const DEAD: u8 = 2;
const QUARANTINED: u8 = 4;
/// A claim left the job's name alone because it no longer named the claimed file.
const LEFT_ALONE: u8 = 8;

/// An instant in one clock domain.
#[derive(Clone, Copy, Debug)]
struct Stamp {
    domain: u32,
    mono: u64,
    wall: Option<i64>,
}

/// A `requeued` record: when, and which attempt it brought back.
#[derive(Clone, Copy, Debug)]
struct Requeue {
    domain: u32,
    mono: u64,
    wall: Option<i64>,
    attempt: u32,
}

#[derive(Debug, Default)]
struct JobState {
    produced: Option<Stamp>,
    terminal: u8,
    /// A daemon journaled that it gave the job up.
    stuck: bool,
    claims: Vec<ClaimRec>,
    requeues: Vec<Requeue>,
    /// Its moves to failed/ (`dead`, `quarantined`), for telling whether one was undone
    /// by a later send-back.
    buried: Vec<Stamp>,
    /// Its `requeued` records from failed/ (`spoolq requeue`): each starts its attempt
    /// count again.
    sent_back: Vec<Stamp>,
}

impl JobState {
    /// Whether the job ended in failed/ and stays there as far as the journals tell: a
    /// move to failed/ that no later send-back undid (by the monotonic clock within one
    /// domain, by wall clock between domains; a send-back nothing orders after it does
    /// not undo it).
    fn still_buried(&self) -> bool {
        self.buried.iter().any(|bury| {
            !self.sent_back.iter().any(|back| {
                if back.domain == bury.domain {
                    back.mono >= bury.mono
                } else {
                    back.wall.zip(bury.wall).is_some_and(|(b, d)| b > d)
                }
            })
        })
    }

    /// Whether the job reached an outcome that leaves it nowhere to be found: completed,
    /// or in failed/ (and not sent back since), or its name left alone because another
    /// hand had replaced or removed its file.
    fn terminal(&self) -> bool {
        self.terminal & (DONE | LEFT_ALONE) != 0 || self.still_buried()
    }
}

/// Who wrote a record: its host, boot and pid, and the start its journal's name gives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ProcessKey {
    host: String,
    boot: Option<String>,
    pid: u32,
    start_ms: Option<u64>,
}

#[derive(Debug)]
struct ProcessState {
    counts: ProcessCounts,
    domain: u32,
    last_ns: u64,
}

/// Where monotonic times compare: a boot, or a whole host for journals without boots.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum DomainKey {
    Boot(String),
    Host(String),
}

#[derive(Debug)]
struct DomainState {
    host: String,
    boot: Option<String>,
    host_index: u32,
    processes: u64,
    wall_span: Option<(i64, i64)>,
    /// Wall minus monotonic time of its first record with a wall stamp: shifts its
    /// monotonic times onto the display axis.
    offset: Option<i64>,
}

/// What a journal file's name tells about its records.
struct FileContext {
    name: Option<JournalName>,
}

impl FileContext {
    fn of(path: &Path) -> FileContext {
        FileContext {
            name: path.file_name().and_then(JournalName::parse),
        }
    }
}

#[derive(Debug, Default)]
struct Analyzer {
    only: Option<JobId>,
    jobs: HashMap<JobId, JobState>,
    processes: Vec<ProcessState>,
    process_index: HashMap<ProcessKey, u32>,
    /// The last record's writer (host, boot, pid, start) and its index: a file is one
    /// process's, so this saves a lookup per record.
    last_process: Option<(ProcessKey, u32)>,
    domains: Vec<DomainState>,
    domain_index: HashMap<DomainKey, u32>,
    hosts: HashMap<String, u32>,
    counts: Counts,
    events: u64,
    /// The latest horizon of the `pruned` records read: journals removed by retention
    /// held nothing written after it.
    horizon_ns: Option<i64>,
    /// The skew bound, for judging what lies after the horizon.
    skew_ns: i64,
}

impl Analyzer {
    fn process_of(&mut self, record: &Record, file: &FileContext) -> u32 {
        // Two processes of one pid in one boot (pids wrap) differ by their start.
        let start_ms = file
            .name
            .as_ref()
            .filter(|name| name.pid() == Some(record.pid))
            .and_then(|name| name.start_ms());
        if let Some((key, index)) = &self.last_process
            && key.pid == record.pid
            && key.start_ms == start_ms
            && key.host == record.host
            && key.boot == record.boot
        {
            return *index;
        }
        let key = ProcessKey {
            host: record.host.clone(),
            boot: record.boot.clone(),
            pid: record.pid,
            start_ms,
        };
        let index = match self.process_index.get(&key) {
            Some(&index) => index,
            None => {
                let domain = self.domain_of(record);
                self.domains[domain as usize].processes += 1;
                let index = self.processes.len() as u32;
                self.processes.push(ProcessState {
                    counts: ProcessCounts {
                        process: record.process(),
                        host: record.host.clone(),
                        boot: record.boot.clone(),
                        processes: 1,
                        role: file.name.as_ref().map(|name| name.role),
                        ..ProcessCounts::default()
                    },
                    domain,
                    last_ns: 0,
                });
                self.process_index.insert(key.clone(), index);
                index
            }
        };
        self.last_process = Some((key, index));
        index
    }

    fn domain_of(&mut self, record: &Record) -> u32 {
        let key = match &record.boot {
            Some(boot) => DomainKey::Boot(boot.clone()),
            None => DomainKey::Host(record.host.clone()),
        };
        if let Some(&index) = self.domain_index.get(&key) {
            return index;
        }
        let hosts = self.hosts.len() as u32;
        let host_index = *self.hosts.entry(record.host.clone()).or_insert(hosts);
        let index = self.domains.len() as u32;
        self.domains.push(DomainState {
            host: record.host.clone(),
            boot: record.boot.clone(),
            host_index,
            processes: 0,
            wall_span: None,
            offset: None,
        });
        self.domain_index.insert(key, index);
        index
    }

    fn observe(&mut self, record: &Record, file: &FileContext) {
        let p = self.process_of(record, file);
        let process = &mut self.processes[p as usize];
        process.last_ns = process.last_ns.max(record.mono_ns);
        let domain_index = process.domain;
        let wall = record.wall_ns();
        if let Some(wall) = wall {
            let domain = &mut self.domains[domain_index as usize];
            domain.wall_span = Some(match domain.wall_span {
                Some((first, last)) => (first.min(wall), last.max(wall)),
                None => (wall, wall),
            });
            if domain.offset.is_none() {
                domain.offset =
                    Some(wall.saturating_sub(i64::try_from(record.mono_ns).unwrap_or(i64::MAX)));
            }
        }
        if let Event::Pruned(pruned) = &record.event {
            let horizon = i64::try_from(pruned.horizon_ns).unwrap_or(i64::MAX);
            self.horizon_ns = Some(self.horizon_ns.map_or(horizon, |h| h.max(horizon)));
        }
        let Some(job) = record.job() else {
            // A file that names no job, moved to failed/: counted like any other.
            if let Event::Quarantined(_) = &record.event
                && self.only.is_none()
            {
                self.counts.quarantined += 1;
                process.counts.quarantined += 1;
            }
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
                if state.produced.is_none() {
                    state.produced = Some(Stamp {
                        domain: domain_index,
                        mono: t,
                        wall,
                    });
                }
                return;
            }
            Event::Claimed(claimed) => {
                c.claimed += 1;
                pc.claimed += 1;
                state.claims.push(ClaimRec {
                    process: p,
                    domain: domain_index,
                    worker: claimed.worker,
                    strategy: claimed.strategy,
                    attempt: claimed.attempt,
                    file: FileKey {
                        ino: claimed.ino,
                        btime: claimed.btime_ns,
                    },
                    start: t,
                    start_wall: wall,
                    end: None,
                    held_until: None,
                    released: None,
                    outcome: None,
                });
                return;
            }
            Event::Requeued(requeued) => {
                if requeued.result == Some(RequeueCause::FromFailed) {
                    c.sent_back += 1;
                    state.sent_back.push(Stamp {
                        domain: domain_index,
                        mono: t,
                        wall,
                    });
                }
                state.requeues.push(Requeue {
                    domain: domain_index,
                    mono: t,
                    wall,
                    attempt: requeued.attempt,
                });
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
            Event::Stuck(_) => {
                if !state.stuck {
                    state.stuck = true;
                    c.stuck += 1;
                }
                return;
            }
            Event::Start(_)
            | Event::Stop(_)
            | Event::Pruned(_)
            | Event::Paused(_)
            | Event::Resumed(_) => return,
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
                state.buried.push(Stamp {
                    domain: domain_index,
                    mono: t,
                    wall,
                });
            }
            ClaimEnd::Quarantined(_) => {
                c.quarantined += 1;
                pc.quarantined += 1;
                state.terminal |= QUARANTINED;
                state.buried.push(Stamp {
                    domain: domain_index,
                    mono: t,
                    wall,
                });
            }
            ClaimEnd::Released(cause) => {
                c.released += 1;
                pc.released += 1;
                if cause == ReleaseCause::NameChanged {
                    c.left_alone += 1;
                    state.terminal |= LEFT_ALONE;
                }
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
            claim.held_until = record.event.outcome_ns();
            claim.outcome = Some(end);
        }
    }

    /// Whether a wall-clock stamp lies after the pruning horizon by more than the skew
    /// bound: nothing in a journal removed by retention was written after the horizon,
    /// so what happened to a job after this stamp is all in the journals read. True when
    /// no journal was pruned; false for a stamp that is not known.
    fn after_horizon(&self, wall: Option<i64>) -> bool {
        match self.horizon_ns {
            None => true,
            Some(horizon) => wall.is_some_and(|w| w > horizon.saturating_add(self.skew_ns)),
        }
    }

    /// The wall-clock time a claim's hold ended, from its start's stamp.
    fn end_wall(&self, claim: &ClaimRec) -> Option<i64> {
        let end = self.effective_end(claim);
        claim
            .start_wall
            .map(|w| w.saturating_add(end as i64 - claim.start as i64))
    }

    /// A monotonic time of `domain` on the display axis: unchanged when every journal
    /// is of one domain, else shifted to that domain's wall clock.
    fn axis(&self, domain: u32, mono: u64) -> i64 {
        let mono = i64::try_from(mono).unwrap_or(i64::MAX);
        if self.domains.len() <= 1 {
            return mono;
        }
        mono.saturating_add(self.domains[domain as usize].offset.unwrap_or(0))
    }

    fn interval(&self, claim: &ClaimRec) -> ClaimInterval {
        let process = &self.processes[claim.process as usize];
        ClaimInterval {
            process: process.counts.process.clone(),
            boot: process.counts.boot.clone(),
            worker: claim.worker,
            strategy: claim.strategy,
            attempt: claim.attempt,
            ino: claim.file.ino,
            btime_ns: claim.file.btime,
            start_mono_ns: claim.start,
            end_mono_ns: claim.end,
            outcome_mono_ns: claim.held_until,
            released_mono_ns: claim.released,
            outcome: claim.outcome,
            axis_start_ns: self.axis(claim.domain, claim.start),
            axis_end_ns: claim.end.map(|end| self.axis(claim.domain, end)),
        }
    }

    /// The latest instant the journals prove the claim still held the job: `outcome_ns`
    /// (read under the lock); in older journals the `close` step, else the outcome
    /// record; for a claim without outcome, its process's last record.
    fn effective_end(&self, claim: &ClaimRec) -> u64 {
        claim
            .held_until
            .or(claim.released)
            .or(claim.end)
            .unwrap_or_else(|| self.processes[claim.process as usize].last_ns)
    }

    /// The claims of a job in display order: by the display axis, so by the monotonic
    /// clock within a domain.
    fn display_order(&self, state: &JobState) -> Vec<usize> {
        let mut order: Vec<usize> = (0..state.claims.len()).collect();
        order.sort_by_key(|&i| {
            let c = &state.claims[i];
            (self.axis(c.domain, c.start), c.domain, c.start)
        });
        order
    }

    /// Whether claim `first` finished the job before claim `second`: it completed it, or
    /// moved it to failed/ with no `requeued` record bringing it back in between.
    fn finished_before(&self, state: &JobState, first: &ClaimRec, second: &ClaimRec) -> bool {
        match first.outcome {
            Some(ClaimEnd::Done(_)) => true,
            // A send-back may have been journaled in a file that retention removed: the
            // absence of one is no evidence before the horizon.
            Some(end) if end.finished_the_job() && !self.after_horizon(self.end_wall(first)) => {
                false
            }
            Some(end) if end.finished_the_job() => {
                let end = first.end.unwrap_or(first.start);
                let requeued_between = state.requeues.iter().any(|r| {
                    if r.domain == first.domain && r.domain == second.domain {
                        r.mono >= end && r.mono <= second.start
                    } else {
                        r.attempt == second.attempt
                    }
                });
                !requeued_between
            }
            _ => false,
        }
    }

    /// The verdict on each claim of a job (in display order): the most severe relation
    /// to any other claim of the same file.
    fn classify(
        &self,
        state: &JobState,
        order: &[usize],
        skew_ns: i64,
    ) -> Vec<Option<order::Verdict>> {
        let facts: Vec<order::DomainFacts> = self
            .domains
            .iter()
            .map(|d| order::DomainFacts {
                host: d.host_index,
                is_boot: d.boot.is_some(),
                wall_span: d.wall_span,
            })
            .collect();
        let placed: Vec<order::Placed<'_>> = order
            .iter()
            .map(|&i| {
                let claim = &state.claims[i];
                let end = self.effective_end(claim);
                let end_wall = claim
                    .start_wall
                    .map(|w| w.saturating_add(end as i64 - claim.start as i64));
                order::Placed {
                    claim,
                    end,
                    end_wall,
                }
            })
            .collect();
        // A job sent back from failed/ started its attempt count again: the counts of
        // its claims no longer order them. Nor do they before the pruning horizon, where
        // a send-back may have been in a journal removed since.
        let sequence_holds = state.sent_back.is_empty()
            && state
                .claims
                .iter()
                .all(|c| self.after_horizon(c.start_wall));
        let mut verdicts: Vec<Option<order::Verdict>> = placed.iter().map(|_| None).collect();
        for j in 1..placed.len() {
            for i in 0..j {
                if !placed[i].claim.file.same_file(placed[j].claim.file) {
                    continue;
                }
                let relation = order::relate(
                    i,
                    &placed[i],
                    j,
                    &placed[j],
                    &facts,
                    skew_ns,
                    sequence_holds,
                );
                let verdict = order::judge(relation, i, j, |first, second| {
                    self.finished_before(state, placed[first].claim, placed[second].claim)
                });
                let slot = &mut verdicts[verdict.flagged];
                if slot.as_ref().is_none_or(|v| verdict.class < v.class) {
                    *slot = Some(verdict);
                }
            }
        }
        verdicts
    }

    fn duplicates_of(&self, job: JobId, state: &JobState, skew_ns: i64) -> Vec<Duplicate> {
        if state.claims.len() < 2 {
            return Vec::new();
        }
        let order = self.display_order(state);
        let verdicts = self.classify(state, &order, skew_ns);
        let claims: Vec<ClaimInterval> = order
            .iter()
            .map(|&i| self.interval(&state.claims[i]))
            .collect();
        let mut out = Vec::new();
        for class in DuplicateClass::ALL {
            let mut dup = Duplicate {
                job,
                class,
                claims: Vec::new(),
                flagged: Vec::new(),
                against: Vec::new(),
                orderings: Vec::new(),
            };
            for (index, verdict) in verdicts.iter().enumerate() {
                if let Some(v) = verdict.as_ref().filter(|v| v.class == class) {
                    dup.flagged.push(index);
                    dup.against.push(v.against);
                    dup.orderings.push(v.basis);
                }
            }
            if !dup.flagged.is_empty() {
                dup.claims = claims.clone();
                out.push(dup);
            }
        }
        out
    }

    /// The job's claims as a copy finding, when they held two or more files.
    fn copy_of(&self, job: JobId, state: &JobState) -> Option<CopiedJob> {
        let mut files: Vec<FileKey> = Vec::new();
        for claim in state.claims.iter().filter(|c| c.file.ino.is_some()) {
            if !files.iter().any(|f| f.same_file(claim.file)) {
                files.push(claim.file);
            }
        }
        (files.len() > 1).then(|| CopiedJob {
            job,
            files: files.len() as u64,
            claims: self
                .display_order(state)
                .iter()
                .map(|&i| self.interval(&state.claims[i]))
                .collect(),
        })
    }

    /// The last claim of a job in display order.
    fn last_claim<'s>(&self, state: &'s JobState) -> Option<&'s ClaimRec> {
        self.display_order(state).last().map(|&i| &state.claims[i])
    }

    /// The process table: daemons (and unnamed writers) one row each; producers one row
    /// per host and boot.
    fn process_rows(&self) -> Vec<ProcessCounts> {
        let mut rows: Vec<ProcessCounts> = Vec::new();
        let mut producer_row: HashMap<(String, Option<String>), usize> = HashMap::new();
        for p in &self.processes {
            let counts = &p.counts;
            if counts.role != Some(Role::Producer) {
                rows.push(counts.clone());
                continue;
            }
            let key = (counts.host.clone(), counts.boot.clone());
            match producer_row.get(&key) {
                Some(&row) => {
                    rows[row].add(counts);
                    let n = rows[row].processes;
                    rows[row].process = format!("{}: {n} producers", counts.host);
                }
                None => {
                    producer_row.insert(key, rows.len());
                    rows.push(counts.clone());
                }
            }
        }
        rows
    }

    fn window(&self) -> JournalWindow {
        let first = self
            .domains
            .iter()
            .filter_map(|d| d.wall_span)
            .map(|(f, _)| f)
            .min();
        let last = self
            .domains
            .iter()
            .filter_map(|d| d.wall_span)
            .map(|(_, l)| l)
            .max();
        JournalWindow {
            first: first.and_then(rfc3339_ns),
            last: last.and_then(rfc3339_ns),
            pruned_before: self.horizon_ns.and_then(rfc3339_ns),
            judged_after: self
                .horizon_ns
                .map(|h| h.saturating_add(self.skew_ns))
                .and_then(rfc3339_ns),
        }
    }

    fn clock_domains(&self) -> Vec<ClockDomain> {
        let rfc3339 = |ns: i64| {
            u64::try_from(ns).ok().map(|ns| {
                humantime::format_rfc3339_micros(std::time::UNIX_EPOCH + Duration::from_nanos(ns))
                    .to_string()
            })
        };
        self.domains
            .iter()
            .map(|d| ClockDomain {
                host: d.host.clone(),
                boot: d.boot.clone(),
                processes: d.processes,
                first_wall: d.wall_span.and_then(|(first, _)| rfc3339(first)),
                last_wall: d.wall_span.and_then(|(_, last)| rfc3339(last)),
            })
            .collect()
    }
}

/// Wall-clock nanoseconds since the epoch as RFC 3339 with microseconds.
fn rfc3339_ns(ns: i64) -> Option<String> {
    u64::try_from(ns).ok().map(|ns| {
        humantime::format_rfc3339_micros(std::time::UNIX_EPOCH + Duration::from_nanos(ns))
            .to_string()
    })
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

/// Reads each journal file of `files` once (see [`JournalSet`]), one after another, and
/// hands every record to `each` with its file's context; returns the files read, the
/// copies left out, and what was set aside.
fn read_journals(
    files: &[PathBuf],
    mut each: impl FnMut(&Entry, &FileContext),
) -> (Vec<PathBuf>, Vec<JournalCopy>, Aside) {
    let set = JournalSet::identify(files);
    let mut aside = Aside::default();
    for problem in set.problems {
        aside.add_problem(problem);
    }
    for path in &set.files {
        let context = FileContext::of(path);
        match FileRecords::open(path) {
            Ok(items) => {
                for item in items {
                    if let Some(entry) = aside.take(item) {
                        each(&entry, &context);
                    }
                }
            }
            Err(problem) => aside.add_problem(problem),
        }
    }
    (set.files, set.copies, aside)
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

fn skew_ns(input: &AuditInput) -> i64 {
    i64::try_from(input.max_clock_skew.as_nanos()).unwrap_or(i64::MAX)
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
/// let (ino, btime_ns) = spoolq_spool::journal::file_identity(claim.stat());
/// daemon.write(Record::new(Claimed {
///     job, worker, strategy, attempt, name: name.clone(), ino, btime_ns,
/// }))?;
/// let outcome_ns = Some(spoolq_os::monotonic_ns());
/// claim.complete()?;
/// daemon.write(Record::new(Done {
///     job, worker, strategy, attempt, name,
///     result: DoneResult::Ok, exit: Some(0), signal: None, detail: None, outcome_ns,
/// }))?;
///
/// let input = AuditInput { spool: Some(spool.path().to_owned()), ..AuditInput::default() };
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
    let skew = skew_ns(input);

    let mut present = std::collections::HashSet::new();
    if let Some(spool) = &spool {
        list_pending(spool, &mut present)?;
    }

    let mut analyzer = Analyzer {
        skew_ns: skew,
        ..Analyzer::default()
    };
    let (files, journal_copies, aside) =
        read_journals(&files, |entry, file| analyzer.observe(&entry.record, file));

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
        journal_copies,
        events: analyzer.events,
        jobs: analyzer.jobs.len() as u64,
        max_clock_skew_ns: u64::try_from(skew).unwrap_or(0),
        problems: aside.problems,
        problem_count: aside.problem_count,
        unknown_records: aside.unknown,
        unknown_record_count: aside.unknown_count,
        ..Report::default()
    };
    let mut first_claim = Vec::new();
    let mut to_outcome = Vec::new();
    let mut lost = Vec::new();
    let mut unconfirmed = Vec::new();
    let mut before_horizon = 0u64;
    let mut duplicates = Vec::new();
    let mut copies = Vec::new();
    let mut unfinished = vec![0u64; analyzer.processes.len()];
    for (&job, state) in &analyzer.jobs {
        let last = analyzer.last_claim(state);
        if let Some(produced) = state.produced
            && let Some(first) = analyzer
                .display_order(state)
                .first()
                .map(|&i| &state.claims[i])
        {
            // From when the job became claimable: its `produced` record, or, for a job
            // produced for later (into retry/), the `requeued` record of its move to new/
            // before its first claim. A consumer may journal `claimed` before the producer
            // journals `produced` (it is written after the rename): that is zero latency,
            // not negative.
            let published = state
                .requeues
                .iter()
                .filter(|r| r.attempt == 1)
                .filter(|r| {
                    if r.domain == first.domain {
                        r.mono <= first.start
                    } else {
                        r.wall.zip(first.start_wall).is_some_and(|(r, c)| r <= c)
                    }
                })
                .map(|r| Stamp {
                    domain: r.domain,
                    mono: r.mono,
                    wall: r.wall,
                })
                .max_by_key(|r| (r.domain == first.domain, r.wall, r.mono));
            let ready = published.unwrap_or(produced);
            let latency = if first.domain == ready.domain {
                Some(first.start.saturating_sub(ready.mono))
            } else {
                first
                    .start_wall
                    .zip(ready.wall)
                    .map(|(c, p)| u64::try_from(c.saturating_sub(p)).unwrap_or(0))
            };
            first_claim.extend(latency);
        }
        for claim in &state.claims {
            match claim.end {
                Some(end) => to_outcome.push(end.saturating_sub(claim.start)),
                None => {
                    report.unfinished_claims += 1;
                    unfinished[claim.process as usize] += 1;
                }
            }
        }
        if let Some(produced) = state.produced
            && spool.is_some()
            && !state.terminal()
            && !present.contains(&job)
        {
            if !analyzer.after_horizon(produced.wall) {
                // Its outcome may be in a journal removed by retention.
                before_horizon += 1;
            } else if last.is_some_and(|c| c.end.is_none()) {
                unconfirmed.push(job);
            } else {
                lost.push(job);
            }
        }
        duplicates.extend(analyzer.duplicates_of(job, state, skew));
        copies.extend(analyzer.copy_of(job, state));
    }
    for (process, n) in analyzer.processes.iter_mut().zip(unfinished) {
        process.counts.unfinished = n;
    }
    // Classes in severity order, then by when the job was first claimed.
    duplicates.sort_by_key(|d| {
        (
            d.class,
            d.claims.first().map_or(0, |c| c.axis_start_ns),
            d.job,
        )
    });
    for d in &duplicates {
        report.duplicate_counts.bump(d.class);
    }
    copies.sort_by_key(|c| (c.claims.first().map_or(0, |c| c.axis_start_ns), c.job));
    lost.sort();
    report.counts = analyzer.counts.clone();
    report.counts.copied = copies.len() as u64;
    report.counts.pending = pending;
    report.counts.lost = spool.as_ref().map(|_| lost.len() as u64);
    report.lost_jobs = lost;
    unconfirmed.sort();
    report.counts.unconfirmed = spool.as_ref().map(|_| unconfirmed.len() as u64);
    report.counts.before_horizon = spool.as_ref().map(|_| before_horizon);
    report.journal_window = analyzer.window();
    report.unconfirmed_jobs = unconfirmed;
    report.duplicates = duplicates;
    report.copies = copies;
    report.latency = Latencies {
        produced_to_claimed: Latency::of(first_claim),
        claimed_to_outcome: Latency::of(to_outcome),
    };
    report.processes = analyzer.process_rows();
    report.clock_domains = analyzer.clock_domains();
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
    /// The record's time on the timeline's display axis (see
    /// [`ClaimInterval::axis_start_ns`]).
    pub axis_ns: i64,
}

/// Every record of one job, from every journal, in display order: by the monotonic
/// clock within one boot of one host, by wall clock between them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Timeline {
    /// The job.
    pub job: JobId,
    /// Its records, in monotonic order.
    pub events: Vec<TimelineEvent>,
    /// The job's processing intervals, in display order.
    pub claims: Vec<ClaimInterval>,
    /// The job's duplicates, by class (`flagged` indexes into `claims`).
    pub duplicates: Vec<Duplicate>,
    /// Set when its claims held two or more files with its id.
    pub copy: Option<CopiedJob>,
    /// The processes that journaled something for the job, in order of first event.
    pub processes: Vec<String>,
    /// How many clock domains (boots, hosts) its events come from: above one, events of
    /// different domains are placed by wall clock, for display only.
    pub clock_domains: u64,
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

    /// The ordering the flag of a claim rests on, if it was flagged.
    pub fn ordering_of(&self, claim: usize) -> Option<OrderingBasis> {
        self.duplicates
            .iter()
            .filter_map(|d| {
                let at = d.flagged.iter().position(|&f| f == claim)?;
                Some((d.class, d.orderings[at]))
            })
            .min()
            .map(|(_, basis)| basis)
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

/// Every record for `job` in the journals under `paths` (files or folders), with its
/// claims classified as [`audit`] classifies them (wall-clock evidence under the default
/// skew bound).
pub fn timeline(paths: &[PathBuf], job: JobId) -> Result<Timeline, AuditError> {
    timeline_with_skew(paths, job, AuditInput::DEFAULT_MAX_CLOCK_SKEW)
}

/// [`timeline`] with a skew bound for wall-clock evidence.
pub fn timeline_with_skew(
    paths: &[PathBuf],
    job: JobId,
    max_clock_skew: Duration,
) -> Result<Timeline, AuditError> {
    let files = check_journal_paths(paths)?;
    let skew = i64::try_from(max_clock_skew.as_nanos()).unwrap_or(i64::MAX);
    let mut analyzer = Analyzer {
        only: Some(job),
        ..Analyzer::default()
    };
    let mut events: Vec<(TimelineEvent, u32)> = Vec::new();
    let (_, _, aside) = read_journals(&files, |entry, file| {
        // Every record counts for its process's last sign of life (a died claim's end).
        analyzer.observe(&entry.record, file);
        if entry.record.job() == Some(job) {
            let domain = analyzer
                .last_process
                .as_ref()
                .map_or(0, |(_, p)| analyzer.processes[*p as usize].domain);
            events.push((
                TimelineEvent {
                    record: entry.record.clone(),
                    file: entry.file.to_path_buf(),
                    line: entry.line,
                    axis_ns: 0,
                },
                domain,
            ));
        }
    });
    for (event, domain) in &mut events {
        event.axis_ns = analyzer.axis(*domain, event.record.mono_ns);
    }
    events.sort_by_key(|(e, domain)| (e.axis_ns, *domain, e.record.mono_ns));
    let domains: std::collections::HashSet<u32> = events.iter().map(|(_, d)| *d).collect();
    let events: Vec<TimelineEvent> = events.into_iter().map(|(e, _)| e).collect();
    let mut processes: Vec<String> = Vec::new();
    for e in &events {
        let p = e.record.process();
        if !processes.contains(&p) {
            processes.push(p);
        }
    }
    let (claims, duplicates, copy) = match analyzer.jobs.get(&job) {
        Some(state) => (
            analyzer
                .display_order(state)
                .iter()
                .map(|&i| analyzer.interval(&state.claims[i]))
                .collect(),
            analyzer.duplicates_of(job, state, skew),
            analyzer.copy_of(job, state),
        ),
        None => (Vec::new(), Vec::new(), None),
    };
    Ok(Timeline {
        job,
        events,
        claims,
        duplicates,
        copy,
        processes,
        clock_domains: domains.len() as u64,
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
