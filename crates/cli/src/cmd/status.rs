//! `spoolq status --spool DIR [--json | --format prometheus]`: what a spool holds right
//! now, as text, JSON, or the Prometheus metrics of `spoolq-metrics`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use spoolq_spool::Spool;
use spoolq_spool::status::{AgeSource, HeldJob, InFlightMethod, Status};

use crate::output::Stdout;
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Says whether the spool is paused (spoolq pause: since when, by whom, why). Counts jobs
ready in new/, in flight (claim lock held right now), waiting in retry/ (with the next due
time), scheduled for later (produce --at/--delay), dead in failed/, the oldest
ready job's age, and the processes that journaled in the last minute. Read-only: on Linux
in-flight jobs are read from /proc/locks without taking any lock, with the pid that holds
each lock and whether it is a spoolq daemon of this spool (any reader of a job file can lock
it and block it); on macOS a shared non-blocking lock probe may make a consumer skip a job
for an instant (it is found again on the next scan), never lose it, and cannot tell who
holds a lock.

Examples:
  spoolq status --spool /var/spool/jobs
  spoolq status --spool /var/spool/jobs --json | jq .ready
  spoolq status --spool /var/spool/jobs --format prometheus > /var/lib/node_exporter/spoolq.prom.$$ \
    && mv /var/lib/node_exporter/spoolq.prom.$$ /var/lib/node_exporter/spoolq.prom

--format prometheus prints the spool's gauges (spoolq_jobs{state=...} and the others, each
sample labelled with the spool) in the OpenMetrics text format, for node_exporter's textfile
collector; docs/operations.md lists them.")]
pub struct Args {
    /// The spool directory.
    #[arg(long, value_name = "DIR")]
    pub spool: PathBuf,
    /// Print one JSON object instead of text (the same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output: human (text), json, or prometheus (OpenMetrics text of the spool's gauges).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// How `spoolq status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people.
    Human,
    /// One JSON object.
    Json,
    /// The Prometheus metrics (OpenMetrics text format).
    Prometheus,
}

pub fn run(args: Args) -> Result<Exit, Error> {
    let spool = Spool::open(&args.spool)?;
    let status = Status::collect(&spool, SystemTime::now()).map_err(|e| {
        Error::Failed(format!(
            "{e}; check that this user may read every folder of {}",
            spool.path().display()
        ))
    })?;
    let format = if args.json { Format::Json } else { args.format };
    let mut out = Stdout::new();
    match format {
        Format::Human => out.print(&human(&status))?,
        Format::Json => out.line(&serde_json::to_string_pretty(&status)?)?,
        Format::Prometheus => out.print(
            &spoolq_metrics::render_status(&status)
                .map_err(|e| Error::Failed(format!("rendering the metrics: {e}")))?,
        )?,
    }
    Ok(Exit::Ok)
}

fn secs(s: f64) -> String {
    let d = Duration::from_secs_f64(s.max(0.0));
    // Whole seconds read better; below one second, show milliseconds.
    let d = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}

/// Who holds the locks of the jobs in flight: the daemons by pid, every other holder by
/// job, pid and command, since no daemon can claim a job while another process holds it.
fn holders(s: &Status) -> String {
    const INDENT: &str = "           ";
    let h = &s.lock_holders;
    let mut out = String::new();
    if s.in_flight_method == InFlightMethod::FlockProbe {
        if s.in_flight.is_some_and(|n| n > 0) {
            out += &format!(
                "{INDENT}(found by a shared lock probe; held by another process: this system \
                 keeps no lock table to name it)\n"
            );
        }
        return out;
    }
    if h.by_spoolq_daemons > 0 {
        let mut pids: Vec<u32> = h
            .held
            .iter()
            .filter(|job| job.spoolq_daemon)
            .filter_map(|job| job.pid)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        out += &format!(
            "{INDENT}{} by spoolq daemons of this spool (pid {})\n",
            h.by_spoolq_daemons,
            pids.join(", ")
        );
    }
    let others: Vec<&HeldJob> = h
        .held
        .iter()
        .filter(|job| !(job.spoolq_daemon && job.running))
        .collect();
    for job in &others {
        out += &format!("{INDENT}{}: {}\n", job.name, holder(job));
    }
    let listed = others.iter().filter(|job| !job.spoolq_daemon).count() as u64;
    let unlisted = (h.by_others + h.unknown).saturating_sub(listed);
    if unlisted > 0 {
        out += &format!("{INDENT}and {unlisted} more held by other processes (see --json)\n");
    }
    out
}

/// Who holds `job`'s lock, in words.
fn holder(job: &HeldJob) -> String {
    let lock = match job.exclusive {
        Some(false) => "a shared lock",
        _ => "its lock",
    };
    let command = job
        .command
        .as_deref()
        .map_or(String::new(), |c| format!(" ({c})"));
    match (job.pid, job.running, job.spoolq_daemon) {
        (None, _, _) => format!("{lock} is held by another process (the lock names none)"),
        (Some(pid), true, true) => format!("held by spoolq daemon pid {pid}"),
        (Some(pid), false, true) => format!(
            "locked by spoolq daemon pid {pid}, which has exited; a process it started \
             (a handler still running) holds the lock, so no daemon claims the job until it \
             ends"
        ),
        (Some(pid), true, false) => format!(
            "{lock} is held by pid {pid}{command}, not a spoolq daemon of this spool: no \
             daemon can claim the job while it holds it (end that process, or keep it out of \
             the spool's group)"
        ),
        (Some(pid), false, false) => format!(
            "{lock} was taken by pid {pid}, which has exited; a process it passed the \
             descriptor to still holds it, so no daemon can claim the job (find it with \
             fuser or lsof on the file)"
        ),
    }
}

