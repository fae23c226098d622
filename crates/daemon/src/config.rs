//! The daemon's settings: [`Config`], its defaults, and the values each numeric
//! setting accepts ([`Accepted`]) with the reason for each bound.
//!
//! The bounds are defined here once: the crate's `run` checks a configuration against
//! them before it starts ([`Config::check`]), and the `spoolq daemon` command line
//! parses its flags with them, so a value the library would refuse is refused at parse
//! time with the same words. Filling in what depends on the machine (the worker count)
//! is also `run`'s first step.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use spoolq_claim::Strategy;
use spoolq_spool::journal::retention::Retention;

/// Everything the daemon needs to know. Build it with [`Config::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct Config {
    /// The spool's root directory.
    pub spool: PathBuf,
    /// Concurrent jobs (workers): 0 means one per CPU (at most [`Config::WORKERS`]'s
    /// maximum), anything else must be within [`Config::WORKERS`].
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
    /// Serve `GET /metrics` (the spool's gauges, this daemon's counters) on this address;
    /// None: no listener. No authentication: keep it on loopback unless a firewall says
    /// who may reach it.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// With `drain`: stay up while a job in retry/ falls due within this long, and run it
    /// then (0: return with any job waiting). The on-demand services start a drain at
    /// least this often, so every retry runs on time.
    pub drain_retry_wait: Duration,
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
    /// Default of [`drain_retry_wait`](Config::drain_retry_wait): 5 minutes, longer than
    /// the on-demand services' periodic start (4 minutes and their timers' slack).
    pub const DEFAULT_DRAIN_RETRY_WAIT: Duration = Duration::from_secs(300);

    /// The longest duration any setting takes: a year. Longer values are typing
    /// mistakes, and times that far ahead overflow the clocks' arithmetic.
    pub const LONGEST: Duration = Duration::from_secs(31_557_600);

    /// The worker counts accepted (0, the default, means one per CPU within these).
    pub const WORKERS: Accepted<usize> = Accepted {
        min: 1,
        max: 256,
        why: "each worker may hold one of the async runtime's 512 blocking threads for \
              as long as it runs, and claims, outcomes and the journal need threads of \
              that pool too; more workers would wait on each other",
    };
    /// The job timeouts accepted.
    pub const JOB_TIMEOUT: Accepted<Duration> = Accepted {
        min: Duration::from_millis(1),
        max: Config::LONGEST,
        why: "zero would time out every handler before it starts; a year is already no \
              timeout at all",
    };
    /// The kill graces accepted (0: SIGKILL right after SIGTERM).
    pub const KILL_GRACE: Accepted<Duration> = Accepted {
        min: Duration::ZERO,
        max: Config::LONGEST,
        why: "a year is already forever",
    };
    /// The backoff bases accepted (0: a failed job is retried at once).
    pub const RETRY_BASE: Accepted<Duration> = Accepted {
        min: Duration::ZERO,
        max: Config::LONGEST,
        why: "a year is already forever, and due times that far ahead overflow",
    };
    /// The backoff ceilings accepted; also at least the base.
    pub const RETRY_MAX: Accepted<Duration> = Accepted {
        min: Duration::ZERO,
        max: Config::LONGEST,
        why: "a year is already forever, and due times that far ahead overflow",
    };
    /// The attempt counts accepted.
    pub const MAX_ATTEMPTS: Accepted<u32> = Accepted {
        min: 1,
        max: 1000,
        why: "every job gets at least one attempt; past a thousand a failing job never \
              reaches failed/ in practice",
    };
    /// The rescan intervals accepted.
    pub const RESCAN_INTERVAL: Accepted<Duration> = Accepted {
        min: Duration::from_millis(10),
        max: Duration::from_secs(86_400),
        why: "shorter, the daemon would do little but list new/ and retry/; longer, a \
              job the watcher missed (on NFS: every job another host drops) would wait \
              more than a day",
    };
    /// The shutdown graces accepted (0: release in-flight jobs at once).
    pub const SHUTDOWN_GRACE: Accepted<Duration> = Accepted {
        min: Duration::ZERO,
        max: Config::LONGEST,
        why: "a year is already forever",
    };
    /// The ages after which leftovers in tmp/ are removed.
    pub const TMP_MAX_AGE: Accepted<Duration> = Accepted {
        min: Duration::from_secs(1),
        max: Config::LONGEST,
        why: "a younger file may be a drop still being written",
    };
    /// How long a drain may stay up for a retry falling due (0: not at all).
    pub const DRAIN_RETRY_WAIT: Accepted<Duration> = Accepted {
        min: Duration::ZERO,
        max: Duration::from_secs(86_400),
        why: "a drain that waits longer than a day for a retry is a long-running daemon: \
              run one",
    };
    /// The built-in handler's simulated work per job, and the lab's race window.
    pub const SIMULATED_PAUSE: Accepted<Duration> = Accepted {
        min: Duration::ZERO,
        max: Config::LONGEST,
        why: "a year is already forever",
    };

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
            metrics_listen: None,
            drain_retry_wait: Config::DEFAULT_DRAIN_RETRY_WAIT,
        }
    }
}

