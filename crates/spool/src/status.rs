//! What a spool holds right now, for `spoolq status`: jobs ready, in flight, waiting
//! in retry/, dead in failed/, the age of the oldest ready job, the processes that
//! journaled recently, and records in their journals that this spoolq does not
//! understand (a newer spoolq writing into the spool).
//!
//! Everything here is read-only and lock-free where the platform allows it. "In flight"
//! means "some process holds the claim lock on the file in new/". On Linux, on a local
//! file system, that is read from `/proc/locks`, matched by device and inode, without
//! opening a single job file. Elsewhere (macOS, the BSDs) and on a file system other
//! hosts share (whose locks `/proc/locks` does not list: FUSE, or those of other hosts
//! on NFS) it is a `flock(LOCK_SH | LOCK_NB)` probe on a fresh descriptor
//! ([`spoolq_os::Dir::probe_locked`]), which can make a consumer skip that job for an
//! instant (it finds it again on its next scan) but never takes or loses it. When
//! neither can tell, in flight is unknown, never a guessed 0.
//!
//! Anyone who can read a job file can lock it, and a daemon skips a locked job for as
//! long as the lock is held, so "in flight" is not always a daemon at work. On Linux
//! /proc/locks names the process that took each lock: status says whether it is a
//! spoolq daemon of this spool (a daemon journal in journal/ names this host and that
//! pid, and was started after that process was) and names any other holder
//! ([`LockHolders`]). A probe names nobody (macOS keeps no lock table; a shared file
//! system's locks are not in /proc/locks): a held job is "held by another process".

use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use spoolq_os::{Dir, FileKind};

use crate::codes::ReleaseCause;
use crate::failed::FailedEntry;
use crate::job::JobId;
use crate::journal::{
    Event, FileItem, FileRecords, JournalName, Problem, ProblemKind, Role, UnknownEntry, Writer,
};
use crate::layout::Spool;
use crate::names::{self, ReadyName, RetryName};

/// How long ago a journal must have been written for its process to count as recent.
pub const RECENT: Duration = Duration::from_secs(60);

/// How much of each recent process's latest journal file is read for records this
/// spoolq does not understand: its end, so that the cost stays small whatever the size.
pub const RECENT_TAIL_BYTES: u64 = 1024 * 1024;

/// How many records not understood a status lists in full.
const UNKNOWN_LISTED: usize = 5;

/// A snapshot of a spool. Counts are taken folder by folder, not atomically: on a busy
/// spool a job moving between folders may be counted twice or not at all.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The spool's canonical path.
    pub spool: PathBuf,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub taken_at: String,
    /// Jobs in new/ that nobody has claimed (names starting with `.` are not jobs).
    pub ready: u64,
    /// Jobs in new/ whose claim lock is held right now; `None` when it could not be told
    /// (see `in_flight_method`).
    pub in_flight: Option<u64>,
    /// How `in_flight` was found.
    pub in_flight_method: InFlightMethod,
    /// The spool's pause (`spoolq pause`), if it is paused: its daemons claim nothing.
    pub paused: Option<PausedStatus>,
    /// The file system new/ is on, and whether spoolq's one-host assumptions hold there.
    pub file_system: FileSystemStatus,
    /// Who holds the locks counted in `in_flight`.
    pub lock_holders: LockHolders,
    /// Names in new/ starting with `.` (`.DS_Store`, editor files): never claimed, but they
    /// keep launchd's QueueDirectories and systemd's DirectoryNotEmpty= firing.
    pub hidden_in_new: u64,
    /// The oldest ready (unclaimed) job, if any.
    pub oldest_ready: Option<OldestReady>,
    /// Jobs waiting out a backoff in retry/ after a failed attempt (names
    /// `<id>.<n>.<due>` with `n` of at least 1); names the daemon does not know are
    /// counted here too, as `unparsable`.
    pub retry: RetryStatus,
    /// Jobs in retry/ before their first attempt, produced for a later time (`spoolq
    /// produce --at` or `--delay`: `<id>.0.<due>`). Never called a retry: nothing has
    /// failed.
    pub scheduled: RetryStatus,
    /// Dead letters and quarantined files in failed/ (reason files not counted).
    pub failed: u64,
    /// Files in tmp/: drops in progress, or leftovers of crashed producers.
    pub tmp: u64,
    /// Processes whose journal was written in the last minute, most recent first.
    pub recent_processes: Vec<RecentProcess>,
    /// Files in journal/ whose names this spoolq does not read (a newer spoolq's, or
    /// put there by hand); they are in no other figure.
    pub unrecognized_journal_files: u64,
    /// Records this spoolq does not understand in the last [`RECENT_TAIL_BYTES`] of each
    /// recent process's latest journal file.
    pub unknown_records: UnknownRecords,
    /// What could not be read in journal/: files named as journals that are not regular
    /// files (never opened, never followed), and damaged lines at the end of the recent
    /// journals (a line too long, say).
    pub journal_problems: JournalProblems,
    /// Jobs in new/ that a daemon running on this host gave up on: acting on them (the
    /// unlink, the move to retry/ or failed/, the rename that counts an attempt) failed
    /// `--max-attempts` times, so it claims them no more. A person must act (the cause
    /// and the error say what failed); a daemon started later tries them again.
    pub stuck: Vec<StuckJob>,
}

