//! Dropping jobs into a spool: from a file, from any reader (stdin), or generated load.
//!
//! Every job goes through [`Spool::drop_job`]: written into tmp/, then renamed into new/
//! without replacing anything, so a consumer never sees a partial job and a crash of the
//! producer (even SIGKILL mid-write) leaves at most a leftover in tmp/, never in new/.
//! Each published job is journaled as a `produced` record when a [`JournalWriter`] is
//! given.
//!
//! [`requeue`] publishes dead jobs again: from failed/ back to new/, under the claim's lock.
//!
//! Boundaries: this crate publishes jobs and journals them. It never claims a job in new/
//! or retry/ (only, to send it back, a dead one in failed/), never reads back or deletes
//! one, prints nothing and chooses no exit code (that is the binary's job).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod requeue;

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use spoolq_spool::journal::{Produced, Role};
use spoolq_spool::{
    DropError, Durability, JobId, JournalError, JournalWriter, LayoutError, ReadyName, Record,
    RetryName, Spool, WriterOptions,
};

/// Which fsyncs a producer does.
///
/// - [`SyncMode::Always`] (the default): fsync the job file, rename it into new/, fsync
///   new/. Once a job's id is returned, the job survives power loss.
/// - [`SyncMode::Batch`]: fsync each job file before its rename, but fsync new/ only
///   once, at the end of the batch ([`finish_batch`]; [`produce_generated`] calls it).
///   Still crash-safe: because every file's data is on disk before its name appears,
///   a power loss can only lose *names* published since the last directory fsync, never
///   leave a published name pointing at an empty or partial file. Once the batch
///   returns, every job of it survives power loss. It saves one directory fsync per job,
///   which is most of the cost on many file systems.
/// - [`SyncMode::Never`]: no fsync. A job survives a crash of the producer, not power
///   loss. For benchmarks and bulk loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// fsync every job file and new/ after every job.
    #[default]
    Always,
    /// fsync every job file, and new/ once per batch.
    Batch,
    /// No fsync.
    Never,
}

impl SyncMode {
    /// The word `--sync` takes: `always`, `batch` or `never`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Always => "always",
            SyncMode::Batch => "batch",
            SyncMode::Never => "never",
        }
    }

    /// The fsyncs of one drop in this mode.
    pub fn durability(self) -> Durability {
        match self {
            SyncMode::Always => Durability::ALWAYS,
            SyncMode::Batch => Durability {
                fsync_file: true,
                fsync_dir: false,
            },
            SyncMode::Never => Durability::NEVER,
        }
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`SyncMode`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync mode {0:?}: expected \"always\", \"batch\" or \"never\"")]
pub struct ParseSyncModeError(pub String);

impl FromStr for SyncMode {
    type Err = ParseSyncModeError;
    fn from_str(s: &str) -> Result<SyncMode, ParseSyncModeError> {
        match s {
            "always" => Ok(SyncMode::Always),
            "batch" => Ok(SyncMode::Batch),
            "never" => Ok(SyncMode::Never),
            other => Err(ParseSyncModeError(other.to_owned())),
        }
    }
}

