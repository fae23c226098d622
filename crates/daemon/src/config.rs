//! The daemon's settings: [`Config`] and its defaults.
//!
//! Plain data: checking a configuration and filling in what depends on the machine
//! (the worker count) is the first step of the crate's `run`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use spoolq_claim::Strategy;
use spoolq_spool::journal::retention::Retention;

/// Everything the daemon needs to know. Build it with [`Config::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct Config {
    /// The spool's root directory.
    pub spool: PathBuf,
    /// Concurrent jobs (workers); 0 means the number of CPUs.
    pub workers: usize,
    /// The claim strategy for new/ (naive only to reproduce the race).
    pub strategy: Strategy,
    /// The handler: program and arguments. `None` runs the built-in handler, which logs
    /// the job and succeeds.
    pub command: Option<Vec<OsString>>,
    /// The built-in handler sleeps this long per job instead of returning at once.
    pub simulate_work: Option<Duration>,
    /// A handler running longer is terminated (SIGTERM to its process group, then
    /// SIGKILL after `kill_grace`) and the attempt counts as failed.
    pub job_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when a handler is terminated.
    pub kill_grace: Duration,
    /// Backoff before the first retry; it doubles per attempt, capped by `retry_max`, and
    /// the actual delay is drawn uniformly from zero to that (full jitter).
    pub retry_base: Duration,
    /// The largest backoff ceiling, however many attempts failed.
    pub retry_max: Duration,
    /// Attempts before a failing job goes to failed/.
    pub max_attempts: u32,
    /// Full rescan of new/ and retry/ this often, whatever the watcher says.
    pub rescan_interval: Duration,
    /// After the shutdown future resolves, in-flight handlers get this long to finish
    /// before they are terminated and their jobs released.
    pub shutdown_grace: Duration,
    /// Return once new/ holds no claimable job and nothing is in flight.
    pub drain: bool,
    /// Use the file system watcher (turn off to test the periodic scan alone).
    pub watch: bool,
    /// Journal every claim protocol step.
    pub trace_claims: bool,
    /// Sleep this long right after each open of a job (widens the race for the lab).
    pub race_window: Option<Duration>,
    /// fsync the journal after every record.
    pub journal_fsync: bool,
    /// How many names may wait between discovery and the workers.
    pub queue_capacity: usize,
    /// Files in tmp/ not modified for longer than this are leftovers of a producer that
    /// died mid-write: removed at start and at each periodic rescan.
    pub tmp_max_age: Duration,
    /// Journal files to remove at start and at rescans (at most once a minute): those not
    /// written for longer than its age, then the oldest while journal/ is over its size;
    /// never one a live process writes.
    pub journal_retention: Retention,
}

impl Config {
    // The defaults, defined once: `Config::new` uses them, `spoolq daemon --help` shows
    // them.
    /// Default of [`workers`](Config::workers), 0: one worker per CPU.
    pub const DEFAULT_WORKERS: usize = 0;
    /// Default of [`strategy`](Config::strategy): verified, the safe one.
    pub const DEFAULT_STRATEGY: Strategy = Strategy::Verified;
    /// Default of [`job_timeout`](Config::job_timeout): 10 minutes.
    pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(600);
    /// Default of [`kill_grace`](Config::kill_grace): 5 seconds.
    pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
    /// Default of [`retry_base`](Config::retry_base): 1 second.
    pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(1);
    /// Default of [`retry_max`](Config::retry_max): 1 hour.
    pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(3600);
    /// Default of [`max_attempts`](Config::max_attempts).
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
    /// Default of [`rescan_interval`](Config::rescan_interval): 5 seconds.
    pub const DEFAULT_RESCAN_INTERVAL: Duration = Duration::from_secs(5);
    /// Default of [`shutdown_grace`](Config::shutdown_grace): 30 seconds.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    /// Default of [`queue_capacity`](Config::queue_capacity).
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
    /// Default of [`tmp_max_age`](Config::tmp_max_age): 1 hour.
    pub const DEFAULT_TMP_MAX_AGE: Duration = Duration::from_secs(3600);

    /// The defaults of `spoolq daemon` for a spool at `spool`.
    pub fn new(spool: impl Into<PathBuf>) -> Config {
        Config {
            spool: spool.into(),
            workers: Config::DEFAULT_WORKERS,
            strategy: Config::DEFAULT_STRATEGY,
            command: None,
            simulate_work: None,
            job_timeout: Config::DEFAULT_JOB_TIMEOUT,
            kill_grace: Config::DEFAULT_KILL_GRACE,
            retry_base: Config::DEFAULT_RETRY_BASE,
            retry_max: Config::DEFAULT_RETRY_MAX,
            max_attempts: Config::DEFAULT_MAX_ATTEMPTS,
            rescan_interval: Config::DEFAULT_RESCAN_INTERVAL,
            shutdown_grace: Config::DEFAULT_SHUTDOWN_GRACE,
            drain: false,
            watch: true,
            trace_claims: false,
            race_window: None,
            journal_fsync: false,
            queue_capacity: Config::DEFAULT_QUEUE_CAPACITY,
            tmp_max_age: Config::DEFAULT_TMP_MAX_AGE,
            journal_retention: Retention::default(),
        }
    }
}