/// A job a running daemon gave up on, from the `stuck` record at the end of its journal.
#[derive(Debug, Clone, Serialize)]
pub struct StuckJob {
    /// The job.
    pub job: JobId,
    /// Its name in new/.
    pub name: String,
    /// The daemon that gave up, `host:pid`.
    pub daemon: String,
    /// What failed the last time.
    pub cause: ReleaseCause,
    /// When the daemon (last) said so (RFC 3339).
    pub since: String,
    /// The last error, and how many times acting on the job failed.
    pub detail: String,
}

/// A paused spool's marker, as status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PausedStatus {
    /// Since when, who paused it and why.
    #[serde(flatten)]
    pub pause: crate::pause::Pause,
    /// Seconds from `since` to the snapshot.
    pub for_secs: f64,
}

/// Problems met reading journal/.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JournalProblems {
    /// How many were met.
    pub count: u64,
    /// The first few, with file and line.
    pub first: Vec<Problem>,
}

impl JournalProblems {
    fn add(&mut self, problem: Problem) {
        self.count += 1;
        if self.first.len() < UNKNOWN_LISTED {
            self.first.push(problem);
        }
    }
}

/// Records from a newer writer in the recent journals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnknownRecords {
    /// How many there are.
    pub count: u64,
    /// The first few, with file and line.
    pub first: Vec<UnknownEntry>,
}

/// The file system of a spool.
#[derive(Debug, Clone, Serialize)]
pub struct FileSystemStatus {
    /// Its type as the mount table names it (`ext4`, `nfs4`, `fuse.juicefs`).
    pub name: String,
    /// `local`, `shared` (other hosts may reach it) or `unknown`.
    pub sharing: &'static str,
    /// Whether spoolq's one-host assumptions (every change seen by the watcher, every
    /// lock in `/proc/locks`, lookups and stats answered by the kernel) are known to hold.
    pub local_assumptions_hold: bool,
}

/// Who holds the locks of in-flight jobs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LockHolders {
    /// Jobs locked by a spoolq daemon of this spool: being handled.
    pub by_spoolq_daemons: u64,
    /// Jobs locked by another process: no daemon can claim them for as long as it holds
    /// the lock (anyone who can read a job file can lock it).
    pub by_others: u64,
    /// Jobs locked by a process this status cannot name (macOS keeps no lock table; an
    /// open-file-description lock carries no pid).
    pub unknown: u64,
    /// The held jobs and their holders, those not held by a spoolq daemon first, at most
    /// [`HELD_LISTED`].
    pub held: Vec<HeldJob>,
}

/// How many held jobs a status lists with their holders.
pub const HELD_LISTED: usize = 20;

/// One locked job in new/ and who holds its lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldJob {
    /// Its name in new/.
    pub name: String,
    /// The process that took the lock (/proc/locks), when known.
    pub pid: Option<u32>,
    /// That process still runs. When it does not, the lock lives on in a descriptor it
    /// passed on (to a child it started), which some other process still holds.
    pub running: bool,
    /// Its command name, when it runs and /proc shows it.
    pub command: Option<String>,
    /// It is (or was) a spoolq daemon of this spool.
    pub spoolq_daemon: bool,
    /// The lock is exclusive (a daemon's claim is), not shared; None when unknown.
    pub exclusive: Option<bool>,
}

/// How in-flight jobs were detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InFlightMethod {
    /// Read from `/proc/locks` (Linux): no lock taken, no job file opened.
    ProcLocks,
    /// A shared non-blocking flock probe per file (macOS, BSDs, and file systems shared
    /// with other hosts, whose locks `/proc/locks` does not list).
    FlockProbe,
    /// `/proc/locks` could not be read; nothing was probed, so as not to disturb claims.
    Unavailable,
    /// A lock probe failed with an error that says nothing about the lock (the file
    /// system may not support the probe): not known.
    ProbeFailed,
}

/// The oldest job waiting in new/.
#[derive(Debug, Clone, Serialize)]
pub struct OldestReady {
    /// Its name in new/.
    pub name: String,
    /// Seconds since it was enqueued (never negative: clock skew counts as 0).
    pub age_secs: f64,
    /// Where the enqueue time came from.
    pub source: AgeSource,
}

