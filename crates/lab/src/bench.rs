//! `spoolq lab --bench`: spoolq against raw floors, in the same run, on the same file
//! system, each figure a median of repeats with spoolq and its floor interleaved (floor,
//! spoolq, floor, spoolq, ...) so that load from elsewhere hits both alike.
//!
//! Sections (each reports a ratio, see docs/performance.md):
//! - `inproc`: a pre-filled spool drained by the daemon library in this process
//!   (`spoolq_daemon::run`, drain, built-in handler) against one raw loop listing and
//!   claiming (verified) the same number of job files;
//! - `e2e`: `spoolq produce --sync never` and `spoolq daemon` running together, two
//!   processes, against `spoolq lab floor-produce` and `spoolq lab floor-consume`;
//! - `exec`: the daemon with handler `true` against `xargs -P WORKERS -n 1 true` over
//!   the same number of files (the fork and exec floor);
//! - `latency`: produced-to-claimed latency with the watcher, jobs offered at a rate;
//! - `drain`: `spoolq daemon --drain --workers 1` as a process on a pre-filled tmpfs
//!   spool, start to exit, against `spoolq lab floor-consume` (the raw loop) as a
//!   process on the same number of jobs;
//! - `startup`: `spoolq daemon --drain` on an empty spool, start to exit, against a
//!   process that only opens the spool (`spoolq lab floor-consume --count 0`);
//! - `peer`: python-dirq's QueueSimple (installed by the bench into a virtual
//!   environment) adding, then locking, reading and removing the same number of jobs,
//!   against `spoolq produce` and the one-worker drain (skipped, with a SKIPPED line,
//!   when the peer cannot be installed);
//! - `idle`: after a burst, the listing cost of the empty (but never shrunk) new/ on
//!   the disk and the CPU an idle daemon burns on it;
//! - `scale` (opt-in): drain rate of a huge pre-filled spool against a small one, and
//!   the daemon's peak RSS.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spoolq_auditor::AuditInput;
use spoolq_os::Dir;
use spoolq_os::process::{Signal, signal_process_group};
use spoolq_spool::{CreateOptions, Spool};

use crate::argv::{DaemonArgs, FloorArgs, ProduceArgs};
use crate::{LabError, floor, median_f64};
use spoolq_os::process::CpuTime;

/// One measurement section of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Section {
    /// `spoolq_daemon::run` draining a pre-filled spool in this process, against the
    /// raw consumer loop.
    Inproc,
    /// `Spool::drop_job` against the raw producer loop, interleaved in one spool.
    Produce,
    /// `spoolq produce` and `spoolq daemon` together, against the two raw floors.
    E2e,
    /// The daemon running the handler `true`, against `xargs -P`.
    Exec,
    /// Drop-to-claim latency with the watcher.
    Latency,
    /// `spoolq daemon --drain --workers 1` as a process, against the raw consumer loop
    /// as a process.
    Drain,
    /// `spoolq daemon --drain` on an empty spool, start to exit.
    Startup,
    /// python-dirq's QueueSimple against `spoolq produce` and the one-worker drain.
    Peer,
    /// Listing cost and idle CPU after a burst bloated new/.
    Idle,
    /// Draining a huge spool against a small one (opt-in).
    Scale,
}

impl Section {
    /// The sections `spoolq lab --bench` runs without `--sections`: all but scale.
    pub const DEFAULT: [Section; 9] = [
        Section::Inproc,
        Section::Produce,
        Section::E2e,
        Section::Exec,
        Section::Latency,
        Section::Drain,
        Section::Startup,
        Section::Peer,
        Section::Idle,
    ];

    /// Its name for `--sections`.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Inproc => "inproc",
            Section::Produce => "produce",
            Section::E2e => "e2e",
            Section::Exec => "exec",
            Section::Latency => "latency",
            Section::Drain => "drain",
            Section::Startup => "startup",
            Section::Peer => "peer",
            Section::Idle => "idle",
            Section::Scale => "scale",
        }
    }
}

impl std::str::FromStr for Section {
    type Err = String;
    fn from_str(s: &str) -> Result<Section, String> {
        [
            Section::Inproc,
            Section::Produce,
            Section::E2e,
            Section::Exec,
            Section::Latency,
            Section::Drain,
            Section::Startup,
            Section::Peer,
            Section::Idle,
            Section::Scale,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown bench section {s:?}: expected inproc, produce, e2e, exec, latency, drain, \
                 startup, peer, idle or scale"
            )
        })
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The `spoolq` binary (for the process sections).
    pub exe: PathBuf,
    /// The sections to run, in order.
    pub sections: Vec<Section>,
    /// Repeats per figure; medians are reported.
    pub repeat: usize,
    /// Workers of the daemon (and xargs' -P).
    pub workers: usize,
    /// Jobs of the pre-filled spool in the inproc section.
    pub inproc_jobs: u64,
    /// The claim strategies the inproc section drains with, one after the other within
    /// each repeat (so each sees the same moments of the machine's load), one row each.
    pub strategies: Vec<spoolq_claim::Strategy>,
    /// Jobs produced in the e2e section.
    pub e2e_jobs: u64,
    /// Jobs of the pre-filled spool in the exec section.
    pub exec_jobs: u64,
    /// Jobs produced in the latency section.
    pub latency_jobs: u64,
    /// Jobs per second offered in the latency section.
    pub rate: f64,
    /// Jobs of the pre-filled spool in the drain section, and of the peer section.
    pub drain_jobs: u64,
    /// Starts timed per repeat in the startup section (the median is taken).
    pub startup_runs: usize,
    /// Jobs of the burst that bloats new/ in the idle section.
    pub idle_burst: u64,
    /// How long the idle daemon's CPU is measured.
    pub idle_for: Duration,
    /// Jobs of the big spool in the scale section, and of the small one it is compared to.
    pub scale_jobs: u64,
    /// Jobs of the small spool in the scale section.
    pub scale_base: u64,
    /// Payload size of every generated job, in bytes.
    pub payload_size: usize,
    /// Where the disk runs happen (the system temp folder by default).
    pub disk: PathBuf,
    /// Where the tmpfs runs happen, if there is one.
    pub tmpfs: Option<PathBuf>,
    /// Folders to run in instead of tmpfs and disk (a shared file system's mount, say);
    /// each figure names its folder's file system.
    pub dirs: Vec<PathBuf>,
}

