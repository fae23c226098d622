//! Helpers for process-level tests of the `spoolq` binary: a temporary spool, dropping
//! jobs, running `spoolq daemon` as a child process, sending it signals, polling for
//! observable conditions with a deadline, and reading the journals.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use spoolq_spool::{CreateOptions, Durability, Event, JobId, Record, Spool};

/// A generous bound for conditions that normally hold within milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn spoolq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spoolq"))
}

pub struct TempSpool {
    pub dir: tempfile::TempDir,
    pub spool: Spool,
}

impl TempSpool {
    pub fn new() -> TempSpool {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::create(&dir.path().join("spool"), CreateOptions::default()).unwrap();
        TempSpool { dir, spool }
    }

    pub fn path(&self) -> PathBuf {
        self.spool.path().to_owned()
    }

    pub fn folder(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// A scratch directory beside the spool (marker files, daemon logs).
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn drop_job(&self, payload: &str) -> JobId {
        let id = JobId::generate();
        self.spool
            .drop_job(id, &mut payload.as_bytes(), Durability::NEVER)
            .unwrap();
        id
    }

    pub fn drop_jobs(&self, n: usize) -> Vec<JobId> {
        (0..n)
            .map(|i| self.drop_job(&format!("job {i}\n")))
            .collect()
    }

    pub fn names(&self, folder: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.folder(folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    pub fn records(&self) -> Vec<Record> {
        let (entries, _problems) =
            spoolq_spool::journal::read_all(&[self.folder("journal")]).unwrap();
        entries.into_iter().map(|e| e.record).collect()
    }

    pub fn events(&self, event: Event) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.event == event)
            .collect()
    }

    pub fn count_per_job(&self, event: Event) -> HashMap<JobId, usize> {
        let mut counts = HashMap::new();
        for r in self.events(event) {
            if let Some(id) = r.job {
                *counts.entry(id).or_default() += 1;
            }
        }
        counts
    }

    /// Starts `spoolq daemon --spool SPOOL ARGS... -- COMMAND...`, its stderr to a log
    /// file in the scratch directory.
    pub fn daemon(&self, args: &[&str], command: &[&str]) -> Daemon {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.scratch().join(format!("daemon-{n}.log"));
        let mut cmd = spoolq();
        cmd.arg("daemon").arg("--spool").arg(self.path()).args(args);
        if !command.is_empty() {
            cmd.arg("--").args(command);
        }
        let child = cmd
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

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no code).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