/// Where a job's enqueue time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeSource {
    /// The timestamp inside the UUID v7 of its name (within [`ID_TIME_TOLERANCE`] of the
    /// file's own modification time).
    UuidV7,
    /// The file's modification time (the name is not a v7 id).
    Mtime,
    /// The file's modification time, because the timestamp in its v7 id is implausible:
    /// more than [`ID_TIME_TOLERANCE`] away from it (a producer chose the id, with
    /// `--id`, say), or in the future.
    MtimeIdImplausible,
}

/// How far a job's v7 id time may be from its file's modification time and still be
/// taken as its enqueue time. A producer makes the id, then writes and renames the file
/// at once; an id much older or newer than its file was chosen by someone else.
pub const ID_TIME_TOLERANCE: Duration = Duration::from_secs(60);

/// Jobs in retry/ in numbers: those waiting for a retry, or those scheduled.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetryStatus {
    /// Files waiting.
    pub waiting: u64,
    /// Of those, how many are already due (the daemon moves them back to new/ shortly).
    pub due_now: u64,
    /// Names that are not `<id>.<attempts>.<due ms>`; the daemon never moves them
    /// (always 0 for scheduled jobs).
    pub unparsable: u64,
    /// The earliest due time (RFC 3339, UTC), if any job waits.
    pub next_due: Option<String>,
    /// Seconds until `next_due` (0 when already due).
    pub next_due_in_secs: Option<f64>,
}

/// A process that journaled recently, from its journal file's name and mtime; or the
/// shared journal of one-shot processes (`spoolq produce`, `spoolq requeue`) of a host,
/// which stands for however many wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct RecentProcess {
    /// What kind of process it is.
    pub role: Role,
    /// Its host, as its journal file's name carries it.
    pub host: String,
    /// Its process id; `None` for a shared journal.
    pub pid: Option<u32>,
    /// Whether this is the shared journal of one-shot processes.
    pub shared: bool,
    /// When the process started its journal (RFC 3339); `None` for a shared journal.
    pub started: Option<String>,
    /// Seconds since its journal was last written.
    pub last_write_secs_ago: f64,
    /// Its most recently written journal file.
    pub journal: String,
}

