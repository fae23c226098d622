//! Helpers for in-process daemon tests: a temporary spool, dropping jobs, running the
//! daemon with a shutdown switch, polling for observable conditions, reading journals.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use spoolq_daemon::{Config, DaemonError, Summary};
use spoolq_spool::{CreateOptions, Durability, Event, JobId, Record, Spool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A generous bound for conditions that normally hold within milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(20);

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

    /// A scratch directory beside the spool, for handler scripts' marker files.
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

    /// A config with test-friendly timings: fast rescans, short grace periods.
    pub fn config(&self) -> Config {
        let mut config = Config::new(self.path());
        config.workers = 2;
        config.rescan_interval = Duration::from_millis(500);
        config.shutdown_grace = Duration::from_secs(5);
        config.kill_grace = Duration::from_millis(500);
        config.retry_base = Duration::from_millis(50);
        config.retry_max = Duration::from_millis(200);
        config
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

    pub fn reason(&self, name: &str) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.folder("failed").join(format!("{name}.reason.json")))
                .unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// A daemon running in this process until `stop` is called.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<Summary, DaemonError>>,
}

impl Running {
    pub fn start(config: Config) -> Running {
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(spoolq_daemon::run(config, async move {
            let _ = rx.await;
        }));
        Running {
            stop: Some(tx),
            handle,
        }
    }

    pub async fn stop(mut self) -> Summary {
        let _ = self.stop.take().unwrap().send(());
        self.finish().await
    }

    /// Waits for the daemon to return by itself (drain mode).
    pub async fn finish(self) -> Summary {
        tokio::time::timeout(PATIENCE, self.handle)
            .await
            .expect("daemon did not return in time")
            .unwrap()
            .unwrap()
    }
}

/// Runs a draining daemon to completion.
pub async fn drain(mut config: Config) -> Summary {
    config.drain = true;
    Running::start(config).finish().await
}

/// Polls `cond` until it holds, panicking with `what` at the deadline.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Like `wait_until`, for async conditions.
pub async fn wait_until_async<F: Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> F,
) {
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn wall(record: &Record) -> SystemTime {
    humantime::parse_rfc3339(&record.wall).unwrap()
}

/// A handler running `script` with sh.
pub fn sh(script: &str) -> Option<Vec<std::ffi::OsString>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
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
