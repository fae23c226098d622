//! The spoolq consumer daemon: discover jobs in a spool's new/ folder, claim each with
//! the claim protocol, run a handler on it, and complete, retry, bury or quarantine it,
//! journaling every claim and outcome.
//!
//! # Shape
//!
//! ```text
//!  watcher ──────────┐
//!  periodic rescan ──┼─> discovery ──> bounded queue (deduplicated) ──> N workers
//!  retry mover ──────┘                                                    │
//!                                     claim (blocking pool) <─────────────┤
//!                                     handler (child process, async) <────┤
//!                                     outcome (blocking pool) <───────────┘
//! ```
//!
//! The watcher is inotify on Linux (create, moved-to and close-write only: notify's
//! backend also wakes on every open of the daemon's own claims) and the notify crate
//! elsewhere. Events from the watcher are only hints: every name is claimed through the
//! protocol, and a periodic full scan is the safety net. The queue is bounded and
//! deduplicated, so memory does not grow with the spool. Claim, rename, unlink and
//! journal writes are blocking system calls and run on tokio's blocking pool; handlers
//! are spawned from async tasks so that Linux's parent-death signal follows a
//! long-lived runtime thread. With the built-in handler and no simulated work, each
//! worker is instead one blocking-pool thread that claims, handles and completes a
//! batch of names in place, with two journal writes per batch.
//!
//! # Modules
//!
//! ```text
//! lib.rs          the public face (Config, Summary, DaemonError, run); start and stop
//! worker          a worker task: take names from the queue, claim -> handler -> outcome
//! outcome         complete, retry, bury or release a claimed job, and journal it
//! claiming        claim one name, check that it is a job, journal the claim
//! discovery       the discovery task: when to list new/, run the retry mover, sweep
//! claimed         the claim strategy chosen, claimed/<me>/, recovery of dead claimers' jobs
//! remote_drops    new/'s change stamp, polled where other hosts may drop jobs
//! retry_mover     move due jobs from retry/ back to new/
//! watcher         inotify (Linux) or notify (elsewhere) on new/ and retry/
//! quarantine      a file that is not a job goes to failed/ with its reason
//! hidden          a drain's sweep of stale hidden names in new/
//! tmp             the sweep of leftovers in tmp/
//! prune           journal retention: old journal files removed at start and rescans
//! pause           the spool's pause marker followed: claiming stops and resumes
//! metrics_server  GET /metrics over HTTP/1.1 (--metrics-listen)
//! notify          systemd's readiness protocol: READY, STOPPING, WATCHDOG
//! handler         run the handler process, or the built-in handler, for one job
//! state           Shared (what every task reads) and Stats
//! stuck           the jobs the daemon could not act on, and those it gave up
//! record          the journal writer and the claim step hook
//! config          Config and its defaults (re-exported here)
//! lifecycle       running, stopping, terminating; the folders given up
//! log_sink        the log's writer: stderr, a failed line dropped and counted
//! queue           the bounded, deduplicated queue between discovery and the workers
//! failed          moving a file into failed/ with its reason file beside it
//! backoff         exponential backoff with full jitter
//! ```
//!
//! # One job's path
//!
//! 1. A producer renames `new/<id>` into place. The watcher's thread
//!    (`watcher::start`) offers the name to the queue (`Queue::offer`); a listing by
//!    discovery (`Discovery::list_new`) would find it too, with the kind its directory
//!    entry reports.
//! 2. A worker (`worker::worker`) takes a batch of names (`take_batch`).
//! 3. For each, `claiming::claim_valid` claims it (`Claimer::claim_seen`: nothing but a
//!    regular file is opened) and checks its name, header and id; a file that is not a
//!    job goes to `quarantine::quarantine`; a job whose name counts `max_attempts`
//!    started attempts already is buried unrun (`outcome::bury_unstarted`). The
//!    `claimed` record is written (`claiming::journal_claim` from `worker::prepare`, or
//!    one write for the batch in `worker::process_inline`).
//! 4. For an external handler, `claiming::count_attempt` renames the job to
//!    `new/<id>.<n+1>` under its lock; then `handler::run` starts the command with the
//!    locked file itself on its stdin. The built-in handler (`handler::builtin_now`)
//!    logs the job in place.
//! 5. `outcome::finish` acts on how it ended, each act on the claimed file only (a name
//!    that names another file now is left alone: `released`, `name_changed`): exit 0
//!    completes it (`complete`: unlink under the lock, `done`); exit 100 or the last
//!    attempt buries it in failed/ (`bury_dead`); any other failure moves it to
//!    `retry/<id>.<n>.<due ms>` (`retry`); a shutdown releases it. An act that fails
//!    counts in `stuck`, which gives the job up after `max_attempts` failures.
//! 6. Once due, the retry mover (`retry_mover::move_due`, run by discovery) moves it back
//!    to `new/<id>.<n>` and offers it to the queue: step 2 again.
//!
//! # Module graph
//!
//! Each module imports only modules below it in this list (`use crate::` lines):
//!
//! ```text
//! lib         -> worker, discovery, claimed, pause, metrics_server, notify, watcher,
//!                outcome, handler, state, stuck, record, queue, lifecycle, config,
//!                log_sink
//! worker      -> outcome, claiming, claimed, handler, record, state, lifecycle, queue,
//!                log_sink
//! outcome     -> claiming, handler, state, stuck, failed, backoff
//! claiming    -> quarantine, record, state
//! discovery   -> claimed, remote_drops, retry_mover, watcher, hidden, tmp, prune, notify,
//!                state, queue, lifecycle, failed
//! claimed     -> state, config
//! remote_drops -> state
//! retry_mover -> quarantine, record, state, queue, lifecycle
//! watcher     -> state, queue, lifecycle
//! quarantine  -> state, failed
//! hidden      -> state, failed
//! tmp         -> state
//! prune       -> state
//! pause       -> state
//! metrics_server -> state
//! notify      -> lifecycle
//! handler     -> lifecycle
//! state       -> stuck, record, config, queue, lifecycle
//! stuck       -> record
//! record      -> lifecycle
//! config, lifecycle, queue, failed, backoff, log_sink: nothing in this crate
//! ```
//!
//! `tests/module_graph.rs` reads every module's `crate::` paths and fails on an arrow
//! that points up this list.
//!
//! # Boundaries
//!
//! This crate decides policy (what an exit code means, backoff, quarantine) and owns the
//! process lifecycle of handlers. It does not parse command lines, install signal
//! handlers, print to the terminal or choose exit codes: the `spoolq` binary does, and
//! calls [`run`] with a [`Config`] and a shutdown future. Tests call [`run`] in-process.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod claimed;
mod claiming;
mod config;
mod discovery;
mod failed;
mod handler;
mod hidden;
mod lifecycle;
pub mod log_sink;
mod metrics_server;
mod notify;
mod outcome;
mod pause;
mod prune;
mod quarantine;
mod queue;
mod record;
mod remote_drops;
mod retry_mover;
mod state;
mod stuck;
mod tmp;
mod watcher;
mod worker;

