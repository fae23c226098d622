//! `spoolq daemon`: the consumer. Parses flags into a `spoolq_daemon::Config`, sets up
//! logging (tracing, human or JSON, filter from SPOOLQ_LOG), builds the tokio runtime,
//! turns SIGTERM, SIGINT and SIGHUP into the daemon's shutdown future (a second signal
//! kills the handlers and returns at once), and returns the outcome for `main` to report.
//! SIGHUP is a stop like the others: the terminal or session the daemon ran in is gone,
//! and there is no configuration to reload.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use spoolq_claim::Strategy;
use spoolq_daemon::Config;
use spoolq_lab::argv::{daemon_flag as flag, log_format};
use tracing_subscriber::EnvFilter;

use crate::cmd::value::{self, Bytes, HumanDuration, Limit, Workers, count_in, duration_in};
use crate::{Error, Exit};

/// Consume jobs: watch the spool, claim each job, run COMMAND on it.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Handler contract:
  stdin                the job's payload (exactly its bytes)
  SPOOLQ_JOB_ID        the job's id
  SPOOLQ_JOB_ATTEMPT   this attempt's number, starting at 1
  SPOOLQ_SPOOL         the spool directory
  exit 0               done: the job is deleted
  exit 100             permanent failure: the job goes to failed/ with a reason
  exit 75 (or any other failure, a signal, a timeout)
                       retried after a backoff, up to --max-attempts, then failed/
Without COMMAND a built-in handler succeeds on each job. The log has no line per job
unless asked: SPOOLQ_LOG=info,spoolq::job=debug.

Examples:
  spoolq daemon --spool /var/spool/jobs -- ./handle-job --verbose
  spoolq daemon --spool /var/spool/jobs --drain --workers 2 -- sh -c 'wc -c'
  SPOOLQ_LOG=debug spoolq daemon --spool /var/spool/jobs --log-format json
  spoolq daemon --spool /var/spool/jobs --metrics-listen 127.0.0.1:9464 -- ./handle-job")]
pub struct Args {
    /// The spool directory (with tmp/, new/, retry/, failed/, journal/).
    #[arg(long = flag::SPOOL, value_name = "DIR")]
    spool: PathBuf,

