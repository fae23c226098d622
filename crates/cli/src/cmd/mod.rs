//! One module per subcommand: its flags (clap) and how its result is printed.

pub mod audit;
pub mod completions;
pub mod daemon;
pub mod init;
pub mod journal;
pub mod lab;
pub mod pause;
pub mod produce;
pub mod requeue;
pub mod service;
pub mod status;
pub mod value;
