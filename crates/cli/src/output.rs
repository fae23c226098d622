//! Standard output and standard error without a panic.
//!
//! Rust ignores SIGPIPE, so writing into a pipe whose reader has gone (`spoolq status |
//! head -1`) fails with EPIPE, and `println!` turns that into a panic (exit 101). Here a
//! reader that went away is not an error: the command finishes its work, prints nothing
//! more, and exits with the status it would have had (0, or 1 for a finding); see the
//! README's exit codes. Any other failure to write the results (a full disk under
//! `> file`) is an I/O error, exit 2. Stderr (warnings, progress, the final error) is
//! best effort: a closed or failing stderr loses those lines and changes nothing else.

use std::io::{ErrorKind, Write};

use crate::outcome::Error;

/// A command's standard output.
#[derive(Debug, Default)]
pub struct Stdout {
    /// The reader went away: everything after is dropped.
    gone: bool,
}

impl Stdout {
    pub fn new() -> Stdout {
        Stdout::default()
    }

    /// Writes `text` and flushes it.
    pub fn print(&mut self, text: &str) -> Result<(), Error> {
        if self.gone {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(())
            }
            Err(e) => Err(Error::Stdout(e)),
        }
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<(), Error> {
        self.print(&format!("{text}\n"))
    }
}

/// Writes `text` to stderr as it is; a failure is ignored (see the module's doc).
pub fn eprint(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Writes one line to stderr; a failure is ignored.
pub fn eprint_line(text: &str) {
    eprint(&format!("{text}\n"));
}