    /// Jobs handled at once: auto (one per CPU) or 1 to 256.
    #[arg(long = flag::WORKERS, value_name = "N", value_parser = value::workers,
          default_value_t = Workers(Config::DEFAULT_WORKERS))]
    workers: Workers,

    /// Claim strategy: auto (verified on a local file system, shared on one other hosts
    /// may reach: NFS, SMB, FUSE), verified, shared, or naive (reproduces the
    /// double-processing race).
    #[arg(long = flag::CLAIM, value_name = "STRATEGY",
          default_value_t = ClaimChoice(Config::DEFAULT_STRATEGY), value_parser = parse_strategy)]
    strategy: ClaimChoice,

    /// Run --claim verified or naive even on a file system where spoolq's one-host
    /// assumptions are not known to hold (a client's cache may answer their checks there).
    #[arg(long = flag::FORCE_CLAIM)]
    force_claim: bool,

    /// Terminate a handler running longer than this (SIGTERM to its process group,
    /// SIGKILL after --kill-grace); the attempt counts as failed.
    #[arg(long = flag::JOB_TIMEOUT, value_name = "DURATION", value_parser = duration_in(Config::JOB_TIMEOUT),
          default_value_t = HumanDuration(Config::DEFAULT_JOB_TIMEOUT))]
    job_timeout: HumanDuration,

    /// Time between SIGTERM and SIGKILL when a handler is terminated.
    #[arg(long = flag::KILL_GRACE, value_name = "DURATION", value_parser = duration_in(Config::KILL_GRACE),
          default_value_t = HumanDuration(Config::DEFAULT_KILL_GRACE))]
    kill_grace: HumanDuration,

    /// Backoff before the first retry; doubles per attempt, with full jitter.
    #[arg(long = flag::RETRY_BASE, value_name = "DURATION", value_parser = duration_in(Config::RETRY_BASE),
          default_value_t = HumanDuration(Config::DEFAULT_RETRY_BASE))]
    retry_base: HumanDuration,

    /// Longest backoff between attempts.
    #[arg(long = flag::RETRY_MAX, value_name = "DURATION", value_parser = duration_in(Config::RETRY_MAX),
          default_value_t = HumanDuration(Config::DEFAULT_RETRY_MAX))]
    retry_max: HumanDuration,

    /// Attempts before a failing job goes to failed/.
    #[arg(long = flag::MAX_ATTEMPTS, value_name = "N", default_value_t = Config::DEFAULT_MAX_ATTEMPTS,
          value_parser = count_in(Config::MAX_ATTEMPTS))]
    max_attempts: u32,

    /// Full rescan of the spool this often, whatever the file system watcher reports.
    #[arg(long = flag::RESCAN_INTERVAL, value_name = "DURATION", value_parser = duration_in(Config::RESCAN_INTERVAL),
          default_value_t = HumanDuration(Config::DEFAULT_RESCAN_INTERVAL))]
    rescan_interval: HumanDuration,

    /// On SIGTERM, SIGINT or SIGHUP, let running handlers finish for this long, then terminate them
    /// and release (not delete) their jobs.
    #[arg(long = flag::SHUTDOWN_GRACE, value_name = "DURATION", value_parser = duration_in(Config::SHUTDOWN_GRACE),
          default_value_t = HumanDuration(Config::DEFAULT_SHUTDOWN_GRACE))]
    shutdown_grace: HumanDuration,

    /// Exit 0 once new/ holds no claimable job and nothing is in flight (for on-demand
    /// starts: launchd QueueDirectories, systemd path units).
    #[arg(long = flag::DRAIN)]
    drain: bool,

    /// Journal every claim protocol step (open, lock, verify, complete, close).
    #[arg(long = flag::TRACE_CLAIMS)]
    trace_claims: bool,

    /// fsync the journal after every record (survives power loss; slower).
    #[arg(long = flag::JOURNAL_FSYNC)]
    journal_fsync: bool,

    /// Built-in handler only: sleep this long per job (for load tests and the lab).
    #[arg(long = flag::SIMULATE_WORK, value_name = "DURATION",
          value_parser = duration_in(Config::SIMULATED_PAUSE))]
    simulate_work: Option<HumanDuration>,

    /// With --drain: stay up while a job in retry/ falls due within this long, and run it
    /// (0s: exit with retries waiting). The on-demand services also start a drain every 4
    /// minutes, so every retry runs on time.
    #[arg(long = flag::DRAIN_RETRY_WAIT, value_name = "DURATION",
          value_parser = duration_in(Config::DRAIN_RETRY_WAIT),
          default_value_t = HumanDuration(Config::DEFAULT_DRAIN_RETRY_WAIT))]
    drain_retry_wait: HumanDuration,

    /// Remove files in tmp/ not modified for this long (leftovers of producers that died
    /// mid-write), at start and at each rescan; fresh ones are never touched.
    #[arg(long = flag::TMP_MAX_AGE, value_name = "DURATION", value_parser = duration_in(Config::TMP_MAX_AGE),
          default_value_t = HumanDuration(Config::DEFAULT_TMP_MAX_AGE))]
    tmp_max_age: HumanDuration,

    /// Remove journal files not written for longer than this, at start and at rescans
    /// (`none`: no limit); never one a live process still writes.
    #[arg(long = flag::JOURNAL_MAX_AGE, value_name = "DURATION",
          default_value_t = crate::cmd::journal::default_max_age())]
    journal_max_age: Limit<HumanDuration>,

    /// Then remove the oldest journal files while journal/ holds more than this (bytes, or
    /// 200M, 1G; `none`: no limit).
    #[arg(long = flag::JOURNAL_MAX_BYTES, value_name = "SIZE",
          default_value_t = crate::cmd::journal::default_max_bytes())]
    journal_max_bytes: Limit<Bytes>,

    /// Serve GET /metrics (Prometheus: the spool's gauges, this daemon's counters and
    /// handler durations) on this address, e.g. 127.0.0.1:9464 (port 0: any free port,
    /// logged). No authentication: keep it on loopback. Default: off.
    #[arg(long = flag::METRICS_LISTEN, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,

    /// Log format on stderr.
    #[arg(long = flag::LOG_FORMAT, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    /// Sleep this long right after opening each job (widens the race for the lab).
    #[arg(long = flag::RACE_WINDOW, value_name = "DURATION", hide = true,
          value_parser = duration_in(Config::SIMULATED_PAUSE))]
    race_window: Option<HumanDuration>,

    /// Do not use the file system watcher (tests of the periodic rescan).
    #[arg(long = flag::NO_WATCH, hide = true)]
    no_watch: bool,

    /// The handler and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    #[value(name = log_format::HUMAN)]
    Human,
    #[value(name = log_format::JSON)]
    Json,
}

