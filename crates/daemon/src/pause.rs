//! Pause and resume: the daemon's side of the spool's pause marker (`spoolq pause`,
//! `spoolq_spool::pause`).
//!
//! [`start`] reads the marker once before the workers start, so that a daemon started
//! on a paused spool (a drain above all) claims nothing, then spawns the task that
//! follows it. That task reads the marker once a second, and at once when a watch on
//! the spool's root (inotify, Linux) reports the marker's name created, moved or
//! removed; the once-a-second look is also what sees a pause made through another
//! host's mount, which no watch reports. A change sets or clears the lifecycle's pause
//! (workers claim nothing while it is set; jobs in flight finish), is journaled as
//! `paused` or `resumed`, and logged. Discovery lists new/ again on a resume.
//!
//! What a pause means for discovery and a drain is discovery's business; this module
//! only tells paused from running.

use std::sync::Arc;
use std::time::Duration;

use spoolq_spool::journal::{Paused, Resumed};
use spoolq_spool::{Pause, Record};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use crate::state::{Shared, blocking};

/// How often the marker is read, whatever the watch says.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Follows the pause marker until the daemon stops; dropping it ends the following and
/// the root's watch.
#[derive(Debug)]
pub(crate) struct PauseWatch {
    task: tokio::task::JoinHandle<()>,
    #[cfg(target_os = "linux")]
    _root_watch: Option<root_watch::Handle>,
}

impl Drop for PauseWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the marker (a paused spool pauses the daemon before anything is claimed), then
/// starts following it: once a second, and, with `watch_root`, when the root's watch
/// reports the marker.
pub(crate) async fn start(shared: &Arc<Shared>, watch_root: bool) -> PauseWatch {
    let mut follower = Follower {
        shared: shared.clone(),
        current: None,
        failing: false,
    };
    follower.look().await;
    let (wake_tx, wake) = mpsc::channel(1);
    #[cfg(target_os = "linux")]
    let root_watch = if watch_root {
        match root_watch::start(shared.spool.path(), wake_tx) {
            Ok(handle) => Some(handle),
            Err(e) => {
                warn!(error = %e, every = %humantime::format_duration(LOOK_EVERY),
                    "cannot watch the spool's root for its pause marker; reading it every second");
                None
            }
        }
    } else {
        None
    };
    #[cfg(not(target_os = "linux"))]
    let _ = (wake_tx, watch_root);
    let task = tokio::spawn(follower.follow(wake));
    PauseWatch {
        task,
        #[cfg(target_os = "linux")]
        _root_watch: root_watch,
    }
}

/// The pause as this daemon last saw it.
#[derive(Debug)]
struct Follower {
    shared: Arc<Shared>,
    current: Option<Pause>,
    /// Reading the marker fails: logged once until it reads again.
    failing: bool,
}

impl Follower {
    async fn follow(mut self, mut wake: mpsc::Receiver<()>) {
        let mut lifecycle = self.shared.lifecycle.clone();
        let mut every = tokio::time::interval(LOOK_EVERY);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        every.tick().await;
        let mut watching = true;
        loop {
            tokio::select! {
                () = lifecycle.wait_stopping() => return,
                _ = every.tick() => {}
                woken = wake.recv(), if watching => {
                    if woken.is_none() {
                        watching = false;
                        continue;
                    }
                }
            }
            self.look().await;
        }
    }

    /// Reads the marker and acts on a change.
    async fn look(&mut self) {
        let s = self.shared.clone();
        let Ok(read) = blocking(move || s.spool.pause_state()).await else {
            return;
        };
        let now = match read {
            Ok(now) => {
                self.failing = false;
                now
            }
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    warn!(error = %e, "cannot read the spool's pause marker; \
                        keeping the pause as it was until it reads again");
                }
                return;
            }
        };
        match (self.current.take(), now) {
            (None, Some(pause)) => {
                self.shared.lifecycle.set_paused(true);
                warn!(
                    since = %pause.since,
                    by = pause.by.as_deref().unwrap_or("unknown"),
                    reason = pause.reason.as_deref().unwrap_or(""),
                    "spool paused: claiming nothing until `spoolq resume`; jobs in flight finish"
                );
                self.journal(Paused {
                    detail: pause.describe(),
                })
                .await;
                self.current = Some(pause);
            }
            (Some(pause), None) => {
                // Journaled before claiming resumes, as `paused` is after it stopped: a
                // job first seen while paused is claimed after this `resumed` record.
                self.journal(Resumed {
                    detail: pause.describe(),
                })
                .await;
                self.shared.lifecycle.set_paused(false);
                info!(paused_since = %pause.since, "spool resumed: claiming again");
            }
            (_, now) => self.current = now,
        }
    }

    async fn journal(&self, event: impl Into<spoolq_spool::Event>) {
        let s = self.shared.clone();
        let record = Record::new(event);
        let _ = blocking(move || s.journal.write(record)).await;
    }
}

/// An inotify watch on the spool's root for the marker's name: a hint to read it now.
#[cfg(target_os = "linux")]
mod root_watch {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
    use spoolq_spool::PAUSE_MARKER;
    use tokio::sync::mpsc;

    /// Stops the watch's thread when dropped: removing the watch wakes its blocking read
    /// with IN_IGNORED, and it exits.
    #[derive(Debug)]
    pub(crate) struct Handle {
        watches: Watches,
        wd: Option<WatchDescriptor>,
        stop: Arc<AtomicBool>,
    }

    impl Drop for Handle {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(wd) = self.wd.take() {
                let _ = self.watches.remove(wd);
            }
        }
    }

    pub(crate) fn start(root: &Path, wake: mpsc::Sender<()>) -> std::io::Result<Handle> {
        let mut inotify = Inotify::init()?;
        let mut watches = inotify.watches();
        let mask = WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::MOVED_FROM
            | WatchMask::DELETE
            | WatchMask::CLOSE_WRITE
            | WatchMask::ONLYDIR
            | WatchMask::DONT_FOLLOW;
        let wd = watches.add(root, mask)?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Handle {
            watches,
            wd: Some(wd),
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name("spoolq-pause".into())
            .spawn(move || {
                let mut buffer = vec![0u8; 4096];
                loop {
                    let events = match inotify.read_events_blocking(&mut buffer) {
                        Ok(events) => events,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        // The once-a-second look goes on without the watch.
                        Err(_) => return,
                    };
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let mut relevant = false;
                    for event in events {
                        if event.mask.contains(EventMask::IGNORED) {
                            return;
                        }
                        relevant |= event.mask.contains(EventMask::Q_OVERFLOW)
                            || event.name.is_some_and(|name| name == PAUSE_MARKER);
                    }
                    // A full channel already holds a wake-up: one look reads the latest.
                    if relevant && wake.try_send(()).is_err() && wake.is_closed() {
                        return;
                    }
                }
            })?;
        Ok(handle)
    }
}
