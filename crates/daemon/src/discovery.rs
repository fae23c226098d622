//! Discovery: the task that decides when to look for jobs, and looks in new/.
//!
//! Sources, all only hints (every name is claimed through the protocol anyway):
//! - a full listing of new/ at start, on a watcher overflow or error, periodically
//!   (`rescan_interval`), and when the queue has room again after a listing was cut short;
//! - the watcher (`watcher`) on new/ (names created or moved in) and retry/ (due times);
//! - the retry mover (`retry_mover`), run at start, on a rescan, and at the earliest due
//!   time it or the watcher saw;
//! - on a file system other hosts may drop jobs into, new/'s change stamp
//!   (`remote_drops`), which the watcher cannot see move for them.
//!
//! Each turn also checks that the spool's folders are the ones opened at start, and
//! each rescan sweeps tmp/ (`tmp`), gives back to new/ the jobs other claimers left
//! unlocked in claimed/ (`claimed`) and, at most once a minute, prunes journal/
//! (`prune`).
//!
//! Listings stream (`dir_stream`) and feed the bounded queue without waiting; when it
//! is full the listing stops, so memory does not grow with the spool. Listings, claims
//! and renames run on the blocking pool.
//!
//! While the spool is paused (`pause`) new/ is not listed; on a resume it is listed
//! from the start. A drain of a paused spool returns once nothing is in flight, at once
//! when it starts paused.
//!
//! With `drain`, discovery returns once a complete listing of new/ finds nothing while
//! nothing is queued or in flight, unless a job in retry/ falls due within
//! `drain_retry_wait`: then it waits for it (the retry mover's wake-up) and goes on. Jobs
//! due later do not keep it alive, nor do jobs this daemon gave up on (`stuck`). While
//! nothing moves on (jobs held by someone else, claims released because the journal
//! cannot be written), re-listing backs off, so draining never spins.
//!
//! Discovery claims nothing: it feeds names to the queue, and the workers claim.

use std::collections::HashSet;
use std::ffi::OsString;
use std::ops::ControlFlow;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use spoolq_claim::FileKind;
use spoolq_os::fs::{DirStream, dir_stream};
use spoolq_spool::RetryName;
use spoolq_spool::names::is_hidden;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::lifecycle::{Folder, Lifecycle, PauseChanges};
use crate::prune::Pruner;
use crate::queue::Offer;
use crate::remote_drops::{self, Probe, RemoteDrops};
use crate::retry_mover::{self, RetryReport};
use crate::state::{Shared, Stats, blocking};
use crate::watcher::{WATCH_CAPACITY, WatchFeed, WatchMsg};

const DRAIN_MIN: Duration = Duration::from_millis(10);
const DRAIN_MAX: Duration = Duration::from_secs(1);
/// How often a listing also checks that new/, retry/ and the others were not moved away.
const FOLDER_CHECK_EVERY: Duration = Duration::from_secs(1);

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
    /// The name the queue had no room for, with the kind its directory entry reported.
    pending: Option<(OsString, Option<FileKind>)>,
}

/// The discovery task. Returns when stopped, or in drain mode when the spool is drained.
pub(crate) async fn discovery(shared: Arc<Shared>, feed: Option<WatchFeed>) {
    Discovery::new(shared, feed).run().await;
}

