//! Helpers for process-level tests of the `spoolq` binary: a temporary spool, dropping
//! jobs, running `spoolq daemon` as a child process, sending it signals, polling for
//! observable conditions with a deadline, and reading the journals.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub fn spoolq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spoolq"))
}

/// The uid (and gid) the tests run the daemon as when they run as root and need file
/// permissions to bite: `nobody`.
pub const NOBODY: u32 = 65534;

/// This process's effective uid (from /proc, without unsafe code).
pub fn effective_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// Makes the spool usable by [`NOBODY`]: the temporary folder above it traversable, and
/// the spool's folders and journal files owned by nobody, except the folders in `keep`,
/// which stay root's (mode unchanged). For tests running as root.
pub fn give_spool_to_nobody(spool: &TempSpool, keep: &[&str]) {
    use std::os::unix::fs::{PermissionsExt, chown};
    std::fs::set_permissions(spool.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for dir in ["", "tmp", "new", "retry", "failed", "journal", "claimed"] {
        if !keep.contains(&dir) {
            chown(spool.path().join(dir), Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    for entry in std::fs::read_dir(spool.folder("journal")).unwrap() {
        chown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
}

/// `spoolq`, run as [`NOBODY`] with no supplementary groups (through `setpriv`).
pub fn spoolq_as_nobody() -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .args(["--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_spoolq"));
    cmd
}

// Not every test binary uses every fixture.
#[allow(unused_imports)]
pub use spoolq_testkit::{PATIENCE, TempSpool, TmpfsMount, process_gone, read_pid, skip};

/// Running the real binary's daemon on a test spool.
pub trait SpawnDaemon {
    /// Starts `spoolq daemon --spool SPOOL ARGS... -- COMMAND...`, its stderr to a log
    /// file in the scratch directory.
    fn daemon(&self, args: &[&str], command: &[&str]) -> Daemon {
        self.daemon_with_env(args, &[], command)
    }

    /// [`SpawnDaemon::daemon`] with these variables added to its environment.
    fn daemon_with_env(&self, args: &[&str], env: &[(&str, &str)], command: &[&str]) -> Daemon;
}

impl SpawnDaemon for TempSpool {
    fn daemon_with_env(&self, args: &[&str], env: &[(&str, &str)], command: &[&str]) -> Daemon {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.scratch().join(format!("daemon-{n}.log"));
        let mut cmd = spoolq();
        cmd.arg("daemon").arg("--spool").arg(self.path()).args(args);
        if !command.is_empty() {
            cmd.arg("--").args(command);
        }
        let child = cmd
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }
}

/// A `spoolq daemon` child process; killed if the test ends without waiting for it.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (TERM, INT, KILL) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the daemon to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit in time; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` until it holds, panicking with `what` at the deadline.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
