//! The command lines of the `spoolq` processes that the lab and the bench start (consumer
//! daemons, producers, the raw floors), built from typed settings.
//!
//! The subcommand and flag names are constants here, and the binary's clap definitions
//! use the same constants, so renaming a flag renames it on both sides or breaks the
//! build. The binary's tests parse every command line built here with its real parser
//! and check that it yields the settings it was built from, so a changed value format
//! fails a test instead of a benchmark at run time.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use spoolq_daemon::Config;
use spoolq_producer::SyncMode;
use spoolq_spool::journal::retention::Retention;

/// Subcommand names of the `spoolq` binary.
pub mod subcommand {
    /// `spoolq daemon`: the consumer.
    pub const DAEMON: &str = "daemon";
    /// `spoolq produce`: the producer.
    pub const PRODUCE: &str = "produce";
    /// `spoolq lab`: the lab, parent of the floors.
    pub const LAB: &str = "lab";
    /// `spoolq lab floor-produce`: the raw producer loop.
    pub const FLOOR_PRODUCE: &str = "floor-produce";
    /// `spoolq lab floor-consume`: the raw consumer loop.
    pub const FLOOR_CONSUME: &str = "floor-consume";
}

/// Flag names of `spoolq daemon` (without the leading `--`).
pub mod daemon_flag {
    /// `--spool`: [`Config::spool`](spoolq_daemon::Config::spool).
    pub const SPOOL: &str = "spool";
    /// `--workers`: [`Config::workers`](spoolq_daemon::Config::workers).
    pub const WORKERS: &str = "workers";
    /// `--claim`: [`Config::strategy`](spoolq_daemon::Config::strategy).
    pub const CLAIM: &str = "claim";
    /// `--job-timeout`: [`Config::job_timeout`](spoolq_daemon::Config::job_timeout).
    pub const JOB_TIMEOUT: &str = "job-timeout";
    /// `--kill-grace`: [`Config::kill_grace`](spoolq_daemon::Config::kill_grace).
    pub const KILL_GRACE: &str = "kill-grace";
    /// `--retry-base`: [`Config::retry_base`](spoolq_daemon::Config::retry_base).
    pub const RETRY_BASE: &str = "retry-base";
    /// `--retry-max`: [`Config::retry_max`](spoolq_daemon::Config::retry_max).
    pub const RETRY_MAX: &str = "retry-max";
    /// `--max-attempts`: [`Config::max_attempts`](spoolq_daemon::Config::max_attempts).
    pub const MAX_ATTEMPTS: &str = "max-attempts";
    /// `--rescan-interval`: [`Config::rescan_interval`](spoolq_daemon::Config::rescan_interval).
    pub const RESCAN_INTERVAL: &str = "rescan-interval";
    /// `--shutdown-grace`: [`Config::shutdown_grace`](spoolq_daemon::Config::shutdown_grace).
    pub const SHUTDOWN_GRACE: &str = "shutdown-grace";
    /// `--drain`: [`Config::drain`](spoolq_daemon::Config::drain).
    pub const DRAIN: &str = "drain";
    /// `--trace-claims`: [`Config::trace_claims`](spoolq_daemon::Config::trace_claims).
    pub const TRACE_CLAIMS: &str = "trace-claims";
    /// `--journal-fsync`: [`Config::journal_fsync`](spoolq_daemon::Config::journal_fsync).
    pub const JOURNAL_FSYNC: &str = "journal-fsync";
    /// `--simulate-work`: [`Config::simulate_work`](spoolq_daemon::Config::simulate_work).
    pub const SIMULATE_WORK: &str = "simulate-work";
    /// `--tmp-max-age`: [`Config::tmp_max_age`](spoolq_daemon::Config::tmp_max_age).
    pub const TMP_MAX_AGE: &str = "tmp-max-age";
    /// `--journal-max-age`: the age limit of
    /// [`Config::journal_retention`](spoolq_daemon::Config::journal_retention).
    pub const JOURNAL_MAX_AGE: &str = "journal-max-age";
    /// `--journal-max-bytes`: the size limit of
    /// [`Config::journal_retention`](spoolq_daemon::Config::journal_retention).
    pub const JOURNAL_MAX_BYTES: &str = "journal-max-bytes";
    /// `--log-format`: the log format, one of [`log_format`](super::log_format)'s values.
    pub const LOG_FORMAT: &str = "log-format";
    /// `--race-window`: [`Config::race_window`](spoolq_daemon::Config::race_window) (hidden).
    pub const RACE_WINDOW: &str = "race-window";
    /// `--no-watch`: [`Config::watch`](spoolq_daemon::Config::watch) off (hidden).
    pub const NO_WATCH: &str = "no-watch";
    /// `--metrics-listen ADDR`: serve GET /metrics there.
    pub const METRICS_LISTEN: &str = "metrics-listen";
    /// `--drain-retry-wait`: [`Config::drain_retry_wait`](spoolq_daemon::Config::drain_retry_wait).
    pub const DRAIN_RETRY_WAIT: &str = "drain-retry-wait";
}