/// The discovery task's state between two turns of its loop: what the next turn must
/// do, where a listing cut short stopped, and when to look again.
#[derive(Debug)]
struct Discovery {
    shared: Arc<Shared>,
    lifecycle: Lifecycle,
    feed: Option<WatchFeed>,
    rescan: Interval,
    /// Folders already logged as moved away (each is logged once).
    reported: Arc<Mutex<HashSet<&'static str>>>,
    /// List new/ from the start on the next turn.
    scan_new: bool,
    /// Continue the listing of new/ where `cursor` stopped on the next turn.
    resume_new: bool,
    /// Run the retry mover on the next turn.
    scan_retry: bool,
    /// Sweep tmp/ on the next turn.
    sweep_tmp: bool,
    /// Journal the `stuck` records again on the next turn, if they are due.
    remind_stuck: bool,
    /// The last listing of new/ stopped at a full queue: list again once there is room.
    incomplete: bool,
    /// Where that listing stopped, continued by `resume_new`; `scan_new` starts afresh.
    cursor: Option<NewCursor>,
    /// Names were turned away at a full queue (watcher, retry mover) since the last
    /// listing from the start began: they may lie behind the cursor.
    missed: bool,
    /// When the retry mover runs next for a due job it knows of.
    retry_due: Option<Instant>,
    /// What the retry mover's last pass found (for drain's last words).
    last_retry_pass: RetryReport,
    /// When a drain lists new/ again after the workers went idle.
    drain_at: Option<Instant>,
    /// The pause before that listing: it grows while nothing moves on (jobs held by
    /// another daemon), so draining never spins.
    drain_delay: Duration,
    /// [`Stats::progress`] when the workers last went idle.
    last_progress: u64,
    /// new/'s change-stamp poller, on a file system other hosts may drop jobs into.
    remote: Option<RemoteDrops>,
    /// When the poller looks next.
    remote_at: Option<Instant>,
    /// new/'s stamp moved while names still waited in the queue: list once the queue has
    /// run dry (see [`Discovery::look_for_remote_drops`]).
    remote_deferred: bool,
    /// The poller's look is due on the next turn.
    check_remote: bool,
    /// When a listing last checked that the spool's folders are still the ones opened.
    folders_checked: Option<Instant>,
    /// When journal retention last ran (with the tmp/ sweep, at most once a minute).
    pruner: Pruner,
    /// Wakes discovery at a pause or resume.
    pause: PauseChanges,
    /// The service manager was told the daemon is ready (after the first turn).
    announced: bool,
    /// Names the first listing of new/ found (for the readiness status).
    first_listing: u64,
    /// The due time a drain said it stays up for.
    waiting_for: Option<Instant>,
}

impl Discovery {
    fn new(shared: Arc<Shared>, feed: Option<WatchFeed>) -> Discovery {
        let every = shared.config.rescan_interval;
        let mut rescan = tokio::time::interval_at(Instant::now() + every, every);
        rescan.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Discovery {
            lifecycle: shared.lifecycle.clone(),
            pause: shared.lifecycle.pause_changes(),
            announced: false,
            first_listing: 0,
            waiting_for: None,
            last_progress: shared.stats.progress(),
            shared,
            feed,
            rescan,
            reported: Arc::new(Mutex::new(HashSet::new())),
            scan_new: true,
            resume_new: false,
            scan_retry: true,
            sweep_tmp: true,
            remind_stuck: false,
            incomplete: false,
            cursor: None,
            missed: false,
            retry_due: None,
            last_retry_pass: RetryReport::default(),
            drain_at: None,
            drain_delay: DRAIN_MIN,
            remote: None,
            remote_at: None,
            check_remote: false,
            remote_deferred: false,
            folders_checked: None,
            pruner: Pruner::default(),
        }
    }

