//! `spoolq lab`: the race reproduced across processes, naive against verified.

use spoolq_claim::Strategy;
use spoolq_lab::argv::{floor_flag, subcommand};
use spoolq_lab::bench::BenchConfig;
use spoolq_lab::{LabConfig, Progress};
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::cmd::value::{HumanDuration, comma_list};
use crate::output::{self, Stdout};
use crate::{Error, Exit};

/// Run many consumer processes on one spool, once per strategy, and show in one table
/// the naive strategy's duplicates and the verified strategy's none.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  spoolq lab\n  spoolq lab --repeat 5 --jobs 2000\n  spoolq lab --race-window 1ms --spool /tmp/lab   # widen the window, keep the journals\n  spoolq lab --exec 'cat > /dev/null' --strategy verified\n  spoolq lab --mounts /mnt/a,/mnt/b,/mnt/c --jobs 3000 --consumers 3   # across mounts of one shared volume"
)]
pub struct Args {
    /// Jobs produced per run.
    #[arg(long, default_value_t = LabConfig::DEFAULT_JOBS)]
    jobs: u64,
    /// Consumer daemons (separate processes) racing over the spool.
    #[arg(long, default_value_t = LabConfig::DEFAULT_CONSUMERS, value_parser = at_least_one())]
    consumers: usize,
    #[arg(long, value_parser = at_least_one(),
          help = mode_defaults("Workers per consumer (with --bench: of the daemon, and xargs' -P)",
                               LabConfig::DEFAULT_WORKERS, BenchConfig::DEFAULT_WORKERS))]
    workers: Option<usize>,
    /// Simulated work per job.
    #[arg(long, value_name = "DURATION", default_value_t = HumanDuration(LabConfig::DEFAULT_WORK))]
    work: HumanDuration,
    #[arg(long, value_delimiter = ',', default_values_t = LabConfig::DEFAULT_STRATEGIES,
          hide_default_value = true,
          help = format!("Strategies to run, in order [default: {}]",
                         comma_list(&LabConfig::DEFAULT_STRATEGIES)))]
    strategy: Vec<Strategy>,
    /// Pause injected between open and lock (through the claim step hook), to widen
    /// the race window.
    #[arg(long, value_name = "DURATION")]
    race_window: Option<HumanDuration>,
    /// Keep the spools and journals in DIR for inspection.
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Mount points of one shared volume (the same folder reached through each, as from
    /// several hosts): the spool is made and its jobs produced through the first, and
    /// the consumers are started on the mounts in turn. See docs/multi-host.md.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', conflicts_with_all = ["spool", "bench"])]
    mounts: Vec<PathBuf>,
    /// Run COMMAND (with `sh -c`) as the handler instead of simulated work.
    #[arg(long, value_name = "COMMAND")]
    exec: Option<String>,
    #[arg(long, value_parser = at_least_one(),
          help = mode_defaults("Runs per strategy (with --bench: per figure); the table shows medians",
                               LabConfig::DEFAULT_REPEAT, BenchConfig::DEFAULT_REPEAT))]
    repeat: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Do not journal each claim step (faster; the timeline then lacks open and lock).
    #[arg(long)]
    no_trace: bool,
    /// Give up on a run after this long.
    #[arg(long, value_name = "DURATION",
          default_value_t = HumanDuration(LabConfig::DEFAULT_RUN_TIMEOUT))]
    timeout: HumanDuration,
    /// Benchmark instead: spoolq against raw floors in the same run (in-process drain,
    /// producer and daemon as two processes, exec handler against xargs, watcher
    /// latency, the one-worker drain as a process, start-up, python-dirq as a peer, idle
    /// CPU on a bloated folder); medians of --repeat runs. See docs/performance.md.
    #[arg(long)]
    bench: bool,
    /// With --bench: the sections to run (inproc, produce, e2e, exec, latency, drain,
    /// startup, peer, idle, scale).
    #[arg(long, value_delimiter = ',', requires = "bench")]
    sections: Option<Vec<spoolq_lab::bench::Section>>,
    /// With --bench: also run the scale section (fills 1,000,000 jobs on the disk;
    /// several minutes).
    #[arg(long, requires = "bench")]
    scale: bool,
    /// With --bench: run in these folders instead of tmpfs and the disk (a shared file
    /// system's mount, say); each figure names its folder's file system.
    #[arg(
        long,
        requires = "bench",
        value_name = "DIR,...",
        value_delimiter = ','
    )]
    bench_dir: Vec<PathBuf>,
    /// With --bench: jobs of the inproc section's pre-filled spool.
    #[arg(long, requires = "bench", default_value_t = 20_000)]
    inproc_jobs: u64,
    /// With --bench: jobs of the e2e section.
    #[arg(long, requires = "bench", default_value_t = BenchConfig::DEFAULT_E2E_JOBS)]
    bench_jobs: u64,
    /// With --bench: jobs of the drain and peer sections.
    #[arg(long, requires = "bench", default_value_t = BenchConfig::DEFAULT_DRAIN_JOBS)]
    drain_jobs: u64,
    /// With --bench: jobs of the big spool in the scale section.
    #[arg(long, requires = "bench", default_value_t = BenchConfig::DEFAULT_SCALE_JOBS)]
    scale_jobs: u64,
    /// With --bench: how long the idle daemon's CPU is measured.
    #[arg(long, requires = "bench", value_name = "DURATION",
          default_value_t = HumanDuration(BenchConfig::DEFAULT_IDLE_FOR))]
    idle_for: HumanDuration,
    #[command(subcommand)]
    floor: Option<Floor>,
}