/// Why a job could not be produced. Whatever the error, nothing partial is in new/.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] LayoutError),
    /// The payload's file or reader could not be read.
    #[error("cannot read {}: {source}; check the path and its permissions (this job was not published)", path.display())]
    Unreadable {
        /// The input file, or "standard input".
        path: PathBuf,
        /// The read's error.
        source: std::io::Error,
    },
    /// A job with the id given is already in new/ or retry/.
    #[error("job id {id} is already in the spool as {}: choose another id, or wait until that job is done", location.display())]
    IdTaken {
        /// The id.
        id: JobId,
        /// Where the job with that id is.
        location: PathBuf,
    },
    /// The file system is full (or the quota reached).
    #[error("spool {}: the file system is full ({source}); free some space, then produce again (this job was not published, and its partial file in tmp/ was removed)", spool.display())]
    DiskFull {
        /// The spool.
        spool: PathBuf,
        /// The write's error.
        source: std::io::Error,
    },
    /// The spool is on a file system mounted read-only.
    #[error(
        "spool {} is on a read-only file system: remount it read-write (mount -o remount,rw \
         MOUNTPOINT) or produce into a spool on a writable one (nothing was published)",
        spool.display()
    )]
    ReadOnly {
        /// The spool.
        spool: PathBuf,
    },
    /// Any other failure of the drop.
    #[error("spool {}: {source} (this job was not published)", spool.display())]
    Drop {
        /// The spool.
        spool: PathBuf,
        /// The drop's error.
        source: DropError,
    },
    /// The batch's fsync of new/ failed after its jobs were published.
    #[error("fsync of {}: {source}; the jobs were published but may not survive power loss", spool.display())]
    Sync {
        /// The spool.
        spool: PathBuf,
        /// The fsync's error.
        source: spoolq_claim::Error,
    },
    /// The job is published but its `produced` record is not in the journal.
    #[error("job {id} was published, but its `produced` record could not be journaled: {source}")]
    Journal {
        /// The published job.
        id: JobId,
        /// The journal's error.
        source: JournalError,
    },
    /// The producer's journal file could not be created.
    #[error("opening the producer journal: {0}")]
    JournalOpen(JournalError),
    /// A rate outside [`Generate::RATES`].
    #[error(
        "rate {0} is not a number of jobs per second from {min} to {max}",
        min = Generate::RATES.0,
        max = Generate::RATES.1
    )]
    InvalidRate(f64),
    /// A payload size above [`Generate::MAX_SIZE`].
    #[error(
        "size {0} is larger than {max} bytes (1 GiB), the largest generated payload",
        max = Generate::MAX_SIZE
    )]
    InvalidSize(usize),
    /// One generated job would not fit in the space left on the spool's file system.
    #[error(
        "spool {}: a job of {size} bytes would not fit in the {available} bytes left on its \
         file system; free some space or choose a smaller --size (nothing was published)",
        spool.display()
    )]
    NoRoom {
        /// The spool.
        spool: PathBuf,
        /// The payload size asked for.
        size: usize,
        /// The bytes left.
        available: u64,
    },
    /// The caller asked to stop: the job being written was abandoned (its partial file
    /// removed from tmp/); the jobs before it are published.
    #[error(
        "stopped after {published} published job(s); the job being written was not published and its partial file was removed"
    )]
    Stopped {
        /// Jobs published before the stop.
        published: u64,
    },
}

impl ProduceError {
    /// True when the file system is full.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            ProduceError::DiskFull { .. } => true,
            ProduceError::Journal { source, .. } | ProduceError::JournalOpen(source) => {
                source.is_out_of_space()
            }
            _ => false,
        }
    }
}

/// Opens an existing spool for producing.
pub fn open_spool(path: &Path) -> Result<Spool, ProduceError> {
    Ok(Spool::open(path)?)
}

/// Opens the journal this process appends its records to: the shared journal of this
/// host's one-shot processes for this boot (see [`JournalWriter::open_shared`]), so that
/// a thousand one-job calls leave one file, not a thousand.
pub fn open_journal(spool: &Spool) -> Result<JournalWriter, ProduceError> {
    JournalWriter::open_shared(
        spool.journal().clone(),
        Role::Producer,
        WriterOptions::default(),
    )
    .map_err(|e| {
        if e.is_read_only() {
            ProduceError::ReadOnly {
                spool: spool.path().to_owned(),
            }
        } else {
            ProduceError::JournalOpen(e)
        }
    })
}