/// `--claim`'s value: a strategy, or auto (`None`: chosen by the file system).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClaimChoice(Option<Strategy>);

impl std::fmt::Display for ClaimChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(strategy) => strategy.fmt(f),
            None => f.write_str("auto"),
        }
    }
}

fn parse_strategy(s: &str) -> Result<ClaimChoice, String> {
    if s == "auto" {
        return Ok(ClaimChoice(None));
    }
    s.parse()
        .map(|strategy| ClaimChoice(Some(strategy)))
        .map_err(|e: spoolq_claim::ParseStrategyError| format!("{e}, or \"auto\""))
}

fn init_logging(format: LogFormat) {
    let (filter, bad) = match std::env::var("SPOOLQ_LOG") {
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new("info"), Some((spec, e))),
        },
        Err(_) => (EnvFilter::new("info"), None),
    };
    // A closed or failing stderr loses log lines, nothing else: the writer drops and
    // counts a line it cannot write (the stop record says how many), and tracing's own
    // error report, an eprintln! that would panic, stays off.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(LogWriter)
        .with_timer(LogClock)
        .log_internal_errors(false);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if let Some((spec, e)) = bad {
        tracing::warn!("SPOOLQ_LOG={spec:?} is not a valid filter ({e}); logging at info");
    }
}

/// The log's writer: stderr through the daemon's log sink, warnings and errors marked
/// urgent so that a worker's batch does not hold them (`log_sink`'s doc).
struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = spoolq_daemon::log_sink::LogLine;

    fn make_writer(&'a self) -> Self::Writer {
        spoolq_daemon::log_sink::stderr()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        if *meta.level() <= tracing::Level::WARN {
            spoolq_daemon::log_sink::stderr_urgent()
        } else {
            spoolq_daemon::log_sink::stderr()
        }
    }
}

/// The log's timestamps, as tracing's own (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC), with
/// the date and time of day formatted once per second per thread: with its per-job
/// lines on (`spoolq::job=debug`), a daemon logs lines per job, thousands a second.
struct LogClock;

impl tracing_subscriber::fmt::time::FormatTime for LogClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        use std::cell::RefCell;
        use std::time::SystemTime;
        thread_local! {
            /// The second formatted last, and its `YYYY-MM-DDTHH:MM:SS`.
            static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
        }
        let now = SystemTime::now();
        let Ok(since) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            return write!(w, "{}", humantime::format_rfc3339_micros(now));
        };
        SECOND.with(|second| {
            let mut second = second.borrow_mut();
            if second.0 != since.as_secs() {
                let mut text = humantime::format_rfc3339_seconds(now).to_string();
                text.pop(); // the Z
                *second = (since.as_secs(), text);
            }
            write!(w, "{}.{:06}Z", second.1, since.subsec_micros())
        })
    }
}