impl BenchConfig {
    // The defaults that `spoolq lab --bench` has flags for, defined once: `new` uses
    // them, `spoolq lab --help` shows them.
    /// Default of [`BenchConfig::repeat`].
    pub const DEFAULT_REPEAT: usize = 3;
    /// Default of [`BenchConfig::workers`].
    pub const DEFAULT_WORKERS: usize = 2;
    /// Default of [`BenchConfig::e2e_jobs`].
    pub const DEFAULT_E2E_JOBS: u64 = 50_000;
    /// Default of [`BenchConfig::drain_jobs`].
    pub const DEFAULT_DRAIN_JOBS: u64 = 100_000;
    /// Default of [`BenchConfig::idle_for`].
    pub const DEFAULT_IDLE_FOR: Duration = Duration::from_secs(30);
    /// Default of [`BenchConfig::scale_jobs`].
    pub const DEFAULT_SCALE_JOBS: u64 = 1_000_000;
    /// Default of [`BenchConfig::payload_size`].
    pub const DEFAULT_PAYLOAD_SIZE: usize = 200;

    /// The defaults of `spoolq lab --bench`, starting processes from `exe`.
    pub fn new(exe: PathBuf) -> BenchConfig {
        BenchConfig {
            exe,
            sections: Section::DEFAULT.to_vec(),
            repeat: BenchConfig::DEFAULT_REPEAT,
            workers: BenchConfig::DEFAULT_WORKERS,
            inproc_jobs: 20_000,
            strategies: vec![spoolq_claim::Strategy::Verified],
            e2e_jobs: BenchConfig::DEFAULT_E2E_JOBS,
            exec_jobs: 2_000,
            latency_jobs: 5_000,
            rate: 1000.0,
            drain_jobs: BenchConfig::DEFAULT_DRAIN_JOBS,
            startup_runs: 21,
            idle_burst: 100_000,
            idle_for: BenchConfig::DEFAULT_IDLE_FOR,
            scale_jobs: BenchConfig::DEFAULT_SCALE_JOBS,
            scale_base: 10_000,
            payload_size: BenchConfig::DEFAULT_PAYLOAD_SIZE,
            disk: std::env::temp_dir(),
            tmpfs: Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()),
            dirs: Vec::new(),
        }
    }

    fn places(&self) -> Vec<(String, &Path)> {
        if !self.dirs.is_empty() {
            return self
                .dirs
                .iter()
                .map(|dir| {
                    let name = spoolq_os::Dir::open(dir)
                        .and_then(|d| d.file_system())
                        .map_or_else(|_| dir.display().to_string(), |fs| fs.name);
                    (name, dir.as_path())
                })
                .collect();
        }
        let mut places = Vec::new();
        if let Some(t) = &self.tmpfs {
            places.push(("tmpfs".to_owned(), t.as_path()));
        }
        places.push(("disk".to_owned(), self.disk.as_path()));
        places
    }
}

/// One figure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// The section's name.
    pub section: String,
    /// Where it ran: `tmpfs` or `disk`.
    pub place: String,
    /// What the figure is.
    pub what: String,
    /// spoolq's median.
    pub value: f64,
    /// The floor's median, if the figure has one.
    pub floor: Option<f64>,
    /// The unit of `value` and `floor`.
    pub unit: String,
    /// value / floor for rates, floor / value for times: 1.0 = as fast as the floor.
    pub ratio: Option<f64>,
    /// The target the figure is held to, for people.
    pub target: String,
    /// Whether the target was met; `None` for a figure without one.
    pub met: Option<bool>,
    /// spoolq's value in every run.
    pub runs: Vec<f64>,
    /// The floor's value in every run.
    pub floor_runs: Vec<f64>,
}

/// Everything the bench measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Every figure, in section order.
    pub rows: Vec<BenchRow>,
    /// The load averages (1, 5, 15 minutes) when the bench started, where the system
    /// tells them.
    pub load_before: Option<String>,
    /// The load averages when it ended.
    pub load_after: Option<String>,
    /// Sections or figures that could not be measured, each with the reason.
    pub skipped: Vec<String>,
}

/// Runs the selected sections; `progress` gets one line per step.
pub fn run_bench(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, LabError> {
    let load_before = loadavg();
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for &section in &config.sections {
        match section {
            Section::Inproc => inproc(config, progress, &mut rows)?,
            Section::Produce => produce(config, progress, &mut rows)?,
            Section::E2e => e2e(config, progress, &mut rows)?,
            Section::Exec => exec(config, progress, &mut rows)?,
            Section::Latency => latency(config, progress, &mut rows)?,
            Section::Drain => drain(config, progress, &mut rows)?,
            Section::Startup => startup(config, progress, &mut rows)?,
            Section::Peer => peer(config, progress, &mut rows, &mut skipped)?,
            Section::Idle => idle(config, progress, &mut rows)?,
            Section::Scale => scale(config, progress, &mut rows)?,
        }
    }
    Ok(BenchReport {
        rows,
        load_before,
        load_after: loadavg(),
        skipped,
    })
}

fn loadavg() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn folder_err(path: &Path) -> impl Fn(std::io::Error) -> LabError + '_ {
    move |source| LabError::Folder {
        path: path.to_owned(),
        source,
    }
}

fn floor_err(e: floor::FloorError) -> LabError {
    LabError::Bench(e.to_string())
}

fn fresh_spool(base: &Path) -> Result<(tempfile::TempDir, Spool), LabError> {
    let tmp = tempfile::Builder::new()
        .prefix("spoolq-bench-")
        .tempdir_in(base)
        .map_err(folder_err(base))?;
    let spool = Spool::create(&tmp.path().join("spool"), CreateOptions::default())?;
    Ok((tmp, spool))
}