/// Where a job with `id` already is in new/ (`<id>`, `<id>.<n>`) or retry/
/// (`<id>.<n>.<due>`), if anywhere. Names are compared as the daemon reads them: an id
/// in capitals is the same id (the daemon would run both files).
pub fn find_existing(spool: &Spool, id: JobId) -> Result<Option<PathBuf>, ProduceError> {
    let prefix = id.to_string();
    for (dir, is_retry) in [(spool.new_dir(), false), (spool.retry(), true)] {
        let entries = dir.entries().map_err(|e| listing_error(spool, e))?;
        for name in entries {
            let name = name.map_err(|e| listing_error(spool, e))?;
            // Cheap prefix test first: this runs over every name of a large folder.
            let bytes = name.as_encoded_bytes();
            if bytes.len() < prefix.len()
                || !bytes[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
            {
                continue;
            }
            let matches = if is_retry {
                RetryName::parse(&name).is_some_and(|n| n.id == id)
            } else {
                ReadyName::parse(&name).is_some_and(|n| n.id == id)
            };
            if matches {
                return Ok(Some(dir.display_path(&name)));
            }
        }
    }
    Ok(None)
}

fn listing_error(spool: &Spool, e: spoolq_claim::Error) -> ProduceError {
    ProduceError::Drop {
        spool: spool.path().to_owned(),
        source: DropError::Io(e),
    }
}

fn drop_error(spool: &Spool, e: DropError, input: Option<&Path>) -> ProduceError {
    let spool_path = spool.path().to_owned();
    match e {
        DropError::IdTaken { id } => ProduceError::IdTaken {
            id,
            location: spool.new_dir().display_path(OsStr::new(&id.to_string())),
        },
        DropError::Payload { source } => ProduceError::Unreadable {
            path: input.map_or_else(|| PathBuf::from("standard input"), Path::to_owned),
            source,
        },
        DropError::Write { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) =>
        {
            ProduceError::DiskFull {
                spool: spool_path,
                source,
            }
        }
        DropError::Io(e) if e.is_read_only() => ProduceError::ReadOnly { spool: spool_path },
        DropError::Io(e) if e.is_out_of_space() => ProduceError::DiskFull {
            spool: spool_path,
            source: e.into(),
        },
        other => ProduceError::Drop {
            spool: spool_path,
            source: other,
        },
    }
}

/// Which id a job gets.
#[derive(Clone, Copy)]
enum IdChoice {
    /// Given by the caller: must not be in the spool already.
    Given(JobId),
    /// Generated here (UUID v7): cannot collide, so not looked up.
    Fresh(JobId),
}

/// When a job becomes claimable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum When {
    /// At once: published into new/.
    #[default]
    Now,
    /// At this time: published into retry/ as `<id>.0.<due ms>`, which the daemon moves
    /// to new/ once due. A time already past publishes into new/ at once.
    At(SystemTime),
}

fn produce_inner(
    spool: &Spool,
    id: IdChoice,
    payload: &mut dyn Read,
    sync: SyncMode,
    journal: Option<&JournalWriter>,
    input: Option<&Path>,
    when: When,
) -> Result<JobId, ProduceError> {
    let id = match id {
        IdChoice::Given(id) => {
            // rename_noreplace already refuses `<id>` in new/; names carrying an attempt
            // count (`<id>.<n>`, retry/) are only found by looking. A job moving between
            // those names during the check can slip through: ids are idempotency keys
            // for a producer retrying a publish, not a lock.
            if let Some(location) = find_existing(spool, id)? {
                return Err(ProduceError::IdTaken { id, location });
            }
            id
        }
        IdChoice::Fresh(id) => id,
    };
    let dropped = match when {
        When::At(due) if due > SystemTime::now() => {
            spool.schedule_job(id, payload, sync.durability(), due)
        }
        When::Now | When::At(_) => spool.drop_job(id, payload, sync.durability()),
    };
    dropped.map_err(|e| drop_error(spool, e, input))?;
    if let Some(journal) = journal {
        journal
            .write(Record::new(Produced { job: id }))
            .map_err(|source| ProduceError::Journal { id, source })?;
    }
    Ok(id)
}

fn choose(id: Option<JobId>) -> IdChoice {
    id.map_or_else(|| IdChoice::Fresh(JobId::generate()), IdChoice::Given)
}

/// Publishes one job whose payload is read from `payload` (streamed, never loaded
/// whole). With `id`, refuses an id already in new/ or retry/. With [`SyncMode::Batch`],
/// call [`finish_batch`] after the last job.
pub fn produce_one(
    spool: &Spool,
    id: Option<JobId>,
    payload: &mut dyn Read,
    sync: SyncMode,
    journal: Option<&JournalWriter>,
) -> Result<JobId, ProduceError> {
    schedule_one(spool, id, payload, sync, journal, When::Now)
}

/// [`produce_one`], claimable `when` (see [`When`]).
pub fn schedule_one(
    spool: &Spool,
    id: Option<JobId>,
    payload: &mut dyn Read,
    sync: SyncMode,
    journal: Option<&JournalWriter>,
    when: When,
) -> Result<JobId, ProduceError> {
    produce_inner(spool, choose(id), payload, sync, journal, None, when)
}

