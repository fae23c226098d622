//! `spoolq daemon`: the consumer. Parses flags into a `spoolq_daemon::Config`, sets up
//! logging (tracing, human or JSON, filter from SPOOLQ_LOG), builds the tokio runtime,
//! turns SIGTERM/SIGINT into the daemon's shutdown future (a second signal exits at
//! once, killing handlers first), and maps the result to an exit code.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use spoolq_claim::Strategy;
use tracing_subscriber::EnvFilter;

use crate::Exit;

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
Without COMMAND a built-in handler logs each job and succeeds.

Examples:
  spoolq daemon --spool /var/spool/jobs -- ./handle-job --verbose
  spoolq daemon --spool /var/spool/jobs --drain --workers 2 -- sh -c 'wc -c'
  SPOOLQ_LOG=debug spoolq daemon --spool /var/spool/jobs --log-format json")]
pub struct Args {
    /// The spool directory (with tmp/, new/, retry/, failed/, journal/).
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,

    /// Jobs handled at once [default: number of CPUs].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,

    /// Claim strategy: verified (safe) or naive (reproduces the double-processing race).
    #[arg(long = "claim", value_name = "STRATEGY", default_value = "verified",
          value_parser = parse_strategy)]
    strategy: Strategy,

    /// Terminate a handler running longer than this (SIGTERM to its process group,
    /// SIGKILL after --kill-grace); the attempt counts as failed.
    #[arg(long, value_name = "DURATION", default_value = "10min", value_parser = parse_duration)]
    job_timeout: Duration,

    /// Time between SIGTERM and SIGKILL when a handler is terminated.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    kill_grace: Duration,

    /// Backoff before the first retry; doubles per attempt, with full jitter.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    retry_base: Duration,

    /// Longest backoff between attempts.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    retry_max: Duration,

    /// Attempts before a failing job goes to failed/.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,

    /// Full rescan of the spool this often, whatever the file system watcher reports.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    rescan_interval: Duration,

    /// On SIGTERM/SIGINT, let running handlers finish for this long, then terminate them
    /// and release (not delete) their jobs.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    shutdown_grace: Duration,

    /// Exit 0 once new/ holds no claimable job and nothing is in flight (for on-demand
    /// starts: launchd QueueDirectories, systemd path units).
    #[arg(long)]
    drain: bool,

    /// Journal every claim protocol step (open, lock, verify, complete, close).
    #[arg(long)]
    trace_claims: bool,

    /// fsync the journal after every record (survives power loss; slower).
    #[arg(long)]
    journal_fsync: bool,

    /// Built-in handler only: sleep this long per job (for load tests and the lab).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    simulate_work: Option<Duration>,

    /// Remove files in tmp/ not modified for this long (leftovers of producers that died
    /// mid-write), at start and at each rescan; fresh ones are never touched.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_positive_duration)]
    tmp_max_age: Duration,

    /// Log format on stderr.
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    log_format: LogFormat,

    /// Sleep this long right after opening each job (widens the race for the lab).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, hide = true)]
    race_window: Option<Duration>,

    /// Do not use the file system watcher (tests of the periodic rescan).
    #[arg(long, hide = true)]
    no_watch: bool,

    /// The handler and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 5s, 10min, 1h)"))
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => {
            Err("must be longer than zero (a fresh file may still be written)".into())
        }
        d => Ok(d),
    }
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse()
        .map_err(|e: spoolq_claim::ParseStrategyError| e.to_string())
}

fn init_logging(format: LogFormat) {
    let (filter, bad) = match std::env::var("SPOOLQ_LOG") {
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new("info"), Some((spec, e))),
        },
        Err(_) => (EnvFilter::new("info"), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if let Some((spec, e)) = bad {
        tracing::warn!("SPOOLQ_LOG={spec:?} is not a valid filter ({e}); logging at info");
    }
}

pub fn run(args: Args) -> Exit {
    init_logging(args.log_format);
    let mut config = spoolq_daemon::Config::new(args.spool);
    config.workers = args.workers.unwrap_or(0);
    config.strategy = args.strategy;
    config.command = (!args.command.is_empty()).then_some(args.command);
    config.simulate_work = args.simulate_work;
    config.job_timeout = args.job_timeout;
    config.kill_grace = args.kill_grace;
    config.retry_base = args.retry_base;
    config.retry_max = args.retry_max;
    config.max_attempts = args.max_attempts;
    config.rescan_interval = args.rescan_interval;
    config.shutdown_grace = args.shutdown_grace;
    config.drain = args.drain;
    config.watch = !args.no_watch;
    config.trace_claims = args.trace_claims;
    config.race_window = args.race_window;
    config.journal_fsync = args.journal_fsync;
    config.tmp_max_age = args.tmp_max_age;

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoolq-daemon")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("spoolq daemon: cannot start the async runtime: {e}");
            return Exit::Error;
        }
    };
    let result = runtime.block_on(async move {
        let signals = match Signals::new() {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("spoolq daemon: cannot install signal handlers: {e}");
                return None;
            }
        };
        Some(spoolq_daemon::run(config, signals.shutdown()).await)
    });
    // Everything the daemon started has been joined; do not wait on stray blocking work.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        None => Exit::Error,
        Some(Ok(_summary)) => Exit::Ok,
        Some(Err(e)) => {
            eprintln!("spoolq daemon: {e}");
            Exit::Error
        }
    }
}

/// SIGTERM and SIGINT, installed before the daemon starts so that no early signal
/// falls through to the default action.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.term.recv() => 15,
            _ = self.int.recv() => 2,
        }
    }

    /// Resolves at the first signal; a second one kills every handler's process group
    /// and exits at once with 128 + the signal number.
    async fn shutdown(mut self) {
        let first = self.next().await;
        tracing::info!(
            signal = first,
            "signal received: finishing in-flight jobs (send it again to exit at once)"
        );
        tokio::spawn(async move {
            let second = self.next().await;
            tracing::warn!(
                signal = second,
                "second signal: killing handlers and exiting now; their jobs stay in new/"
            );
            spoolq_daemon::kill_all_handlers();
            std::process::exit(128 + second);
        });
    }
}
