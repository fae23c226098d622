//! The bounded, deduplicated queue between discovery and the workers.
//!
//! A name is "known" from the moment it is queued until its worker is done with it, and
//! a known name is not queued again: the watcher, the rescans and the retry mover may
//! all report the same file. The channel is bounded and offering never waits: when it
//! is full, discovery stops listing and rescans once the workers made room, so memory
//! holds at most `capacity` queued names plus one per worker, whatever the spool's size.
//!
//! It holds names, each with the kind a listing saw (so the claim can skip a `stat` of
//! a name a listing just saw as a regular file): what a name is, and whether it is still
//! there, is the claim's business.
//!
//! It also paces the watcher's thread: while names wait for a worker, the watcher need
//! not read each new name the moment it appears ([`wait_while_backlog`]); the kernel
//! keeps the events, and one read takes all of them once the workers took what was
//! queued. A producer faster than the workers then costs the watcher one wake-up per
//! batch rather than one per job, and a name that finds the workers idle is read at
//! once, as before.
//!
//! [`wait_while_backlog`]: Queue::wait_while_backlog

use std::collections::HashSet;
use std::ffi::OsStr;
use std::sync::{Arc, Condvar, Mutex};

use spoolq_claim::FileKind;
use tokio::sync::{Notify, mpsc};

/// A name offered to the workers, with the kind of file its offerer saw there, if it saw
/// one (a listing's `d_type`; the retry mover's own move); `None` from the watcher.
/// The name is shared with the queue's set of known names: one copy per offered name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offered {
    pub name: Arc<OsStr>,
    pub seen: Option<FileKind>,
}

/// What became of an offered name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// Already queued or in flight.
    Known,
    /// The queue is full; the name was not taken.
    Full,
    /// The workers are gone (shutting down).
    Closed,
}

#[derive(Debug)]
pub(crate) struct Queue {
    tx: mpsc::Sender<Offered>,
    rx: Mutex<Option<mpsc::Receiver<Offered>>>,
    known: Mutex<HashSet<Arc<OsStr>>>,
    capacity: usize,
    /// Signalled whenever a name leaves the known set.
    progress: Notify,
    /// Whether the watcher's thread waits in [`Queue::wait_while_backlog`].
    watcher_waits: Mutex<bool>,
    /// Signalled when a worker took the last queued name while the watcher waits.
    emptied: Condvar,
}

impl Queue {
    pub fn new(capacity: usize) -> Queue {
        let (tx, rx) = mpsc::channel(capacity);
        Queue {
            tx,
            rx: Mutex::new(Some(rx)),
            known: Mutex::new(HashSet::new()),
            capacity,
            progress: Notify::new(),
            watcher_waits: Mutex::new(false),
            emptied: Condvar::new(),
        }
    }

    /// The receiving end, for the workers (taken once).
    pub fn take_receiver(&self) -> mpsc::Receiver<Offered> {
        lock(&self.rx)
            .take()
            .expect("the queue's receiver is taken once, by run")
    }