/// Publishes one job whose payload is the file at `path`; errors name the file.
pub fn produce_file(
    spool: &Spool,
    id: Option<JobId>,
    path: &Path,
    sync: SyncMode,
    journal: Option<&JournalWriter>,
) -> Result<JobId, ProduceError> {
    schedule_file(spool, id, path, sync, journal, When::Now)
}

/// [`produce_file`], claimable `when` (see [`When`]).
pub fn schedule_file(
    spool: &Spool,
    id: Option<JobId>,
    path: &Path,
    sync: SyncMode,
    journal: Option<&JournalWriter>,
    when: When,
) -> Result<JobId, ProduceError> {
    let mut file = std::fs::File::open(path).map_err(|source| ProduceError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    produce_inner(
        spool,
        choose(id),
        &mut file,
        sync,
        journal,
        Some(path),
        when,
    )
}

/// Publishes one job whose payload is read from `payload`, which reads the file at
/// `path` (opened by the caller, wrapped as it likes); errors name the file.
pub fn produce_reader(
    spool: &Spool,
    id: Option<JobId>,
    payload: &mut dyn Read,
    path: &Path,
    sync: SyncMode,
    journal: Option<&JournalWriter>,
) -> Result<JobId, ProduceError> {
    schedule_reader(spool, id, payload, path, sync, journal, When::Now)
}

/// [`produce_reader`], claimable `when` (see [`When`]).
pub fn schedule_reader(
    spool: &Spool,
    id: Option<JobId>,
    payload: &mut dyn Read,
    path: &Path,
    sync: SyncMode,
    journal: Option<&JournalWriter>,
    when: When,
) -> Result<JobId, ProduceError> {
    produce_inner(spool, choose(id), payload, sync, journal, Some(path), when)
}

/// Ends a batch: in [`SyncMode::Batch`], fsyncs new/ (and retry/, which holds scheduled
/// jobs) so that every job published so far survives power loss. A no-op in the other
/// modes.
pub fn finish_batch(spool: &Spool, sync: SyncMode) -> Result<(), ProduceError> {
    if sync == SyncMode::Batch {
        for dir in [spool.new_dir(), spool.retry()] {
            dir.sync().map_err(|source| ProduceError::Sync {
                spool: spool.path().to_owned(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Generated load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generate {
    /// How many jobs.
    pub count: u64,
    /// Payload size of each job, in bytes.
    pub size: usize,
    /// Jobs per second; `None` as fast as possible.
    pub rate: Option<f64>,
    /// The fsyncs of every drop.
    pub sync: SyncMode,
}

impl Generate {
    /// The payload size of `spoolq produce --count` without `--size`: empty jobs.
    pub const DEFAULT_SIZE: usize = 0;
    /// The largest payload generated: 1 GiB. Generated load is for tests; a larger
    /// `--size` is a typing mistake that would write until the disk is full.
    pub const MAX_SIZE: usize = 1 << 30;
    /// The rates accepted, jobs per second: from one job in 1,000 s (slower is not load)
    /// to a million per second (faster than any spool takes jobs; the pacing is then
    /// no pacing).
    pub const RATES: (f64, f64) = (0.001, 1_000_000.0);

    /// Checks `rate` against [`Generate::RATES`].
    pub fn check_rate(rate: f64) -> Result<f64, ProduceError> {
        let (min, max) = Generate::RATES;
        // NaN fails both comparisons.
        if rate >= min && rate <= max {
            Ok(rate)
        } else {
            Err(ProduceError::InvalidRate(rate))
        }
    }

    /// Checks `size` against [`Generate::MAX_SIZE`].
    pub fn check_size(size: usize) -> Result<usize, ProduceError> {
        if size <= Generate::MAX_SIZE {
            Ok(size)
        } else {
            Err(ProduceError::InvalidSize(size))
        }
    }
}

/// A synthetic payload: a recognizable text pattern, cut to `remaining` bytes. It fails
/// a read once `stop` says so, which abandons the drop in progress.
struct Synthetic<'a> {
    pattern: Vec<u8>,
    position: usize,
    remaining: usize,
    stop: &'a dyn Fn() -> bool,
}

impl Read for Synthetic<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if (self.stop)() {
            return Err(std::io::Error::other("stopped"));
        }
        let mut written = 0;
        while written < buf.len() && self.remaining > 0 {
            let chunk = &self.pattern[self.position..];
            let n = chunk.len().min(buf.len() - written).min(self.remaining);
            buf[written..written + n].copy_from_slice(&chunk[..n]);
            written += n;
            self.remaining -= n;
            self.position = (self.position + n) % self.pattern.len();
        }
        Ok(written)
    }
}

/// Publishes `opts.count` jobs of `opts.size` synthetic bytes each, paced at
/// `opts.rate` jobs per second if set, calling `progress` with the number published so
/// far after each job. Returns the ids in publication order.
///
/// Pacing follows an absolute schedule (job `i` is due at start + i / rate), so a slow
/// job is caught up on rather than delaying every job after it.
pub fn produce_generated(
    spool: &Spool,
    opts: &Generate,
    journal: Option<&JournalWriter>,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<JobId>, ProduceError> {
    let mut ids = Vec::with_capacity(usize::try_from(opts.count.min(1 << 20)).unwrap_or(0));
    produce_each(spool, opts, journal, &|| false, &mut |id, done| {
        ids.push(id);
        progress(done);
    })?;
    Ok(ids)
}

/// How often a paced producer waiting for a job's due time asks whether to stop.
const STOP_POLL: Duration = Duration::from_millis(100);

/// [`produce_generated`] one job at a time: `published` gets each job's id (and the
/// number published so far) as soon as the job is in new/, so a caller can print it
/// before the next job starts, and whatever ends the run, no published id goes untold.
///
/// `stop` is asked before each job, while waiting for a paced job's due time, and at
/// every read of a payload being written: once it says true, the job being written is
/// abandoned (its partial file in tmp/ removed) and the run ends with
/// [`ProduceError::Stopped`]. The rate and size are checked first
/// ([`Generate::check_rate`], [`Generate::check_size`]), and one job must fit in the
/// space left on the spool's file system. Returns the number of jobs published.
pub fn produce_each(
    spool: &Spool,
    opts: &Generate,
    journal: Option<&JournalWriter>,
    stop: &dyn Fn() -> bool,
    published: &mut dyn FnMut(JobId, u64),
) -> Result<u64, ProduceError> {
    if let Some(rate) = opts.rate {
        Generate::check_rate(rate)?;
    }
    Generate::check_size(opts.size)?;
    if opts.count > 0 {
        let available = spool
            .tmp()
            .available_bytes()
            .map_err(|e| listing_error(spool, e))?;
        if opts.size as u64 > available {
            return Err(ProduceError::NoRoom {
                spool: spool.path().to_owned(),
                size: opts.size,
                available,
            });
        }
    }
    let start = Instant::now();
    let mut done = 0;
    for index in 0..opts.count {
        if let Some(rate) = opts.rate {
            // A due time too far for the clock (a slow rate and a huge count) is never
            // reached: the run is stopped before it.
            let due = Duration::try_from_secs_f64(index as f64 / rate)
                .ok()
                .and_then(|offset| start.checked_add(offset));
            loop {
                if stop() {
                    return Err(ProduceError::Stopped { published: done });
                }
                let now = Instant::now();
                match due {
                    Some(due) if due <= now => break,
                    Some(due) => std::thread::sleep((due - now).min(STOP_POLL)),
                    None => std::thread::sleep(STOP_POLL),
                }
            }
        }
        if stop() {
            return Err(ProduceError::Stopped { published: done });
        }
        let id = JobId::generate();
        let mut payload = Synthetic {
            pattern: format!("spoolq synthetic job {index} {id}\n").into_bytes(),
            position: 0,
            remaining: opts.size,
            stop,
        };
        let produced = produce_inner(
            spool,
            IdChoice::Fresh(id),
            &mut payload,
            opts.sync,
            journal,
            None,
            When::Now,
        );
        match produced {
            Ok(_) => {}
            // Published, only its record is missing: told like any published job.
            Err(e @ ProduceError::Journal { .. }) => {
                published(id, index + 1);
                return Err(e);
            }
            Err(_) if stop() => return Err(ProduceError::Stopped { published: done }),
            Err(e) => return Err(e),
        }
        done = index + 1;
        published(id, done);
    }
    finish_batch(spool, opts.sync)?;
    Ok(done)
}