fn human(s: &Status) -> String {
    let mut out = format!("spool      {}\n", s.spool.display());
    if let Some(p) = &s.paused {
        out += &format!(
            "paused     since {} ({} ago){}{}: daemons claim nothing; `spoolq resume --spool {}`\n",
            p.pause.since,
            secs(p.for_secs),
            p.pause
                .by
                .as_deref()
                .map_or(String::new(), |by| format!(" by {by}")),
            p.pause
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!(", reason: {r}")),
            s.spool.display()
        );
    }
    out += &format!("ready      {}\n", s.ready);
    out += &match (s.in_flight, s.in_flight_method) {
        (Some(n), _) => format!("in flight  {n}\n"),
        (None, InFlightMethod::ProbeFailed) => {
            "in flight  unknown (a lock probe failed on this file system)\n".to_owned()
        }
        (None, _) => "in flight  unknown (/proc/locks is not readable)\n".to_owned(),
    };
    let fs = &s.file_system;
    out += &if fs.local_assumptions_hold {
        format!(
            "file sys   {} ({}: spoolq's one-host assumptions hold)\n",
            fs.name, fs.sharing
        )
    } else {
        format!(
            "file sys   {} ({}: spoolq's one-host assumptions are not known to hold; see \
             docs/multi-host.md)\n",
            fs.name, fs.sharing
        )
    };
    out += &holders(s);
    out += &format!("retry      {}", s.retry.waiting);
    if let (Some(due), Some(in_secs)) = (&s.retry.next_due, s.retry.next_due_in_secs) {
        if s.retry.due_now > 0 {
            out += &format!(" ({} due now)", s.retry.due_now);
        } else {
            out += &format!(" (next due {due}, in {})", secs(in_secs));
        }
    }
    if s.retry.unparsable > 0 {
        out += &format!(
            ", {} with names the daemon does not know",
            s.retry.unparsable
        );
    }
    out += "\n";
    if s.scheduled.waiting > 0 {
        out += &format!("scheduled  {}", s.scheduled.waiting);
        if let (Some(due), Some(in_secs)) = (&s.scheduled.next_due, s.scheduled.next_due_in_secs) {
            if s.scheduled.due_now > 0 {
                out += &format!(" ({} due now)", s.scheduled.due_now);
            } else {
                out += &format!(" (next due {due}, in {})", secs(in_secs));
            }
        }
        out += "\n";
    }
    out += &format!("failed     {}\n", s.failed);
    match &s.oldest_ready {
        Some(o) if o.source == AgeSource::MtimeIdImplausible => {
            out += &format!(
                "oldest     {} ago ({}; by the file's time: the time in its id is implausible)\n",
                secs(o.age_secs),
                o.name
            );
        }
        Some(o) => out += &format!("oldest     {} ago ({})\n", secs(o.age_secs), o.name),
        None => out += "oldest     -\n",
    }
    if s.hidden_in_new > 0 {
        out += &format!(
            "hidden     {} name(s) starting with '.' in new/ (never claimed; they keep \
             on-demand services relaunching)\n",
            s.hidden_in_new
        );
    }
    if s.tmp > 0 {
        out += &format!("tmp        {} file(s) being written or left over\n", s.tmp);
    }
    if s.recent_processes.is_empty() {
        out += "processes  none journaled in the last minute\n";
    } else {
        out += "processes  journaled in the last minute:\n";
        for p in &s.recent_processes {
            match (p.pid, &p.started) {
                (Some(pid), Some(started)) => {
                    out += &format!(
                        "  {:<9} {}:{pid} last write {} ago (started {started})\n",
                        p.role,
                        p.host,
                        secs(p.last_write_secs_ago),
                    );
                }
                _ => {
                    out += &format!(
                        "  {:<9} {} one-shot processes (shared journal) last write {} ago\n",
                        p.role,
                        p.host,
                        secs(p.last_write_secs_ago),
                    );
                }
            }
        }
    }
    if s.unrecognized_journal_files > 0 {
        out += &format!(
            "journal    {} file(s) in journal/ not named as this spoolq names them\n",
            s.unrecognized_journal_files
        );
    }
    let problems = &s.journal_problems;
    if problems.count > 0 {
        out += &format!(
            "journal    {} problem(s) reading journal/ (files that are not regular journal \
             files are never opened):\n",
            problems.count
        );
        for problem in &problems.first {
            out += &format!("  {problem}\n");
        }
    }
    if !s.stuck.is_empty() {
        out += &format!(
            "stuck      {} job(s) in new/ a running daemon gave up on (it could not remove or \
             move them --max-attempts times; a person must act):\n",
            s.stuck.len()
        );
        for job in &s.stuck {
            out += &format!(
                "  {} by {} since {}: {} ({})\n",
                job.name, job.daemon, job.since, job.cause, job.detail
            );
        }
    }
    let unknown = &s.unknown_records;
    if unknown.count > 0 {
        out += &format!(
            "unknown    {} recent journal record(s) this spoolq does not understand (a newer \
             spoolq writes here?); audit with the spoolq that wrote them\n",
            unknown.count
        );
        for entry in &unknown.first {
            out += &format!("  {entry}\n");
        }
    }
    out
}
