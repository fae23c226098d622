//! The race lab: many consumer processes on one spool, naive against verified, one table.
//!
//! For each strategy (and each repeat) the lab makes a fresh spool, produces the jobs
//! through the producer library, starts K `spoolq daemon --drain` processes of the same
//! binary racing over the spool, waits for them to drain it, and audits their journals
//! with the auditor library. The consumers are separate OS processes on purpose: the race
//! is between processes, each with its own open file descriptions, as in production.
//!
//! Boundaries: the lab orchestrates and summarises; it claims nothing itself. Printing is
//! the binary's job: this crate returns the report and renders it to strings.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use spoolq_auditor::{AuditInput, DuplicateClass, Report};
use spoolq_claim::Strategy;
use spoolq_producer::{Generate, SyncMode};
use spoolq_spool::{CreateOptions, JournalWriter, Spool, WriterOptions};

pub mod argv;
pub mod bench;
pub mod floor;
pub mod peer;

use crate::argv::DaemonArgs;

/// What to run.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The `spoolq` binary to start consumers from (normally the running one).
    pub exe: PathBuf,
    /// Jobs produced per run.
    pub jobs: u64,
    /// Consumer processes racing over the spool.
    pub consumers: usize,
    /// Workers per consumer.
    pub workers: usize,
    /// Simulated work per job.
    pub work: Duration,
    /// The strategies to run, in order.
    pub strategies: Vec<Strategy>,
    /// A pause injected between open and lock, through the claim crate's step hook.
    pub race_window: Option<Duration>,
    /// Keep spools and journals here instead of a temporary folder.
    pub keep_in: Option<PathBuf>,
    /// A real handler (run with `sh -c`) instead of simulated work.
    pub exec: Option<String>,
    /// Runs per strategy; the summary takes medians.
    pub repeat: usize,
    /// Journal every claim step (needed for the timeline's open and lock lines).
    pub trace_claims: bool,
    /// Payload size of each generated job.
    pub payload_size: usize,
    /// Give up on a run after this long.
    pub run_timeout: Duration,
    /// Mount points of one shared volume (the same folder reached through each): the
    /// spool is made and its jobs produced through the first, and consumer `i` is
    /// started on mount `i % n`. Empty: one local spool.
    pub mounts: Vec<PathBuf>,
}

impl LabConfig {
    // The defaults, defined once: `LabConfig::new` uses them, `spoolq lab --help` shows
    // them.
    /// Default of [`LabConfig::jobs`].
    pub const DEFAULT_JOBS: u64 = 10_000;
    /// Default of [`LabConfig::consumers`].
    pub const DEFAULT_CONSUMERS: usize = 4;
    /// Default of [`LabConfig::workers`].
    pub const DEFAULT_WORKERS: usize = 2;
    /// Default of [`LabConfig::work`].
    pub const DEFAULT_WORK: Duration = Duration::from_millis(2);
    /// Default of [`LabConfig::strategies`]: naive first, so the table shows the race.
    pub const DEFAULT_STRATEGIES: [Strategy; 2] = [Strategy::Naive, Strategy::Verified];
    /// Default of [`LabConfig::repeat`].
    pub const DEFAULT_REPEAT: usize = 1;
    /// Default of [`LabConfig::payload_size`].
    pub const DEFAULT_PAYLOAD_SIZE: usize = 200;
    /// Default of [`LabConfig::run_timeout`].
    pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(300);

    /// The defaults of `spoolq lab`: finishes in well under a minute on two cores.
    pub fn new(exe: PathBuf) -> LabConfig {
        LabConfig {
            exe,
            jobs: LabConfig::DEFAULT_JOBS,
            consumers: LabConfig::DEFAULT_CONSUMERS,
            workers: LabConfig::DEFAULT_WORKERS,
            work: LabConfig::DEFAULT_WORK,
            strategies: LabConfig::DEFAULT_STRATEGIES.to_vec(),
            race_window: None,
            keep_in: None,
            exec: None,
            repeat: LabConfig::DEFAULT_REPEAT,
            trace_claims: true,
            payload_size: LabConfig::DEFAULT_PAYLOAD_SIZE,
            run_timeout: LabConfig::DEFAULT_RUN_TIMEOUT,
            mounts: Vec::new(),
        }
    }
}