/// The raw floors of `spoolq lab --bench`, as processes of their own.
#[derive(Debug, clap::Subcommand)]
pub enum Floor {
    /// Raw producer loop: create in tmp/, write, rename into new/ (no fsync).
    #[command(name = subcommand::FLOOR_PRODUCE, hide = true)]
    FloorProduce {
        #[arg(long = floor_flag::SPOOL)]
        spool: PathBuf,
        #[arg(long = floor_flag::COUNT)]
        count: u64,
        #[arg(long = floor_flag::SIZE, default_value_t = BenchConfig::DEFAULT_PAYLOAD_SIZE)]
        size: usize,
    },
    /// Raw consumer loop: list new/, open, flock, fstat, fstatat, read, unlink, close,
    /// until COUNT jobs were consumed.
    #[command(name = subcommand::FLOOR_CONSUME, hide = true)]
    FloorConsume {
        #[arg(long = floor_flag::SPOOL)]
        spool: PathBuf,
        #[arg(long = floor_flag::COUNT)]
        count: u64,
    },
}

fn floor(cmd: Floor) -> Result<Exit, Error> {
    match cmd {
        Floor::FloorProduce { spool, count, size } => {
            spoolq_lab::floor::produce(&spool, count, size)?;
        }
        Floor::FloorConsume { spool, count } => {
            spoolq_lab::floor::consume(&spool, count, true)?;
        }
    }
    Ok(Exit::Ok)
}

impl Args {
    /// The command as an error line names it.
    pub fn name(&self) -> &'static str {
        match &self.floor {
            Some(Floor::FloorProduce { .. }) => "lab floor-produce",
            Some(Floor::FloorConsume { .. }) => "lab floor-consume",
            None if self.bench => "lab --bench",
            None => "lab",
        }
    }
}

/// A count of one or more.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

/// A flag's help with its default for the lab and, when it differs, for the bench.
fn mode_defaults(what: &str, lab: usize, bench: usize) -> String {
    if lab == bench {
        format!("{what} [default: {lab}]")
    } else {
        format!("{what} [default: {lab}; with --bench: {bench}]")
    }
}

/// The bench these flags ask for: an explicit flag wins, the bench's defaults apply to
/// the flags not given.
fn bench_config(args: &Args, exe: PathBuf) -> BenchConfig {
    let mut config = BenchConfig::new(exe);
    if let Some(sections) = &args.sections {
        config.sections.clone_from(sections);
    }
    if args.scale && !config.sections.contains(&spoolq_lab::bench::Section::Scale) {
        config.sections.push(spoolq_lab::bench::Section::Scale);
    }
    if let Some(repeat) = args.repeat {
        config.repeat = repeat;
    }
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    // The bench measures the safe strategies: naive (in the lab's default list) is left
    // out; `--strategy verified,shared` compares those two in one run.
    let strategies: Vec<Strategy> = args
        .strategy
        .iter()
        .copied()
        .filter(|s| *s != Strategy::Naive)
        .collect();
    if !strategies.is_empty() {
        config.strategies = strategies;
    }
    config.e2e_jobs = args.bench_jobs;
    config.inproc_jobs = args.inproc_jobs;
    config.dirs.clone_from(&args.bench_dir);
    config.drain_jobs = args.drain_jobs;
    config.scale_jobs = args.scale_jobs;
    config.idle_for = args.idle_for.0;
    config
}

/// The lab run these flags ask for.
fn lab_config(args: Args, exe: PathBuf) -> LabConfig {
    let mut config = LabConfig::new(exe);
    config.jobs = args.jobs;
    config.consumers = args.consumers;
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    config.work = args.work.0;
    config.strategies = args.strategy;
    config.race_window = args.race_window.map(|d| d.0);
    config.keep_in = args.spool;
    config.exec = args.exec;
    if let Some(repeat) = args.repeat {
        config.repeat = repeat;
    }
    config.trace_claims = !args.no_trace;
    config.run_timeout = args.timeout.0;
    config.mounts = args.mounts;
    config
}

fn bench(args: &Args, exe: PathBuf) -> Result<Exit, Error> {
    let config = bench_config(args, exe);
    let mut progress = |line: &str| output::eprint_line(&format!("spoolq lab --bench: {line}"));
    let report = spoolq_lab::bench::run_bench(&config, &mut progress)?;
    let mut out = Stdout::new();
    if args.json {
        out.line(&serde_json::to_string_pretty(&report)?)?;
    } else {
        out.print(&spoolq_lab::bench::render_bench(&report))?;
    }
    Ok(Exit::Ok)
}