/// Why a status could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Listing or inspecting a folder failed.
    #[error(transparent)]
    Io(#[from] spoolq_os::Error),
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn secs_between(earlier: SystemTime, later: SystemTime) -> f64 {
    later
        .duration_since(earlier)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Lists the names of a folder, skipping names that vanish meanwhile.
fn names(dir: &Dir) -> Result<Vec<std::ffi::OsString>, StatusError> {
    let mut out = Vec::new();
    for name in dir.entries()? {
        out.push(name?);
    }
    Ok(out)
}

impl Status {
    /// Takes a snapshot of `spool`, as of `now`.
    pub fn collect(spool: &Spool, now: SystemTime) -> Result<Status, StatusError> {
        let new_dir = spool.new_dir();
        let mut hidden_in_new = 0;
        let mut jobs = Vec::new();
        for name in names(new_dir)? {
            if names::is_hidden(&name) {
                hidden_in_new += 1;
            } else {
                jobs.push(name);
            }
        }

        let file_system = match new_dir.file_system() {
            Ok(fs) => fs,
            Err(_) => spoolq_os::FileSystem {
                name: "unknown".to_owned(),
                sharing: spoolq_os::Sharing::Unknown,
            },
        };
        let (locks, method) = if file_system.sharing.local_assumptions_hold() {
            locked_names(new_dir, &jobs)?
        } else {
            probe_locked_names(new_dir, &jobs)?
        };
        let in_flight = match method {
            InFlightMethod::Unavailable | InFlightMethod::ProbeFailed => None,
            _ => Some(locks.len() as u64),
        };
        let locked: HashSet<&OsStr> = locks.keys().map(OsString::as_os_str).collect();

        let ready_jobs: Vec<&OsString> = jobs
            .iter()
            .filter(|n| !locked.contains(n.as_os_str()))
            .collect();
        let oldest = oldest_ready(new_dir, &ready_jobs, now)?;
        let ready = jobs.len() as u64 - locked.len() as u64;

        let mut retry = Waiting::default();
        let mut scheduled = Waiting::default();
        for name in names(spool.retry())? {
            if names::is_hidden(&name) {
                continue;
            }
            match RetryName::parse(&name) {
                Some(r) if r.attempts == 0 => scheduled.add(r.due(), now),
                Some(r) => retry.add(r.due(), now),
                None => {
                    retry.status.waiting += 1;
                    retry.status.unparsable += 1;
                }
            }
        }
        let (retry, scheduled) = (retry.finish(now), scheduled.finish(now));

        let failed = names(spool.failed())?
            .iter()
            .filter(|n| matches!(FailedEntry::parse(n), FailedEntry::Moved(_)))
            .count() as u64;
        let tmp = names(spool.tmp())?
            .iter()
            .filter(|n| !names::is_hidden(n))
            .count() as u64;
        let mut journals = recent_journals(spool.journal(), now)?;
        let lock_holders = lock_holders(&locks, &journals.daemons);
        let unknown_records = unknown_records(
            spool.journal(),
            &journals.latest_files,
            &mut journals.problems,
        );
        let queued: HashSet<JobId> = jobs
            .iter()
            .filter_map(|name| ReadyName::parse(name).map(|ready| ready.id))
            .collect();
        let stuck = stuck_jobs(
            spool.journal(),
            &journals.live_daemon_files,
            &queued,
            &mut journals.problems,
        );
        let RecentJournals {
            processes: recent_processes,
            unrecognized: unrecognized_journal_files,
            problems: journal_problems,
            ..
        } = journals;

        let paused = match spool.pause_state() {
            Ok(pause) => pause.map(|pause| PausedStatus {
                for_secs: pause.age_secs(now),
                pause,
            }),
            Err(crate::layout::LayoutError::Io(e)) => return Err(e.into()),
            Err(e) => {
                return Err(StatusError::Io(spoolq_os::Error::io(
                    spoolq_os::Op::Read,
                    &spool.path().join(crate::pause::PAUSE_MARKER),
                    std::io::Error::other(e.to_string()),
                )));
            }
        };
        Ok(Status {
            spool: spool.path().to_owned(),
            taken_at: rfc3339(now),
            ready,
            in_flight,
            in_flight_method: method,
            paused,
            file_system: FileSystemStatus {
                sharing: file_system.sharing.as_str(),
                local_assumptions_hold: file_system.sharing.local_assumptions_hold(),
                name: file_system.name,
            },
            lock_holders,
            hidden_in_new,
            oldest_ready: oldest.map(|(t, name, source)| OldestReady {
                name: names::printable(name),
                age_secs: secs_between(t, now),
                source,
            }),
            retry,
            scheduled,
            failed,
            tmp,
            recent_processes,
            unrecognized_journal_files,
            unknown_records,
            journal_problems,
            stuck,
        })
    }
}

/// Jobs in retry/ of one kind, while they are counted.
#[derive(Default)]
struct Waiting {
    status: RetryStatus,
    next_due: Option<SystemTime>,
}

impl Waiting {
    fn add(&mut self, due: SystemTime, now: SystemTime) {
        self.status.waiting += 1;
        if due <= now {
            self.status.due_now += 1;
        }
        if self.next_due.is_none_or(|d| due < d) {
            self.next_due = Some(due);
        }
    }

    fn finish(mut self, now: SystemTime) -> RetryStatus {
        self.status.next_due = self.next_due.map(rfc3339);
        self.status.next_due_in_secs = self.next_due.map(|d| secs_between(now, d));
        self.status
    }
}

/// The time in a name's UUID v7 id, if it is one.
fn id_time(name: &OsStr) -> Option<SystemTime> {
    let ready = ReadyName::parse(name)?;
    if ready.id.0.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = ready.id.0.get_timestamp()?.to_unix();
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

/// A file's modification time; `None` if it vanished.
fn mtime(dir: &Dir, name: &OsStr) -> Result<Option<SystemTime>, StatusError> {
    match dir.stat_at(name) {
        Ok(stat) => Ok(Some(stat.mtime)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The oldest of the `jobs` in `dir` by enqueue time: a v7 id's time where it agrees with
/// the file's modification time, the modification time otherwise.
///
/// Reading the id costs nothing and stating a million files does, so ids are trusted
/// until one would be the answer: the candidate with the earliest time is checked against
/// its file, and if its id's time is implausible, it goes back in line with its file's
/// time (final), until the earliest candidate is one whose time is settled. Ids that lie
/// in the future are checked at once (they would never come first).
fn oldest_ready<'a>(
    dir: &Dir,
    jobs: &[&'a OsString],
    now: SystemTime,
) -> Result<Option<(SystemTime, &'a OsStr, AgeSource)>, StatusError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // (time, index into jobs, settled source; None while it is an unchecked id time)
    let mut line: BinaryHeap<Reverse<(SystemTime, usize, Option<AgeSource>)>> =
        BinaryHeap::with_capacity(jobs.len());
    for (index, name) in jobs.iter().enumerate() {
        match id_time(name) {
            Some(t) if t <= now + ID_TIME_TOLERANCE => line.push(Reverse((t, index, None))),
            Some(_) => {
                if let Some(m) = mtime(dir, name)? {
                    line.push(Reverse((m, index, Some(AgeSource::MtimeIdImplausible))));
                }
            }
            None => {
                if let Some(m) = mtime(dir, name)? {
                    line.push(Reverse((m, index, Some(AgeSource::Mtime))));
                }
            }
        }
    }
    while let Some(Reverse((t, index, source))) = line.pop() {
        let name = jobs[index].as_os_str();
        if let Some(source) = source {
            return Ok(Some((t, name, source)));
        }
        let Some(m) = mtime(dir, name)? else {
            continue;
        };
        let apart = m.duration_since(t).or_else(|e| Ok::<_, ()>(e.duration()));
        if apart.is_ok_and(|d| d <= ID_TIME_TOLERANCE) {
            return Ok(Some((t, name, AgeSource::UuidV7)));
        }
        line.push(Reverse((m, index, Some(AgeSource::MtimeIdImplausible))));
    }
    Ok(None)
}

/// The locks taken on a job file: who took each, as far as the platform tells.
type Locks = BTreeMap<OsString, Vec<ProcLock>>;

/// The names among `jobs` whose lock is held right now, each with its locks.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn locked_names(dir: &Dir, jobs: &[OsString]) -> Result<(Locks, InFlightMethod), StatusError> {
    use spoolq_os::fs::{device_major, device_minor};

    let Ok(text) = std::fs::read_to_string("/proc/locks") else {
        return Ok((Locks::new(), InFlightMethod::Unavailable));
    };
    let table = parse_proc_locks(&text);
    if table.is_empty() || jobs.is_empty() {
        return Ok((Locks::new(), InFlightMethod::ProcLocks));
    }
    // /proc/locks names the device of the file system's superblock. For most file
    // systems that is st_dev; on btrfs subvolumes and overlayfs stat reports another
    // device, so also accept the device /proc/self/mountinfo gives for the mount.
    let mount_dev = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|info| mount_device(&info, dir.path()));
    let mut locked = Locks::new();
    for name in jobs {
        let stat = match dir.stat_at(name) {
            Ok(stat) => stat,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        if stat.kind != FileKind::Regular {
            continue;
        }
        let held = table
            .get(&(device_major(stat.dev), device_minor(stat.dev), stat.ino))
            .or_else(|| mount_dev.and_then(|(ma, mi)| table.get(&(ma, mi, stat.ino))));
        if let Some(locks) = held {
            locked.insert(name.clone(), locks.clone());
        }
    }
    Ok((locked, InFlightMethod::ProcLocks))
}

/// The names among `jobs` whose lock is held right now; who holds them is not known.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn locked_names(dir: &Dir, jobs: &[OsString]) -> Result<(Locks, InFlightMethod), StatusError> {
    probe_locked_names(dir, jobs)
}

/// The names among `jobs` whose lock is held right now, by a shared lock probe of each
/// (who holds them is not known); [`InFlightMethod::ProbeFailed`] when a probe fails
/// with an error that says nothing about the lock.
fn probe_locked_names(
    dir: &Dir,
    jobs: &[OsString],
) -> Result<(Locks, InFlightMethod), StatusError> {
    let mut locked = Locks::new();
    for name in jobs {
        // Only regular files: opening a FIFO or a device to probe it would be wrong.
        match dir.stat_at(name) {
            Ok(stat) if stat.kind == FileKind::Regular => {}
            Ok(_) => continue,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        }
        match dir.probe_locked(name) {
            Ok(true) => {
                locked.insert(name.clone(), Vec::new());
            }
            Ok(false) => {}
            // Gone (completed meanwhile, here or through another host's mount), or
            // unreadable by us: not known to be in flight.
            Err(e)
                if e.is_gone()
                    || matches!(e.errno(), Some(x) if x == spoolq_os::Errno::EACCES
                        || x == spoolq_os::Errno::EPERM
                        || x == spoolq_os::Errno::ELOOP) => {}
            // The lock call itself failed (ENOLCK, EOPNOTSUPP, EIO): the count would be a
            // guess.
            Err(_) => return Ok((Locks::new(), InFlightMethod::ProbeFailed)),
        }
    }
    Ok((locked, InFlightMethod::FlockProbe))
}

/// A held lock from `/proc/locks`: who took it, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcLock {
    /// The process that took it; None for a lock that names none (an OFD lock, `-1`).
    pub pid: Option<u32>,
    /// `WRITE` (exclusive) rather than `READ` (shared).
    pub exclusive: bool,
}

/// Daemon journals of this host in journal/, by pid: when each was started (ms since
/// the epoch). Read from their names only.
type DaemonJournals = BTreeMap<u32, Vec<u64>>;

/// Who holds each of `locks`, judged against the daemon journals of this spool.
fn lock_holders(locks: &Locks, daemons: &DaemonJournals) -> LockHolders {
    let booted = boot_time().map(millis);
    let mut holders = LockHolders::default();
    let mut held = Vec::new();
    for (name, entries) in locks {
        let name = names::printable(name);
        let Some(lock) = entries
            .iter()
            .max_by_key(|l| (l.exclusive, l.pid.is_some()))
        else {
            holders.unknown += 1;
            held.push(HeldJob {
                name,
                pid: None,
                running: false,
                command: None,
                spoolq_daemon: false,
                exclusive: None,
            });
            continue;
        };
        let Some(pid) = lock.pid else {
            holders.unknown += 1;
            held.push(HeldJob {
                name,
                pid: None,
                running: false,
                command: None,
                spoolq_daemon: false,
                exclusive: Some(lock.exclusive),
            });
            continue;
        };
        let process = running_process(pid);
        let spoolq_daemon = daemons.get(&pid).is_some_and(|starts| {
            starts.iter().any(|&start_ms| match &process {
                // The journal was started by this very process, not by an earlier one
                // with the same pid (the boot time is in whole seconds).
                Some((started, _)) => start_ms + 1000 >= millis(*started),
                // Exited: a journal of this boot (a pid of an earlier boot is another
                // process).
                None => booted.is_none_or(|booted| start_ms + 1000 >= booted),
            })
        });
        if spoolq_daemon {
            holders.by_spoolq_daemons += 1;
        } else {
            holders.by_others += 1;
        }
        held.push(HeldJob {
            name,
            pid: Some(pid),
            running: process.is_some(),
            command: process.and_then(|(_, command)| command),
            spoolq_daemon,
            exclusive: Some(lock.exclusive),
        });
    }
    // What needs a look first: jobs not held by a running spoolq daemon.
    held.sort_by_key(|h| (h.spoolq_daemon && h.running, h.name.clone()));
    held.truncate(HELD_LISTED);
    holders.held = held;
    holders
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// When the system booted, where the platform says (Linux: /proc/stat).
fn boot_time() -> Option<SystemTime> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        spoolq_os::process::boot_time()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

/// When process `pid` started and its command name, if it runs (Linux: from /proc;
/// elsewhere locks name no pid, so nothing is asked).
fn running_process(pid: u32) -> Option<(SystemTime, Option<String>)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        spoolq_os::process::process_info(pid).map(|p| (p.started, p.command))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = pid;
        None
    }
}

/// The held locks of a `/proc/locks` text by `(major, minor, inode)`, each with who
/// took it. Waiters (`->` lines), leases and delegations are left out; unparsable lines
/// are skipped.
///
/// A line reads `1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF`: the kind, the
/// access (WRITE: exclusive), the pid (-1 for an open-file-description lock), the
/// device numbers in hex and the inode in decimal.
pub fn parse_proc_locks(text: &str) -> BTreeMap<(u32, u32, u64), Vec<ProcLock>> {
    let mut held: BTreeMap<(u32, u32, u64), Vec<ProcLock>> = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let _id = fields.next();
        let Some(kind) = fields.next() else { continue };
        if !matches!(kind, "FLOCK" | "POSIX" | "OFDLCK") {
            // "->" (a blocked waiter), LEASE, DELEG, BREAKING, ...
            continue;
        }
        let _advisory = fields.next();
        let exclusive = fields.next() == Some("WRITE");
        let pid = fields.next().and_then(|p| p.parse::<u32>().ok());
        // The dev:ino field is the first one with two colons.
        let Some(triple) = fields.find(|f| f.matches(':').count() == 2) else {
            continue;
        };
        let mut parts = triple.split(':');
        let (Some(major), Some(minor), Some(ino)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let (Ok(major), Ok(minor), Ok(ino)) = (
            u32::from_str_radix(major, 16),
            u32::from_str_radix(minor, 16),
            ino.parse::<u64>(),
        ) {
            held.entry((major, minor, ino))
                .or_default()
                .push(ProcLock { pid, exclusive });
        }
    }
    held
}

/// The `(major, minor)` that `/proc/self/mountinfo` gives for the mount holding `path`
/// (the longest mount point that is a prefix of it, on component boundaries).
pub fn mount_device(mountinfo: &str, path: &Path) -> Option<(u32, u32)> {
    let mut best: Option<(usize, (u32, u32))> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(dev), Some(point)) = (fields.get(2), fields.get(4)) else {
            continue;
        };
        let Some((major, minor)) = dev.split_once(':') else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) else {
            continue;
        };
        let point = PathBuf::from(unescape_mountinfo(point));
        if path.starts_with(&point) {
            let depth = point.components().count();
            // Later lines with the same mount point are mounted on top: they win.
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, (major, minor)));
            }
        }
    }
    best.map(|(_, dev)| dev)
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the names and times of journal/ tell.
struct RecentJournals {
    processes: Vec<RecentProcess>,
    /// The latest file of each recent process.
    latest_files: Vec<OsString>,
    /// The latest file of each daemon of this host whose process still runs, however
    /// long ago it wrote (an idle daemon writes nothing).
    live_daemon_files: Vec<(OsString, String)>,
    /// Names that are not journal names this build reads.
    unrecognized: u64,
    /// Journal names that are not regular files.
    problems: JournalProblems,
    /// Every daemon journal of this host, whatever its age.
    daemons: DaemonJournals,
}

