//! Helpers for in-process daemon tests: a temporary spool, dropping jobs, running the
//! daemon with a shutdown switch, polling for observable conditions, reading journals.
#![allow(dead_code)]

use spoolq_spool::Record;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use spoolq_daemon::{Config, DaemonError, Summary};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// Not every test binary uses every fixture.
#[allow(unused_imports)]
pub use spoolq_testkit::{PATIENCE, TempSpool, process_gone, read_pid};

/// A daemon configuration for a test spool.
pub trait TestConfig {
    /// Test-friendly timings: fast rescans, short grace periods.
    fn config(&self) -> Config;
}

impl TestConfig for TempSpool {
    fn config(&self) -> Config {
        let mut config = Config::new(self.path());
        config.workers = 2;
        config.rescan_interval = Duration::from_millis(500);
        config.shutdown_grace = Duration::from_secs(5);
        config.kill_grace = Duration::from_millis(500);
        config.retry_base = Duration::from_millis(50);
        config.retry_max = Duration::from_millis(200);
        config
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
