//! Remote drops: jobs put into new/ through another host's mount of a shared file
//! system, which the watcher never reports (inotify and FSEvents see only what this
//! host's kernel did).
//!
//! Adding or removing a name changes a folder's modification and change times, and a
//! stat of one folder costs the same however many jobs it holds. So on a file system
//! where other hosts may drop jobs (any file system not known to be local, see
//! `spoolq_os::filesystem`), discovery asks [`RemoteDrops::changed`] for new/'s change
//! stamp, answered by the file system rather than this client's attribute cache, and
//! lists new/ when it moved. It asks every [`BUSY_INTERVAL`] after a change, doubling the
//! pause after each unchanged look up to [`IDLE_INTERVAL`]: often while jobs arrive,
//! rarely when nothing happens. The daemon's own claims change the stamp too: discovery
//! lists after a move only once the queue has no backlog, so while workers have names
//! to claim those moves cost no listing (docs/performance.md, shared file system).
//!
//! Two changes within one tick of a coarse file system clock leave the same stamp, and so
//! do two within JuiceFS's `--skip-dir-mtime` (100 ms by default: a folder's times are not
//! updated again within that span of their last update). So a stamp younger than
//! [`SETTLE`] counts as changed at the next look as well: the listing after the span
//! finds what the second change added. The periodic rescan stays the safety net (a
//! remote host whose clock is behind by more than that).
//!
//! Some clients answer a folder's stat from a cache of their own whatever the caller
//! asks: GlusterFS's md-cache translator for up to `performance.md-cache-timeout` (1 s
//! by default), where a fresh listing is answered by the bricks. There the stamp would
//! make every remote drop wait that long, so the probe is the listing itself
//! ([`Probe::Listing`]): every look says "changed" and discovery lists new/ every
//! [`IDLE_INTERVAL`] while its queue is empty (while it has a backlog the listing waits
//! as above). new/ holds only unclaimed jobs, so an idle daemon lists a near-empty
//! folder. [`probe_for`] picks the probe by the file system's type.
//!
//! This module only watches one folder and says how it detects remote drops; it lists
//! nothing and claims nothing: discovery decides what a change leads to.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use spoolq_os::{Dir, FileSystem};
use tracing::{info, warn};

use crate::state::Shared;

/// The pause between two looks right after new/ changed.
pub(crate) const BUSY_INTERVAL: Duration = Duration::from_millis(10);
/// The longest pause between two looks, reached after a few unchanged ones: bounds the
/// wait of a job dropped through another mount into an idle spool.
pub(crate) const IDLE_INTERVAL: Duration = Duration::from_millis(100);
/// A stamp this young may still be shared by a change to come: in the same clock tick,
/// or within JuiceFS's `--skip-dir-mtime` (100 ms by default), with room to spare.
pub(crate) const SETTLE: Duration = Duration::from_millis(250);

/// How remote drops into new/ are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// new/'s change stamp, from a stat the file system answers afresh.
    Stamp,
    /// A listing of new/ at every look: where a client answers a folder's stat from its
    /// own cache.
    Listing,
}

/// The probe for a file system of this type: a listing where the client is known to
/// answer a folder's stat from a cache that `AT_STATX_FORCE_SYNC` does not reach
/// (GlusterFS), the stamp elsewhere (measured fresh on JuiceFS; NFS revalidates with the
/// server on a forced stat).
pub(crate) fn probe_for(file_system: &FileSystem) -> Probe {
    match file_system.name.as_str() {
        "fuse.glusterfs" => Probe::Listing,
        _ => Probe::Stamp,
    }
}

/// What of a folder's stat moves when a name is added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime: SystemTime,
    ctime: SystemTime,
    size: u64,
    ino: u64,
}

/// The change-stamp poller of new/.
#[derive(Debug)]
pub(crate) struct RemoteDrops {
    dir: Arc<Dir>,
    probe: Probe,
    last: Option<Stamp>,
    /// The last stamp was younger than [`SETTLE`] when read.
    unsettled: bool,
    interval: Duration,
    /// A failed stat was logged; the next failures are not, until one succeeds.
    failing: bool,
}

impl RemoteDrops {
    /// A poller of `dir` by `probe`, taking its first stamp now. Blocking.
    pub(crate) fn new(dir: Arc<Dir>, probe: Probe) -> RemoteDrops {
        let mut poller = RemoteDrops {
            dir,
            probe,
            last: None,
            unsettled: true,
            interval: BUSY_INTERVAL,
            failing: false,
        };
        if probe == Probe::Stamp {
            poller.last = poller.stamp();
        } else {
            poller.interval = IDLE_INTERVAL;
        }
        poller
    }

    /// How this poller looks.
    pub(crate) fn probe(&self) -> Probe {
        self.probe
    }

    /// The pause before the next look.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Looks at the folder's stamp: true when it moved since the last look (or cannot be
    /// read: then a listing tells), always true for [`Probe::Listing`]. Adjusts the pause
    /// before the next look. Blocking.
    pub(crate) fn changed(&mut self) -> bool {
        if self.probe == Probe::Listing {
            return true;
        }
        let now = self.stamp();
        let moved = now.is_none() || now != self.last;
        let changed = moved || self.unsettled;
        self.unsettled = now.is_some_and(|stamp| {
            let recent = SystemTime::now()
                .checked_sub(SETTLE)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            stamp.mtime >= recent || stamp.ctime >= recent
        });
        self.last = now;
        // Only a stamp that moved brings the looks back to the busy pace; a young one that
        // did not costs a listing per look while it settles, at the backing-off pace.
        self.interval = if moved {
            BUSY_INTERVAL
        } else {
            (self.interval * 2).min(IDLE_INTERVAL)
        };
        changed
    }

