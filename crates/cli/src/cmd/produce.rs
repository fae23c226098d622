//! `spoolq produce`: drop jobs into a spool atomically, from files, stdin or generated
//! load, printing each job's id. The work is in `spoolq-producer`; this module parses
//! flags, draws the progress bar and returns the outcome for `main` to report.

use std::io::{IsTerminal, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use spoolq_lab::argv::produce_flag as flag;
use std::time::SystemTime;

use spoolq_producer::{Generate, SyncMode, When};
use spoolq_spool::{JobId, JournalWriter, Spool};

use crate::cmd::value::{HumanDuration, parse_at};
use crate::output::{self, Stdout};
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
job, and an interrupted producer leaves nothing in new/. Job ids are printed one per line,
each as soon as its job is published. On SIGINT, SIGTERM or SIGHUP the job being written is
abandoned and its partial file removed, and the producer exits 128 + the signal's number
with every published id printed; a second signal exits at once. With --at or --delay the job
is renamed into retry/ as <id>.0.<due unix ms> instead, and a running daemon moves it to
new/ when it falls due (spoolq status counts it as scheduled).")]
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
    /// Payload size of each generated job: bytes, or with a k, M or G suffix (1024s); at
    /// most 1G.
    #[arg(long = flag::SIZE, value_name = "BYTES", requires = "count", value_parser = parse_size,
          default_value_t = Generate::DEFAULT_SIZE)]
    size: usize,
    /// Pace generated jobs at R per second (0.001 to 1000000).
    #[arg(long = flag::RATE, value_name = "R", requires = "count", value_parser = parse_rate)]
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
    let size = digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{s:?} is not a size: use bytes, or 4k, 1M, 1G"))?;
    Generate::check_size(size).map_err(|_| {
        format!(
            "{s:?} is larger than 1G, the largest generated payload (a larger one would \
             write until the disk is full)"
        )
    })
}

/// `--rate`: jobs per second, within [`Generate::RATES`].
fn parse_rate(s: &str) -> Result<f64, String> {
    let (min, max) = Generate::RATES;
    let rate = s
        .parse::<f64>()
        .map_err(|_| format!("{s:?} is not a number of jobs per second"))?;
    Generate::check_rate(rate).map_err(|_| {
        format!(
            "must be from {min} to {max} jobs per second (slower is no load; faster is no \
             pacing)"
        )
    })
}

pub fn run(args: Args) -> Result<Exit, Error> {
    if args.id.is_some() && args.files.len() > 1 {
        return Err(Error::Usage(format!(
            "--id names one job, but {} files were given: produce them one at a time",
            args.files.len()
        )));
    }
    let stop = Stop::install()?;
    let spool = spoolq_producer::open_spool(&args.spool)?;
    let journal = if args.no_journal {
        None
    } else {
        Some(spoolq_producer::open_journal(&spool)?)
    };
    let mut ids = Ids::new();
    let result = match args.count {
        Some(count) => generate(&spool, &args, count, journal.as_ref(), &stop, &mut ids),
        None => from_inputs(&spool, &args, journal.as_ref(), &stop, &mut ids),
    };
    if let Err(e) = result {
        // Jobs already published stay; make them durable as promised.
        let _ = spoolq_producer::finish_batch(&spool, args.sync);
        if let Some(signal) = stop.signal() {
            output::eprint_line(&format!(
                "spoolq produce: stopped by signal {signal} after {} published job(s) (their \
                 ids are printed); the job being written was not published and its partial \
                 file was removed",
                ids.count
            ));
            ids.finish()?;
            return Ok(Exit::Signalled(signal));
        }
        if ids.count > 0 {
            output::eprint_line(&format!(
                "spoolq produce: {} job(s) were published before this error (their ids are \
                 printed)",
                ids.count
            ));
        }
        return Err(e);
    }
    spoolq_producer::finish_batch(&spool, args.sync)?;
    ids.finish()?;
    Ok(Exit::Ok)
}

/// SIGINT, SIGTERM and SIGHUP while producing: the first makes the producer stop at the
/// next read of the payload it writes (or before the next job), remove its partial file,
/// print every id it published and exit 128 + n; a second one exits at once, as the
/// default action would.
struct Stop {
    /// The first signal's number, 0 before one came.
    signal: Arc<AtomicUsize>,
}

impl Stop {
    const SIGNALS: [i32; 3] = [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ];