fn rate_row(
    section: Section,
    place: &str,
    what: String,
    runs: Vec<f64>,
    floor_runs: Vec<f64>,
    target_ratio: f64,
) -> BenchRow {
    let value = median_f64(runs.clone());
    let floor = median_f64(floor_runs.clone());
    let ratio = if floor > 0.0 { value / floor } else { 0.0 };
    BenchRow {
        section: section.as_str().to_owned(),
        place: place.to_owned(),
        what,
        value,
        floor: Some(floor),
        unit: "jobs/s".to_owned(),
        ratio: Some(ratio),
        target: format!(">= {target_ratio:.2} of floor"),
        met: Some(ratio >= target_ratio),
        runs,
        floor_runs,
    }
}

/// How the bench runs `spoolq daemon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchDaemon {
    /// The built-in handler until stopped (e2e, latency, idle CPU).
    Serve,
    /// The built-in handler, exiting once new/ is empty (inproc, idle drain, scale).
    Drain,
    /// Handler `true`, exiting once new/ is empty (exec).
    DrainExecTrue,
}

impl BenchDaemon {
    /// Every setup.
    pub const ALL: [BenchDaemon; 3] = [
        BenchDaemon::Serve,
        BenchDaemon::Drain,
        BenchDaemon::DrainExecTrue,
    ];
}

/// The daemon's settings for `kind` with `workers` on `spool`.
pub fn daemon_args(kind: BenchDaemon, spool: &Path, workers: usize) -> DaemonArgs {
    let mut args = DaemonArgs::new(spool);
    args.config.workers = workers;
    args.config.drain = kind != BenchDaemon::Serve;
    if kind == BenchDaemon::DrainExecTrue {
        args.config.command = Some(vec!["true".into()]);
    }
    args
}

/// `spoolq produce` as the bench runs it: `count` jobs, no fsync, at `rate` if given.
pub fn producer_args(
    config: &BenchConfig,
    spool: &Path,
    count: u64,
    rate: Option<f64>,
) -> ProduceArgs {
    ProduceArgs {
        spool: spool.to_owned(),
        count,
        size: config.payload_size,
        rate,
        sync: spoolq_producer::SyncMode::Never,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, LabError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| LabError::Bench(format!("starting a tokio runtime: {e}")))
}

/// Drains the spool at `spool` with the daemon library in this process.
fn drain_in_process(
    rt: &tokio::runtime::Runtime,
    spool: &Path,
    workers: usize,
    strategy: spoolq_claim::Strategy,
) -> Result<spoolq_daemon::Summary, LabError> {
    let mut config = daemon_args(BenchDaemon::Drain, spool, workers).config;
    config.strategy = Some(strategy);
    // The bench measures what a strategy costs wherever it is pointed, also verified on
    // a shared file system, where it is not correct.
    config.force_claim = true;
    rt.block_on(spoolq_daemon::run(config, std::future::pending()))
        .map_err(|e| LabError::Bench(format!("daemon: {e}")))
}

/// The shared floor's private folder, `claimed/floor/`.
fn floor_private(spool: &Spool) -> Result<spoolq_os::Dir, LabError> {
    let claimed = spool.claimed()?;
    let name = std::ffi::OsStr::new("floor");
    claimed
        .create_subdir(name, 0o700)
        .and_then(|_| claimed.open_subdir(name))
        .map_err(|e| floor_err(floor::FloorError::Dir(e)))
}

fn inproc(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    let rt = runtime()?;
    let n = config.inproc_jobs;
    let strategies = &config.strategies;
    for (place, base) in config.places() {
        let place = place.as_str();
        let mut runs = vec![Vec::new(); strategies.len()];
        let mut floors = vec![Vec::new(); strategies.len()];
        for r in 1..=config.repeat {
            for (index, &strategy) in strategies.iter().enumerate() {
                // Each strategy against the raw loop of its own calls, right before it.
                progress(&format!(
                    "inproc {place} run {r}/{}: floor, {strategy}",
                    config.repeat
                ));
                let (_t, spool) = fresh_spool(base)?;
                floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
                let start = Instant::now();
                let done = match strategy {
                    spoolq_claim::Strategy::Shared => {
                        let private = floor_private(&spool)?;
                        floor::consume_all_taking(spool.new_dir(), &private)
                    }
                    _ => floor::consume_all(spool.new_dir(), true),
                }
                .map_err(floor_err)?;
                floors[index].push(done as f64 / start.elapsed().as_secs_f64());
                drop((_t, spool));

                progress(&format!(
                    "inproc {place} run {r}/{}: spoolq, {strategy}",
                    config.repeat
                ));
                let (_t, spool) = fresh_spool(base)?;
                floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
                let start = Instant::now();
                let summary = drain_in_process(&rt, spool.path(), config.workers, strategy)?;
                let elapsed = start.elapsed().as_secs_f64();
                if summary.completed != n {
                    return Err(LabError::Bench(format!(
                        "inproc: the daemon ({strategy}) completed {} of {n} jobs",
                        summary.completed
                    )));
                }
                runs[index].push(n as f64 / elapsed);
            }
        }
        for ((&strategy, runs), floors) in strategies.iter().zip(runs).zip(floors) {
            rows.push(rate_row(
                Section::Inproc,
                place,
                format!(
                    "claim+complete, daemon library, built-in handler, {strategy}, {} workers, \
                     {n} jobs",
                    config.workers
                ),
                runs,
                floors,
                0.8,
            ));
        }
    }
    Ok(())
}