/// Why a lab run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A folder for spools, logs or journals could not be made.
    #[error("creating the lab's folder {}: {source}", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A spool could not be created or opened.
    #[error(transparent)]
    Spool(#[from] spoolq_spool::LayoutError),
    /// The lab's producer journal could not be written.
    #[error(transparent)]
    Journal(#[from] spoolq_spool::JournalError),
    /// Producing the jobs failed.
    #[error("producing jobs: {0}")]
    Produce(#[from] spoolq_producer::ProduceError),
    /// Auditing a run failed.
    #[error("auditing: {0}")]
    Audit(#[from] spoolq_auditor::AuditError),
    /// A consumer process could not be started.
    #[error("starting consumer {} ({}): {source}", index, exe.display())]
    Spawn {
        /// Which consumer (from 1).
        index: usize,
        /// The binary it was started from.
        exe: PathBuf,
        /// The spawn's error.
        source: std::io::Error,
    },
    /// A consumer exited with a failure.
    #[error(
        "consumer {index} exited with {status}; its log is {}", log.display()
    )]
    ConsumerFailed {
        /// Which consumer (from 1).
        index: usize,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
    },
    /// A bench section failed.
    #[error("bench: {0}")]
    Bench(String),
    /// A daemon setting has no flag, so no consumer process can be given it.
    #[error(transparent)]
    NoFlag(#[from] argv::NoFlag),
    /// A mount given with `--mounts` does not reach the folder made through the first.
    #[error(
        "{} does not reach the folder made through {} ({}): give mount points of one \
         shared volume", mount.display(), first.display(), why
    )]
    NotTheSameVolume {
        /// The mount that does not.
        mount: PathBuf,
        /// The first mount.
        first: PathBuf,
        /// What was found instead.
        why: String,
    },
    /// A run did not drain in time.
    #[error("the {strategy} run did not drain within {timeout:?}; consumers were killed (logs in {})", logs.display())]
    Timeout {
        /// The run's strategy.
        strategy: Strategy,
        /// The time it had.
        timeout: Duration,
        /// Where the consumers' logs are.
        logs: PathBuf,
    },
}

/// The measured result of one run of one strategy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    /// The strategy, as its word.
    pub strategy: String,
    /// Which run of the strategy (from 1); in the summary, how many runs it is over.
    pub run: usize,
    /// Consumer processes.
    pub consumers: usize,
    /// Jobs produced.
    pub jobs: u64,
    /// Completions journaled (`done` events): above `jobs` when jobs ran twice.
    pub completed: u64,
    /// Jobs processed again after another consumer completed them: the race.
    pub dup_after_completion: u64,
    /// Jobs processed by two consumers at once.
    pub dup_concurrent: u64,
    /// Jobs claimed again after a failed or interrupted attempt.
    pub redelivered: u64,
    /// Jobs produced and neither completed nor still in the spool.
    pub lost: u64,
    /// Seconds from starting the consumers until all of them exited, the spool drained.
    pub wall_s: f64,
    /// Jobs produced, per second of `wall_s`.
    pub jobs_per_s: f64,
    /// Where the run's spool was (deleted afterwards unless kept).
    pub spool: PathBuf,
    /// The spool as each consumer was given it (through its mount), one per consumer.
    pub consumer_spools: Vec<PathBuf>,
    /// The first after-completion duplicate, if any.
    pub first_after_completion: Option<String>,
}

/// Progress while the lab runs.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The strategy of the run.
    pub strategy: Strategy,
    /// Which run of it (from 1).
    pub run: usize,
    /// Runs per strategy.
    pub repeat: usize,
    /// Jobs done so far in this phase.
    pub done: u64,
    /// Jobs of the run.
    pub total: u64,
    /// What the run is doing: `producing` or `consuming`.
    pub phase: &'a str,
}

