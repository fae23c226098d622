//! Stub: filled in by its issue.

use crate::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Exit {
    eprintln!("spoolq: not implemented yet");
    Exit::Error
}
