//! `spoolq journal prune --spool DIR [--max-age D] [--max-bytes N] [--dry-run] [--json]`:
//! remove old journal files by age and total size, never one a live process writes, and
//! journal the horizon the auditor judges lost jobs after. The work is in
//! `spoolq_spool::journal::retention`; the daemon runs the same at start and at its
//! rescans with its `--journal-max-age` and `--journal-max-bytes`.

use std::path::PathBuf;
use std::time::SystemTime;

use spoolq_spool::journal::retention::{PruneReport, Retention, prune};

use crate::cmd::value::{Bytes, HumanDuration, Limit};
use crate::output::Stdout;
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  spoolq journal prune --spool /var/spool/jobs --dry-run\n  spoolq journal prune --spool /var/spool/jobs --max-age 7days --max-bytes 200M --json"
)]
pub struct Args {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum JournalCommand {
    /// Remove old journal files (by age, then the oldest while over the size limit);
    /// never one a live process still writes.
    Prune(PruneArgs),
}

/// The defaults of retention, as the flags show them.
pub fn default_max_age() -> Limit<HumanDuration> {
    Limit::Some(HumanDuration(Retention::DEFAULT_MAX_AGE))
}

/// See [`default_max_age`].
pub fn default_max_bytes() -> Limit<Bytes> {
    Limit::Some(Bytes(Retention::DEFAULT_MAX_BYTES))
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Only files named as journals are looked at. A file a live process still writes (its
writer holds a shared lock on it) is kept, however old. Before removing anything the
pruning journals a `pruned` record with the latest time any removed file was written:
spoolq audit then judges lost jobs only among those produced after it, and says which
time the remaining journals cover. The daemon prunes the same way at start and at each
rescan (--journal-max-age, --journal-max-bytes).

Examples:
  spoolq journal prune --spool /var/spool/jobs --dry-run
  spoolq journal prune --spool /var/spool/jobs --max-age 7days --max-bytes 200M --json")]
pub struct PruneArgs {
    /// The spool directory.
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,
    /// Remove journal files not written for longer than this (`none`: no limit).
    #[arg(long, value_name = "DURATION", default_value_t = default_max_age())]
    max_age: Limit<HumanDuration>,
    /// Then remove the oldest while all journal files together are larger than this
    /// (bytes, or 200M, 1G; `none`: no limit).
    #[arg(long, value_name = "SIZE", default_value_t = default_max_bytes())]
    max_bytes: Limit<Bytes>,
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

impl PruneArgs {
    fn retention(&self) -> Retention {
        Retention {
            max_age: self.max_age.get().map(|d| d.0),
            max_bytes: self.max_bytes.get().map(|b| b.0),
        }
    }
}

impl Args {
    /// The command as an error line names it.
    pub fn name(&self) -> &'static str {
        match self.command {
            JournalCommand::Prune(_) => "journal prune",
        }
    }
}

pub fn run(args: Args) -> Result<Exit, Error> {
    let JournalCommand::Prune(args) = args.command;
    let spool = spoolq_spool::Spool::open(&args.spool)?;
    let journal = spoolq_producer::open_journal(&spool)?;
    let report = prune(
        spool.journal(),
        &args.retention(),
        SystemTime::now(),
        &journal,
        args.dry_run,
    )
    .map_err(|e| {
        Error::Failed(format!(
            "{e}; check the permissions of {}",
            spool.journal().path().display()
        ))
    })?;
    let mut out = Stdout::new();
    if args.json {
        out.line(&serde_json::to_string_pretty(&report)?)?;
    } else {
        out.print(&human(&report))?;
    }
    Ok(Exit::Ok)
}

fn human(report: &PruneReport) -> String {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut out = String::new();
    for file in &report.removed {
        out += &format!(
            "{verb} {} ({} bytes, last written {}, by {})\n",
            file.name, file.bytes, file.last_write, file.why
        );
    }
    let removed: u64 = report.removed.iter().map(|f| f.bytes).sum();
    out += &format!(
        "{verb} {} file(s), {removed} bytes; {} file(s), {} bytes left",
        report.removed.len(),
        report.files_after,
        report.bytes_after
    );
    if report.kept_live > 0 {
        out += &format!(
            "; {} kept: still written by a live process",
            report.kept_live
        );
    }
    if report.kept_changed > 0 {
        out += &format!("; {} kept: written meanwhile", report.kept_changed);
    }
    out += "\n";
    if let Some(horizon) = &report.horizon {
        out += &format!(
            "horizon {horizon}: spoolq audit judges lost jobs only among those produced after it\n"
        );
    }
    out
}