    fn install() -> Result<Stop, Error> {
        let signal = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let failed =
            |e: std::io::Error| Error::Failed(format!("cannot install signal handlers: {e}"));
        for n in Stop::SIGNALS {
            // Registered first, so the first signal finds it unarmed.
            let status = 128 + n;
            signal_hook::flag::register_conditional_shutdown(n, status, stopping.clone())
                .map_err(failed)?;
            signal_hook::flag::register(n, stopping.clone()).map_err(failed)?;
            let number = usize::try_from(n).unwrap_or_default();
            signal_hook::flag::register_usize(n, signal.clone(), number).map_err(failed)?;
        }
        Ok(Stop { signal })
    }

    /// The signal that asked to stop, if one did.
    fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }

    fn requested(&self) -> bool {
        self.signal().is_some()
    }
}

/// A payload reader that fails once a stop is requested, abandoning the drop in
/// progress. Reading a pipe or a terminal waits in slices, so that a silent writer does
/// not keep the producer from noticing the stop.
struct Stoppable<'a, R> {
    inner: R,
    /// Polled before each read when the input may block (stdin).
    poll: Option<std::os::fd::BorrowedFd<'a>>,
    stop: &'a Stop,
}

impl<R: Read> Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.stop.requested() {
                return Err(std::io::Error::other("stopped by a signal"));
            }
            match self.poll {
                Some(fd) => match spoolq_os::fs::wait_readable(fd, Duration::from_millis(100)) {
                    Ok(true) => return self.inner.read(buf),
                    Ok(false) => continue,
                    // Not pollable: read as it comes.
                    Err(_) => return self.inner.read(buf),
                },
                None => return self.inner.read(buf),
            }
        }
    }
}

/// Job ids for stdout, each printed as soon as its job is published, so that whatever
/// ends the run (a full disk, a signal) no published job goes untold. A failure to print
/// is not a reason to stop publishing: the first one is kept, nothing more is printed,
/// and it is reported once every job is published (a reader that went away is no failure
/// at all, see `output`).
struct Ids {
    out: Stdout,
    failed: Option<Error>,
    /// Ids of published jobs, printed or not.
    count: u64,
}

impl Ids {
    fn new() -> Ids {
        Ids {
            out: Stdout::new(),
            failed: None,
            count: 0,
        }
    }

    fn push(&mut self, id: JobId) {
        self.count += 1;
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.out.line(&id.to_string()) {
            self.failed.get_or_insert(Error::Failed(format!(
                "{e}; the jobs were published all the same (spoolq status counts them)"
            )));
        }
    }

    /// The first failure to print, if any.
    fn finish(self) -> Result<(), Error> {
        self.failed.map_or(Ok(()), Err)
    }
}

fn from_inputs(
    spool: &Spool,
    args: &Args,
    journal: Option<&JournalWriter>,
    stop: &Stop,
    ids: &mut Ids,
) -> Result<(), Error> {
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
    for input in inputs {
        if stop.requested() {
            return Err(Error::Failed("stopped".into()));
        }
        let produced = if input == Path::new("-") {
            let stdin = std::io::stdin();
            let mut payload = Stoppable {
                inner: stdin.lock(),
                poll: Some(stdin.as_fd()),
                stop,
            };
            spoolq_producer::schedule_one(spool, args.id, &mut payload, args.sync, journal, when)
        } else {
            let file = std::fs::File::open(input).map_err(|source| {
                spoolq_producer::ProduceError::Unreadable {
                    path: input.clone(),
                    source,
                }
            })?;
            let mut payload = Stoppable {
                inner: file,
                poll: None,
                stop,
            };
            spoolq_producer::schedule_reader(
                spool,
                args.id,
                &mut payload,
                input,
                args.sync,
                journal,
                when,
            )
        };
        match produced {
            Ok(id) => ids.push(id),
            Err(e) => {
                if let spoolq_producer::ProduceError::Journal { id, .. } = &e {
                    // Published; only its record is missing.
                    ids.push(*id);
                }
                return Err(e.into());
            }
        }
    }
    Ok(())
}

fn generate(
    spool: &Spool,
    args: &Args,
    count: u64,
    journal: Option<&JournalWriter>,
    stop: &Stop,
    ids: &mut Ids,
) -> Result<(), Error> {
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
    let result = spoolq_producer::produce_each(
        spool,
        &opts,
        journal,
        &|| stop.requested(),
        &mut |id, done| {
            ids.push(id);
            if let Some(bar) = &bar {
                bar.set_position(done);
            }
        },
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result?;
    Ok(())
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
