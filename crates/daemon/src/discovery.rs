//! Discovery: which names in new/ might be jobs, and which jobs in retry/ are due.
//!
//! Sources, all only hints (every name is claimed through the protocol anyway):
//! - a full listing of new/ at start, on a watcher overflow or error, periodically
//!   (`rescan_interval`), and when the queue has room again after a listing was cut short;
//! - the notify watcher on new/ (names created or moved in) and retry/ (due times);
//! - the retry mover, which lists retry/, moves due jobs back to new/ under the lock,
//!   and sleeps until the earliest due time it saw.
//!
//! Listings stream (`Dir::entries`) and feed the bounded queue without waiting; when it
//! is full the listing stops, so memory does not grow with the spool. Listings, claims
//! and renames run on the blocking pool.
//!
//! With `drain`, discovery returns once a complete listing of new/ finds nothing while
//! nothing is queued or in flight. Jobs waiting in retry/ for a future due time do not
//! keep it alive. While jobs are held by someone else (busy), re-listing backs off, so
//! draining never spins.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use spoolq_os::fs::{DirStream, dir_stream};
use spoolq_spool::RetryName;
use spoolq_spool::names::is_hidden;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::lifecycle::Folder;
use crate::queue::Offer;
use crate::retry_mover;
use crate::state::{Shared, Stats, blocking};
use crate::watcher::{WATCH_CAPACITY, WatchFeed, WatchMsg};

const DRAIN_MIN: Duration = Duration::from_millis(10);
const DRAIN_MAX: Duration = Duration::from_secs(1);

/// What a listing of new/ found.
#[derive(Debug, Default, Clone, Copy)]
struct ScanReport {
    /// Names that could be jobs (not hidden).
    listed: u64,
    queued: u64,
    /// The queue filled up and the listing stopped early.
    full: bool,
    /// The listing started at the beginning of the folder (not a continued one).
    fresh: bool,
}

/// A listing of new/ cut short by a full queue, continued where it stopped once the
/// workers made room, so that draining a huge folder reads it once instead of from the
/// start for every queue's worth of jobs (ext4 keeps the blocks of removed entries: a
/// listing from the start reads past every job already done).
#[derive(Debug)]
struct NewCursor {
    stream: DirStream,
    /// The name the queue had no room for.
    pending: Option<OsString>,
}