/// Values of `spoolq daemon --log-format`.
pub mod log_format {
    /// Text for people (the default).
    pub const HUMAN: &str = "human";
    /// One JSON object per line.
    pub const JSON: &str = "json";
}

/// Flag names of `spoolq produce`.
pub mod produce_flag {
    /// `--spool`: [`ProduceArgs::spool`](super::ProduceArgs::spool).
    pub const SPOOL: &str = "spool";
    /// `--count`: [`ProduceArgs::count`](super::ProduceArgs::count).
    pub const COUNT: &str = "count";
    /// `--size`: [`ProduceArgs::size`](super::ProduceArgs::size).
    pub const SIZE: &str = "size";
    /// `--rate`: [`ProduceArgs::rate`](super::ProduceArgs::rate).
    pub const RATE: &str = "rate";
    /// `--sync`: [`ProduceArgs::sync`](super::ProduceArgs::sync).
    pub const SYNC: &str = "sync";
}

/// Flag names of the floors, `spoolq lab floor-produce` and `spoolq lab floor-consume`.
pub mod floor_flag {
    /// `--spool`: the spool both floors work in.
    pub const SPOOL: &str = "spool";
    /// `--count`: how many jobs to publish, or to consume before exiting.
    pub const COUNT: &str = "count";
    /// `--size`: the producer floor's payload size in bytes.
    pub const SIZE: &str = "size";
}

/// A setting that `spoolq daemon` has no flag for, so no command line can carry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spoolq daemon has no flag for {0}; only the daemon library takes it")]
pub struct NoFlag(pub &'static str);

/// `spoolq daemon` with these settings: every field of `config` that differs from the
/// daemon's default becomes a flag, and the command goes after `--`.
#[derive(Debug, Clone)]
pub struct DaemonArgs {
    /// The daemon's settings.
    pub config: Config,
    /// `--log-format json` instead of the default human format.
    pub json_logs: bool,
}

impl DaemonArgs {
    /// The daemon's defaults on the spool at `spool`.
    pub fn new(spool: impl Into<PathBuf>) -> DaemonArgs {
        DaemonArgs {
            config: Config::new(spool),
            json_logs: false,
        }
    }

    /// The arguments after the program's name, starting with the subcommand.
    pub fn args(&self) -> Result<Vec<OsString>, NoFlag> {
        use daemon_flag as flag;
        // Every field by name: a field added to Config breaks this build until it is
        // rendered here (or refused, as the queue capacity is).
        let Config {
            spool,
            workers,
            strategy,
            command,
            simulate_work,
            job_timeout,
            kill_grace,
            retry_base,
            retry_max,
            max_attempts,
            rescan_interval,
            shutdown_grace,
            drain,
            watch,
            trace_claims,
            race_window,
            journal_fsync,
            queue_capacity,
            tmp_max_age,
            journal_retention,
            metrics_listen,
            drain_retry_wait,
        } = &self.config;
        if *queue_capacity != Config::DEFAULT_QUEUE_CAPACITY {
            return Err(NoFlag("the queue capacity"));
        }
        let mut args = Args::new(subcommand::DAEMON);
        args.value(flag::SPOOL, spool);
        if *workers != Config::DEFAULT_WORKERS {
            args.value(flag::WORKERS, workers.to_string());
        }
        if *strategy != Config::DEFAULT_STRATEGY {
            args.value(flag::CLAIM, strategy.as_str());
        }
        for (name, value, default) in [
            (flag::JOB_TIMEOUT, job_timeout, Config::DEFAULT_JOB_TIMEOUT),
            (flag::KILL_GRACE, kill_grace, Config::DEFAULT_KILL_GRACE),
            (flag::RETRY_BASE, retry_base, Config::DEFAULT_RETRY_BASE),
            (flag::RETRY_MAX, retry_max, Config::DEFAULT_RETRY_MAX),
            (
                flag::RESCAN_INTERVAL,
                rescan_interval,
                Config::DEFAULT_RESCAN_INTERVAL,
            ),
            (
                flag::SHUTDOWN_GRACE,
                shutdown_grace,
                Config::DEFAULT_SHUTDOWN_GRACE,
            ),
            (flag::TMP_MAX_AGE, tmp_max_age, Config::DEFAULT_TMP_MAX_AGE),
            (
                flag::DRAIN_RETRY_WAIT,
                drain_retry_wait,
                Config::DEFAULT_DRAIN_RETRY_WAIT,
            ),
        ] {
            if *value != default {
                args.duration(name, *value);
            }
        }
        let default_retention = Retention::default();
        if journal_retention.max_age != default_retention.max_age {
            match journal_retention.max_age {
                Some(age) => args.duration(flag::JOURNAL_MAX_AGE, age),
                None => args.value(flag::JOURNAL_MAX_AGE, "none"),
            }
        }
        if journal_retention.max_bytes != default_retention.max_bytes {
            let bytes = journal_retention
                .max_bytes
                .map_or_else(|| "none".to_owned(), |n| n.to_string());
            args.value(flag::JOURNAL_MAX_BYTES, bytes);
        }
        if *max_attempts != Config::DEFAULT_MAX_ATTEMPTS {
            args.value(flag::MAX_ATTEMPTS, max_attempts.to_string());
        }
        args.switch(flag::DRAIN, *drain);
        args.switch(flag::TRACE_CLAIMS, *trace_claims);
        args.switch(flag::JOURNAL_FSYNC, *journal_fsync);
        args.switch(flag::NO_WATCH, !watch);
        if let Some(work) = simulate_work {
            args.duration(flag::SIMULATE_WORK, *work);
        }
        if let Some(window) = race_window {
            args.duration(flag::RACE_WINDOW, *window);
        }
        if let Some(addr) = metrics_listen {
            args.value(flag::METRICS_LISTEN, addr.to_string());
        }
        if self.json_logs {
            args.value(flag::LOG_FORMAT, log_format::JSON);
        }
        if let Some(command) = command.as_ref().filter(|c| !c.is_empty()) {
            args.0.push("--".into());
            args.0.extend(command.iter().cloned());
        }
        Ok(args.0)
    }

    /// `exe` with [`DaemonArgs::args`].
    pub fn command(&self, exe: &Path) -> Result<Command, NoFlag> {
        let mut command = Command::new(exe);
        command.args(self.args()?);
        Ok(command)
    }
}

/// `spoolq produce` generating load.
#[derive(Debug, Clone, PartialEq)]
pub struct ProduceArgs {
    /// The spool to publish into.
    pub spool: PathBuf,
    /// How many jobs.
    pub count: u64,
    /// Payload size of each job, in bytes.
    pub size: usize,
    /// Jobs per second; `None` as fast as possible.
    pub rate: Option<f64>,
    /// The fsyncs of every drop.
    pub sync: SyncMode,
}

impl ProduceArgs {
    /// The arguments after the program's name, starting with the subcommand.
    pub fn args(&self) -> Vec<OsString> {
        use produce_flag as flag;
        let mut args = Args::new(subcommand::PRODUCE);
        args.value(flag::SPOOL, &self.spool);
        args.value(flag::COUNT, self.count.to_string());
        args.value(flag::SIZE, self.size.to_string());
        if let Some(rate) = self.rate {
            args.value(flag::RATE, rate.to_string());
        }
        args.value(flag::SYNC, self.sync.as_str());
        args.0
    }

    /// `exe` with [`ProduceArgs::args`].
    pub fn command(&self, exe: &Path) -> Command {
        let mut command = Command::new(exe);
        command.args(self.args());
        command
    }
}

/// One of the raw floors as a process of its own (see [`crate::floor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloorArgs {
    /// `spoolq lab floor-produce`: publish `count` jobs of `size` payload bytes.
    Produce {
        /// The spool.
        spool: PathBuf,
        /// How many jobs.
        count: u64,
        /// Payload size of each job, in bytes.
        size: usize,
    },
    /// `spoolq lab floor-consume`: consume until `count` jobs were consumed.
    Consume {
        /// The spool.
        spool: PathBuf,
        /// How many jobs to consume before exiting.
        count: u64,
    },
}