fn recent_journals(dir: &Dir, now: SystemTime) -> Result<RecentJournals, StatusError> {
    // One entry per process (a process rotates through several files), or per shared
    // journal: its latest write.
    type Process = (Role, String, Writer);
    let mut latest: BTreeMap<Process, (SystemTime, OsString)> = BTreeMap::new();
    // A daemon of this host by (pid, start): its latest file by sequence.
    let mut daemon_files: BTreeMap<(u32, u64), (u32, OsString, String)> = BTreeMap::new();
    let mut unrecognized = 0;
    let mut problems = JournalProblems::default();
    let mut daemons = DaemonJournals::new();
    let this_host = spoolq_os::hostname()
        .ok()
        .map(|host| JournalName::new(Role::Daemon, &host, 0, 0).host);
    for name in names(dir)? {
        let Some(parsed) = JournalName::parse(&name) else {
            if !names::is_hidden(&name) {
                unrecognized += 1;
            }
            continue;
        };
        if parsed.role == Role::Daemon
            && this_host.as_deref() == Some(parsed.host.as_str())
            && let (Some(pid), Some(start_ms)) = (parsed.pid(), parsed.start_ms())
        {
            daemons.entry(pid).or_default().push(start_ms);
        }
        let mtime = match dir.stat_at(&name) {
            Ok(stat) if stat.kind == FileKind::Regular => stat.mtime,
            Ok(stat) => {
                // A FIFO, a device or a link named like a journal is no process's journal
                // (producers may write into journal/): never opened, reported.
                problems.add(Problem {
                    file: dir.display_path(&name),
                    line: 0,
                    kind: match stat.kind {
                        FileKind::Symlink => ProblemKind::Symlink,
                        other => ProblemKind::NotRegular(other.describe().to_owned()),
                    },
                });
                continue;
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        if parsed.role == Role::Daemon
            && this_host.as_deref() == Some(parsed.host.as_str())
            && let (Some(pid), Some(start_ms)) = (parsed.pid(), parsed.start_ms())
        {
            let process = format!("{}:{}", parsed.host, pid);
            let entry = daemon_files.entry((pid, start_ms)).or_insert((
                parsed.sequence,
                name.clone(),
                process,
            ));
            if parsed.sequence > entry.0 {
                entry.0 = parsed.sequence;
                entry.1.clone_from(&name);
            }
        }
        if secs_between(mtime, now) > RECENT.as_secs_f64() {
            continue;
        }
        let key = (parsed.role, parsed.host, parsed.writer);
        latest
            .entry(key)
            .and_modify(|(t, f)| {
                if mtime > *t {
                    *t = mtime;
                    f.clone_from(&name);
                }
            })
            .or_insert((mtime, name));
    }
    let latest_files = latest.values().map(|(_, file)| file.clone()).collect();
    let mut processes: Vec<RecentProcess> = latest
        .into_iter()
        .map(|((role, host, writer), (mtime, journal))| {
            let (pid, started) = match writer {
                Writer::Process { pid, start_ms } => (
                    Some(pid),
                    Some(rfc3339(
                        SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms),
                    )),
                ),
                Writer::Shared { .. } => (None, None),
            };
            RecentProcess {
                role,
                host,
                pid,
                shared: started.is_none(),
                started,
                last_write_secs_ago: secs_between(mtime, now),
                journal: names::printable(&journal),
            }
        })
        .collect();
    processes.sort_by(|a, b| a.last_write_secs_ago.total_cmp(&b.last_write_secs_ago));
    let live_daemon_files = daemon_files
        .into_iter()
        .filter(|((pid, _), _)| spoolq_os::process::exists(*pid))
        .map(|(_, (_, file, process))| (file, process))
        .collect();
    Ok(RecentJournals {
        processes,
        latest_files,
        live_daemon_files,
        unrecognized,
        problems,
        daemons,
    })
}

/// The jobs still in new/ (`queued`) that the `stuck` records at the end of each of
/// `files` (a live daemon's latest journal, with its `host:pid`) name; the latest record
/// of each job. What cannot be read goes into `problems`.
fn stuck_jobs(
    dir: &Dir,
    files: &[(OsString, String)],
    queued: &HashSet<JobId>,
    problems: &mut JournalProblems,
) -> Vec<StuckJob> {
    let mut stuck: BTreeMap<JobId, StuckJob> = BTreeMap::new();
    for (file, daemon) in files {
        let records = match FileRecords::open_tail(&dir.path().join(file), RECENT_TAIL_BYTES) {
            Ok(records) => records,
            Err(problem) => {
                problems.add(problem);
                continue;
            }
        };
        for item in records {
            let FileItem::Record(entry) = item else {
                continue;
            };
            let Event::Stuck(record) = &entry.record.event else {
                continue;
            };
            if !queued.contains(&record.job) {
                continue;
            }
            stuck.insert(
                record.job,
                StuckJob {
                    job: record.job,
                    name: record.name.clone(),
                    daemon: daemon.clone(),
                    cause: record.result,
                    since: entry.record.wall.clone(),
                    detail: record.detail.clone(),
                },
            );
        }
    }
    stuck.into_values().collect()
}

/// The records not understood at the end of each of `files` in `dir`; what cannot be
/// read (a file replaced meanwhile by something that is not a regular file, a line too
/// long) goes into `problems`: status reports, it does not audit.
fn unknown_records(
    dir: &Dir,
    files: &[OsString],
    problems: &mut JournalProblems,
) -> UnknownRecords {
    let mut unknown = UnknownRecords::default();
    for file in files {
        let records = match FileRecords::open_tail(&dir.path().join(file), RECENT_TAIL_BYTES) {
            Ok(records) => records,
            Err(problem) => {
                problems.add(problem);
                continue;
            }
        };
        for item in records {
            match item {
                FileItem::Unknown(entry) => {
                    unknown.count += 1;
                    if unknown.first.len() < UNKNOWN_LISTED {
                        unknown.first.push(entry);
                    }
                }
                // A torn last line is a writer mid-write, not a problem of a live spool.
                FileItem::Problem(problem) if problem.kind != ProblemKind::Torn => {
                    problems.add(problem);
                }
                FileItem::Problem(_) | FileItem::Record(_) => {}
            }
        }
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_parse_and_waiters_and_leases_are_skipped() {
        let text = "1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 12346 fd:01:1234567 0 EOF\n\
                    2: POSIX  ADVISORY  READ 99 08:02:42 0 EOF\n\
                    3: OFDLCK ADVISORY  READ -1 00:2f:7 0 EOF\n\
                    4: LEASE  ACTIVE    READ 77 08:02:43 0 EOF\n\
                    5: FLOCK  ADVISORY  WRITE 1 <none>:0 0 EOF\n\
                    6: FLOCK  ADVISORY  READ 7 08:02:42 0 EOF\n\
                    garbage\n";
        let held = parse_proc_locks(text);
        let lock = |pid, exclusive| ProcLock { pid, exclusive };
        let expected = BTreeMap::from([
            ((0, 0x2f, 7), vec![lock(None, false)]),
            (
                (8, 2, 42),
                vec![lock(Some(99), false), lock(Some(7), false)],
            ),
            ((0xfd, 1, 1_234_567), vec![lock(Some(12345), true)]),
        ]);
        assert_eq!(held, expected);
    }

    #[test]
    fn a_holder_is_a_daemon_only_if_its_journal_is_no_older_than_it() {
        let me = std::process::id();
        let started = millis(running_process(me).map_or(SystemTime::now(), |(t, _)| t));
        let locks = Locks::from([
            (
                OsString::from("a"),
                vec![ProcLock {
                    pid: Some(me),
                    exclusive: true,
                }],
            ),
            (
                OsString::from("b"),
                vec![ProcLock {
                    pid: None,
                    exclusive: false,
                }],
            ),
        ]);
        let mine = DaemonJournals::from([(me, vec![started + 5])]);
        let holders = lock_holders(&locks, &mine);
        assert_eq!((holders.by_spoolq_daemons, holders.unknown), (1, 1));
        // A journal of an earlier process that had this pid: not this process's.
        let earlier = DaemonJournals::from([(me, vec![started.saturating_sub(60_000)])]);
        if cfg!(target_os = "linux") {
            let holders = lock_holders(&locks, &earlier);
            assert_eq!(holders.by_others, 1, "{holders:?}");
            assert!(holders.held.iter().any(|h| h.running && !h.spoolq_daemon));
        }
    }

    #[test]
    fn mount_device_takes_the_longest_prefix_on_component_boundaries() {
        let info = "22 1 8:2 / / rw - ext4 /dev/sda2 rw\n\
                    40 22 0:45 / /var/spool rw - btrfs /dev/sdb rw\n\
                    41 22 0:46 / /var/spoolx rw - tmpfs tmpfs rw\n\
                    42 40 0:47 / /var/spool/with\\040space rw - tmpfs tmpfs rw\n";
        let dev = |p: &str| mount_device(info, Path::new(p));
        assert_eq!(dev("/var/spool/jobs/new"), Some((0, 45)));
        assert_eq!(dev("/var/spoolx/new"), Some((0, 46)));
        assert_eq!(dev("/etc"), Some((8, 2)));
        assert_eq!(dev("/var/spool/with space/new"), Some((0, 47)));
    }
}
