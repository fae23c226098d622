//! `spoolq completions SHELL` and `spoolq man --out DIR`: shell completions and man pages,
//! generated from the clap definitions of every subcommand (clap_complete, clap_mangen),
//! so they never drift from the flags the binary takes.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::output::Stdout;
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints the completion script for SHELL on standard output. Install it where your shell
looks (docs/operations.md lists the places):

Examples:
  spoolq completions bash > /usr/share/bash-completion/completions/spoolq
  spoolq completions zsh > /usr/local/share/zsh/site-functions/_spoolq
  spoolq completions fish > ~/.config/fish/completions/spoolq.fish")]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    #[arg(value_name = "SHELL")]
    shell: Shell,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Writes one man page per command into DIR: spoolq.1, and spoolq-<command>.1 for each
subcommand (spoolq-audit-timeline.1 for a nested one), and prints each file's path.

Examples:
  sudo spoolq man --out /usr/local/share/man/man1 && sudo mandb -q
  spoolq man --out ./man && man -l ./man/spoolq-daemon.1")]
pub struct ManArgs {
    /// The folder to write the pages into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the pages written as one JSON object instead of one path per line.
    #[arg(long)]
    json: bool,
}

pub fn completions(args: CompletionsArgs) -> Result<Exit, Error> {
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "spoolq", &mut script);
    Stdout::new().print(&String::from_utf8_lossy(&script))?;
    Ok(Exit::Ok)
}

pub fn man(args: ManArgs) -> Result<Exit, Error> {
    let failed = |e: std::io::Error| {
        Error::Failed(format!(
            "writing man pages into {}: {e}; choose a folder this user may write",
            args.out.display()
        ))
    };
    std::fs::create_dir_all(&args.out).map_err(failed)?;
    let mut cmd = crate::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    write_pages(cmd, &args.out, &mut pages).map_err(failed)?;
    let mut out = Stdout::new();
    if args.json {
        let json = serde_json::json!({ "out": args.out, "pages": pages });
        out.line(&serde_json::to_string_pretty(&json)?)?;
    } else {
        for page in &pages {
            out.line(&page.display().to_string())?;
        }
    }
    Ok(Exit::Ok)
}

/// The page of `cmd` and of each of its visible subcommands, depth first.
fn write_pages(
    cmd: clap::Command,
    out: &std::path::Path,
    pages: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    pages.push(clap_mangen::Man::new(cmd.clone()).generate_to(out)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), out, pages)?;
    }
    Ok(())
}
