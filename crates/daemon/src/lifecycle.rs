//! Where the daemon is in its life, as one value every task reads: running, stopping
//! (claim nothing more) or terminating (end the running handlers), and which spool
//! folders it gave up because they were moved away.
//!
//! The crate root moves the phase forward ([`Lifecycle::stop`], [`Lifecycle::terminate`]);
//! discovery gives up folders ([`Lifecycle::give_up`]); the pause watcher sets and clears
//! the pause ([`Lifecycle::set_paused`]: a paused daemon claims nothing, as a stopping
//! one, but may resume); workers, the handler runner, discovery and the journal read it.
//! This module knows nothing of jobs or the spool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

/// The daemon's phase. It only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Claiming and running jobs.
    Running,
    /// The shutdown future resolved or a drain finished: claim nothing more; running
    /// handlers may finish within the shutdown grace.
    Stopping,
    /// The shutdown grace expired: terminate the running handlers, release their jobs.
    Terminating,
}

/// A spool folder the daemon stops using once it was moved away or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Folder {
    /// new/: nothing more is claimed from it.
    New,
    /// retry/: the retry mover stops.
    Retry,
}

/// The daemon's phase and the folders it gave up. Each task holds its own clone, so
/// that waiting for a phase costs what waiting on a watch receiver costs.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    inner: Arc<Inner>,
    phase: watch::Receiver<Phase>,
}

/// Wakes its holder whenever the spool is paused or resumed.
pub(crate) type PauseChanges = watch::Receiver<bool>;

#[derive(Debug)]
struct Inner {
    /// `STOPPING` (the phase is past running) and the gone folders, read on every job
    /// without taking the watch channel's lock.
    bits: AtomicU8,
    /// The phase, for the tasks that wait for it.
    phase: watch::Sender<Phase>,
    /// Paused or not, for the tasks that wait for a change.
    paused: watch::Sender<bool>,
}

const STOPPING: u8 = 1;
const NEW_GONE: u8 = 1 << 1;
const RETRY_GONE: u8 = 1 << 2;
const PAUSED: u8 = 1 << 3;

impl Lifecycle {
    /// A daemon that is running and uses every folder.
    pub fn new() -> Lifecycle {
        let (phase, receiver) = watch::channel(Phase::Running);
        Lifecycle {
            inner: Arc::new(Inner {
                bits: AtomicU8::new(0),
                phase,
                paused: watch::channel(false).0,
            }),
            phase: receiver,
        }
    }

    fn bits(&self) -> u8 {
        self.inner.bits.load(Ordering::SeqCst)
    }

    /// Stopping or terminating: claim nothing more.
    pub fn is_stopping(&self) -> bool {
        self.bits() & STOPPING != 0
    }

    /// Running, not paused, and new/ is still the folder opened at start: a worker may
    /// claim.
    pub fn claims_new(&self) -> bool {
        self.bits() & (STOPPING | NEW_GONE | PAUSED) == 0
    }

    /// The spool is paused: claim nothing until it is resumed.
    pub fn is_paused(&self) -> bool {
        self.bits() & PAUSED != 0
    }

    /// Pauses or resumes claiming; true when that changed anything.
    pub fn set_paused(&self, paused: bool) -> bool {
        let before = if paused {
            self.inner.bits.fetch_or(PAUSED, Ordering::SeqCst)
        } else {
            self.inner.bits.fetch_and(!PAUSED, Ordering::SeqCst)
        };
        let changed = (before & PAUSED != 0) != paused;
        if changed {
            self.inner.paused.send_replace(paused);
        }
        changed
    }

    /// A receiver that wakes at every pause and resume.
    pub fn pause_changes(&self) -> PauseChanges {
        self.inner.paused.subscribe()
    }

    /// `folder` was moved away or replaced since the spool was opened.
    pub fn is_gone(&self, folder: Folder) -> bool {
        self.bits() & gone_bit(folder) != 0
    }

    /// `folder` was moved away or replaced: never use it again in this process.
    pub fn give_up(&self, folder: Folder) {
        self.inner.bits.fetch_or(gone_bit(folder), Ordering::SeqCst);
    }

    /// Claim nothing more; handlers still running may finish.
    pub fn stop(&self) {
        self.advance(Phase::Stopping);
    }

    /// Terminate the handlers still running.
    pub fn terminate(&self) {
        self.advance(Phase::Terminating);
    }

    fn advance(&self, to: Phase) {
        self.inner.bits.fetch_or(STOPPING, Ordering::SeqCst);
        self.inner.phase.send_if_modified(|phase| {
            let later = *phase < to;
            if later {
                *phase = to;
            }
            later
        });
    }

    /// Resolves once the daemon is stopping (or terminating).
    pub async fn wait_stopping(&mut self) {
        self.wait_for(Phase::Stopping).await;
    }

    /// Resolves once the daemon is terminating.
    pub async fn wait_terminating(&mut self) {
        self.wait_for(Phase::Terminating).await;
    }

    async fn wait_for(&mut self, phase: Phase) {
        // The sender lives as long as `inner`: the wait cannot fail.
        let _ = self.phase.wait_for(|now| *now >= phase).await;
    }
}

fn gone_bit(folder: Folder) -> u8 {
    match folder {
        Folder::New => NEW_GONE,
        Folder::Retry => RETRY_GONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_phase_moves_forward_and_wakes_its_waiters() {
        let lifecycle = Lifecycle::new();
        assert!(!lifecycle.is_stopping());
        assert!(lifecycle.claims_new());
        let mut waiter = lifecycle.clone();
        let stopping = tokio::spawn(async move {
            waiter.wait_stopping().await;
            waiter.wait_terminating().await;
        });
        lifecycle.stop();
        assert!(lifecycle.is_stopping());
        assert!(!lifecycle.claims_new());
        lifecycle.terminate();
        stopping.await.unwrap();
        // Stopping again after terminating does not move the phase back.
        lifecycle.stop();
        lifecycle.clone().wait_terminating().await;
    }

    #[tokio::test]
    async fn a_pause_ends_claiming_until_resumed_and_wakes_its_watchers() {
        let lifecycle = Lifecycle::new();
        let mut changes = lifecycle.pause_changes();
        assert!(lifecycle.set_paused(true));
        assert!(!lifecycle.set_paused(true));
        assert!(!lifecycle.claims_new());
        assert!(!lifecycle.is_stopping());
        changes.changed().await.unwrap();
        assert!(*changes.borrow_and_update());
        assert!(lifecycle.set_paused(false));
        assert!(lifecycle.claims_new());
        changes.changed().await.unwrap();
        assert!(!*changes.borrow_and_update());
    }

    #[test]
    fn a_folder_given_up_stays_gone_and_new_ends_claiming() {
        let lifecycle = Lifecycle::new();
        lifecycle.give_up(Folder::Retry);
        assert!(lifecycle.is_gone(Folder::Retry));
        assert!(!lifecycle.is_gone(Folder::New));
        assert!(lifecycle.claims_new());
        lifecycle.give_up(Folder::New);
        assert!(lifecycle.is_gone(Folder::New));
        assert!(!lifecycle.claims_new());
        assert!(!lifecycle.is_stopping());
    }
}