use std::ffi::OsStr;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spoolq_claim::Strategy;
use spoolq_spool::journal::Role;
use spoolq_spool::{JournalError, JournalWriter, LayoutError, Spool, WriterOptions};
use tracing::{debug, error, info, warn};

pub use config::{Accepted, Bound, Config, OutOfRange};
pub use handler::kill_all_handlers;
pub use outcome::{EXIT_PERMANENT, EXIT_TEMPFAIL};

use crate::lifecycle::Lifecycle;
use crate::queue::Queue;
use crate::record::Journal;
use crate::state::{Shared, Stats, TaskFailed, blocking};
use crate::stuck::StuckJobs;

/// What a run of the daemon did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Jobs claimed (a handler was about to run).
    pub claimed: u64,
    /// Jobs completed (handler exit 0, job unlinked).
    pub completed: u64,
    /// Failed attempts moved to retry/.
    pub retried: u64,
    /// Jobs moved to failed/ after exit 100 or exhausted attempts.
    pub dead: u64,
    /// Files moved to failed/ because they are not valid jobs.
    pub quarantined: u64,
    /// Claimed jobs released unprocessed (shutdown, journal failure, a failed move).
    pub released: u64,
    /// Jobs moved from retry/ back to new/ when due.
    pub requeued: u64,
    /// Jobs given up: acting on them (their unlink, a move, the rename that counts an
    /// attempt) failed `max_attempts` times; they stay in new/.
    pub stuck: u64,
    /// I/O errors on single jobs (logged; the daemon kept serving).
    pub errors: u64,
    /// Log lines that could not be written to stderr and were dropped (in this process,
    /// through [`log_sink::stderr`]).
    pub log_lines_dropped: u64,
}

