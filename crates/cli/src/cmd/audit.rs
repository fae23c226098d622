//! `spoolq audit`: read every journal, report duplicates (classified), lost and pending
//! jobs, latency and journal problems; `spoolq audit timeline JOB_ID` shows one job's
//! events from every process, as text or SVG. The work is in `spoolq-auditor`; this
//! module parses flags, prints, and chooses the exit code: 0 clean, 1 a finding named by
//! `--fail-on`, 2 a usage or I/O error.

use std::path::PathBuf;

use spoolq_auditor::{AuditInput, Finding};
use spoolq_spool::JobId;

use crate::cmd::value::{FailOn, HumanDuration, comma_list};
use crate::output::Stdout;
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  spoolq audit --spool /var/spool/jobs
  spoolq audit --spool /var/spool/jobs --journal ./journals-from-host-b --json
  spoolq audit --spool /var/spool/jobs --fail-on concurrent,after-completion
  spoolq audit timeline 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a --spool /var/spool/jobs --svg job.svg

Exit status: 0 clean; 1 a finding (by default a concurrent or after-completion duplicate,
a job run twice from a copy of its file, or a lost job); 2 a usage or I/O error."
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    #[command(flatten)]
    sources: Sources,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_values_t = Finding::DEFAULT.map(FailOn),
        hide_default_value = true,
        help = format!(
            "Which findings make the exit status 1 (comma-separated): concurrent, \
             after-completion, copied, unordered, redelivery, lost [default: {}]",
            comma_list(&Finding::DEFAULT.map(FailOn))
        )
    )]
    fail_on: Vec<FailOn>,
}

/// Where the journals are.
#[derive(Debug, clap::Args)]
struct Sources {
    /// The spool: reads DIR/journal, and lists new/ and retry/ for pending and lost jobs.
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// More journals: a file, or a folder of *.jsonl files (repeatable). A journal given
    /// twice (a copy beside the original) is read once.
    #[arg(long, value_name = "PATH")]
    journal: Vec<PathBuf>,
    /// How far apart the wall clocks of the hosts (and of one host across a reboot) may
    /// be: claims of different boots or hosts are ordered by wall clock only when their
    /// stamps are further apart than this.
    #[arg(
        long,
        value_name = "DURATION",
        default_value_t = HumanDuration(AuditInput::DEFAULT_MAX_CLOCK_SKEW)
    )]
    max_clock_skew: HumanDuration,
}

impl Sources {
    fn input(&self) -> AuditInput {
        AuditInput {
            spool: self.spool.clone(),
            journals: self.journal.clone(),
            max_clock_skew: self.max_clock_skew.0,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Every event of one job from every journal, in monotonic order within each boot
    /// (how a duplicate happened). Exits 1 when no journal names the job.
    #[command(after_help = "Examples:
  spoolq audit timeline 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a --spool /var/spool/jobs
  spoolq audit timeline 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a --journal ./journals --svg job.svg")]
    Timeline(TimelineArgs),
}

#[derive(Debug, clap::Args)]
struct TimelineArgs {
    /// The job's id.
    #[arg(value_name = "JOB_ID")]
    job: JobId,
    #[command(flatten)]
    sources: Sources,
    /// Also draw the timeline as SVG swimlanes into FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

impl Args {
    /// The command as an error line names it.
    pub fn name(&self) -> &'static str {
        match self.command {
            Some(AuditCommand::Timeline(_)) => "audit timeline",
            None => "audit",
        }
    }
}

pub fn run(args: Args) -> Result<Exit, Error> {
    match args.command {
        Some(AuditCommand::Timeline(timeline)) => run_timeline(timeline),
        None => {
            let fail_on: Vec<Finding> = args.fail_on.iter().map(|f| f.0).collect();
            run_report(&args.sources, args.json, &fail_on)
        }
    }
}

fn run_report(sources: &Sources, json: bool, fail_on: &[Finding]) -> Result<Exit, Error> {
    let report = spoolq_auditor::audit(&sources.input())?;
    let mut out = Stdout::new();
    if json {
        out.line(&serde_json::to_string_pretty(&report)?)?;
    } else {
        out.print(&spoolq_auditor::render_report(&report))?;
    }
    let findings = report.findings(fail_on);
    if findings.is_empty() {
        Ok(Exit::Ok)
    } else {
        let names: Vec<&str> = findings.iter().map(|&f| FailOn(f).name()).collect();
        Ok(Exit::Finding(format!("findings: {}", names.join(", "))))
    }
}

fn run_timeline(args: TimelineArgs) -> Result<Exit, Error> {
    let input = args.sources.input();
    let paths = spoolq_auditor::journal_paths(&input)?;
    let timeline = spoolq_auditor::timeline_with_skew(&paths, args.job, input.max_clock_skew)?;
    Stdout::new().print(&spoolq_auditor::render_timeline(&timeline))?;
    if let Some(path) = &args.svg {
        std::fs::write(path, spoolq_auditor::timeline_svg(&timeline)).map_err(|e| {
            Error::Failed(format!(
                "writing {}: {e}; choose a writable path for --svg",
                path.display()
            ))
        })?;
    }
    if timeline.events.is_empty() {
        // Asked about a job no journal names: a mistyped id, or the wrong journals.
        return Ok(Exit::Finding(format!(
            "no journal record names job {}: check the id, and give the journals that \
             saw it (--spool, --journal)",
            args.job
        )));
    }
    Ok(Exit::Ok)
}