/// Everything the lab measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LabReport {
    /// Every run, in order.
    pub runs: Vec<RunResult>,
    /// One row per strategy: medians over the repeats.
    pub summary: Vec<RunResult>,
    /// The timeline of the first after-completion duplicate of the first naive run
    /// that had one, rendered as `spoolq audit timeline` does.
    pub timeline: Option<String>,
    /// Whether every strategy that must be safe where the lab ran held: no concurrent or
    /// after-completion duplicate and no lost job in any run (see [`safe_clean`]).
    pub safe_clean: bool,
}

/// Runs the lab.
pub fn run(
    config: &LabConfig,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<LabReport, LabError> {
    let base = match &config.keep_in {
        _ if !config.mounts.is_empty() => LabDir::Temp(mount_dir(&config.mounts)?),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| LabError::Folder {
                path: dir.clone(),
                source,
            })?;
            LabDir::Kept(dir.clone())
        }
        None => LabDir::Temp(temp_dir()?),
    };
    let mut runs = Vec::new();
    let mut timeline = None;
    for &strategy in &config.strategies {
        for run in 1..=config.repeat {
            let dir = base.path().join(format!("{strategy}-{run}"));
            let result = run_once(config, strategy, run, &dir, progress)?;
            if timeline.is_none()
                && let Some(t) = &result.first_after_completion
            {
                timeline = Some(t.clone());
            }
            runs.push(result);
        }
    }
    let summary = config
        .strategies
        .iter()
        .map(|s| median_row(&runs, s.as_str()))
        .collect();
    let safe_clean = safe_clean(&runs, !config.mounts.is_empty());
    Ok(LabReport {
        runs,
        summary,
        timeline,
        safe_clean,
    })
}

/// The lab's verdict: the strategies that must be safe where the lab ran show no
/// concurrent or after-completion duplicate and lose nothing. Shared must be safe
/// everywhere, verified on one host's file system; across the mounts of a shared file
/// system verified is expected to fail as naive is everywhere, and neither counts.
pub fn safe_clean(runs: &[RunResult], across_mounts: bool) -> bool {
    let must_hold = |strategy: &str| {
        strategy == Strategy::Shared.as_str()
            || (strategy == Strategy::Verified.as_str() && !across_mounts)
    };
    runs.iter()
        .filter(|r| must_hold(&r.strategy))
        .all(|r| r.dup_after_completion == 0 && r.dup_concurrent == 0 && r.lost == 0)
}

enum LabDir {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl LabDir {
    fn path(&self) -> &Path {
        match self {
            LabDir::Kept(p) => p,
            LabDir::Temp(t) => t.path(),
        }
    }
}

/// A temporary folder made through the first mount, checked to be the same folder
/// through every other (same inode number, which the mounts of one volume share).
fn mount_dir(mounts: &[PathBuf]) -> Result<tempfile::TempDir, LabError> {
    use std::os::unix::fs::MetadataExt;
    let first = &mounts[0];
    let dir = tempfile::Builder::new()
        .prefix("spoolq-lab-")
        .tempdir_in(first)
        .map_err(|source| LabError::Folder {
            path: first.clone(),
            source,
        })?;
    let relative = dir.path().strip_prefix(first).unwrap_or(dir.path());
    let ino = std::fs::metadata(dir.path())
        .map_err(|source| LabError::Folder {
            path: dir.path().to_owned(),
            source,
        })?
        .ino();
    for mount in &mounts[1..] {
        let there = mount.join(relative);
        let found = std::fs::metadata(&there);
        match found {
            Ok(meta) if meta.ino() == ino => {}
            other => {
                return Err(LabError::NotTheSameVolume {
                    mount: mount.clone(),
                    first: first.clone(),
                    why: match other {
                        Ok(meta) => format!(
                            "{} is another folder (inode {})",
                            there.display(),
                            meta.ino()
                        ),
                        Err(e) => format!("{}: {e}", there.display()),
                    },
                });
            }
        }
    }
    Ok(dir)
}

/// The spool at `spool` (made through the first mount) as consumer `index` reaches it:
/// through mount `index % n`, or `spool` itself without mounts.
fn consumer_spool(config: &LabConfig, spool: &Path, index: usize) -> PathBuf {
    if config.mounts.is_empty() {
        return spool.to_owned();
    }
    let first = &config.mounts[0];
    let mount = &config.mounts[index % config.mounts.len()];
    match spool.strip_prefix(first) {
        Ok(relative) => mount.join(relative),
        Err(_) => spool.to_owned(),
    }
}

/// A temporary folder on tmpfs when there is one (the race is about the kernel, not the
/// disk, and tmpfs keeps the disk's noise out of the figures), else the system's.
fn temp_dir() -> Result<tempfile::TempDir, LabError> {
    let shm = Path::new("/dev/shm");
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("spoolq-lab-");
        b
    };
    if shm.is_dir()
        && let Ok(dir) = builder().tempdir_in(shm)
    {
        return Ok(dir);
    }
    builder().tempdir().map_err(|source| LabError::Folder {
        path: std::env::temp_dir(),
        source,
    })
}

