//! The file system watcher on new/ and retry/: inotify on Linux, the notify crate
//! elsewhere.
//!
//! Its thread offers names that appear in new/ to the queue itself and sends the rest
//! (names in retry/, a full queue, lost events) to the discovery task through a
//! [`WatchFeed`]. What it reports is a hint: it claims nothing, moves nothing and
//! decides nothing about when to list a folder; discovery does.

use std::ffi::OsString;
#[cfg(not(target_os = "linux"))]
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(not(target_os = "linux"))]
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
#[cfg(not(target_os = "linux"))]
use spoolq_spool::names::is_hidden;
use tokio::sync::mpsc;

use crate::lifecycle::Folder;
use crate::queue::Offer;
use crate::state::Shared;

/// Messages from the watcher thread to the discovery task.
#[derive(Debug)]
pub(crate) enum WatchMsg {
    /// A name appeared in new/ (the watcher offers it to the queue itself; only
    /// [`WatchMsg::QueueFull`] reaches the discovery task).
    New(OsString),
    /// The watcher offered a new name and the queue was full: list new/ once there is room.
    QueueFull,
    /// A name appeared in retry/.
    Retry(OsString),
    /// The watcher lost events or failed: list everything again.
    Rescan,
}

/// The receiving end of the watcher, and a flag set when its channel overflowed.
#[derive(Debug)]
pub(crate) struct WatchFeed {
    /// None once the watcher stopped and every message was taken.
    rx: Option<mpsc::Receiver<WatchMsg>>,
    lost: Arc<AtomicBool>,
}

impl WatchFeed {
    /// Whether messages were lost (the channel was full) since the last call.
    pub fn lost_events(&self) -> bool {
        self.lost.swap(false, Ordering::SeqCst)
    }

    /// The next message. A watcher that stopped reports [`WatchMsg::Rescan`] once
    /// (until [`close_if_stopped`](Self::close_if_stopped) is called), then never.
    pub async fn recv(&mut self) -> WatchMsg {
        match &mut self.rx {
            Some(rx) => match rx.recv().await {
                Some(msg) => msg,
                // Closed: report once (the caller closes the feed), never spin.
                None => WatchMsg::Rescan,
            },
            None => std::future::pending().await,
        }
    }

    /// A message already waiting, if any.
    pub fn try_recv(&mut self) -> Option<WatchMsg> {
        self.rx.as_mut()?.try_recv().ok()
    }

    /// Stops listening if the watcher stopped and every message was taken; true then.
    pub fn close_if_stopped(&mut self) -> bool {
        let stopped = self
            .rx
            .as_ref()
            .is_some_and(|rx| rx.is_closed() && rx.is_empty());
        if stopped {
            self.rx = None;
        }
        stopped
    }
}

/// Messages that may wait between the watcher's thread and the discovery task.
pub(crate) const WATCH_CAPACITY: usize = 4096;

/// Keeps the watcher running; dropping it stops the watcher.
#[cfg(not(target_os = "linux"))]
pub(crate) type WatchHandle = RecommendedWatcher;
#[cfg(target_os = "linux")]
pub(crate) type WatchHandle = linux_watch::Handle;

/// Starts a non-recursive watcher on new/ and retry/.
#[cfg(target_os = "linux")]
pub(crate) fn start(shared: &Arc<Shared>) -> Result<(WatchHandle, WatchFeed), std::io::Error> {
    let (send, feed) = watch_channel(shared);
    let workers = shared.clone();
    let last_read = std::cell::Cell::new(None::<std::time::Instant>);
    let pace = move || {
        // Reads closer together than GATHER_BELOW: names arrive faster than one per read
        // can be worth a wake-up, so let a few gather for the next read.
        let now = std::time::Instant::now();
        if last_read
            .replace(Some(now))
            .is_some_and(|at| now.duration_since(at) < GATHER_BELOW)
        {
            std::thread::sleep(GATHER);
        }
        workers.queue.wait_while_backlog(BACKLOG_WAIT);
    };
    let handle = linux_watch::start(
        shared.spool.new_dir().path(),
        shared.spool.retry().path(),
        send,
        pace,
    )?;
    Ok((handle, feed))
}

/// Reads of the watcher closer together than this mean a fast stream of names.
#[cfg(target_os = "linux")]
const GATHER_BELOW: std::time::Duration = std::time::Duration::from_micros(500);
/// How long the watcher lets names gather before its next read, in a fast stream.
#[cfg(target_os = "linux")]
const GATHER: std::time::Duration = std::time::Duration::from_micros(250);

/// The longest the watcher's thread leaves new events unread while names wait for a
/// worker (`Queue::wait_while_backlog`): a job that arrives then would wait for a worker
/// anyway, and a few milliseconds of events are far below the kernel's queue limit.
#[cfg(target_os = "linux")]
const BACKLOG_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// The watcher's way out: new names go straight into the queue from the watcher's
/// thread (one thread hand-off per job fewer than through the discovery task, which
/// counts when a producer and the daemon share two cores); everything else, and a
/// name the full queue could not take, goes to the discovery task. Never blocks the
/// watcher's thread: a full channel means "rescan", not "wait".
fn watch_channel(shared: &Arc<Shared>) -> (impl Fn(WatchMsg) + Send + 'static, WatchFeed) {
    let (tx, rx) = mpsc::channel(WATCH_CAPACITY);
    let lost = Arc::new(AtomicBool::new(false));
    let flag = lost.clone();
    let shared = shared.clone();
    let send = move |msg: WatchMsg| {
        let msg = match msg {
            WatchMsg::New(name) => {
                if shared.lifecycle.is_gone(Folder::New)
                    || shared.queue.offer(&name, None) != Offer::Full
                {
                    return;
                }
                WatchMsg::QueueFull
            }
            other => other,
        };
        if tx.try_send(msg).is_err() {
            flag.store(true, Ordering::SeqCst);
        }
    };
    (send, WatchFeed { rx: Some(rx), lost })
}