impl Config {
    /// Checks every setting against its bounds, naming the first one that is outside
    /// them (the worker count 0 stands for one per CPU and passes).
    pub fn check(&self) -> Result<(), OutOfRange> {
        if self.workers != 0 {
            Config::WORKERS.check("workers", self.workers)?;
        }
        Config::JOB_TIMEOUT.check("job timeout", self.job_timeout)?;
        Config::KILL_GRACE.check("kill grace", self.kill_grace)?;
        Config::RETRY_BASE.check("retry base", self.retry_base)?;
        Config::RETRY_MAX.check("retry max", self.retry_max)?;
        Config::MAX_ATTEMPTS.check("max attempts", self.max_attempts)?;
        Config::RESCAN_INTERVAL.check("rescan interval", self.rescan_interval)?;
        Config::SHUTDOWN_GRACE.check("shutdown grace", self.shutdown_grace)?;
        Config::TMP_MAX_AGE.check("tmp/ max age", self.tmp_max_age)?;
        Config::DRAIN_RETRY_WAIT.check("drain retry wait", self.drain_retry_wait)?;
        if let Some(work) = self.simulate_work {
            Config::SIMULATED_PAUSE.check("simulated work", work)?;
        }
        if let Some(window) = self.race_window {
            Config::SIMULATED_PAUSE.check("race window", window)?;
        }
        Ok(())
    }
}

/// The values a numeric setting accepts, from `min` to `max` inclusive, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted<T> {
    /// The smallest value accepted.
    pub min: T,
    /// The largest value accepted.
    pub max: T,
    /// Why the bounds are where they are, for the message that refuses a value.
    pub why: &'static str,
}

impl<T: Bound> Accepted<T> {
    /// `value` if it is within the bounds; otherwise an error naming `setting`, the value,
    /// the accepted range and the reason.
    pub fn check(&self, setting: &'static str, value: T) -> Result<T, OutOfRange> {
        if self.min <= value && value <= self.max {
            Ok(value)
        } else {
            Err(OutOfRange {
                setting,
                value: value.show(),
                accepted: self.range(),
                why: self.why,
            })
        }
    }

    /// The range as a person reads it: "from 1 to 256".
    pub fn range(&self) -> String {
        format!("from {} to {}", self.min.show(), self.max.show())
    }
}

/// A value that [`Accepted`] can bound and show in a message.
pub trait Bound: Copy + PartialOrd {
    /// The value as the command line writes it.
    fn show(self) -> String;
}

impl Bound for usize {
    fn show(self) -> String {
        self.to_string()
    }
}

impl Bound for u32 {
    fn show(self) -> String {
        self.to_string()
    }
}

impl Bound for Duration {
    fn show(self) -> String {
        humantime::format_duration(self).to_string()
    }
}

/// A setting outside the values it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    /// The setting, in words ("rescan interval").
    pub setting: &'static str,
    /// The value given, as the command line writes it.
    pub value: String,
    /// The accepted range ("from 10ms to 1day").
    pub accepted: String,
    /// Why.
    pub why: &'static str,
}

impl OutOfRange {
    /// The message without the setting's name, for a parser that names the flag itself.
    pub fn bounds(&self) -> String {
        format!("must be {} ({})", self.accepted, self.why)
    }
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.setting, self.value, self.bounds())
    }
}

impl std::error::Error for OutOfRange {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_within_their_bounds() {
        Config::new("/var/spool/jobs").check().unwrap();
        assert!(Config::WORKERS.check("workers", 0).is_err());
        assert_eq!(Config::LONGEST.show(), "1year");
        assert_eq!(Config::RESCAN_INTERVAL.range(), "from 10ms to 1day");
    }
}