fn run_once(
    config: &LabConfig,
    strategy: Strategy,
    run: usize,
    dir: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RunResult, LabError> {
    let spool_path = dir.join("spool");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| LabError::Folder {
        path: logs.clone(),
        source,
    })?;
    let spool = Spool::create(&spool_path, CreateOptions::default())?;
    let report = |done, phase| Progress {
        strategy,
        run,
        repeat: config.repeat,
        done,
        total: config.jobs,
        phase,
    };

    // Produce everything first: the consumers then start on a full spool, all racing
    // over the same names from their first scan.
    let journal = JournalWriter::create(
        spool.journal().clone(),
        spoolq_spool::journal::Role::Producer,
        WriterOptions::default(),
    )?;
    let generate = Generate {
        count: config.jobs,
        size: config.payload_size,
        rate: None,
        sync: SyncMode::Never,
    };
    let mut last = Instant::now();
    spoolq_producer::produce_generated(&spool, &generate, Some(&journal), &mut |n| {
        if last.elapsed() > Duration::from_millis(100) || n == config.jobs {
            last = Instant::now();
            progress(report(n, "producing"));
        }
    })?;
    drop(journal);

    let started = Instant::now();
    let mut children = Vec::new();
    let consumer_spools: Vec<PathBuf> = (0..config.consumers)
        .map(|index| consumer_spool(config, &spool_path, index))
        .collect();
    for (index, spool) in consumer_spools.iter().enumerate() {
        match spawn_consumer(config, strategy, spool, &logs, index) {
            Ok(child) => children.push(child),
            Err(e) => {
                kill_all(&mut children);
                return Err(e);
            }
        }
    }
    let mut statuses = vec![None; children.len()];
    loop {
        for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait().ok().flatten();
            }
        }
        let remaining = count_entries(&spool_path.join("new"));
        progress(report(config.jobs.saturating_sub(remaining), "consuming"));
        if statuses.iter().all(Option::is_some) {
            break;
        }
        if started.elapsed() > config.run_timeout {
            kill_all(&mut children);
            return Err(LabError::Timeout {
                strategy,
                timeout: config.run_timeout,
                logs,
            });
        }
        // Progress display cadence, not synchronisation: exits are collected above.
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = started.elapsed();
    for (index, status) in statuses.into_iter().enumerate() {
        let status = status.expect("every consumer exited");
        if !status.success() {
            return Err(LabError::ConsumerFailed {
                index,
                status,
                log: logs.join(format!("consumer-{index}.log")),
            });
        }
    }

    let audit = spoolq_auditor::audit(&AuditInput {
        spool: Some(spool_path.clone()),
        journals: Vec::new(),
        ..AuditInput::default()
    })?;
    let first_after_completion = first_timeline(&audit, &spool_path)?;
    let wall_s = wall.as_secs_f64();
    Ok(RunResult {
        strategy: strategy.as_str().to_owned(),
        run,
        consumers: config.consumers,
        jobs: config.jobs,
        completed: audit.counts.completed,
        dup_after_completion: audit.duplicate_counts.after_completion,
        dup_concurrent: audit.duplicate_counts.concurrent,
        redelivered: audit.duplicate_counts.redelivery,
        lost: audit.counts.lost.unwrap_or(0),
        wall_s,
        jobs_per_s: if wall_s > 0.0 {
            config.jobs as f64 / wall_s
        } else {
            0.0
        },
        spool: spool_path,
        consumer_spools,
        first_after_completion,
    })
}