/// Why the daemon could not start or had to stop. Errors on single jobs are not here:
/// they are logged and counted in [`Summary::errors`].
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The spool cannot be opened: missing, a folder that is a link or not a directory,
    /// or an I/O error.
    #[error(transparent)]
    Spool(#[from] LayoutError),
    /// One of the spool's folders is on a file system mounted read-only.
    #[error(
        "spool folder {} is on a read-only file system: the daemon moves and deletes jobs \
         there: remount it read-write (mount -o remount,rw MOUNTPOINT) or move the spool \
         to a writable file system",
        path.display()
    )]
    ReadOnly {
        /// The folder.
        path: PathBuf,
    },
    /// The daemon cannot create, rename and unlink in one of the spool's folders.
    #[error(
        "spool folder {} is not writable by this process: {source}; \
         the daemon moves and deletes jobs there: fix its owner or mode",
        path.display()
    )]
    NotWritable {
        /// The folder.
        path: PathBuf,
        /// What the probe's create or unlink failed with.
        #[source]
        source: spoolq_claim::Error,
    },
    /// A spool folder that jobs move into by rename is on another file system (or
    /// another mount of one) than new/.
    #[error(
        "spool folder {} is on another file system (or mount) than {}: jobs move between \
         tmp/, new/, retry/ and failed/ by rename, which cannot cross file systems; put \
         those four folders on one file system (journal/ may be on its own)",
        folder.display(), new.display()
    )]
    FoldersApart {
        /// The folder on another mount.
        folder: PathBuf,
        /// new/.
        new: PathBuf,
    },
    /// The journal file could not be created.
    #[error("cannot start the journal: {0}")]
    Journal(#[from] JournalError),
    /// The handler's program is not an executable file (on PATH or at the path given).
    #[error(
        "handler command {0:?} not found or not executable; \
         give a path or a program on PATH after `--`"
    )]
    CommandNotFound(String),
    /// A setting is impossible (outside the values it accepts, a retry max below the
    /// base); the text says which, and what is accepted.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A task of the daemon panicked or was cancelled.
    #[error("internal error: a daemon task failed: {0}")]
    Task(String),
    /// `--claim verified` (or naive) on a file system where spoolq's one-host
    /// assumptions are not known to hold, without `--force-claim`.
    #[error(
        "the spool is on {file_system}, where spoolq's one-host assumptions are not known \
         to hold: a client may answer the {strategy} strategy's checks from its cache, and \
         two hosts may then run one job twice; run --claim shared (the default there), or \
         add --force-claim to run --claim {strategy} anyway"
    )]
    ClaimUnsafeHere {
        /// The strategy asked for.
        strategy: Strategy,
        /// The file system, as detected.
        file_system: String,
    },
    /// `--metrics-listen`'s address could not be bound.
    #[error(
        "cannot listen on {addr} for /metrics: {}; choose another address or port \
         (--metrics-listen 127.0.0.1:9464)",
        spoolq_os::describe_io(source)
    )]
    MetricsListen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What bind failed with.
        #[source]
        source: std::io::Error,
    },
}

impl From<TaskFailed> for DaemonError {
    fn from(e: TaskFailed) -> DaemonError {
        DaemonError::Task(e.0)
    }
}

impl Summary {
    /// The counters as they are now.
    fn of(stats: &Stats, stuck: &StuckJobs) -> Summary {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            claimed: get(&stats.claimed),
            completed: get(&stats.completed),
            retried: get(&stats.retried),
            dead: get(&stats.dead),
            quarantined: get(&stats.quarantined),
            released: get(&stats.released),
            requeued: get(&stats.requeued),
            stuck: stuck.count(),
            errors: get(&stats.errors),
            log_lines_dropped: log_sink::dropped_log_lines(),
        }
    }
}