impl FloorArgs {
    /// The arguments after the program's name, starting with the subcommand.
    pub fn args(&self) -> Vec<OsString> {
        use floor_flag as flag;
        let mut args = Args::new(subcommand::LAB);
        match self {
            FloorArgs::Produce { spool, count, size } => {
                args.0.push(subcommand::FLOOR_PRODUCE.into());
                args.value(flag::SPOOL, spool);
                args.value(flag::COUNT, count.to_string());
                args.value(flag::SIZE, size.to_string());
            }
            FloorArgs::Consume { spool, count } => {
                args.0.push(subcommand::FLOOR_CONSUME.into());
                args.value(flag::SPOOL, spool);
                args.value(flag::COUNT, count.to_string());
            }
        }
        args.0
    }

    /// `exe` with [`FloorArgs::args`].
    pub fn command(&self, exe: &Path) -> Command {
        let mut command = Command::new(exe);
        command.args(self.args());
        command
    }
}

/// An argument list under construction.
struct Args(Vec<OsString>);

impl Args {
    fn new(subcommand: &str) -> Args {
        Args(vec![subcommand.into()])
    }

    /// `--flag=value`: one argument, so that a value starting with `-` is never read
    /// as a flag.
    fn value(&mut self, flag: &str, value: impl Into<OsString>) {
        let mut arg = OsString::from(format!("--{flag}="));
        arg.push(value.into());
        self.0.push(arg);
    }

    fn duration(&mut self, flag: &str, value: Duration) {
        self.value(flag, humantime::format_duration(value).to_string());
    }

    fn switch(&mut self, flag: &str, on: bool) {
        if on {
            self.0.push(format!("--{flag}").into());
        }
    }
}
