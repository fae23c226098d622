//! The `spoolq` binary: thin subcommands over the libraries. It alone prints to the
//! terminal and chooses exit codes: 0 ok, 1 a finding (duplicates, lost jobs), 2 a usage
//! or I/O error. Each subcommand (`cmd`) returns its outcome, [`Exit`] or [`Error`];
//! `main` is the one exit point. Output goes through `output`, so that a closed stdout
//! or stderr is never a panic.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spoolq_lab::argv::subcommand;

mod cmd;
mod outcome;
mod output;
mod service_files;

pub use outcome::{Error, Exit};

/// A work queue whose queue is a directory.
#[derive(Debug, Parser)]
#[command(
    name = "spoolq",
    version,
    about,
    after_help = "Examples:\n  spoolq lab                                  # reproduce the race, see it fixed\n  spoolq init /var/spool/jobs\n  spoolq daemon --spool /var/spool/jobs -- ./handle-job\n  echo hello | spoolq produce --spool /var/spool/jobs\n  spoolq audit --spool /var/spool/jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume jobs: watch the spool, claim each job, run the handler.
    #[command(name = subcommand::DAEMON)]
    Daemon(cmd::daemon::Args),
    /// Drop jobs into a spool atomically.
    #[command(name = subcommand::PRODUCE)]
    Produce(cmd::produce::Args),
    /// Send dead jobs from failed/ back to new/, with a fresh attempt count.
    Requeue(cmd::requeue::Args),
    /// Pause a spool: its daemons claim nothing until resumed (jobs in flight finish).
    Pause(cmd::pause::PauseArgs),
    /// Resume a paused spool: its daemons claim again.
    Resume(cmd::pause::ResumeArgs),
    /// Read every journal and report duplicates, lost jobs and latency.
    Audit(cmd::audit::Args),
    /// Run many consumers on one spool and show the race, naive against verified.
    #[command(name = subcommand::LAB)]
    Lab(cmd::lab::Args),
    /// Journal retention: remove old journal files, never one still written.
    Journal(cmd::journal::Args),
    /// Create a spool with its folders, modes and group.
    Init(cmd::init::Args),
    /// Show what a spool holds: ready, in flight, retrying, dead, recent processes.
    Status(cmd::status::Args),
    /// Write a launchd plist or systemd unit that runs the daemon.
    Service(cmd::service::Args),
    /// Print the shell completion script for bash, zsh or fish.
    Completions(cmd::completions::CompletionsArgs),
    /// Write the man pages of every command into a folder.
    Man(cmd::completions::ManArgs),
}

impl Command {
    /// The command as the user reads it in an error line (`spoolq audit timeline: ...`).
    fn name(&self) -> &'static str {
        match self {
            Command::Daemon(_) => "daemon",
            Command::Produce(_) => "produce",
            Command::Requeue(_) => "requeue",
            Command::Pause(_) => "pause",
            Command::Resume(_) => "resume",
            Command::Audit(args) => args.name(),
            Command::Lab(args) => args.name(),
            Command::Init(_) => "init",
            Command::Journal(args) => args.name(),
            Command::Status(_) => "status",
            Command::Service(_) => "service install",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

/// The one exit path: every command returns its outcome, and only this function prints
/// an error or a finding and picks the exit code.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors (exit 2) go to stderr, --help and --version (exit 0) to
            // stdout; a stream that cannot be written changes neither.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let name = cli.command.name();
    let result = match cli.command {
        Command::Daemon(args) => cmd::daemon::run(args),
        Command::Produce(args) => cmd::produce::run(args),
        Command::Requeue(args) => cmd::requeue::run(args),
        Command::Pause(args) => cmd::pause::pause(args),
        Command::Resume(args) => cmd::pause::resume(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Lab(args) => cmd::lab::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Journal(args) => cmd::journal::run(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Service(args) => cmd::service::run(args),
        Command::Completions(args) => cmd::completions::completions(args),
        Command::Man(args) => cmd::completions::man(args),
    };
    match result {
        Ok(exit) => {
            if let Exit::Finding(what) = &exit {
                output::eprint_line(&format!("spoolq {name}: {what}"));
            }
            ExitCode::from(exit.code())
        }
        Err(e) => {
            output::eprint_line(&format!("spoolq {name}: {e}"));
            ExitCode::from(2)
        }
    }
}