/// Runs the daemon until `shutdown` resolves (or, with `drain`, until the spool is
/// empty), then stops claiming, lets in-flight handlers finish within the shutdown
/// grace, terminates the rest and releases their jobs.
///
/// Must be called inside a multi-threaded tokio runtime with I/O, time and signal
/// drivers enabled (`#[tokio::main]`, `#[tokio::test(flavor = "multi_thread")]`).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let config = effective(config)?;
    let shared = blocking({
        let config = config.clone();
        move || open(config)
    })
    .await??;
    let shared = Arc::new(shared);
    log_start(&shared.config, &shared.claims);
    let metrics = match config.metrics_listen {
        Some(addr) => Some(
            metrics_server::bind(addr)
                .await
                .map_err(|source| DaemonError::MetricsListen { addr, source })?,
        ),
        None => None,
    };
    warn_sticky_folders(&shared.spool);

    // A drain that starts on an empty new/ and an empty retry/ ends after its first
    // listing; watchers (new/ and retry/, the pause marker) would only add their teardown
    // to the start (closing an inotify instance waits for the kernel's SRCU grace period,
    // several milliseconds). Names that appear meanwhile are still found: the drain ends
    // only on a listing from the start that finds nothing.
    let empty_drain = config.drain && config.watch && {
        let shared = shared.clone();
        blocking(move || {
            folder_is_empty(shared.spool.new_dir()) && folder_is_empty(shared.spool.retry())
        })
        .await?
    };
    let watcher = if config.watch && !empty_drain {
        match watcher::start(&shared) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(
                    error = %e,
                    every = %humantime::format_duration(config.rescan_interval),
                    "file system watcher unavailable; relying on periodic rescans"
                );
                None
            }
        }
    } else if empty_drain {
        debug!("drain: new/ and retry/ are empty at start; no watcher");
        None
    } else {
        info!("watcher disabled; new jobs are found by the periodic rescan only");
        None
    };
    let (watch_handle, watch_feed) = match watcher {
        Some((w, rx)) => (Some(w), Some(rx)),
        None => (None, None),
    };

    {
        let shared = shared.clone();
        let strategy = shared.claims.strategy;
        blocking(move || {
            shared
                .journal
                .write(spoolq_spool::Record::new(spoolq_spool::journal::Start {
                    strategy,
                    detail: format!(
                        "workers={} drain={}",
                        shared.config.workers, shared.config.drain
                    ),
                }))
        })
        .await?
        .ok();
    }

    let pause_watch = pause::start(&shared, config.watch && !empty_drain).await;
    notify::start(&shared.lifecycle);
    if let Some(listener) = metrics {
        tokio::spawn(metrics_server::serve(shared.clone(), listener));
    }
    let receiver = Arc::new(tokio::sync::Mutex::new(shared.queue.take_receiver()));

    let mut workers = tokio::task::JoinSet::new();
    for id in 1..=config.workers {
        let id = u32::try_from(id).unwrap_or(u32::MAX);
        workers.spawn(worker::worker(shared.clone(), id, receiver.clone()));
    }
    let mut discovery = tokio::spawn(discovery::discovery(shared.clone(), watch_feed));

    let mut discovery_done = false;
    tokio::select! {
        () = shutdown => {
            info!("shutdown requested: claiming stops; in-flight jobs may finish within {}",
                humantime::format_duration(config.shutdown_grace));
        }
        result = &mut discovery => {
            discovery_done = true;
            match result {
                // A paused drain said why it ends when it ended.
                Ok(()) if config.drain && !shared.lifecycle.is_paused() => {
                    info!("drain: no claimable job left in new/ and nothing in flight")
                }
                Ok(()) => {}
                Err(e) => error!(error = %e, "discovery task failed; stopping"),
            }
        }
    }
    shared.lifecycle.stop();
    drop(watch_handle);
    drop(pause_watch);

    let grace = tokio::time::sleep(config.shutdown_grace);
    tokio::pin!(grace);
    let mut terminated = false;
    loop {
        tokio::select! {
            joined = workers.join_next() => {
                match joined {
                    None => break,
                    Some(Ok(())) => {}
                    Some(Err(e)) => error!(error = %e, "a worker task failed"),
                }
            }
            () = &mut grace, if !terminated => {
                terminated = true;
                if !workers.is_empty() {
                    warn!(in_flight = workers.len(),
                        "shutdown grace expired: terminating handlers and releasing their jobs");
                }
                shared.lifecycle.terminate();
            }
        }
    }
    if !discovery_done {
        let _ = discovery.await;
    }
    claimed::remove_private(&shared);

    let summary = Summary::of(&shared.stats, &shared.stuck);
    {
        let shared = shared.clone();
        blocking(move || {
            shared
                .journal
                .write(spoolq_spool::Record::new(spoolq_spool::journal::Stop {
                    strategy: shared.claims.strategy,
                    detail: format!(
                        "completed={} retried={} dead={} quarantined={} released={} requeued={} \
                         stuck={} errors={} log_lines_dropped={}",
                        summary.completed,
                        summary.retried,
                        summary.dead,
                        summary.quarantined,
                        summary.released,
                        summary.requeued,
                        summary.stuck,
                        summary.errors,
                        summary.log_lines_dropped
                    ),
                }))
        })
        .await?
        .ok();
    }
    info!(
        claimed = summary.claimed,
        completed = summary.completed,
        retried = summary.retried,
        dead = summary.dead,
        quarantined = summary.quarantined,
        released = summary.released,
        requeued = summary.requeued,
        stuck = summary.stuck,
        errors = summary.errors,
        log_lines_dropped = summary.log_lines_dropped,
        "daemon stopped"
    );
    Ok(summary)
}