/// `Spool::drop_job` against the raw producer loop, in alternating chunks of 250 jobs
/// (so both see the same moments of the file system's and the machine's weather).
fn produce(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    use spoolq_spool::Durability;
    const CHUNK: u64 = 250;
    let payload = vec![b'x'; config.payload_size];
    for (place, base) in config.places() {
        for (sync, durability, n) in [
            ("no fsync", Durability::NEVER, 5_000u64),
            ("fsync", Durability::ALWAYS, 2_000),
        ] {
            if place == "tmpfs" && durability.fsync_file {
                continue;
            }
            let (mut runs, mut floors) = (Vec::new(), Vec::new());
            for r in 1..=config.repeat {
                progress(&format!("produce {place} {sync} run {r}/{}", config.repeat));
                // One spool for both: two folders made one after the other need not take
                // creates at the same cost (docs/performance.md, "Produce"), and a ratio
                // must not measure that difference.
                let (_a, spool) = fresh_spool(base)?;
                let floor_spool = &spool;
                let (mut floor_t, mut spoolq_t) = (Duration::ZERO, Duration::ZERO);
                let chunk = CHUNK.min(n);
                for c in 0..n.div_ceil(chunk) {
                    // Alternate who goes first, so neither always follows the other's
                    // journal commits.
                    for turn in [c % 2, 1 - c % 2] {
                        let start = Instant::now();
                        if turn == 0 {
                            if durability.fsync_file {
                                floor::produce_synced(floor_spool, chunk, config.payload_size)
                            } else {
                                floor::produce_into(floor_spool, chunk, config.payload_size)
                            }
                            .map_err(floor_err)?;
                            floor_t += start.elapsed();
                        } else {
                            for _ in 0..chunk {
                                spool
                                    .drop_job(
                                        spoolq_spool::JobId::generate(),
                                        &mut payload.as_slice(),
                                        durability,
                                    )
                                    .map_err(|e| LabError::Bench(format!("drop_job: {e}")))?;
                            }
                            spoolq_t += start.elapsed();
                        }
                    }
                }
                let total = (n.div_ceil(chunk) * chunk) as f64;
                floors.push(total / floor_t.as_secs_f64());
                runs.push(total / spoolq_t.as_secs_f64());
            }
            rows.push(rate_row(
                Section::Produce,
                &place,
                format!("Spool::drop_job, {sync}, {n} jobs in alternating chunks of {CHUNK}"),
                runs,
                floors,
                0.8,
            ));
        }
    }
    Ok(())
}

fn spawn(command: &mut Command, what: &str) -> Result<Child, LabError> {
    command
        .spawn()
        .map_err(|e| LabError::Bench(format!("starting {what}: {e}")))
}

