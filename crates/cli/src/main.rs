//! The `spoolq` binary: thin subcommands over the libraries. It alone prints to the
//! terminal and chooses exit codes: 0 ok, 1 a finding (duplicates, lost jobs), 2 a usage
//! or I/O error.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spoolq_lab::argv::subcommand;

mod cmd;
mod service_files;

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
    /// Read every journal and report duplicates, lost jobs and latency.
    Audit(cmd::audit::Args),
    /// Run many consumers on one spool and show the race, naive against verified.
    #[command(name = subcommand::LAB)]
    Lab(cmd::lab::Args),
    /// Create a spool with its folders, modes and group.
    Init(cmd::init::Args),
    /// Show what a spool holds: ready, in flight, retrying, dead, recent processes.
    Status(cmd::status::Args),
    /// Write a launchd plist or systemd unit that runs the daemon.
    Service(cmd::service::Args),
}

/// How a subcommand ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything as expected.
    Ok,
    /// The command ran and found a problem (duplicates, lost jobs).
    Finding,
    /// Bad usage or an I/O error.
    Error,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Ok => ExitCode::SUCCESS,
            Exit::Finding => ExitCode::from(1),
            Exit::Error => ExitCode::from(2),
        }
    }
}

fn main() -> ExitCode {
    // clap prints usage and exits 2 on a bad flag, 0 for --help and --version.
    let cli = Cli::parse();
    let exit = match cli.command {
        Command::Daemon(args) => cmd::daemon::run(args),
        Command::Produce(args) => cmd::produce::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Lab(args) => cmd::lab::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Service(args) => cmd::service::run(args),
    };
    exit.into()
}
