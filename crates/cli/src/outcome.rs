//! How a command ends: [`Exit`] when it did its work, [`Error`] when it could not. The
//! subcommands return one of them and print no error themselves; `main` alone prints
//! the error or the finding on stderr and picks the exit code: 0 ok, 1 a finding, 2 a
//! usage or I/O error (and 128 + n for a daemon stopped at once by a second signal n).

/// How a command that did its work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Everything as expected: exit 0.
    Ok,
    /// The command ran and found a problem (a duplicate, a lost job), named in one line
    /// for stderr: exit 1.
    Finding(String),
    /// The daemon was stopped at once by a second signal, this one: exit 128 + n, as a
    /// shell reports a process killed by signal n.
    Signalled(i32),
}

impl Exit {
    /// The process's exit status.
    pub fn code(&self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Finding(_) => 1,
            Exit::Signalled(n) => u8::try_from(128 + n).unwrap_or(u8::MAX),
        }
    }
}

/// Why a command could not do its work: one line for stderr, exit 2. The libraries'
/// errors already name the path and what to do; [`Error::Failed`] carries the lines a
/// command phrases itself (with the hint that fits there).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Daemon(#[from] spoolq_daemon::DaemonError),
    #[error(transparent)]
    Produce(#[from] spoolq_producer::ProduceError),
    #[error(transparent)]
    Audit(#[from] spoolq_auditor::AuditError),
    #[error(transparent)]
    Lab(#[from] spoolq_lab::LabError),
    #[error(transparent)]
    Floor(#[from] spoolq_lab::floor::FloorError),
    #[error(transparent)]
    Spool(#[from] spoolq_spool::LayoutError),
    /// Writing the results failed for another reason than a reader that went away (a
    /// full disk under `> file`, say).
    #[error("writing to standard output: {0}")]
    Stdout(std::io::Error),
    #[error("rendering JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Flags that clap cannot check alone (`--id` with several files).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::Failed(message)
    }
}