/// Fills in defaults and rejects impossible settings.
fn effective(mut config: Config) -> Result<Config, DaemonError> {
    config
        .check()
        .map_err(|e| DaemonError::InvalidConfig(e.to_string()))?;
    if config.workers == 0 {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        config.workers = cpus.clamp(Config::WORKERS.min, Config::WORKERS.max);
    }
    if config.retry_max < config.retry_base {
        return Err(DaemonError::InvalidConfig(format!(
            "retry max ({}) is shorter than retry base ({})",
            humantime::format_duration(config.retry_max),
            humantime::format_duration(config.retry_base)
        )));
    }
    config.queue_capacity = config.queue_capacity.max(1);
    if let Some(command) = &config.command
        && command.is_empty()
    {
        config.command = None;
    }
    Ok(config)
}

/// Opens the spool, checks that the daemon can write where it must, finds the handler
/// and starts the journal. Blocking.
fn open(config: Config) -> Result<Shared, DaemonError> {
    let spool = Spool::open(&config.spool)?;
    if let Some(folder) = spool.folder_on_another_mount().map_err(LayoutError::from)? {
        return Err(DaemonError::FoldersApart {
            folder,
            new: spool.new_dir().path().to_owned(),
        });
    }
    for dir in [
        spool.new_dir(),
        spool.retry(),
        spool.failed(),
        spool.journal(),
    ] {
        probe_writable(dir)?;
    }
    if let Some(command) = &config.command {
        let program = &command[0];
        if handler::resolve_program(program).is_none() {
            return Err(DaemonError::CommandNotFound(
                spoolq_spool::names::printable(program),
            ));
        }
    }
    let options = WriterOptions {
        fsync: config.journal_fsync,
        ..WriterOptions::default()
    };
    let file_system = spool
        .new_dir()
        .file_system()
        .unwrap_or_else(|_| spoolq_os::FileSystem {
            name: "unknown".to_owned(),
            sharing: spoolq_os::Sharing::Unknown,
        });
    let host = spoolq_os::host::hostname().unwrap_or_else(|_| "unknown-host".to_owned());
    let boot = spoolq_os::host::boot_id().ok();
    let claims = claimed::setup(&config, &spool, &file_system, &host, boot.as_deref()).map_err(
        |e| match e {
            claimed::SetupError::UnsafeHere {
                strategy,
                file_system,
            } => DaemonError::ClaimUnsafeHere {
                strategy,
                file_system,
            },
            claimed::SetupError::Layout(e) => DaemonError::Spool(e),
            claimed::SetupError::NotWritable { path, source } => {
                DaemonError::NotWritable { path, source }
            }
        },
    )?;
    let writer = create_journal(&spool, options)?;
    let queue = Queue::new(config.queue_capacity);
    let lifecycle = Lifecycle::new();
    Ok(Shared {
        journal: Journal::new(Arc::new(writer), claims.strategy, lifecycle.clone()),
        claims,
        spool,
        stats: Stats::default(),
        queue,
        lifecycle,
        stuck: StuckJobs::new(config.max_attempts),
        config,
    })
}

/// Whether `dir` holds no name but hidden ones (a failed listing counts as not empty).
/// Blocking; stops at the first name.
fn folder_is_empty(dir: &spoolq_claim::Dir) -> bool {
    use std::os::fd::AsFd;
    let Ok(mut stream) = spoolq_os::fs::dir_stream(dir.as_fd()) else {
        return false;
    };
    while let Some(name) = stream.next_name() {
        match name {
            Ok(name) if spoolq_spool::names::is_hidden(&name) => {}
            _ => return false,
        }
    }
    true
}