/// The watcher on Linux: inotify directly, asking only for names that appear (created,
/// moved in, or closed after writing) and for the folder itself going away. notify's
/// inotify backend also subscribes to every open, attribute change and delete in the
/// folder, which here are the daemon's own claims and completions: three wake-ups of
/// its thread per job for nothing (docs/performance.md has the drain rate with each).
#[cfg(target_os = "linux")]
mod linux_watch {
    use std::ffi::OsStr;
    use std::os::fd::AsFd;
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
    use spoolq_spool::names::is_hidden;

    use super::WatchMsg;

    /// Stops the watcher thread when dropped: removing the watches wakes its blocking
    /// read with IN_IGNORED, and it exits.
    #[derive(Debug)]
    pub(crate) struct Handle {
        watches: Watches,
        wds: Vec<WatchDescriptor>,
        stop: Arc<AtomicBool>,
    }

    impl Drop for Handle {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            for wd in self.wds.drain(..) {
                let _ = self.watches.remove(wd);
            }
        }
    }

    /// Starts the thread; after the events of each read it calls `pace`, which may
    /// block while the workers are behind (see the queue's doc), so that the next read
    /// takes what arrived meanwhile in one go.
    pub(crate) fn start(
        new: &Path,
        retry: &Path,
        send: impl Fn(WatchMsg) + Send + 'static,
        pace: impl Fn() + Send + 'static,
    ) -> std::io::Result<Handle> {
        let mut inotify = Inotify::init()?;
        // The watcher's thread only waits on this descriptor: a blocking one spares the
        // four fcntl calls with which `read_events_blocking` toggles O_NONBLOCK per read.
        spoolq_os::fs::set_blocking(inotify.as_fd()).map_err(std::io::Error::from)?;
        let mut watches = inotify.watches();
        let mask = WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::CLOSE_WRITE
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR
            | WatchMask::DONT_FOLLOW;
        let new_wd = watches.add(new, mask)?;
        let retry_wd = watches.add(retry, mask)?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Handle {
            watches,
            wds: vec![new_wd.clone(), retry_wd.clone()],
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name("spoolq-watch".into())
            .spawn(move || {
                let mut buffer = vec![0u8; 64 * 1024];
                let mut live = 2;
                loop {
                    let events = match inotify.read_events(&mut buffer) {
                        Ok(events) => events,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => return send(WatchMsg::Rescan),
                    };
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    for event in events {
                        if event.mask.contains(EventMask::Q_OVERFLOW) {
                            send(WatchMsg::Rescan);
                            continue;
                        }
                        if event.mask.contains(EventMask::IGNORED) {
                            // A watched folder was removed: nothing more will come.
                            live -= 1;
                            send(WatchMsg::Rescan);
                            if live == 0 {
                                return;
                            }
                            continue;
                        }
                        if event
                            .mask
                            .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF)
                        {
                            send(WatchMsg::Rescan);
                            continue;
                        }
                        let Some(name) = event.name else { continue };
                        if is_hidden(name) || event.mask.contains(EventMask::ISDIR) {
                            continue;
                        }
                        let name: &OsStr = name;
                        if event.wd == new_wd {
                            send(WatchMsg::New(name.to_owned()));
                        } else if event.wd == retry_wd {
                            send(WatchMsg::Retry(name.to_owned()));
                        }
                    }
                    pace();
                }
            })?;
        Ok(handle)
    }
}

/// Starts a non-recursive watcher on new/ and retry/.
#[cfg(not(target_os = "linux"))]
pub(crate) fn start(shared: &Arc<Shared>) -> Result<(WatchHandle, WatchFeed), notify::Error> {
    let new_path: PathBuf = shared.spool.new_dir().path().to_owned();
    let retry_path: PathBuf = shared.spool.retry().path().to_owned();
    let (send, feed) = watch_channel(shared);
    let (np, rp) = (new_path.clone(), retry_path.clone());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let event = match res {
            Ok(event) if !event.need_rescan() => event,
            _ => return send(WatchMsg::Rescan),
        };
        if matches!(event.kind, EventKind::Access(_) | EventKind::Remove(_)) {
            return;
        }
        for path in &event.paths {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            if is_hidden(name) {
                continue;
            }
            if parent == np {
                send(WatchMsg::New(name.to_owned()));
            } else if parent == rp {
                send(WatchMsg::Retry(name.to_owned()));
            }
        }
    })?;
    watcher.watch(&new_path, RecursiveMode::NonRecursive)?;
    watcher.watch(&retry_path, RecursiveMode::NonRecursive)?;
    Ok((watcher, feed))
}