/// The discovery task. Returns when stopped, or in drain mode when the spool is drained.
pub(crate) async fn discovery(shared: Arc<Shared>, mut feed: Option<WatchFeed>) {
    let mut lifecycle = shared.lifecycle.clone();
    let config = shared.config.clone();
    let mut interval = tokio::time::interval_at(
        Instant::now() + config.rescan_interval,
        config.rescan_interval,
    );
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let reported = Mutex::new(HashSet::new());
    let reported = Arc::new(reported);
    let (mut scan_new, mut scan_retry) = (true, true);
    let mut sweep_tmp = true;
    // The last listing of new/ stopped at a full queue: list again once there is room.
    let mut incomplete = false;
    // Where that listing stopped, continued by `resume_new`; `scan_new` starts afresh.
    let mut cursor: Option<NewCursor> = None;
    let mut resume_new = false;
    // Names were turned away at a full queue (watcher, retry mover) since the last
    // listing from the start began: they may lie behind the cursor.
    let mut missed = false;
    let mut retry_due: Option<Instant> = None;
    let mut retry_waiting = (0u64, None::<SystemTime>);
    let mut drain_at: Option<Instant> = None;
    let mut drain_delay = DRAIN_MIN;
    let mut last_progress = shared.stats.progress();

    loop {
        if lifecycle.is_stopping() {
            return;
        }
        if feed.as_ref().is_some_and(WatchFeed::lost_events) {
            info!(
                "watcher overflow: events were lost (too many at once for the daemon's \
                 channel): rescanning new/ and retry/"
            );
            scan_new = true;
            scan_retry = true;
        }
        if sweep_tmp {
            sweep_tmp = false;
            let s = shared.clone();
            let max_age = config.tmp_max_age;
            let _ = blocking(move || crate::tmp::sweep(&s, max_age)).await;
        }
        if scan_retry && !lifecycle.is_gone(Folder::Retry) {
            scan_retry = false;
            let s = shared.clone();
            if let Ok(report) = blocking(move || retry_mover::move_due(&s)).await {
                retry_due = report.next_due.map(instant_for);
                retry_waiting = (report.waiting, report.next_due);
                if report.full {
                    incomplete = true;
                    missed = true;
                }
                if report.moved > 0 {
                    debug!(
                        moved = report.moved,
                        "retry mover: due jobs moved back to new/"
                    );
                }
            }
        }
        if scan_new || resume_new {
            let resume = if scan_new { None } else { cursor.take() };
            cursor = None;
            if resume.is_none() {
                missed = false;
            }
            scan_new = false;
            resume_new = false;
            let s = shared.clone();
            let r = reported.clone();
            if let Ok((report, next)) = blocking(move || {
                check_folders(&s, &r);
                scan_new_dir(&s, resume)
            })
            .await
            {
                cursor = next;
                incomplete = report.full;
                if !report.full && !report.fresh && missed {
                    // A continued listing ended; names turned away meanwhile may lie
                    // behind where it started: list from the start once there is room.
                    incomplete = true;
                }
                if report.queued > 0 {
                    debug!(
                        listed = report.listed,
                        queued = report.queued,
                        "scanned new/"
                    );
                }
                let drained = lifecycle.is_gone(Folder::New)
                    || (report.fresh
                        && report.listed == 0
                        && !report.full
                        && shared.queue.is_idle());
                if config.drain && drained {
                    if retry_waiting.0 > 0 {
                        info!(
                            waiting = retry_waiting.0,
                            next_due = %retry_waiting.1.map(crate::failed::rfc3339).unwrap_or_default(),
                            "drain: jobs waiting in retry/ for a future due time do not keep \
                             the daemon alive; a later start moves them back to new/ when due"
                        );
                    }
                    let s = shared.clone();
                    let _ = blocking(move || crate::hidden::sweep(&s, &s.daemon_id())).await;
                    return;
                }
            }
        }

        tokio::select! {
            () = lifecycle.wait_stopping() => return,
            _ = interval.tick() => {
                scan_new = true;
                scan_retry = true;
                sweep_tmp = true;
            }
            msg = recv(&mut feed) => {
                let mut next = Some(msg);
                // Take what is already waiting too, so a burst costs one loop turn.
                let mut budget = WATCH_CAPACITY;
                while let Some(msg) = next.take() {
                    handle_watch(msg, &mut scan_new, &mut scan_retry,
                        &mut incomplete, &mut missed, &mut retry_due);
                    budget -= 1;
                    if budget > 0 && let Some(feed) = feed.as_mut() {
                        next = feed.try_recv();
                    }
                }
                if feed.as_mut().is_some_and(WatchFeed::close_if_stopped) {
                    warn!("the file system watcher stopped; relying on periodic rescans");
                }
            }
            () = sleep_until(retry_due), if retry_due.is_some() => {
                retry_due = None;
                scan_retry = true;
            }
            () = shared.queue.progressed() => {
                if incomplete && shared.queue.has_room() {
                    resume_new = true;
                }
                if config.drain && shared.queue.is_idle() {
                    let progress = shared.stats.progress();
                    drain_delay = if progress != last_progress {
                        DRAIN_MIN
                    } else {
                        (drain_delay * 2).min(DRAIN_MAX)
                    };
                    last_progress = progress;
                    drain_at = Some(Instant::now() + drain_delay);
                }
            }
            () = sleep_until(drain_at), if drain_at.is_some() => {
                drain_at = None;
                scan_new = true;
                scan_retry = true;
            }
        }
    }
}

