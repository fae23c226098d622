//! `spoolq produce`: drop jobs into a spool atomically, from files, stdin or generated
//! load, printing each job's id. The work is in `spoolq-producer`; this module parses
//! flags, draws the progress bar and returns the outcome for `main` to report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use spoolq_lab::argv::produce_flag as flag;
use std::time::SystemTime;

use spoolq_producer::{Generate, SyncMode, When};
use spoolq_spool::{JobId, JournalWriter, Spool};

use crate::cmd::value::{HumanDuration, parse_at};
use crate::output::Stdout;
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  echo hello | spoolq produce --spool /var/spool/jobs
  spoolq produce --spool /var/spool/jobs report.pdf invoice.json
  spoolq produce --spool /var/spool/jobs --id 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a order.json
  spoolq produce --spool /var/spool/jobs --count 10000 --size 4k --rate 500 --sync batch
  spoolq produce --spool /var/spool/jobs --delay 15m report.json
  spoolq produce --spool /var/spool/jobs --at 2026-12-01T18:30:00Z reminder.json

Each job is written into tmp/, then renamed into new/: a consumer never sees a partial
job, and an interrupted producer leaves nothing in new/. Job ids are printed one per line.
With --at or --delay the job is renamed into retry/ as <id>.0.<due unix ms> instead, and a
running daemon moves it to new/ when it falls due (spoolq status counts it as scheduled).")]
pub struct Args {
    /// The spool directory.
    #[arg(long = flag::SPOOL, value_name = "DIR")]
    spool: PathBuf,
    /// Files to enqueue, one job each; `-` or none reads one job from standard input.
    #[arg(value_name = "FILE", conflicts_with = "count")]
    files: Vec<PathBuf>,
    /// Generate N synthetic jobs instead (for load tests).
    #[arg(long = flag::COUNT, value_name = "N")]
    count: Option<u64>,
    /// Payload size of each generated job: bytes, or with a k, M or G suffix (1024s).
    #[arg(long = flag::SIZE, value_name = "BYTES", requires = "count", value_parser = parse_size,
          default_value_t = Generate::DEFAULT_SIZE)]
    size: usize,
    /// Pace generated jobs at R per second.
    #[arg(long = flag::RATE, value_name = "R", requires = "count")]
    rate: Option<f64>,
    /// The job's id (an idempotency key): refused if that id is already in new/ or retry/.
    #[arg(long, value_name = "ID", conflicts_with = "count")]
    id: Option<JobId>,
    /// always: fsync file, rename, fsync new/ per job; batch: fsync new/ once at the
    /// end; never: no fsync (survives a crash of spoolq, not power loss).
    #[arg(long = flag::SYNC, value_name = "MODE", default_value_t = SyncMode::default())]
    sync: SyncMode,
    /// Make the job(s) claimable at TIME, not now: RFC 3339 with a zone
    /// (2026-12-01T18:30:00Z, ...+01:00) or @<unix seconds>. A time past publishes at once.
    #[arg(long, value_name = "TIME", value_parser = parse_at, conflicts_with_all = ["count", "delay"])]
    at: Option<SystemTime>,
    /// Make the job(s) claimable after this long (e.g. 90s, 15m, 2h).
    #[arg(long, value_name = "DURATION", conflicts_with = "count")]
    delay: Option<HumanDuration>,
    /// Do not write a `produced` record to the spool's journal.
    #[arg(long)]
    no_journal: bool,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let multiplier: usize = match unit {
        "" | "B" | "b" => 1,
        "k" | "K" | "KiB" | "kB" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        "G" | "GiB" | "GB" => 1 << 30,
        _ => return Err(format!("{s:?} is not a size: use bytes, or 4k, 1M, 1G")),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{s:?} is not a size: use bytes, or 4k, 1M, 1G"))
}

pub fn run(args: Args) -> Result<Exit, Error> {
    if args.id.is_some() && args.files.len() > 1 {
        return Err(Error::Usage(format!(
            "--id names one job, but {} files were given: produce them one at a time",
            args.files.len()
        )));
    }
    let spool = spoolq_producer::open_spool(&args.spool)?;
    let journal = if args.no_journal {
        None
    } else {
        Some(spoolq_producer::open_journal(&spool)?)
    };
    match args.count {
        Some(count) => generate(&spool, &args, count, journal.as_ref()),
        None => from_inputs(&spool, &args, journal.as_ref()),
    }
}