fn first_timeline(report: &Report, spool: &Path) -> Result<Option<String>, LabError> {
    let Some(dup) = report
        .duplicates
        .iter()
        .find(|d| d.class == DuplicateClass::AfterCompletion)
    else {
        return Ok(None);
    };
    let timeline = spoolq_auditor::timeline(&[spool.join("journal")], dup.job)?;
    Ok(Some(spoolq_auditor::render_timeline(&timeline)))
}

/// `spoolq daemon` as the lab starts each consumer of a run of `strategy` on `spool`.
pub fn consumer(config: &LabConfig, strategy: Strategy, spool: &Path) -> DaemonArgs {
    let mut args = DaemonArgs::new(spool);
    let daemon = &mut args.config;
    daemon.drain = true;
    daemon.strategy = Some(strategy);
    // The lab races every strategy wherever it runs: naive and verified on a shared file
    // system are what it shows failing there.
    daemon.force_claim = strategy != Strategy::Shared;
    daemon.workers = config.workers;
    daemon.trace_claims = config.trace_claims;
    daemon.race_window = config.race_window;
    match &config.exec {
        Some(exec) => daemon.command = Some(vec!["sh".into(), "-c".into(), exec.into()]),
        None => daemon.simulate_work = Some(config.work),
    }
    args.json_logs = true;
    args
}

fn spawn_consumer(
    config: &LabConfig,
    strategy: Strategy,
    spool: &Path,
    logs: &Path,
    index: usize,
) -> Result<Child, LabError> {
    let log_path = logs.join(format!("consumer-{index}.log"));
    let spawn_err = |source| LabError::Spawn {
        index,
        exe: config.exe.clone(),
        source,
    };
    let mut command = consumer(config, strategy, spool).command(&config.exe)?;
    let log = std::fs::File::create(&log_path).map_err(spawn_err)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .env("SPOOLQ_LOG", "warn");
    command.spawn().map_err(spawn_err)
}

fn kill_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn count_entries(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

fn median_u64(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn median_row(runs: &[RunResult], strategy: &str) -> RunResult {
    let mine: Vec<&RunResult> = runs.iter().filter(|r| r.strategy == strategy).collect();
    let col = |f: fn(&RunResult) -> u64| median_u64(mine.iter().map(|r| f(r)).collect());
    let colf = |f: fn(&RunResult) -> f64| median_f64(mine.iter().map(|r| f(r)).collect());
    RunResult {
        strategy: strategy.to_owned(),
        run: mine.len(),
        consumers: mine.first().map(|r| r.consumers).unwrap_or(0),
        jobs: col(|r| r.jobs),
        completed: col(|r| r.completed),
        dup_after_completion: col(|r| r.dup_after_completion),
        dup_concurrent: col(|r| r.dup_concurrent),
        redelivered: col(|r| r.redelivered),
        lost: col(|r| r.lost),
        wall_s: colf(|r| r.wall_s),
        jobs_per_s: colf(|r| r.jobs_per_s),
        spool: PathBuf::new(),
        consumer_spools: Vec::new(),
        first_after_completion: None,
    }
}

/// The lab's table, one row per strategy (medians when repeated).
pub fn render_table(report: &LabReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:>9} {:>6} {:>9} {:>20} {:>14} {:>11} {:>5} {:>7} {:>8}",
        "strategy",
        "consumers",
        "jobs",
        "completed",
        "dup:after-completion",
        "dup:concurrent",
        "redelivered",
        "lost",
        "wall s",
        "jobs/s"
    );
    for row in &report.summary {
        let _ = writeln!(
            out,
            "{:<9} {:>9} {:>6} {:>9} {:>20} {:>14} {:>11} {:>5} {:>7.2} {:>8.0}",
            row.strategy,
            row.consumers,
            row.jobs,
            row.completed,
            row.dup_after_completion,
            row.dup_concurrent,
            row.redelivered,
            row.lost,
            row.wall_s,
            row.jobs_per_s
        );
    }
    if let Some(run) = report.runs.first()
        && run.consumer_spools.iter().any(|p| *p != run.spool)
    {
        let _ = writeln!(out, "consumers on the mounts in turn:");
        for (index, spool) in run.consumer_spools.iter().enumerate() {
            let _ = writeln!(out, "  consumer {index}: {}", spool.display());
        }
    }
    let repeats = report.runs.iter().filter(|r| r.strategy == "naive").count();
    if repeats > 1 {
        let with = report
            .runs
            .iter()
            .filter(|r| r.strategy == "naive" && r.dup_after_completion > 0)
            .count();
        let _ = writeln!(
            out,
            "(medians of {repeats} runs; naive showed after-completion duplicates in {with} of {repeats})"
        );
    }
    out
}