/// The watcher's next message; never, without a watcher.
async fn recv(feed: &mut Option<WatchFeed>) -> WatchMsg {
    match feed {
        Some(feed) => feed.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn handle_watch(
    msg: WatchMsg,
    scan_new: &mut bool,
    scan_retry: &mut bool,
    incomplete: &mut bool,
    missed: &mut bool,
    retry_due: &mut Option<Instant>,
) {
    match msg {
        // `watch_channel` offers new names on the watcher's thread and forwards only a
        // name the full queue turned away, as QueueFull; either way, list new/ once
        // there is room.
        WatchMsg::New(_) | WatchMsg::QueueFull => {
            *incomplete = true;
            *missed = true;
        }
        WatchMsg::Retry(name) => match RetryName::parse(&name) {
            Some(retry) => {
                let at = instant_for(retry.due());
                if retry_due.is_none_or(|due| at < due) {
                    *retry_due = Some(at);
                }
            }
            None => *scan_retry = true,
        },
        WatchMsg::Rescan => {
            info!(
                "watcher overflow or error: the kernel's event queue overflowed (events \
                 lost) or the watcher failed: rescanning new/ and retry/"
            );
            *scan_new = true;
            *scan_retry = true;
        }
    }
}

/// The tokio instant at which wall-clock time `due` is reached (a millisecond late, so
/// a due time in whole milliseconds has certainly passed).
fn instant_for(due: SystemTime) -> Instant {
    let wait = due
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + wait + Duration::from_millis(1)
}

/// Logs folders that were moved or replaced since the spool was opened, once each, and
/// stops claiming from new/ and retry/ if they are among them. Blocking.
fn check_folders(shared: &Shared, reported: &Mutex<HashSet<&'static str>>) {
    let moved = shared.spool.moved_folders();
    if moved.is_empty() {
        return;
    }
    let mut reported = reported.lock().unwrap_or_else(|p| p.into_inner());
    for folder in moved {
        if !reported.insert(folder) {
            continue;
        }
        let path = shared.spool.path().join(folder);
        error!(
            folder = %path.display(),
            "spool folder was moved away or replaced (by a symlink?) since the daemon \
             started; the daemon does not follow it and stops using it: repair the spool \
             and restart the daemon"
        );
        match folder {
            "new" => shared.lifecycle.give_up(Folder::New),
            "retry" => shared.lifecycle.give_up(Folder::Retry),
            _ => {}
        }
    }
}

/// Lists new/ into the queue until it is full, from the start or from `resume`; returns
/// where it stopped when the queue filled up. Blocking.
fn scan_new_dir(shared: &Shared, resume: Option<NewCursor>) -> (ScanReport, Option<NewCursor>) {
    let mut report = ScanReport {
        fresh: resume.is_none(),
        ..ScanReport::default()
    };
    if shared.lifecycle.is_gone(Folder::New) {
        return (report, None);
    }
    let (mut stream, mut pending) = match resume {
        Some(cursor) => (cursor.stream, cursor.pending),
        None => match dir_stream(shared.spool.new_dir().as_fd()) {
            Ok(stream) => (stream, None),
            Err(errno) => {
                error!(folder = %shared.spool.new_dir().path().display(), error = %errno,
                    "cannot list new/; retrying at the next rescan");
                Stats::bump(&shared.stats.errors);
                // Not "empty": a drain must not end on a failed listing.
                report.full = true;
                return (report, None);
            }
        },
    };
    while !shared.lifecycle.is_stopping() {
        let name = match pending.take().map(Ok).or_else(|| stream.next_name()) {
            None => break,
            Some(Ok(name)) => name,
            Some(Err(errno)) => {
                error!(error = %errno, "listing new/ failed midway; retrying at the next rescan");
                report.full = true;
                return (report, None);
            }
        };
        if is_hidden(&name) {
            continue;
        }
        report.listed += 1;
        match shared.queue.offer(&name) {
            Offer::Queued => report.queued += 1,
            Offer::Known => {}
            Offer::Full => {
                report.full = true;
                let cursor = NewCursor {
                    stream,
                    pending: Some(name),
                };
                return (report, Some(cursor));
            }
            Offer::Closed => break,
        }
    }
    (report, None)
}