pub fn run(mut args: Args) -> Result<Exit, Error> {
    if let Some(cmd) = args.floor.take() {
        return floor(cmd);
    }
    let exe = std::env::current_exe().map_err(|e| {
        Error::Failed(format!(
            "cannot find the spoolq binary to start consumers from: {e}"
        ))
    })?;
    if args.bench {
        return bench(&args, exe);
    }
    let json = args.json;
    let config = lab_config(args, exe);

    let terminal = std::io::stderr().is_terminal();
    let mut last_phase = String::new();
    let mut progress = |p: Progress<'_>| {
        let key = format!("{}{}{}", p.strategy, p.run, p.phase);
        // On a terminal, redraw one line; in a log, one line per finished phase.
        if terminal || (p.done == p.total && key != last_phase) {
            output::eprint(&spoolq_lab::render_progress(&p));
            last_phase = key;
        }
    };
    let report = spoolq_lab::run(&config, &mut progress);
    if terminal {
        // Ends the redrawn progress line.
        output::eprint("\n");
    }
    let report = report?;
    let mut out = Stdout::new();
    if json {
        out.line(&serde_json::to_string_pretty(&report)?)?;
    } else {
        out.print(&spoolq_lab::render_table(&report))?;
        match &report.timeline {
            Some(timeline) => {
                out.print(
                    "\nThe first after-completion duplicate of the naive run, from the journals:\n\n",
                )?;
                out.print(timeline)?;
            }
            None if config.strategies.contains(&Strategy::Naive) => {
                out.line(
                    "\nThe naive run showed no after-completion duplicate this time; try --repeat 5 or --race-window 1ms.",
                )?;
            }
            None => {}
        }
        if let Some(dir) = &config.keep_in {
            out.line(&format!(
                "\nSpools, journals and consumer logs kept in {}",
                dir.display()
            ))?;
        }
    }
    if report.safe_clean {
        Ok(Exit::Ok)
    } else {
        Ok(Exit::Finding(
            "a strategy that must be safe here (shared; verified on a local file system) \
             showed a duplicate or a lost job: this is a bug, please report it with the \
             journals (--spool DIR keeps them)"
                .to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(argv: &[&str]) -> Args {
        let argv = ["spoolq", "lab"].iter().chain(argv);
        match crate::Cli::try_parse_from(argv).unwrap().command {
            crate::Command::Lab(args) => args,
            other => panic!("not lab: {other:?}"),
        }
    }

    #[test]
    fn an_explicit_repeat_or_workers_wins_and_each_mode_has_its_own_default() {
        let exe = PathBuf::from("spoolq");
        let bench = bench_config(&parse(&["--bench", "--repeat", "1"]), exe.clone());
        assert_eq!(bench.repeat, 1);
        let bench = bench_config(
            &parse(&["--bench", "--repeat", "4", "--workers", "1"]),
            exe.clone(),
        );
        assert_eq!((bench.repeat, bench.workers), (4, 1));
        let bench = bench_config(&parse(&["--bench"]), exe.clone());
        assert_eq!(bench.repeat, BenchConfig::DEFAULT_REPEAT);
        assert_eq!(bench.workers, BenchConfig::DEFAULT_WORKERS);

        let lab = lab_config(parse(&["--repeat", "3", "--workers", "5"]), exe.clone());
        assert_eq!((lab.repeat, lab.workers), (3, 5));
        let lab = lab_config(parse(&[]), exe);
        assert_eq!(lab.repeat, LabConfig::DEFAULT_REPEAT);
        assert_eq!(lab.workers, LabConfig::DEFAULT_WORKERS);
    }

    #[test]
    fn counts_of_zero_are_usage_errors() {
        for flag in ["--repeat", "--workers", "--consumers"] {
            let err = crate::Cli::try_parse_from(["spoolq", "lab", flag, "0"]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{flag} 0");
        }
    }
}

#[cfg(test)]
mod floor_tests {
    use std::ffi::OsString;
    use std::path::PathBuf;

    use clap::Parser;
    use spoolq_lab::argv::FloorArgs;

    use super::*;

    #[test]
    fn every_floor_command_line_the_bench_builds_parses_back_to_its_settings() {
        let spool = PathBuf::from("/tmp/bench/-spool");
        for intended in [
            FloorArgs::Produce {
                spool: spool.clone(),
                count: 50_000,
                size: 200,
            },
            FloorArgs::Consume {
                spool: spool.clone(),
                count: 50_000,
            },
        ] {
            let args = intended.args();
            let argv = std::iter::once(OsString::from("spoolq")).chain(args.iter().cloned());
            let parsed = match crate::Cli::try_parse_from(argv) {
                Ok(crate::Cli {
                    command: crate::Command::Lab(lab),
                }) => lab.floor,
                other => panic!("{args:?}: {other:?}"),
            };
            let parsed = match parsed {
                Some(Floor::FloorProduce { spool, count, size }) => {
                    FloorArgs::Produce { spool, count, size }
                }
                Some(Floor::FloorConsume { spool, count }) => FloorArgs::Consume { spool, count },
                None => panic!("{args:?} parsed as a lab run, not a floor"),
            };
            assert_eq!(parsed, intended);
        }
    }
}