    fn stamp(&mut self) -> Option<Stamp> {
        match self.dir.stat_fresh() {
            Ok(stat) => {
                self.failing = false;
                Some(Stamp {
                    mtime: stat.mtime,
                    ctime: stat.ctime,
                    size: stat.size,
                    ino: stat.ino,
                })
            }
            Err(e) => {
                if !self.failing {
                    warn!(error = %e, "cannot stat new/ to detect remote drops; listing it instead");
                }
                self.failing = true;
                None
            }
        }
    }
}

/// Finds which file system new/ is on, says at start how remote drops are detected, and
/// returns the poller where one is needed: on every file system not known to be local.
/// Blocking.
pub(crate) fn start(shared: &Shared) -> Option<RemoteDrops> {
    let new_dir = shared.spool.new_dir();
    let rescan = humantime::format_duration(shared.config.rescan_interval);
    let file_system = match new_dir.file_system() {
        Ok(fs) => fs,
        Err(e) => {
            warn!(error = %e, "cannot tell which file system the spool is on; taking it for a \
                shared one");
            FileSystem {
                name: "unknown".to_owned(),
                sharing: spoolq_os::Sharing::Unknown,
            }
        }
    };
    let assumptions = if file_system.sharing.local_assumptions_hold() {
        "hold"
    } else {
        "are not known to hold"
    };
    if file_system.sharing.local_assumptions_hold() {
        info!(
            file_system = %file_system.name,
            sharing = %file_system.sharing,
            remote_drops = "none: a local file system, the watcher sees every drop",
            "spool on {}: spoolq's one-host assumptions {assumptions}; full rescan every {rescan}",
            file_system.name
        );
        return None;
    }
    let probe = probe_for(&file_system);
    if probe == Probe::Listing {
        info!(
            file_system = %file_system.name,
            sharing = %file_system.sharing,
            remote_drops = "listing new/",
            interval = %humantime::format_duration(IDLE_INTERVAL),
            "spool on {}: spoolq's one-host assumptions {assumptions} (other hosts' drops are \
             invisible to the watcher, and this client answers a folder's stat from its own \
             cache); remote drops are detected by listing new/ every {} while nothing waits \
             to be claimed; full rescan every {rescan}",
            file_system.name,
            humantime::format_duration(IDLE_INTERVAL),
        );
        return Some(RemoteDrops::new(new_dir.clone(), probe));
    }
    info!(
        file_system = %file_system.name,
        sharing = %file_system.sharing,
        remote_drops = "polling new/'s change time",
        busy_interval = %humantime::format_duration(BUSY_INTERVAL),
        idle_interval = %humantime::format_duration(IDLE_INTERVAL),
        "spool on {}: spoolq's one-host assumptions {assumptions} (other hosts' drops are \
         invisible to the watcher); remote drops are detected by polling new/'s change time \
         every {} after a change, up to every {} when idle; full rescan every {rescan}",
        file_system.name,
        humantime::format_duration(BUSY_INTERVAL),
        humantime::format_duration(IDLE_INTERVAL),
    );
    Some(RemoteDrops::new(new_dir.clone(), probe))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks until one reports no change: the folder's stamp has settled.
    fn settle(poller: &mut RemoteDrops) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while poller.changed() {
            assert!(
                std::time::Instant::now() < deadline,
                "the stamp never settled"
            );
            std::thread::sleep(poller.interval());
        }
    }

    /// On a real folder: a name added or removed moves the stamp (or leaves one too young
    /// to trust), a look with nothing done does not, and the pause doubles up to the idle
    /// interval, then drops back.
    #[test]
    fn a_name_added_or_removed_moves_the_stamp_and_the_pause_backs_off_when_idle() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Arc::new(Dir::open(tmp.path()).unwrap());
        let mut poller = RemoteDrops::new(dir, Probe::Stamp);
        settle(&mut poller);
        for _ in 0..10 {
            assert!(!poller.changed());
        }
        assert_eq!(poller.interval(), IDLE_INTERVAL);
        std::fs::write(tmp.path().join("job"), b"x").unwrap();
        assert!(poller.changed());
        assert_eq!(poller.interval(), BUSY_INTERVAL);
        settle(&mut poller);
        std::fs::remove_file(tmp.path().join("job")).unwrap();
        assert!(poller.changed());
    }

    /// The listing probe says "changed" at every look and looks every idle interval,
    /// without a stat; GlusterFS gets it, the other file systems the stamp.
    #[test]
    fn the_listing_probe_always_reports_a_change_at_the_idle_pace() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Arc::new(Dir::open(tmp.path()).unwrap());
        let mut poller = RemoteDrops::new(dir, Probe::Listing);
        for _ in 0..5 {
            assert!(poller.changed());
            assert_eq!(poller.interval(), IDLE_INTERVAL);
        }
        let named = |name: &str| FileSystem {
            name: name.to_owned(),
            sharing: spoolq_os::Sharing::Shared,
        };
        assert_eq!(probe_for(&named("fuse.glusterfs")), Probe::Listing);
        assert_eq!(probe_for(&named("fuse.juicefs")), Probe::Stamp);
        assert_eq!(probe_for(&named("nfs4")), Probe::Stamp);
    }
}