    /// Turns until the daemon stops or, in drain mode, the spool is drained.
    async fn run(mut self) {
        let s = self.shared.clone();
        self.remote = blocking(move || remote_drops::start(&s))
            .await
            .ok()
            .flatten();
        self.remote_at = self
            .remote
            .as_ref()
            .map(|poller| Instant::now() + poller.interval());
        loop {
            if self.lifecycle.is_stopping() {
                return;
            }
            if self.feed.as_ref().is_some_and(WatchFeed::lost_events) {
                info!(
                    "watcher overflow: events were lost (too many at once for the daemon's \
                     channel): rescanning new/ and retry/"
                );
                self.scan_new = true;
                self.scan_retry = true;
            }
            if self.check_remote {
                self.look_for_remote_drops().await;
            }
            if self.sweep_tmp {
                self.sweep_tmp().await;
            }
            if self.remind_stuck {
                self.remind_stuck = false;
                let s = self.shared.clone();
                let _ = blocking(move || s.stuck.remind(&s.journal)).await;
            }
            if self.scan_retry && !self.lifecycle.is_gone(Folder::Retry) {
                self.move_due_retries().await;
            }
            if self.lifecycle.is_paused() {
                // Resuming lists new/ from the start.
                self.scan_new = false;
                self.resume_new = false;
                if self.shared.config.drain && self.shared.queue.is_idle() {
                    info!(
                        "drain: the spool is paused (spoolq pause): nothing more is claimed and \
                         nothing is in flight, so the drain ends; `spoolq resume` lets the \
                         next start claim again"
                    );
                    return;
                }
            } else if (self.scan_new || self.resume_new)
                && self.list_new().await
                && !self.retry_due_soon()
            {
                self.end_drain().await;
                return;
            }
            if !self.announced {
                // Watching (the watcher started before discovery) and new/ listed once.
                self.announced = true;
                crate::notify::ready(&self.ready_status());
            }
            if self.wait().await.is_break() {
                return;
            }
        }
    }

    async fn sweep_tmp(&mut self) {
        self.sweep_tmp = false;
        let s = self.shared.clone();
        let max_age = s.config.tmp_max_age;
        let _ = blocking(move || crate::tmp::sweep(&s, max_age)).await;
        let s = self.shared.clone();
        if let Ok(recovered) = blocking(move || crate::claimed::recover(&s)).await
            && recovered > 0
        {
            self.scan_new = true;
        }
        if self.pruner.due() {
            self.pruner.ran();
            let s = self.shared.clone();
            let _ = blocking(move || crate::prune::prune(&s)).await;
        }
    }

    async fn move_due_retries(&mut self) {
        self.scan_retry = false;
        let s = self.shared.clone();
        if let Ok(report) = blocking(move || retry_mover::move_due(&s)).await {
            self.retry_due = report.next_due.map(instant_for);
            self.last_retry_pass = report;
            if report.full {
                self.incomplete = true;
                self.missed = true;
            }
            if report.moved > 0 {
                debug!(
                    moved = report.moved,
                    "retry mover: due jobs moved back to new/"
                );
            }
        }
    }

    /// Looks at new/'s change stamp; when it moved, lists new/ (or, while a listing cut
    /// short waits for room, lists it from the start once that one is done).
    async fn look_for_remote_drops(&mut self) {
        self.check_remote = false;
        let Some(mut poller) = self.remote.take() else {
            return;
        };
        let (poller, changed) = if poller.probe() == Probe::Listing {
            // Nothing to ask the file system: the listing is the look.
            let changed = poller.changed();
            (poller, changed)
        } else {
            let Ok(looked) = blocking(move || {
                let changed = poller.changed();
                (poller, changed)
            })
            .await
            else {
                return;
            };
            looked
        };
        if changed {
            if self.shared.queue.has_backlog() {
                // Most stamp moves while workers have a backlog are this daemon's own
                // claims; a listing now would mostly find names already queued, and on a
                // shared file system a listing is the costly call. A job dropped meanwhile
                // is found by the listing made once the backlog is gone, before it would
                // have been reached anyway.
                self.remote_deferred = true;
            } else {
                self.list_after_remote_change();
            }
        }
        self.remote_at = Some(Instant::now() + poller.interval());
        self.remote = Some(poller);
    }

    /// new/ changed through some mount: list it on the next turn (or after the listing in
    /// progress, if one stopped at a full queue).
    fn list_after_remote_change(&mut self) {
        self.remote_deferred = false;
        if self.cursor.is_some() {
            self.missed = true;
        } else {
            self.scan_new = true;
        }
    }