fn wait_ok(child: &mut Child, what: &str) -> Result<(), LabError> {
    let status = child
        .wait()
        .map_err(|e| LabError::Bench(format!("waiting for {what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(LabError::Bench(format!("{what} exited with {status}")))
    }
}

/// Names in `dir` that are not hidden.
fn count_jobs(dir: &Dir) -> u64 {
    dir.entries()
        .map(|e| {
            e.filter_map(Result::ok)
                .filter(|n| n.as_encoded_bytes().first() != Some(&b'.'))
                .count() as u64
        })
        .unwrap_or(u64::MAX)
}

fn wait_empty(dir: &Dir, timeout: Duration) -> Result<(), LabError> {
    let start = Instant::now();
    while count_jobs(dir) != 0 {
        if start.elapsed() > timeout {
            return Err(LabError::Bench(format!(
                "{} did not empty within {timeout:?}",
                dir.path().display()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn stop(child: &mut Child) {
    let _ = signal_process_group(child.id(), Signal::Term);
    let _ = child.wait();
}

/// A `spoolq daemon` process in a process group of its own, logging to `log`.
fn daemon_command(exe: &Path, daemon: &DaemonArgs, log: &Path) -> Result<Command, LabError> {
    let log = std::fs::File::create(log).map_err(folder_err(log))?;
    let mut command = daemon.command(exe)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .process_group(0);
    Ok(command)
}

fn e2e(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    let n = config.e2e_jobs;
    let timeout = Duration::from_secs(600);
    for (place, base) in config.places() {
        let (mut runs, mut floors) = (Vec::new(), Vec::new());
        // CPU time per job of each process (us), the floor's pair and spoolq's.
        let mut cpu = E2eCpu::default();
        for r in 1..=config.repeat {
            progress(&format!("e2e {place} run {r}/{}: floor", config.repeat));
            let (t, spool) = fresh_spool(base)?;
            let mut children = ChildrenCpu::start();
            let start = Instant::now();
            let mut consumer = spawn(
                &mut FloorArgs::Consume {
                    spool: spool.path().to_owned(),
                    count: n,
                }
                .command(&config.exe),
                "the floor consumer",
            )?;
            let mut producer = spawn(
                &mut FloorArgs::Produce {
                    spool: spool.path().to_owned(),
                    count: n,
                    size: config.payload_size,
                }
                .command(&config.exe),
                "the floor producer",
            )?;
            wait_ok(&mut producer, "the floor producer")?;
            cpu.floor_producer.extend(children.per_job_us(n));
            wait_ok(&mut consumer, "the floor consumer")?;
            floors.push(n as f64 / start.elapsed().as_secs_f64());
            cpu.floor_consumer.extend(children.per_job_us(n));
            drop((t, spool));

            progress(&format!("e2e {place} run {r}/{}: spoolq", config.repeat));
            let (t, spool) = fresh_spool(base)?;
            let log = t.path().join("daemon.log");
            let mut children = ChildrenCpu::start();
            let start = Instant::now();
            let serve = daemon_args(BenchDaemon::Serve, spool.path(), config.workers);
            let mut daemon = spawn(
                &mut daemon_command(&config.exe, &serve, &log)?,
                "the daemon",
            )?;
            let mut producer = spawn(
                producer_args(config, spool.path(), n, None)
                    .command(&config.exe)
                    .stdout(Stdio::null()),
                "spoolq produce",
            )?;
            let produced = wait_ok(&mut producer, "spoolq produce");
            cpu.producer.extend(children.per_job_us(n));
            let emptied = produced.and_then(|()| wait_empty(spool.new_dir(), timeout));
            let elapsed = start.elapsed().as_secs_f64();
            stop(&mut daemon);
            emptied?;
            runs.push(n as f64 / elapsed);
            cpu.daemon.extend(children.per_job_us(n));
        }
        rows.push(rate_row(
            Section::E2e,
            &place,
            format!(
                "produce (--sync never) and daemon (built-in, {} workers) as two processes, {n} jobs",
                config.workers
            ),
            runs,
            floors,
            // Issue 17's target for the two processes (docs/performance.md).
            0.8,
        ));
        if let Some(row) = cpu.row(&place, config.workers) {
            rows.push(row);
        }
    }
    Ok(())
}

/// The CPU time of the e2e section's processes: what they pay per job, where the rate
/// alone cannot tell a slower process from one that waits.
#[derive(Default)]
struct E2eCpu {
    floor_producer: Vec<f64>,
    floor_consumer: Vec<f64>,
    producer: Vec<f64>,
    daemon: Vec<f64>,
}

impl E2eCpu {
    /// One informative row, spoolq's two processes against the floors' (medians, us of CPU
    /// per job); none if a figure is missing in every run.
    fn row(&self, place: &str, workers: usize) -> Option<BenchRow> {
        let parts = [
            &self.producer,
            &self.daemon,
            &self.floor_producer,
            &self.floor_consumer,
        ];
        if parts.iter().any(|runs| runs.is_empty()) {
            return None;
        }
        let [producer, daemon, floor_producer, floor_consumer] =
            parts.map(|runs| median_f64(runs.clone()));
        let sum = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
        let value = producer + daemon;
        let floor = floor_producer + floor_consumer;
        Some(cpu_row(
            Section::E2e,
            place,
            format!(
                "CPU per job of the two processes: produce {producer:.1} + daemon ({workers} \
                 workers) {daemon:.1} us, the floors {floor_producer:.1} + {floor_consumer:.1} us"
            ),
            (value, floor),
            sum(&self.producer, &self.daemon),
            sum(&self.floor_producer, &self.floor_consumer),
        ))
    }
}

/// An informative row of CPU per job: spoolq's `value` and the floor's (us), with every
/// run's; the ratio is floor / value, 1.0 = as little CPU as the floor.
fn cpu_row(
    section: Section,
    place: &str,
    what: String,
    (value, floor): (f64, f64),
    runs: Vec<f64>,
    floor_runs: Vec<f64>,
) -> BenchRow {
    BenchRow {
        section: section.as_str().to_owned(),
        place: place.to_owned(),
        what,
        value,
        floor: Some(floor),
        unit: "us CPU/job".to_owned(),
        ratio: (value > 0.0).then(|| floor / value),
        target: "informative".to_owned(),
        met: None,
        runs,
        floor_runs,
    }
}

/// CPU time of the children waited for since the last reading: each reading after a
/// child's wait is that child's alone ([`spoolq_os::process::waited_children_cpu`]).
struct ChildrenCpu {
    last: Option<CpuTime>,
}

/// Microseconds of CPU per job, in user space and in the kernel.
#[derive(Clone, Copy)]
struct CpuPerJob {
    user_us: f64,
    system_us: f64,
}

impl CpuPerJob {
    fn total_us(self) -> f64 {
        self.user_us + self.system_us
    }
}

impl ChildrenCpu {
    fn start() -> ChildrenCpu {
        ChildrenCpu {
            last: spoolq_os::process::waited_children_cpu().ok(),
        }
    }

    /// CPU per job (of `jobs`) since the last reading; None if the system would not say.
    fn per_job(&mut self, jobs: u64) -> Option<CpuPerJob> {
        let now = spoolq_os::process::waited_children_cpu().ok();
        let used = match (now, self.last) {
            (Some(now), Some(last)) => now.since(last),
            _ => None,
        };
        self.last = now;
        let per_job_us = |d: Duration| d.as_secs_f64() * 1e6 / jobs as f64;
        used.filter(|_| jobs > 0).map(|used| CpuPerJob {
            user_us: per_job_us(used.user),
            system_us: per_job_us(used.system),
        })
    }

    /// Total microseconds of CPU per job since the last reading.
    fn per_job_us(&mut self, jobs: u64) -> Option<f64> {
        self.per_job(jobs).map(CpuPerJob::total_us)
    }
}

fn exec(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    let n = config.exec_jobs;
    let base = config.tmpfs.as_deref().unwrap_or(&config.disk);
    let place = if config.tmpfs.is_some() {
        "tmpfs"
    } else {
        "disk"
    };
    let (mut runs, mut floors) = (Vec::new(), Vec::new());
    for r in 1..=config.repeat {
        progress(&format!("exec run {r}/{}: xargs", config.repeat));
        let (t, spool) = fresh_spool(base)?;
        floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
        let start = Instant::now();
        let mut xargs = spawn(
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "find \"$1\" -type f -print0 | xargs -0 -P {} -n 1 true",
                    config.workers
                ))
                .arg("sh")
                .arg(spool.new_dir().path()),
            "xargs",
        )?;
        wait_ok(&mut xargs, "xargs")?;
        floors.push(n as f64 / start.elapsed().as_secs_f64());
        drop((t, spool));

        progress(&format!("exec run {r}/{}: spoolq", config.repeat));
        let (t, spool) = fresh_spool(base)?;
        floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
        let log = t.path().join("daemon.log");
        let start = Instant::now();
        let exec_true = daemon_args(BenchDaemon::DrainExecTrue, spool.path(), config.workers);
        let mut daemon = spawn(
            &mut daemon_command(&config.exe, &exec_true, &log)?,
            "the daemon",
        )?;
        wait_ok(&mut daemon, "the daemon")?;
        runs.push(n as f64 / start.elapsed().as_secs_f64());
    }
    rows.push(rate_row(
        Section::Exec,
        place,
        format!(
            "handler `true`: daemon --drain -- true against find | xargs -0 -P {} -n 1 true, {n} jobs",
            config.workers
        ),
        runs,
        floors,
        0.8,
    ));
    Ok(())
}

fn latency(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    let n = config.latency_jobs;
    for (place, base) in config.places() {
        let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
        for r in 1..=config.repeat {
            progress(&format!(
                "latency {place} run {r}/{}: {n} jobs at {}/s",
                config.repeat, config.rate
            ));
            let (t, spool) = fresh_spool(base)?;
            let log = t.path().join("daemon.log");
            let serve = daemon_args(BenchDaemon::Serve, spool.path(), config.workers);
            let mut daemon = spawn(
                &mut daemon_command(&config.exe, &serve, &log)?,
                "the daemon",
            )?;
            // Let it start its watcher before the first job is offered.
            std::thread::sleep(Duration::from_millis(300));
            let mut producer = spawn(
                producer_args(config, spool.path(), n, Some(config.rate))
                    .command(&config.exe)
                    .stdout(Stdio::null()),
                "spoolq produce",
            )?;
            let produced = wait_ok(&mut producer, "spoolq produce");
            let emptied =
                produced.and_then(|()| wait_empty(spool.new_dir(), Duration::from_secs(60)));
            stop(&mut daemon);
            emptied?;
            let report = spoolq_auditor::audit(&AuditInput {
                spool: Some(spool.path().to_owned()),
                journals: Vec::new(),
                ..AuditInput::default()
            })?;
            let l = report
                .latency
                .produced_to_claimed
                .ok_or_else(|| LabError::Bench("latency: no produced-to-claimed samples".into()))?;
            p50s.push(l.p50_ns as f64 / 1e6);
            p99s.push(l.p99_ns as f64 / 1e6);
        }
        for (what, runs, limit) in [("p50", p50s, 1.0), ("p99", p99s, 10.0)] {
            let value = median_f64(runs.clone());
            rows.push(BenchRow {
                section: Section::Latency.as_str().to_owned(),
                place: place.to_owned(),
                what: format!(
                    "produced->claimed {what}, watcher, {n} jobs offered at {}/s",
                    config.rate
                ),
                value,
                floor: None,
                unit: "ms".to_owned(),
                ratio: None,
                target: format!("<= {limit} ms"),
                met: Some(value <= limit),
                runs,
                floor_runs: Vec::new(),
            });
        }
    }
    Ok(())
}

/// Where the single-place sections run: tmpfs if there is one, else the disk.
fn tmpfs_or_disk(config: &BenchConfig) -> (&'static str, &Path) {
    match &config.tmpfs {
        Some(t) => ("tmpfs", t.as_path()),
        None => ("disk", config.disk.as_path()),
    }
}

/// Starts `command` and waits for it to exit successfully; returns the seconds from
/// start to exit.
fn time_process(command: &mut Command, what: &str) -> Result<f64, LabError> {
    let start = Instant::now();
    let mut child = spawn(command.stdin(Stdio::null()), what)?;
    wait_ok(&mut child, what)?;
    Ok(start.elapsed().as_secs_f64())
}

/// `spoolq daemon --drain --workers 1` on `spool` until it exits, its log in `log`;
/// the seconds from start to exit.
fn time_drain_one_worker(exe: &Path, spool: &Path, log: &Path) -> Result<f64, LabError> {
    let drain = daemon_args(BenchDaemon::Drain, spool, 1);
    time_process(&mut daemon_command(exe, &drain, log)?, "the daemon")
}

/// The one-worker drain as a process against the raw consumer loop as a process, both
/// on a spool pre-filled (untimed) with the same number of jobs, start to exit.
fn drain(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    let n = config.drain_jobs;
    let (place, base) = tmpfs_or_disk(config);
    let (mut runs, mut floors) = (Vec::new(), Vec::new());
    let (mut daemon_cpu, mut floor_cpu) = (Vec::new(), Vec::new());
    for r in 1..=config.repeat {
        progress(&format!("drain {place} run {r}/{}: floor", config.repeat));
        let (t, spool) = fresh_spool(base)?;
        floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
        let mut children = ChildrenCpu::start();
        let secs = time_process(
            &mut FloorArgs::Consume {
                spool: spool.path().to_owned(),
                count: n,
            }
            .command(&config.exe),
            "the floor consumer",
        )?;
        floors.push(n as f64 / secs);
        floor_cpu.extend(children.per_job(n));
        drop((t, spool));

        progress(&format!("drain {place} run {r}/{}: spoolq", config.repeat));
        let (t, spool) = fresh_spool(base)?;
        floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
        let mut children = ChildrenCpu::start();
        let secs = time_drain_one_worker(&config.exe, spool.path(), &t.path().join("daemon.log"))?;
        daemon_cpu.extend(children.per_job(n));
        let left = count_jobs(spool.new_dir());
        if left != 0 {
            return Err(LabError::Bench(format!(
                "drain: the daemon exited with {left} jobs left in new/"
            )));
        }
        runs.push(n as f64 / secs);
    }
    rows.push(rate_row(
        Section::Drain,
        place,
        format!(
            "`spoolq daemon --drain --workers 1` (process, start to exit) against \
             `spoolq lab floor-consume` (process), {n} pre-filled jobs"
        ),
        runs,
        floors,
        0.85,
    ));
    if !daemon_cpu.is_empty() && !floor_cpu.is_empty() {
        let median = |cpu: &[CpuPerJob], part: fn(CpuPerJob) -> f64| {
            median_f64(cpu.iter().copied().map(part).collect())
        };
        let (user, system) = (
            median(&daemon_cpu, |c| c.user_us),
            median(&daemon_cpu, |c| c.system_us),
        );
        let (floor_user, floor_system) = (
            median(&floor_cpu, |c| c.user_us),
            median(&floor_cpu, |c| c.system_us),
        );
        let value = median(&daemon_cpu, CpuPerJob::total_us);
        let floor = median(&floor_cpu, CpuPerJob::total_us);
        let totals = |cpu: &[CpuPerJob]| cpu.iter().copied().map(CpuPerJob::total_us).collect();
        rows.push(cpu_row(
            Section::Drain,
            place,
            format!(
                "CPU per job: the daemon user {user:.1} + system {system:.1} us, the floor \
                 user {floor_user:.1} + system {floor_system:.1} us"
            ),
            (value, floor),
            totals(&daemon_cpu),
            totals(&floor_cpu),
        ));
    }
    Ok(())
}

/// Start-up: `spoolq daemon --drain` on an empty spool, start to exit, against a process
/// of the same binary that only opens the spool; medians of `startup_runs` starts per
/// repeat, the two alternating start by start.
fn startup(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    const TARGET_MS: f64 = 10.0;
    let (place, base) = tmpfs_or_disk(config);
    let (mut runs, mut floors) = (Vec::new(), Vec::new());
    for r in 1..=config.repeat {
        progress(&format!(
            "startup {place} run {r}/{}: {} starts each",
            config.repeat, config.startup_runs
        ));
        let (t, spool) = fresh_spool(base)?;
        let log = t.path().join("daemon.log");
        let mut drain = DaemonArgs::new(spool.path());
        drain.config.drain = true;
        let (mut mine, mut floor) = (Vec::new(), Vec::new());
        for _ in 0..config.startup_runs {
            let secs = time_process(
                &mut FloorArgs::Consume {
                    spool: spool.path().to_owned(),
                    count: 0,
                }
                .command(&config.exe),
                "the floor consumer",
            )?;
            floor.push(secs * 1e3);
            let secs = time_process(
                &mut daemon_command(&config.exe, &drain, &log)?,
                "the daemon",
            )?;
            mine.push(secs * 1e3);
        }
        runs.push(median_f64(mine));
        floors.push(median_f64(floor));
    }
    let value = median_f64(runs.clone());
    let floor = median_f64(floors.clone());
    rows.push(BenchRow {
        section: Section::Startup.as_str().to_owned(),
        place: place.to_owned(),
        what: format!(
            "`spoolq daemon --drain` on an empty spool, start to exit (median of {} starts), \
             against `spoolq lab floor-consume --count 0` (starts and opens the spool)",
            config.startup_runs
        ),
        value,
        floor: Some(floor),
        unit: "ms".to_owned(),
        ratio: Some(if value > 0.0 { floor / value } else { 0.0 }),
        target: format!("<= {TARGET_MS} ms"),
        met: Some(value <= TARGET_MS),
        runs,
        floor_runs: floors,
    });
    Ok(())
}

/// python-dirq's QueueSimple against spoolq on the same tmpfs, each side a process per
/// step: add N jobs (`spoolq produce --count N --sync never`), then consume them
/// (lock, get, remove; the one-worker drain).
fn peer(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
    skipped: &mut Vec<String>,
) -> Result<(), LabError> {
    let n = config.drain_jobs;
    let (place, base) = tmpfs_or_disk(config);
    progress("peer: installing python-dirq into a virtual environment");
    let work = tempfile::Builder::new()
        .prefix("spoolq-bench-peer-")
        .tempdir_in(&config.disk)
        .map_err(folder_err(&config.disk))?;
    let dirq = match crate::peer::Dirq::install(work.path()) {
        Ok(dirq) => dirq,
        Err(reason) => {
            let line = format!("peer {place}: python-dirq could not be installed: {reason}");
            progress(&format!("SKIPPED {line}"));
            skipped.push(line);
            return Ok(());
        }
    };
    let (mut add, mut produce) = (Vec::new(), Vec::new());
    let (mut take, mut drain) = (Vec::new(), Vec::new());
    for r in 1..=config.repeat {
        progress(&format!(
            "peer {place} run {r}/{}: dirq {}",
            config.repeat, dirq.version
        ));
        let (t, _spool) = fresh_spool(base)?;
        let queue = t.path().join("dirq");
        let secs = time_process(
            dirq.add(&queue, n, config.payload_size)
                .stdout(Stdio::null()),
            "dirq add",
        )?;
        add.push(n as f64 / secs);
        let start = Instant::now();
        let output = dirq
            .drain(&queue)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| LabError::Bench(format!("starting dirq drain: {e}")))?;
        let secs = start.elapsed().as_secs_f64();
        match crate::peer::done_count(&output) {
            Some(done) if output.status.success() && done == n => {}
            done => {
                return Err(LabError::Bench(format!(
                    "dirq drain exited with {} having consumed {done:?} of {n} jobs: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
        }
        take.push(n as f64 / secs);
        drop(t);

        progress(&format!("peer {place} run {r}/{}: spoolq", config.repeat));
        let (t, spool) = fresh_spool(base)?;
        let secs = time_process(
            producer_args(config, spool.path(), n, None)
                .command(&config.exe)
                .stdout(Stdio::null()),
            "spoolq produce",
        )?;
        produce.push(n as f64 / secs);
        let secs = time_drain_one_worker(&config.exe, spool.path(), &t.path().join("daemon.log"))?;
        drain.push(n as f64 / secs);
    }
    let informative = |mut row: BenchRow| {
        row.target = "informative (a peer)".to_owned();
        row.met = None;
        row
    };
    rows.push(informative(rate_row(
        Section::Peer,
        place,
        format!(
            "add: `spoolq produce --count {n} --sync never` against python-dirq {} \
             QueueSimple.add, {n} jobs of {} bytes (processes, start to exit)",
            dirq.version, config.payload_size
        ),
        produce,
        add,
        0.0,
    )));
    rows.push(informative(rate_row(
        Section::Peer,
        place,
        format!(
            "consume: `spoolq daemon --drain --workers 1` against python-dirq {} \
             QueueSimple lock+get+remove, {n} jobs (processes, start to exit)",
            dirq.version
        ),
        drain,
        take,
        0.0,
    )));
    Ok(())
}

/// CPU time (user + system, all threads) of process `pid` in nanoseconds, from
/// `/proc/<pid>/task/*/schedstat` (Linux).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Peak resident set size of process `pid` in KiB (VmHWM, Linux).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn idle(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    let n = config.idle_burst;
    progress(&format!("idle disk: a burst of {n} jobs through new/"));
    let (t, spool) = fresh_spool(&config.disk)?;
    let empty = Spool::create(&t.path().join("fresh"), CreateOptions::default())?;
    floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
    floor::consume_all(spool.new_dir(), true).map_err(floor_err)?;
    let list_ms = |dir: &Dir| {
        let mut times: Vec<f64> = (0..21)
            .map(|_| {
                let start = Instant::now();
                let _ = count_jobs(dir);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let bloated = list_ms(spool.new_dir());
    let fresh = list_ms(empty.new_dir());
    let size = spool.new_dir().stat().map(|s| s.size).unwrap_or(0);
    rows.push(BenchRow {
        section: Section::Idle.as_str().to_owned(),
        place: "disk".to_owned(),
        what: format!(
            "listing the empty new/ after a {n}-job burst (directory size {size} bytes) against a fresh one"
        ),
        value: bloated,
        floor: Some(fresh),
        unit: "ms".to_owned(),
        ratio: None,
        target: "informative".to_owned(),
        met: None,
        runs: vec![bloated],
        floor_runs: vec![fresh],
    });

    let secs = config.idle_for.as_secs_f64();
    progress(&format!(
        "idle disk: daemon CPU over {secs:.0} s on the bloated empty new/"
    ));
    let log = t.path().join("daemon.log");
    let serve = daemon_args(BenchDaemon::Serve, spool.path(), config.workers);
    let mut daemon = spawn(
        &mut daemon_command(&config.exe, &serve, &log)?,
        "the daemon",
    )?;
    // Past start-up (runtime, watcher, first listing).
    std::thread::sleep(Duration::from_secs(1));
    let before = cpu_ns(daemon.id());
    std::thread::sleep(config.idle_for);
    let after = cpu_ns(daemon.id());
    stop(&mut daemon);
    if let (Some(before), Some(after)) = (before, after) {
        let ms = (after.saturating_sub(before)) as f64 / 1e6;
        rows.push(BenchRow {
            section: Section::Idle.as_str().to_owned(),
            place: "disk".to_owned(),
            what: format!("idle daemon CPU (user+system) over {secs:.0} s on that folder"),
            value: ms,
            floor: None,
            unit: "ms".to_owned(),
            ratio: None,
            target: format!("<= {:.0} ms (1 %)", secs * 10.0),
            met: Some(ms <= secs * 10.0),
            runs: vec![ms],
            floor_runs: Vec::new(),
        });
    }

    progress("idle disk: drain exit check on the bloated empty new/");
    let mut times = Vec::new();
    for _ in 0..config.repeat {
        let start = Instant::now();
        let drain = daemon_args(BenchDaemon::Drain, spool.path(), config.workers);
        let mut daemon = spawn(
            &mut daemon_command(&config.exe, &drain, &log)?,
            "the daemon",
        )?;
        wait_ok(&mut daemon, "the daemon")?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    rows.push(BenchRow {
        section: Section::Idle.as_str().to_owned(),
        place: "disk".to_owned(),
        what:
            "`spoolq daemon --drain` start to exit on that folder (on-demand start, nothing to do)"
                .to_owned(),
        value: median_f64(times.clone()),
        floor: None,
        unit: "ms".to_owned(),
        ratio: None,
        target: "informative".to_owned(),
        met: None,
        runs: times,
        floor_runs: Vec::new(),
    });
    Ok(())
}

fn scale(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
    rows: &mut Vec<BenchRow>,
) -> Result<(), LabError> {
    let drain = |n: u64, progress: &mut dyn FnMut(&str)| -> Result<(f64, Option<u64>), LabError> {
        progress(&format!("scale disk: filling {n} jobs"));
        let (t, spool) = fresh_spool(&config.disk)?;
        floor::produce_into(&spool, n, config.payload_size).map_err(floor_err)?;
        progress(&format!("scale disk: draining {n} jobs"));
        let log = t.path().join("daemon.log");
        let start = Instant::now();
        let drain = daemon_args(BenchDaemon::Drain, spool.path(), config.workers);
        let mut daemon = spawn(
            &mut daemon_command(&config.exe, &drain, &log)?,
            "the daemon",
        )?;
        let mut peak = None;
        loop {
            if let Some(kib) = peak_rss_kib(daemon.id()) {
                peak = Some(peak.unwrap_or(0).max(kib));
            }
            match daemon.try_wait() {
                Ok(Some(status)) if status.success() => break,
                Ok(Some(status)) => {
                    return Err(LabError::Bench(format!("the daemon exited with {status}")));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(LabError::Bench(format!("waiting for the daemon: {e}"))),
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        Ok((n as f64 / elapsed, peak))
    };
    let mut small = Vec::new();
    let mut small_rss = Vec::new();
    for _ in 0..config.repeat {
        let (rate, rss) = drain(config.scale_base, progress)?;
        small.push(rate);
        small_rss.extend(rss);
    }
    let (big, big_rss) = drain(config.scale_jobs, progress)?;
    rows.push(rate_row(
        Section::Scale,
        "disk",
        format!(
            "drain rate of a {}-job spool against a {}-job one (daemon process, built-in handler)",
            config.scale_jobs, config.scale_base
        ),
        vec![big],
        small,
        0.8,
    ));
    let mib = big_rss.map(|k| k as f64 / 1024.0).unwrap_or(f64::NAN);
    let small_mib = small_rss.iter().max().map(|&k| k as f64 / 1024.0);
    rows.push(BenchRow {
        section: Section::Scale.as_str().to_owned(),
        place: "disk".to_owned(),
        what: format!(
            "daemon peak RSS (VmHWM) draining {} jobs",
            config.scale_jobs
        ),
        value: mib,
        floor: small_mib,
        unit: "MiB".to_owned(),
        ratio: None,
        target: "<= 100 MiB".to_owned(),
        met: Some(mib <= 100.0),
        runs: vec![mib],
        floor_runs: small_mib.into_iter().collect(),
    });
    Ok(())
}

/// The bench's table.
pub fn render_bench(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<6} {:>12} {:>12} {:<7} {:>6}  {:<22} {:<4}  what",
        "section", "place", "spoolq", "floor", "unit", "ratio", "target", "met"
    );
    for row in &report.rows {
        let _ = writeln!(
            out,
            "{:<8} {:<6} {:>12.2} {:>12} {:<7} {:>6}  {:<22} {:<4}  {}",
            row.section,
            row.place,
            row.value,
            row.floor.map(|f| format!("{f:.2}")).unwrap_or_default(),
            row.unit,
            row.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
            row.target,
            match row.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            },
            row.what
        );
    }
    for line in &report.skipped {
        let _ = writeln!(out, "SKIPPED {line}");
    }
    let _ = writeln!(
        out,
        "(medians; spoolq and floor interleaved per repeat; load average before {} after {})",
        report.load_before.as_deref().unwrap_or("?"),
        report.load_after.as_deref().unwrap_or("?")
    );
    out
}