    /// Queues `name` (seen as `seen`, if its offerer saw its kind) unless it is known or
    /// the queue is full. Never blocks.
    pub fn offer(&self, name: &OsStr, seen: Option<FileKind>) -> Offer {
        let mut known = lock(&self.known);
        if known.contains(name) {
            return Offer::Known;
        }
        // Insert under the same lock as the send, so a worker that receives the name
        // at once cannot call `done` before the name is known.
        let name: Arc<OsStr> = Arc::from(name);
        let offered = Offered {
            name: name.clone(),
            seen,
        };
        match self.tx.try_send(offered) {
            Ok(()) => {
                known.insert(name);
                Offer::Queued
            }
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// A worker is about to give a job it holds the name `name`: known from now on, so
    /// that the watcher's report of that name does not offer it again (which would cost
    /// a claim of a job already held). False if the name was known already. The worker
    /// calls [`done`](Self::done) for it as for a name it took.
    pub fn hold(&self, name: &OsStr) -> bool {
        lock(&self.known).insert(Arc::from(name))
    }

    /// A worker is done with `name` (whatever the outcome).
    pub fn done(&self, name: &OsStr) {
        lock(&self.known).remove(name);
        self.progress.notify_one();
    }

    /// A worker is done with every name of a batch: one wake-up of whoever waits for
    /// progress instead of one per name (in a drain, the discovery task, whose thread
    /// would otherwise wake once per job; docs/performance.md).
    pub fn done_all(&self, names: &[Offered]) {
        let mut known = lock(&self.known);
        for offered in names {
            known.remove(&*offered.name);
        }
        drop(known);
        self.progress.notify_one();
    }

    /// Names queued or in flight.
    pub fn known(&self) -> usize {
        lock(&self.known).len()
    }

    /// Nothing queued, nothing in flight.
    pub fn is_idle(&self) -> bool {
        self.known() == 0
    }

    /// Names wait in the queue for a worker: a listing now would find work the workers
    /// already have.
    pub fn has_backlog(&self) -> bool {
        self.tx.capacity() < self.capacity
    }

    /// Blocks the calling (watcher's) thread while names wait in the queue for a worker,
    /// at most `longest`: until a worker took the last of them ([`Queue::taken`]).
    /// Returns at once when nothing waits. Linux only: elsewhere the notify crate's
    /// thread delivers events one by one.
    #[cfg(any(target_os = "linux", test))]
    pub fn wait_while_backlog(&self, longest: std::time::Duration) {
        let deadline = std::time::Instant::now() + longest;
        let mut waits = lock(&self.watcher_waits);
        // Checked under the lock that `taken` takes too: a worker that emptied the queue
        // before this check is seen here, one that empties it later wakes this wait.
        while self.has_backlog() {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                break;
            };
            *waits = true;
            waits = self
                .emptied
                .wait_timeout(waits, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *waits = false;
    }

    /// A worker took names and left none queued: wakes the watcher if it waits for that.
    pub fn taken(&self) {
        if *lock(&self.watcher_waits) {
            self.emptied.notify_one();
        }
    }

    /// Room for at least half a queue: worth rescanning after a listing was cut short.
    pub fn has_room(&self) -> bool {
        self.tx.capacity() * 2 >= self.capacity
    }

    /// Resolves after the next `done` (or at once if one happened since the last wait).
    pub async fn progressed(&self) {
        self.progress.notified().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded data stays consistent across a panic (single inserts and removes).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Long enough that a wait ending on its own would not end during the test.
    const FOREVER: Duration = Duration::from_secs(3600);
    const PATIENCE: Duration = Duration::from_secs(60);

    #[test]
    fn the_watcher_waits_while_names_are_queued_until_a_worker_takes_the_last() {
        let queue = std::sync::Arc::new(Queue::new(8));
        let mut rx = queue.take_receiver();
        // Nothing queued: no wait at all.
        queue.wait_while_backlog(FOREVER);
        assert_eq!(queue.offer(OsStr::new("a"), None), Offer::Queued);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let waiter = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                queue.wait_while_backlog(FOREVER);
                done_tx.send(()).unwrap();
            })
        };
        while !*lock(&queue.watcher_waits) {
            std::thread::yield_now();
        }
        assert!(
            done_rx.try_recv().is_err(),
            "still waiting: a name is queued"
        );
        assert_eq!(&*rx.try_recv().unwrap().name, OsStr::new("a"));
        queue.taken();
        done_rx
            .recv_timeout(PATIENCE)
            .expect("taking the last name woke the watcher");
        waiter.join().unwrap();
        assert!(!*lock(&queue.watcher_waits));
    }

    #[test]
    fn the_watchers_wait_ends_after_the_longest_wait_if_nobody_takes_a_name() {
        let queue = Queue::new(8);
        let _rx = queue.take_receiver();
        assert_eq!(queue.offer(OsStr::new("a"), None), Offer::Queued);
        let longest = Duration::from_millis(20);
        let start = Instant::now();
        queue.wait_while_backlog(longest);
        assert!(start.elapsed() >= longest);
        assert!(queue.has_backlog(), "the name is still queued");
    }
}