    /// Lists new/ into the queue, from the start or where the last listing stopped.
    /// True when a drain is complete: nothing claimable in new/, nothing in flight.
    async fn list_new(&mut self) -> bool {
        let resume = if self.scan_new {
            None
        } else {
            self.cursor.take()
        };
        self.cursor = None;
        if resume.is_none() {
            self.missed = false;
        }
        self.scan_new = false;
        self.resume_new = false;
        let s = self.shared.clone();
        let r = self.reported.clone();
        // Ten stats each time: a daemon that lists often (the listing probe of a shared
        // file system, every 100 ms) checks at most once a second.
        let check = self
            .folders_checked
            .is_none_or(|at| at.elapsed() >= FOLDER_CHECK_EVERY);
        if check {
            self.folders_checked = Some(Instant::now());
        }
        let Ok((report, next)) = blocking(move || {
            if check {
                check_folders(&s, &r);
            }
            scan_new_dir(&s, resume)
        })
        .await
        else {
            return false;
        };
        self.cursor = next;
        if !self.announced {
            self.first_listing += report.listed;
        }
        self.incomplete = report.full;
        if !report.full && !report.fresh && self.missed {
            // A continued listing ended; names turned away meanwhile may lie behind
            // where it started: list from the start once there is room.
            self.incomplete = true;
        }
        if report.queued > 0 {
            debug!(
                listed = report.listed,
                queued = report.queued,
                "scanned new/"
            );
        }
        let drained = self.lifecycle.is_gone(Folder::New)
            || (report.fresh && report.listed == 0 && !report.full && self.shared.queue.is_idle());
        self.shared.config.drain && drained
    }

    /// A drain found new/ empty: true when a job in retry/ falls due within
    /// `drain_retry_wait`, so the drain stays up for it (said once per due time).
    fn retry_due_soon(&mut self) -> bool {
        let wait = self.shared.config.drain_retry_wait;
        let Some(due) = self.retry_due else {
            return false;
        };
        let soon = due <= Instant::now() + wait;
        if soon && self.waiting_for != Some(due) {
            self.waiting_for = Some(due);
            info!(
                due_in = %humantime::format_duration(due.saturating_duration_since(Instant::now())),
                wait = %humantime::format_duration(wait),
                "drain: new/ is empty, but a job in retry/ falls due within --drain-retry-wait: \
                 staying up to run it"
            );
        }
        soon
    }

    /// The status line sent with READY=1.
    fn ready_status(&self) -> String {
        if self.lifecycle.is_paused() {
            return "ready: the spool is paused (spoolq resume); nothing is claimed".to_owned();
        }
        format!(
            "ready: watching new/; {} name(s) found by the first listing",
            self.first_listing
        )
    }

    /// A drain is complete: say what waits in retry/, sweep stale hidden names.
    async fn end_drain(&self) {
        let waiting = self.last_retry_pass;
        if waiting.waiting > 0 {
            info!(
                waiting = waiting.waiting,
                next_due = %waiting.next_due.map(crate::failed::rfc3339).unwrap_or_default(),
                "drain: jobs waiting in retry/ for a due time beyond --drain-retry-wait do \
                 not keep the daemon alive; a later start (the on-demand services' timer or \
                 StartInterval) moves them back to new/ when due"
            );
        }
        let s = self.shared.clone();
        let _ = blocking(move || crate::hidden::sweep(&s, &s.daemon_id())).await;
    }