/// Renders a progress line for a terminal (`\r`-terminated) or a log (newline).
pub fn render_progress(p: &Progress<'_>) -> String {
    let run = if p.repeat > 1 {
        format!(" run {}/{}", p.run, p.repeat)
    } else {
        String::new()
    };
    let line = format!("{}{run}: {} {}/{}", p.strategy, p.phase, p.done, p.total);
    if std::io::stderr().is_terminal() {
        format!("\r\x1b[K{line}")
    } else {
        format!("{line}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(strategy: Strategy, after: u64, concurrent: u64, lost: u64) -> RunResult {
        RunResult {
            strategy: strategy.as_str().to_owned(),
            run: 1,
            consumers: 4,
            jobs: 10,
            completed: 10,
            dup_after_completion: after,
            dup_concurrent: concurrent,
            redelivered: 3,
            lost,
            wall_s: 1.0,
            jobs_per_s: 10.0,
            spool: PathBuf::new(),
            consumer_spools: Vec::new(),
            first_after_completion: None,
        }
    }

    #[test]
    fn verdict_ignores_naive_and_fails_on_any_verified_violation() {
        use Strategy::{Naive, Shared, Verified};
        let verified_clean = |runs: &[RunResult]| safe_clean(runs, false);
        assert!(verified_clean(&[
            row(Naive, 5, 1, 1),
            row(Verified, 0, 0, 0)
        ]));
        assert!(!verified_clean(&[row(Verified, 1, 0, 0)]));
        assert!(!verified_clean(&[row(Verified, 0, 1, 0)]));
        assert!(!verified_clean(&[row(Verified, 0, 0, 1)]));
        // Redeliveries are at-least-once delivery, not a violation.
        assert!(verified_clean(&[
            row(Verified, 0, 0, 0),
            row(Verified, 0, 0, 0)
        ]));
        assert!(!verified_clean(&[
            row(Verified, 0, 0, 0),
            row(Verified, 2, 0, 0)
        ]));
        // Shared must hold everywhere; verified across mounts is expected to fail.
        assert!(!verified_clean(&[row(Shared, 1, 0, 0)]));
        assert!(safe_clean(
            &[row(Verified, 7, 0, 0), row(Shared, 0, 0, 0)],
            true
        ));
        assert!(!safe_clean(&[row(Shared, 0, 0, 1)], true));
    }

    #[test]
    fn medians_per_strategy() {
        let runs = [
            row(Strategy::Naive, 1, 0, 0),
            row(Strategy::Naive, 9, 0, 0),
            row(Strategy::Naive, 4, 0, 0),
            row(Strategy::Verified, 0, 0, 0),
        ];
        let naive = median_row(&runs, "naive");
        assert_eq!((naive.run, naive.dup_after_completion), (3, 4));
        assert_eq!(median_row(&runs, "verified").run, 1);
    }
}