/// The journal file is named after host, pid and start time in milliseconds; two
/// daemons started in one process within a millisecond (tests) would collide, so retry
/// on EEXIST once the clock moved on.
fn create_journal(spool: &Spool, options: WriterOptions) -> Result<JournalWriter, DaemonError> {
    let mut tries = 0;
    loop {
        match JournalWriter::create(spool.journal().clone(), Role::Daemon, options) {
            Err(JournalError::Open(e)) if e.is_already_exists() && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            other => return other.map_err(DaemonError::Journal),
        }
    }
}

/// Creates and removes a hidden file: the only reliable test that this process may
/// create, rename and unlink in `dir` (permissions, ACLs, read-only mounts).
fn probe_writable(dir: &spoolq_claim::Dir) -> Result<(), DaemonError> {
    let name = format!(".spoolq-probe-{}", std::process::id());
    let name = OsStr::new(&name);
    match dir.create_new(name, 0o600) {
        Ok(file) => {
            drop(file);
            let _ = dir.unlink(name);
            Ok(())
        }
        // A leftover from a crashed daemon with the same pid: writable after all.
        Err(e) if e.is_already_exists() => {
            let _ = dir.unlink(name);
            Ok(())
        }
        Err(source) if source.is_read_only() => Err(DaemonError::ReadOnly {
            path: dir.path().to_owned(),
        }),
        Err(source) => Err(DaemonError::NotWritable {
            path: dir.path().to_owned(),
            source,
        }),
    }
}

/// Warns about folders with the sticky bit: in them only a file's owner (or the
/// folder's, or root) may remove or rename it, so a daemon that is none of those cannot
/// complete, retry or bury the jobs producers own there.
fn warn_sticky_folders(spool: &Spool) {
    const STICKY: u32 = 0o1000;
    for (name, dir) in spool.folders() {
        if name == "journal" {
            continue;
        }
        if let Ok(stat) = dir.stat()
            && stat.perm & STICKY != 0
        {
            warn!(
                folder = %dir.path().display(),
                mode = %format!("{:04o}", stat.perm),
                "spool folder has the sticky bit: only a file's owner, the folder's owner or \
                 root may remove or rename files there, so this daemon cannot complete, retry \
                 or bury jobs that producers own unless it runs as one of those; clear it \
                 (chmod -t, or spoolq init SPOOL --mode 2770)"
            );
        }
    }
}

fn log_start(config: &Config, claims: &state::ClaimSetup) {
    let command = match &config.command {
        Some(command) => command
            .iter()
            .map(|a| spoolq_spool::names::printable(a))
            .collect::<Vec<_>>()
            .join(" "),
        None => match config.simulate_work {
            Some(d) => format!(
                "(built-in, simulating {} of work)",
                humantime::format_duration(d)
            ),
            None => "(built-in: log and succeed)".to_owned(),
        },
    };
    let d = |d: Duration| humantime::format_duration(d).to_string();
    info!(
        spool = %config.spool.display(),
        workers = config.workers,
        claim = %claims.strategy,
        handler = %command,
        job_timeout = %d(config.job_timeout),
        kill_grace = %d(config.kill_grace),
        retry_base = %d(config.retry_base),
        retry_max = %d(config.retry_max),
        max_attempts = config.max_attempts,
        rescan_interval = %d(config.rescan_interval),
        shutdown_grace = %d(config.shutdown_grace),
        drain = config.drain,
        watch = config.watch,
        trace_claims = config.trace_claims,
        race_window = %config.race_window.map(d).unwrap_or_else(|| "off".into()),
        journal_fsync = config.journal_fsync,
        tmp_max_age = %d(config.tmp_max_age),
        "spoolq daemon starting"
    );
    info!(
        claim = %claims.strategy,
        private_folder = %claims
            .folders
            .as_ref()
            .map_or_else(|| "none".into(), |f| f.private.path().display().to_string()),
        "claim strategy {} ({})",
        claims.strategy,
        claims.chosen_by
    );
    if claims.strategy == Strategy::Naive {
        warn!(
            "claim strategy is NAIVE: it is unsafe under concurrency (a job may be processed \
             again after another consumer completed it) and exists only to reproduce that race; \
             use --claim verified in production"
        );
    }
}