    /// Waits for the next reason to look: the rescan interval, the watcher, a due
    /// retry, the workers' progress, a drain's pause. Break once the daemon is stopping.
    async fn wait(&mut self) -> ControlFlow<()> {
        tokio::select! {
            () = self.lifecycle.wait_stopping() => return ControlFlow::Break(()),
            _ = self.rescan.tick() => {
                self.scan_new = true;
                self.scan_retry = true;
                self.sweep_tmp = true;
                self.remind_stuck = true;
            }
            msg = recv(&mut self.feed) => {
                let mut next = Some(msg);
                // Take what is already waiting too, so a burst costs one loop turn.
                let mut budget = WATCH_CAPACITY;
                while let Some(msg) = next.take() {
                    self.on_watch(msg);
                    budget -= 1;
                    if budget > 0 && let Some(feed) = self.feed.as_mut() {
                        next = feed.try_recv();
                    }
                }
                if self.feed.as_mut().is_some_and(WatchFeed::close_if_stopped) {
                    warn!("the file system watcher stopped; relying on periodic rescans");
                }
            }
            () = sleep_until(self.retry_due), if self.retry_due.is_some() => {
                self.retry_due = None;
                self.scan_retry = true;
            }
            () = self.shared.queue.progressed(), if self.awaits_progress() => self.on_progress(),
            Ok(()) = self.pause.changed() => {
                if !*self.pause.borrow_and_update() {
                    self.scan_new = true;
                    self.scan_retry = true;
                }
            }
            () = sleep_until(self.remote_at), if self.remote_at.is_some() => {
                self.remote_at = None;
                self.check_remote = true;
            }
            () = sleep_until(self.drain_at), if self.drain_at.is_some() => {
                self.drain_at = None;
                self.scan_new = true;
                self.scan_retry = true;
            }
        }
        ControlFlow::Continue(())
    }

    /// Whether [`on_progress`](Self::on_progress) has anything to do: otherwise a serving
    /// daemon's discovery task would wake for every batch a worker finishes.
    fn awaits_progress(&self) -> bool {
        self.remote_deferred || self.incomplete || self.shared.config.drain
    }

    /// A worker finished with a name.
    fn on_progress(&mut self) {
        if self.remote_deferred && !self.shared.queue.has_backlog() {
            self.list_after_remote_change();
        }
        let queue = &self.shared.queue;
        if self.incomplete && queue.has_room() {
            self.resume_new = true;
        }
        if self.shared.config.drain && queue.is_idle() {
            let progress = self.shared.stats.progress();
            // After progress, list again at once: the listing that ends a drain should
            // not wait (an on-demand start pays it per burst). Without progress (jobs
            // held by another daemon), wait, longer each time, so draining never spins.
            let wait = if progress != self.last_progress {
                self.drain_delay = DRAIN_MIN;
                Duration::ZERO
            } else {
                let wait = self.drain_delay;
                self.drain_delay = (self.drain_delay * 2).min(DRAIN_MAX);
                wait
            };
            self.last_progress = progress;
            self.drain_at = Some(Instant::now() + wait);
        }
    }

    /// A message from the watcher.
    fn on_watch(&mut self, msg: WatchMsg) {
        match msg {
            // `watch_channel` offers new names on the watcher's thread and forwards only a
            // name the full queue turned away, as QueueFull; either way, list new/ once
            // there is room.
            WatchMsg::New(_) | WatchMsg::QueueFull => {
                self.incomplete = true;
                self.missed = true;
            }
            WatchMsg::Retry(name) => match RetryName::parse(&name) {
                Some(retry) => {
                    let at = instant_for(retry.due());
                    if self.retry_due.is_none_or(|due| at < due) {
                        self.retry_due = Some(at);
                    }
                }
                None => self.scan_retry = true,
            },
            WatchMsg::Rescan => {
                info!(
                    "watcher overflow or error: the kernel's event queue overflowed (events \
                     lost) or the watcher failed: rescanning new/ and retry/"
                );
                self.scan_new = true;
                self.scan_retry = true;
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
        let (name, seen) = match pending.take().map(Ok).or_else(|| stream.next_entry()) {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(errno)) => {
                error!(error = %errno, "listing new/ failed midway; retrying at the next rescan");
                report.full = true;
                return (report, None);
            }
        };
        // A job this daemon gave up on is not claimable here: a drain does not wait for it.
        if is_hidden(&name) || shared.stuck.given_up(&name) {
            continue;
        }
        report.listed += 1;
        match shared.queue.offer(&name, seen) {
            Offer::Queued => report.queued += 1,
            Offer::Known => {}
            Offer::Full => {
                report.full = true;
                let cursor = NewCursor {
                    stream,
                    pending: Some((name, seen)),
                };
                return (report, Some(cursor));
            }
            Offer::Closed => break,
        }
    }
    (report, None)
}
