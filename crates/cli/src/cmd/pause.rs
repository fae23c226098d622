//! `spoolq pause --spool DIR [--reason TEXT] [--json]` and `spoolq resume --spool DIR
//! [--json]`: write or remove the spool's pause marker (`spoolq_spool::pause`). The
//! daemons of the spool see it within a second and stop or start claiming; this
//! command waits for none of them.

use std::path::PathBuf;
use std::time::SystemTime;

use spoolq_spool::{Pause, Paused, Spool};

use crate::output::Stdout;
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Writes the marker SPOOL/paused. Every daemon of the spool sees it within a second (a
watch on the spool's root, and a look every second): it claims nothing more, lets the
jobs in flight finish, and journals `paused`. A drain (--drain, the on-demand services)
started on a paused spool exits 0 at once without claiming. Producers keep dropping
jobs; they wait in new/. Pausing a paused spool leaves its marker (and its reason) as
it was. spoolq status shows the pause, since when and why.

Examples:
  spoolq pause --spool /var/spool/jobs --reason 'database migration, ticket 4711'
  spoolq pause --spool /var/spool/jobs --json

Exit status: 0 the spool is paused (now, or already was); 2 a usage or I/O error (no
such spool, no permission to write its root).")]
pub struct PauseArgs {
    /// The spool directory.
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,
    /// Why, for status and the journals (one line, at most 500 characters).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Removes the marker SPOOL/paused. Every daemon of the spool sees that within a second,
journals `resumed`, lists new/ and claims again. Resuming a spool that is not paused
changes nothing.

Examples:
  spoolq resume --spool /var/spool/jobs
  spoolq resume --spool /var/spool/jobs --json

Exit status: 0 the spool is not paused (now, or was not); 2 a usage or I/O error.")]
pub struct ResumeArgs {
    /// The spool directory.
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// What a pause or resume did, as `--json` prints it.
#[derive(Debug)]
struct Report {
    spool: PathBuf,
    /// `paused`, `already_paused`, `resumed` or `not_paused`.
    action: &'static str,
    /// The pause made, kept or ended.
    pause: Option<Pause>,
    /// For a resume: how long the spool was paused, in seconds.
    paused_for_secs: Option<f64>,
}

fn who() -> String {
    let host = spoolq_os::hostname().unwrap_or_else(|_| "unknown".to_owned());
    format!("{host}:{}", std::process::id())
}

fn print(report: &Report, json: bool, human: String) -> Result<Exit, Error> {
    let mut out = Stdout::new();
    if json {
        let value = serde_json::json!({
            "spool": report.spool,
            "action": report.action,
            "pause": report.pause,
            "paused_for_secs": report.paused_for_secs,
        });
        out.line(&serde_json::to_string_pretty(&value)?)?;
    } else {
        out.print(&human)?;
    }
    Ok(Exit::Ok)
}

fn reason_text(pause: &Pause) -> String {
    pause
        .reason
        .as_deref()
        .map_or(" (no reason given)".to_owned(), |r| format!(": {r}"))
}

pub fn pause(args: PauseArgs) -> Result<Exit, Error> {
    let spool = Spool::open(&args.spool)?;
    let path = spool.path().to_owned();
    let (action, pause, human) = match spool.pause(args.reason.as_deref(), &who())? {
        Paused::Now(pause) => {
            let human = format!(
                "paused {} since {}{}\ndaemons of this spool claim nothing from within a second; \
                 jobs in flight finish; `spoolq resume --spool {}` to resume\n",
                path.display(),
                pause.since,
                reason_text(&pause),
                path.display()
            );
            ("paused", pause, human)
        }
        Paused::Already(pause) => {
            let human = format!(
                "{} was already paused since {}{}{}; its marker is left as it was\n",
                path.display(),
                pause.since,
                pause
                    .by
                    .as_deref()
                    .map_or(String::new(), |by| format!(" by {by}")),
                reason_text(&pause)
            );
            ("already_paused", pause, human)
        }
    };
    let report = Report {
        spool: path,
        action,
        pause: Some(pause),
        paused_for_secs: None,
    };
    print(&report, args.json, human)
}

pub fn resume(args: ResumeArgs) -> Result<Exit, Error> {
    let spool = Spool::open(&args.spool)?;
    let path = spool.path().to_owned();
    let ended = spool.resume()?;
    let (human, action, paused_for_secs) = match &ended {
        Some(pause) => {
            let for_secs = pause.age_secs(SystemTime::now());
            let human = format!(
                "resumed {} (paused since {}, for {}{})\ndaemons of this spool claim again from \
                 within a second\n",
                path.display(),
                pause.since,
                humantime::format_duration(std::time::Duration::from_secs(for_secs as u64)),
                reason_text(pause)
            );
            (human, "resumed", Some(for_secs))
        }
        None => (
            format!("{} was not paused; nothing changed\n", path.display()),
            "not_paused",
            None,
        ),
    };
    let report = Report {
        spool: path,
        action,
        pause: ended,
        paused_for_secs,
    };
    print(&report, args.json, human)
}