impl Args {
    /// The daemon's configuration these flags ask for.
    fn config(self) -> Config {
        let mut config = Config::new(self.spool);
        config.workers = self.workers.0;
        config.strategy = self.strategy.0;
        config.force_claim = self.force_claim;
        config.command = (!self.command.is_empty()).then_some(self.command);
        config.simulate_work = self.simulate_work.map(|d| d.0);
        config.job_timeout = self.job_timeout.0;
        config.kill_grace = self.kill_grace.0;
        config.retry_base = self.retry_base.0;
        config.retry_max = self.retry_max.0;
        config.max_attempts = self.max_attempts;
        config.rescan_interval = self.rescan_interval.0;
        config.shutdown_grace = self.shutdown_grace.0;
        config.drain = self.drain;
        config.drain_retry_wait = self.drain_retry_wait.0;
        config.watch = !self.no_watch;
        config.trace_claims = self.trace_claims;
        config.race_window = self.race_window.map(|d| d.0);
        config.journal_fsync = self.journal_fsync;
        config.tmp_max_age = self.tmp_max_age.0;
        config.metrics_listen = self.metrics_listen;
        config.journal_retention = spoolq_spool::journal::retention::Retention {
            max_age: self.journal_max_age.get().map(|d| d.0),
            max_bytes: self.journal_max_bytes.get().map(|b| b.0),
        };
        config
    }
}

