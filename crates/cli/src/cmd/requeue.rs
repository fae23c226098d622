//! `spoolq requeue --spool DIR ID... | --all [--reason CODE,...] [--dry-run] [--json]`:
//! send dead jobs from failed/ back to new/ with a fresh attempt count. The work is in
//! `spoolq_producer::requeue`; this module parses flags, prints, and picks the exit
//! code: 0 all done, 1 something asked for was refused or not found, 2 usage or I/O.

use std::path::PathBuf;

use spoolq_producer::requeue::{RequeueReport, RequeueRequest};
use spoolq_spool::{JobId, ReasonCode};

use crate::output::Stdout;
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each job is claimed in failed/ under the claim's lock, its header checked, journaled as
requeued, and moved to new/<id> (a fresh attempt count: the handler sees
SPOOLQ_JOB_ATTEMPT=1 and gets --max-attempts again), never replacing a name; its reason
file is removed once it is in new/. Only jobs that ran and failed are sent back:
quarantined files (not valid jobs) are refused, they need a person.

Examples:
  spoolq requeue --spool /var/spool/jobs 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a
  spoolq requeue --spool /var/spool/jobs --all --dry-run
  spoolq requeue --spool /var/spool/jobs --all --reason attempts_exhausted --json

Exit status: 0 every job asked for was sent back; 1 one was refused or is not in failed/;
2 a usage or I/O error.")]
pub struct Args {
    /// The spool directory.
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,
    /// The jobs to send back, by id.
    #[arg(value_name = "ID", required_unless_present = "all")]
    ids: Vec<JobId>,
    /// Every job in failed/ whose reason is permanent_failure or attempts_exhausted (or
    /// those --reason names).
    #[arg(long)]
    all: bool,
    /// Only files whose reason is one of these codes (comma-separated), e.g.
    /// attempts_exhausted.
    #[arg(long, value_name = "CODE", value_delimiter = ',', value_parser = parse_reason)]
    reason: Vec<ReasonCode>,
    /// Check and report what would be sent back; move nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_reason(s: &str) -> Result<ReasonCode, String> {
    s.parse().map_err(|e: spoolq_spool::UnknownWord| {
        format!(
            "{e}; reasons are permanent_failure, attempts_exhausted, or a quarantine code \
             (see docs/daemon.md)"
        )
    })
}

pub fn run(args: Args) -> Result<Exit, Error> {
    let spool = spoolq_producer::open_spool(&args.spool)?;
    let journal = spoolq_producer::open_journal(&spool)?;
    let request = RequeueRequest {
        ids: args.ids,
        all: args.all,
        reasons: (!args.reason.is_empty()).then_some(args.reason),
        dry_run: args.dry_run,
    };
    let report = spoolq_producer::requeue::requeue(&spool, &request, &journal)
        .map_err(|e| Error::Failed(e.to_string()))?;
    let mut out = Stdout::new();
    if args.json {
        out.line(&serde_json::to_string_pretty(&report)?)?;
    } else {
        out.print(&human(&report))?;
    }
    if report.incomplete() {
        return Ok(Exit::Finding(format!(
            "{} refused, {} not in failed/",
            report.refused.len(),
            report.not_found.len()
        )));
    }
    Ok(Exit::Ok)
}

fn human(report: &RequeueReport) -> String {
    let verb = if report.dry_run {
        "would requeue"
    } else {
        "requeued"
    };
    let mut out = String::new();
    for job in &report.requeued {
        let attempts = job
            .attempts
            .map_or(String::new(), |n| format!(", after {n} attempt(s)"));
        out += &format!(
            "{verb} {} (failed/{} -> new/{}; was {}{attempts})\n",
            job.job, job.from, job.to, job.reason
        );
        if let Some(e) = &job.reason_file_left {
            out += &format!("  its reason file could not be removed: {e}\n");
        }
    }
    for refused in &report.refused {
        out += &format!(
            "refused {} (failed/{}): {}\n",
            refused.job, refused.name, refused.why
        );
    }
    for id in &report.not_found {
        out += &format!("not found {id}: no file in failed/ names it\n");
    }
    out += &format!(
        "{} {verb}, {} refused, {} not found; {} other file(s) left in failed/\n",
        report.requeued.len(),
        report.refused.len(),
        report.not_found.len(),
        report.left_in_failed
    );
    out
}
