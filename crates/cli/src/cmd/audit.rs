//! `spoolq audit`: read every journal, report duplicates (classified), lost and pending
//! jobs, latency and journal problems; `spoolq audit timeline JOB_ID` shows one job's
//! events from every process, as text or SVG. The work is in `spoolq-auditor`; this
//! module parses flags, prints, and chooses the exit code: 0 clean, 1 a finding named by
//! `--fail-on`, 2 a usage or I/O error.

use std::path::PathBuf;

use spoolq_auditor::{AuditInput, Finding};
use spoolq_spool::JobId;

use crate::Exit;
use crate::cmd::value::{FailOn, comma_list};

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  spoolq audit --spool /var/spool/jobs
  spoolq audit --spool /var/spool/jobs --journal ./journals-from-host-b --json
  spoolq audit --spool /var/spool/jobs --fail-on concurrent,after-completion
  spoolq audit timeline 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a --spool /var/spool/jobs --svg job.svg

Exit status: 0 clean; 1 a finding (by default a concurrent or after-completion duplicate,
or a lost job); 2 a usage or I/O error."
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
             after-completion, lost, redelivery [default: {}]",
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
    /// More journals: a file, or a folder of *.jsonl files (repeatable).
    #[arg(long, value_name = "PATH")]
    journal: Vec<PathBuf>,
}

impl Sources {
    fn input(&self) -> AuditInput {
        AuditInput {
            spool: self.spool.clone(),
            journals: self.journal.clone(),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Every event of one job from every journal, in monotonic order (how a duplicate
    /// happened).
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

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

pub fn run(args: Args) -> Exit {
    match args.command {
        Some(AuditCommand::Timeline(timeline)) => run_timeline(timeline),
        None => {
            let fail_on: Vec<Finding> = args.fail_on.iter().map(|f| f.0).collect();
            run_report(&args.sources, args.json, &fail_on)
        }
    }
}

fn run_report(sources: &Sources, json: bool, fail_on: &[Finding]) -> Exit {
    let report = match spoolq_auditor::audit(&sources.input()) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("spoolq audit: {e}");
            return Exit::Error;
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => emit(&format!("{text}\n")),
            Err(e) => {
                eprintln!("spoolq audit: rendering JSON: {e}");
                return Exit::Error;
            }
        }
    } else {
        emit(&spoolq_auditor::render_report(&report));
    }
    let findings = report.findings(fail_on);
    if findings.is_empty() {
        Exit::Ok
    } else {
        if !json {
            let names: Vec<&str> = findings.iter().map(|&f| FailOn(f).name()).collect();
            eprintln!("spoolq audit: findings: {}", names.join(", "));
        }
        Exit::Finding
    }
}

fn run_timeline(args: TimelineArgs) -> Exit {
    let paths = match spoolq_auditor::journal_paths(&args.sources.input()) {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("spoolq audit timeline: {e}");
            return Exit::Error;
        }
    };
    let timeline = match spoolq_auditor::timeline(&paths, args.job) {
        Ok(timeline) => timeline,
        Err(e) => {
            eprintln!("spoolq audit timeline: {e}");
            return Exit::Error;
        }
    };
    emit(&spoolq_auditor::render_timeline(&timeline));
    if let Some(path) = &args.svg
        && let Err(e) = std::fs::write(path, spoolq_auditor::timeline_svg(&timeline))
    {
        eprintln!(
            "spoolq audit timeline: writing {}: {e}; choose a writable path for --svg",
            path.display()
        );
        return Exit::Error;
    }
    Exit::Ok
}