pub fn run(args: Args) -> Result<Exit, Error> {
    init_logging(args.log_format);
    let config = args.config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoolq-daemon")
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(serve(config));
    if let Ok(Exit::Signalled(_)) = result {
        // Every task stops first (a handler's task kills its process when dropped), so
        // that no worker sees its handler die and retries or buries the job: the jobs
        // stay in new/. Then the handlers' whole process groups. A blocking call stuck
        // in the kernel is not waited for long.
        runtime.shutdown_timeout(Duration::from_millis(200));
        spoolq_daemon::kill_all_handlers();
    } else {
        // Everything the daemon started has been joined; do not wait on stray blocking
        // work.
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
    result
}

/// Runs the daemon until it returns (drained, or stopped by a first signal), or until a
/// second signal, which ends it where it is.
async fn serve(config: Config) -> Result<Exit, Error> {
    // Installed before the daemon starts, so that no early signal falls through to the
    // default action.
    let mut signals = Signals::new()
        .map_err(|e| Error::Failed(format!("cannot install signal handlers: {e}")))?;
    let (shutdown, requested) = tokio::sync::oneshot::channel::<()>();
    let daemon = spoolq_daemon::run(config, async move {
        let _ = requested.await;
    });
    tokio::pin!(daemon);
    let mut shutdown = Some(shutdown);
    loop {
        tokio::select! {
            result = &mut daemon => return result.map(|_summary| Exit::Ok).map_err(Error::from),
            signal = signals.next() => match shutdown.take() {
                Some(shutdown) => {
                    tracing::info!(
                        signal,
                        "signal received: finishing in-flight jobs (send it again to exit at once)"
                    );
                    let _ = shutdown.send(());
                }
                None => {
                    tracing::warn!(
                        signal,
                        "second signal: killing handlers and exiting now; their jobs stay in new/"
                    );
                    return Ok(Exit::Signalled(signal));
                }
            },
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.term.recv() => SIGTERM,
            _ = self.int.recv() => SIGINT,
            _ = self.hup.recv() => SIGHUP,
        }
    }
}

// The signals' numbers, the same on Linux and macOS.
const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use clap::Parser;
    use spoolq_lab::LabConfig;
    use spoolq_lab::argv::{DaemonArgs, NoFlag};
    use spoolq_lab::bench::{BenchDaemon, daemon_args};

    use super::*;

    /// What the real parser of `spoolq daemon` makes of `args` (from the subcommand on).
    fn parse(args: &[OsString]) -> (Config, LogFormat) {
        let argv = std::iter::once(OsString::from("spoolq")).chain(args.iter().cloned());
        match crate::Cli::try_parse_from(argv) {
            Ok(crate::Cli {
                command: crate::Command::Daemon(parsed),
            }) => {
                let log_format = parsed.log_format;
                (parsed.config(), log_format)
            }
            Ok(other) => panic!("{args:?} is not a daemon command line: {other:?}"),
            Err(e) => panic!("{args:?} does not parse:\n{e}"),
        }
    }

    /// The command line of `intended` parses back to exactly its settings.
    fn assert_round_trip(intended: &DaemonArgs) {
        let args = intended.args().unwrap();
        let (config, log_format) = parse(&args);
        // Debug shows every field, so a setting lost on the way fails here.
        assert_eq!(
            format!("{config:#?}"),
            format!("{:#?}", intended.config),
            "{args:?}"
        );
        let json = if intended.json_logs {
            LogFormat::Json
        } else {
            LogFormat::Human
        };
        assert_eq!(log_format, json, "{args:?}");
    }

    #[test]
    fn every_daemon_command_line_the_lab_builds_parses_back_to_its_settings() {
        let spool = Path::new("/tmp/lab run/-1/spool");
        let exe = PathBuf::from("spoolq");
        for strategy in Strategy::ALL {
            for trace_claims in [false, true] {
                for race_window in [None, Some(Duration::from_micros(1500))] {
                    for exec in [None, Some("cat > /dev/null; exit 75")] {
                        for workers in [1, 2, 16] {
                            let mut lab = LabConfig::new(exe.clone());
                            lab.strategies = vec![strategy];
                            lab.trace_claims = trace_claims;
                            lab.race_window = race_window;
                            lab.exec = exec.map(str::to_owned);
                            lab.workers = workers;
                            lab.work = Duration::from_millis(3);
                            assert_round_trip(&spoolq_lab::consumer(&lab, strategy, spool));
                        }
                    }
                }
            }
        }
        for kind in BenchDaemon::ALL {
            for workers in [1, 2] {
                assert_round_trip(&daemon_args(kind, spool, workers));
            }
        }
    }

    #[test]
    fn every_daemon_setting_with_a_flag_survives_the_command_line() {
        let mut all = DaemonArgs::new("/var/spool/jobs");
        let c = &mut all.config;
        c.workers = 3;
        c.strategy = Some(Strategy::Naive);
        c.force_claim = true;
        c.command = Some(vec!["handle".into(), "--".into(), "-v".into()]);
        c.simulate_work = Some(Duration::from_millis(7));
        c.job_timeout = Duration::from_secs(90);
        c.kill_grace = Duration::from_millis(250);
        c.retry_base = Duration::from_secs(2);
        c.retry_max = Duration::from_secs(7200);
        c.max_attempts = 9;
        c.rescan_interval = Duration::from_millis(750);
        c.shutdown_grace = Duration::from_secs(45);
        c.drain = true;
        c.watch = false;
        c.trace_claims = true;
        c.race_window = Some(Duration::from_millis(1));
        c.journal_fsync = true;
        c.tmp_max_age = Duration::from_secs(7200);
        c.drain_retry_wait = Duration::from_secs(90);
        c.metrics_listen = Some("127.0.0.1:9464".parse().unwrap());
        c.journal_retention.max_age = Some(Duration::from_secs(7 * 24 * 3600));
        c.journal_retention.max_bytes = None;
        all.json_logs = true;
        assert_round_trip(&all);
        // The defaults need no flag at all, and parse back to the defaults.
        let defaults = DaemonArgs::new("/var/spool/jobs");
        assert_eq!(
            defaults.args().unwrap(),
            [OsString::from("daemon"), "--spool=/var/spool/jobs".into()]
        );
        assert_round_trip(&defaults);
        // A setting without a flag is refused, not dropped.
        let mut capacity = DaemonArgs::new("/var/spool/jobs");
        capacity.config.queue_capacity += 1;
        assert!(matches!(capacity.args(), Err(NoFlag(_))));
    }
}