/// Job ids for stdout. A failure to print them is not a reason to stop publishing: the
/// first one is kept, nothing more is printed, and it is reported once every job is
/// published (a reader that went away is no failure at all, see `output`).
struct Ids {
    out: Stdout,
    pending: String,
    failed: Option<Error>,
}

impl Ids {
    /// Bytes gathered before a write: one write per id would cost a system call each.
    const CHUNK: usize = 64 * 1024;

    fn new() -> Ids {
        Ids {
            out: Stdout::new(),
            pending: String::new(),
            failed: None,
        }
    }

    fn push(&mut self, id: JobId, flush: bool) {
        if self.failed.is_some() {
            return;
        }
        self.pending.push_str(&format!("{id}\n"));
        if flush || self.pending.len() >= Ids::CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.print(&self.pending) {
            self.failed.get_or_insert(Error::Failed(format!(
                "{e}; the jobs were published all the same (spoolq status counts them)"
            )));
        }
        self.pending.clear();
    }

    /// Prints what is left; the first failure, if any.
    fn finish(mut self) -> Result<(), Error> {
        if self.failed.is_none() {
            self.flush();
        }
        self.failed.map_or(Ok(()), Err)
    }
}

fn from_inputs(spool: &Spool, args: &Args, journal: Option<&JournalWriter>) -> Result<Exit, Error> {
    let stdin_only = [PathBuf::from("-")];
    let inputs: &[PathBuf] = if args.files.is_empty() {
        &stdin_only
    } else {
        &args.files
    };
    let when = match (args.at, args.delay) {
        (Some(at), _) => When::At(at),
        (None, Some(delay)) => When::At(SystemTime::now() + delay.0),
        (None, None) => When::Now,
    };
    let mut ids = Ids::new();
    for input in inputs {
        let produced = if input == Path::new("-") {
            spoolq_producer::schedule_one(
                spool,
                args.id,
                &mut std::io::stdin().lock(),
                args.sync,
                journal,
                when,
            )
        } else {
            spoolq_producer::schedule_file(spool, args.id, input, args.sync, journal, when)
        };
        match produced {
            // Each id as soon as its job is published: a reader may act on it.
            Ok(id) => ids.push(id, true),
            Err(e) => {
                // Jobs already published stay; make them durable as promised.
                let _ = spoolq_producer::finish_batch(spool, args.sync);
                return Err(e.into());
            }
        }
    }
    spoolq_producer::finish_batch(spool, args.sync)?;
    ids.finish()?;
    Ok(Exit::Ok)
}

fn generate(
    spool: &Spool,
    args: &Args,
    count: u64,
    journal: Option<&JournalWriter>,
) -> Result<Exit, Error> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(count),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} jobs ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let opts = Generate {
        count,
        size: args.size,
        rate: args.rate,
        sync: args.sync,
    };
    let result = spoolq_producer::produce_generated(spool, &opts, journal, &mut |done| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut ids = Ids::new();
    for id in result? {
        ids.push(id, false);
    }
    ids.finish()?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::Path;

    use clap::Parser;
    use spoolq_lab::argv::ProduceArgs;
    use spoolq_lab::bench::{BenchConfig, producer_args};

    use super::*;

    fn parse(args: &[OsString]) -> Args {
        let argv = std::iter::once(OsString::from("spoolq")).chain(args.iter().cloned());
        match crate::Cli::try_parse_from(argv) {
            Ok(crate::Cli {
                command: crate::Command::Produce(parsed),
            }) => parsed,
            Ok(other) => panic!("{args:?} is not a produce command line: {other:?}"),
            Err(e) => panic!("{args:?} does not parse:\n{e}"),
        }
    }

    #[test]
    fn every_produce_command_line_the_bench_builds_parses_back_to_its_settings() {
        let mut config = BenchConfig::new("spoolq".into());
        config.payload_size = 4096;
        let spool = Path::new("/tmp/bench/-spool");
        for rate in [None, Some(1000.0), Some(0.5)] {
            let intended: ProduceArgs = producer_args(&config, spool, 5_000, rate);
            let parsed = parse(&intended.args());
            assert_eq!(parsed.spool, intended.spool);
            assert_eq!(parsed.count, Some(intended.count));
            assert_eq!(parsed.size, intended.size);
            assert_eq!(parsed.rate, intended.rate);
            assert_eq!(parsed.sync, intended.sync);
            assert!(parsed.files.is_empty() && parsed.id.is_none() && !parsed.no_journal);
            assert!(parsed.at.is_none() && parsed.delay.is_none());
        }
    }
}
