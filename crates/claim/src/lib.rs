//! The claim protocol of spoolq: take exclusive ownership of one job file in a spool
//! folder, with the "exclusive lock on open" pattern, and prove (or, for the naive
//! strategy, fail to prove) that the locked file is still the job.
//!
//! # The race this crate exists for
//!
//! `open` then `flock` (or `open(O_EXLOCK)` on macOS, two steps inside the kernel) is not
//! atomic on the path. A second consumer can take a descriptor for the job's inode before
//! the first consumer unlinks it, then get the lock once the first closes, and process a
//! job that was already completed. [`Strategy::Naive`] is that pattern, kept to reproduce
//! the bug. [`Strategy::Verified`] (the default) checks, once the lock is held, that the
//! inode still has a link and that the name still points to it; see `docs/protocol.md`.
//!
//! # Boundaries
//!
//! This crate knows files, locks and names; it knows nothing of job formats, journals or
//! handlers, and makes no system call itself: every call goes through `spoolq-os`, whose
//! [`Dir`] is the held directory descriptor a claimer works in (re-exported here with
//! the other OS types of this crate's API). The [`StepHook`] lets tests pause a claimer
//! between any two system calls of the protocol and so force any interleaving of
//! several claimers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use spoolq_os::{c_name, fs};

pub use spoolq_os::{Dir, Errno, Error, FileKind, FileStat, Op};

/// How a claimer decides that a locked file is its job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Open, lock, go: the pattern as usually written. Unsafe under concurrency: a claimer
    /// may lock a job that another claimer already completed. Kept to reproduce the race.
    Naive,
    /// Open, lock, then prove the inode is still linked at its name. The default.
    #[default]
    Verified,
}

impl Strategy {
    /// `"naive"` or `"verified"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Naive => "naive",
            Strategy::Verified => "verified",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Strategy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown claim strategy {0:?}: expected \"naive\" or \"verified\"")]
pub struct ParseStrategyError(pub String);

impl FromStr for Strategy {
    type Err = ParseStrategyError;

    fn from_str(s: &str) -> Result<Strategy, ParseStrategyError> {
        match s {
            "naive" => Ok(Strategy::Naive),
            "verified" => Ok(Strategy::Verified),
            other => Err(ParseStrategyError(other.to_owned())),
        }
    }
}

/// A point between two system calls of the protocol, reported to the [`StepHook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// About to open the file.
    BeforeOpen,
    /// `openat` returned (on macOS/BSD the lock is already taken by `O_EXLOCK`).
    AfterOpen,
    /// `flock` returned (on macOS/BSD reported right after the open).
    AfterLock,
    /// The checks returned; `result` is Ok exactly when the file is claimed.
    AfterVerify,
    /// About to unlink or move the claimed name.
    BeforeComplete,
    /// The unlink or move returned.
    AfterComplete,
    /// The descriptor was closed: the lock is released.
    AfterClose,
}

impl Step {
    /// Every step, in protocol order.
    pub const ALL: [Step; 7] = [
        Step::BeforeOpen,
        Step::AfterOpen,
        Step::AfterLock,
        Step::AfterVerify,
        Step::BeforeComplete,
        Step::AfterComplete,
        Step::AfterClose,
    ];

    /// A short snake_case name, for journals.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::BeforeOpen => "open_enter",
            Step::AfterOpen => "open",
            Step::AfterLock => "lock",
            Step::AfterVerify => "verify",
            Step::BeforeComplete => "complete_enter",
            Step::AfterComplete => "complete",
            Step::AfterClose => "close",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Step`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown claim protocol step {0:?}")]
pub struct ParseStepError(pub String);

impl FromStr for Step {
    type Err = ParseStepError;

    /// The inverse of [`Step::as_str`].
    fn from_str(s: &str) -> Result<Step, ParseStepError> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str() == s)
            .ok_or_else(|| ParseStepError(s.to_owned()))
    }
}

/// What the hook is told at each step.
#[derive(Debug)]
pub struct StepEvent<'a> {
    /// The claimer's id, as given to [`Claimer::with_id`].
    pub claimer: u64,
    /// Where in the protocol the claimer is.
    pub step: Step,
    /// The job's name in its folder.
    pub name: &'a OsStr,
    /// The outcome of the call just made (Ok for `Before*` steps). For `AfterOpen`, a
    /// name that is not a regular file is refused before any open, with the errno the
    /// open stands for: ENOENT (no such name), ELOOP (a symlink), EINVAL (another kind).
    /// For `AfterVerify`, Err carries the reason the file was not claimed as an
    /// errno-like code: ENOENT (stale: unlinked or path gone), ESTALE (replaced), EMLINK
    /// (hard-linked), EINVAL (not a regular file). For `AfterComplete`, a name that no
    /// longer names the claimed file is left alone: ESTALE (it names another file) or
    /// ENOENT (it names nothing).
    pub result: Result<(), Errno>,
}

/// A callback run between the protocol's system calls. Tests block in it to force an
/// interleaving; the daemon journals from it (`--trace-claims`); the lab sleeps in it to
/// widen the race window. Unset, it costs one branch per step.
pub type StepHook = Arc<dyn Fn(&StepEvent<'_>) + Send + Sync>;

/// Why a locked file turned out not to be the job any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleReason {
    /// `st_nlink == 0`: the job was completed while this claimer waited for the lock.
    Unlinked,
    /// The name no longer exists: completed or moved away.
    NameGone,
    /// The name now points to another inode: the job was replaced.
    Replaced,
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StaleReason::Unlinked => "the locked file has no links left (completed meanwhile)",
            StaleReason::NameGone => "the name no longer exists (completed or moved meanwhile)",
            StaleReason::Replaced => "the name now points to a different file",
        })
    }
}

/// Why a file in the spool can never be a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The name is a symbolic link (refused by `O_NOFOLLOW`; never followed).
    Symlink,
    /// Not a regular file.
    NotRegular(FileKind),
    /// A regular file with more than one link: someone hard-linked it into the spool.
    HardLinked {
        /// Its link count.
        nlink: u64,
    },
    /// A regular file this process may not open (EACCES, EPERM).
    Unreadable(Errno),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Symlink => f.write_str(
                "is a symbolic link; spoolq never follows links in the spool: \
                 write the job elsewhere on the same file system and rename it into new/",
            ),
            RejectReason::NotRegular(kind) => write!(
                f,
                "is a {}, not a regular file; only regular job files belong in the spool",
                kind.describe()
            ),
            RejectReason::HardLinked { nlink } => write!(
                f,
                "has {nlink} hard links; a job must have exactly one name: \
                 copy it (do not hard-link it) into the spool"
            ),
            RejectReason::Unreadable(errno) => write!(
                f,
                "cannot be opened by the daemon ({errno}); \
                 make job files readable by the daemon's user"
            ),
        }
    }
}

impl RejectReason {
    /// A short machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Symlink => "symlink",
            RejectReason::NotRegular(_) => "not_regular",
            RejectReason::HardLinked { .. } => "hard_linked",
            RejectReason::Unreadable(_) => "unreadable",
        }
    }
}

/// What a claim's name names when the claim is about to act on it, if not the claimed
/// file. Only a holder of the lock completes or moves a job, so under the verified
/// strategy this is someone outside the protocol at work: a producer's `mv -f` over the
/// name, a person's `rm` or `mv`. Under the naive strategy [`NameNow::Gone`] is also the
/// race: another consumer completed the job while this one waited for the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameNow {
    /// The name names another file: the claimed one was replaced.
    Replaced,
    /// No file has the name: the claimed one was removed or moved away.
    Gone,
}

impl fmt::Display for NameNow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameNow::Replaced => "the name now names another file",
            NameNow::Gone => "the name no longer exists",
        })
    }
}

/// Why acting on a claim (completing, moving, renaming it) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// The name no longer named the claimed file when checked under the lock: it was
    /// left alone (see [`NameNow`]).
    #[error("{}: {now}, not the claimed file; left alone", path.display())]
    NotAtName {
        /// The name's path.
        path: PathBuf,
        /// What it names now.
        now: NameNow,
    },
    /// A system call failed.
    #[error(transparent)]
    Io(#[from] Error),
}

impl ActError {
    /// The errno of a failed system call; `None` for a name left alone.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            ActError::NotAtName { .. } => None,
            ActError::Io(e) => e.errno(),
        }
    }

    /// The target name was taken (EEXIST).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ActError::Io(e) if e.is_already_exists())
    }

    /// What the name names now, when it was left alone because it no longer named the
    /// claimed file.
    pub fn name_now(&self) -> Option<NameNow> {
        match self {
            ActError::NotAtName { now, .. } => Some(*now),
            ActError::Io(_) => None,
        }
    }
}

/// The result of one claim attempt. I/O errors are not outcomes: they are [`Error`].
#[derive(Debug)]
pub enum Outcome {
    /// The job is ours until the [`Claim`] is completed, moved or dropped.
    Claimed(Claim),
    /// Another descriptor holds the lock.
    Busy,
    /// The name did not exist at open, or the file was deleted through another client
    /// of a shared file system between the open and the lock (the lock failed with
    /// ESTALE or ENOENT).
    Gone,
    /// The lock was taken, but the file is no longer the job.
    Stale(StaleReason),
    /// The file can never be a job; it was not read.
    Rejected(Rejected),
}

impl Outcome {
    /// A short code for journals: claimed, busy, gone, stale, rejected.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Claimed(_) => "claimed",
            Outcome::Busy => "busy",
            Outcome::Gone => "gone",
            Outcome::Stale(_) => "stale",
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// A claimer for one folder of the spool.
///
/// Cheap to clone. Each [`Claimer::claim`] opens its own file description, so claimers
/// in the same process exclude each other exactly as claimers in different processes do.
///
/// # Example
///
/// Claim a job in a folder, read it and complete it; a second claimer is refused while
/// the claim holds the lock, and finds the name gone afterwards.
///
/// ```
/// use std::ffi::OsStr;
/// use std::sync::Arc;
///
/// use spoolq_claim::{Claimer, Dir, Outcome, Strategy};
///
/// let folder = tempfile::tempdir()?;
/// std::fs::write(folder.path().join("job-1"), b"hello")?;
/// let dir = Arc::new(Dir::open(folder.path())?);
/// let claimer = Claimer::new(dir.clone(), Strategy::Verified);
/// let other = Claimer::new(dir, Strategy::Verified);
///
/// let Outcome::Claimed(claim) = claimer.claim(OsStr::new("job-1"))? else {
///     panic!("a job nobody holds is claimed");
/// };
/// assert!(matches!(other.claim(OsStr::new("job-1"))?, Outcome::Busy));
/// assert_eq!(claim.read_all()?, b"hello");
///
/// claim.complete()?;
/// assert!(!folder.path().join("job-1").exists());
/// assert!(matches!(other.claim(OsStr::new("job-1"))?, Outcome::Gone));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Claimer {
    dir: Arc<Dir>,
    strategy: Strategy,
    id: u64,
    hook: Option<StepHook>,
}

impl fmt::Debug for Claimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claimer")
            .field("dir", &self.dir.path())
            .field("strategy", &self.strategy)
            .field("id", &self.id)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// A held file descriptor with its lock; closing it releases the lock.
struct Held {
    /// Always Some until `drop`, which closes it before reporting AfterClose.
    file: Option<File>,
    dir: Arc<Dir>,
    name: CString,
    claimer: u64,
    hook: Option<StepHook>,
}

impl Held {
    fn step(&self, step: Step, result: Result<(), Errno>) {
        if let Some(hook) = &self.hook {
            hook(&StepEvent {
                claimer: self.claimer,
                step,
                name: OsStr::from_bytes(self.name.as_bytes()),
                result,
            });
        }
    }

    fn os_name(&self) -> &OsStr {
        OsStr::from_bytes(self.name.as_bytes())
    }

    fn file(&self) -> &File {
        self.file.as_ref().expect("the file is only taken in drop")
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Close first, so the hook really runs after the lock is gone.
        drop(self.file.take());
        self.step(Step::AfterClose, Ok(()));
    }
}

impl Claimer {
    /// A claimer for the files of `dir`.
    pub fn new(dir: Arc<Dir>, strategy: Strategy) -> Claimer {
        Claimer {
            dir,
            strategy,
            id: 0,
            hook: None,
        }
    }

    /// Sets the id reported to the hook (a worker number, say).
    pub fn with_id(mut self, id: u64) -> Claimer {
        self.id = id;
        self
    }

    /// Installs a step hook.
    pub fn with_hook(mut self, hook: StepHook) -> Claimer {
        self.hook = Some(hook);
        self
    }

    /// The strategy its claims use.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The folder it claims in.
    pub fn dir(&self) -> &Arc<Dir> {
        &self.dir
    }

    /// The id reported to the hook.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn step(&self, step: Step, name: &OsStr, result: Result<(), Errno>) {
        if let Some(hook) = &self.hook {
            hook(&StepEvent {
                claimer: self.id,
                step,
                name,
                result,
            });
        }
    }

    /// Tries to claim the file `name` in this claimer's folder. Never blocks: a held lock
    /// is [`Outcome::Busy`]. Only a regular file is ever opened: the name's kind is
    /// checked first (`fstatat(AT_SYMLINK_NOFOLLOW)`), since opening a device or a FIFO
    /// has side effects.
    pub fn claim(&self, name: &OsStr) -> Result<Outcome, Error> {
        self.claim_seen(name, None)
    }

    /// [`claim`](Self::claim) for a name whose kind the caller has just seen, from the
    /// directory entry a listing returned (`d_type`): a name seen as a regular file is
    /// opened at once (a file put in its place since the listing is opened too: the
    /// window is the time since the listing), any other is checked as `claim` checks it.
    pub fn claim_seen(&self, name: &OsStr, seen: Option<FileKind>) -> Result<Outcome, Error> {
        let c = c_name(name)?;
        self.step(Step::BeforeOpen, name, Ok(()));
        if seen != Some(FileKind::Regular) {
            let refused = match fs::kind_at(self.dir.as_fd(), &c) {
                Ok(FileKind::Regular) => None,
                Ok(FileKind::Symlink) => Some((Errno::ELOOP, RejectReason::Symlink)),
                Ok(kind) => Some((Errno::EINVAL, RejectReason::NotRegular(kind))),
                // ESTALE: a network or FUSE client's cached name whose file is gone.
                Err(Errno::ENOENT | Errno::ESTALE) => {
                    self.step(Step::AfterOpen, name, Err(Errno::ENOENT));
                    return Ok(Outcome::Gone);
                }
                Err(errno) => {
                    self.step(Step::AfterOpen, name, Err(errno));
                    return Err(Error::sys(Op::Fstatat, &self.dir.display_path(name), errno));
                }
            };
            if let Some((errno, reason)) = refused {
                self.step(Step::AfterOpen, name, Err(errno));
                return Ok(Outcome::Rejected(Rejected {
                    reason,
                    stat: None,
                    held: None,
                    dir: self.dir.clone(),
                    name: c,
                }));
            }
        }
        let opened = fs::open_job_at(self.dir.as_fd(), &c, true);
        self.step(
            Step::AfterOpen,
            name,
            opened.as_ref().map(drop).map_err(|e| *e),
        );
        let fd = match opened {
            Ok(fd) => fd,
            // ESTALE: a network or FUSE client resolved the name from its cache to a file
            // its server had already deleted.
            Err(Errno::ENOENT | Errno::ESTALE) => return Ok(Outcome::Gone),
            Err(Errno::ELOOP) => {
                return Ok(Outcome::Rejected(Rejected {
                    reason: RejectReason::Symlink,
                    stat: None,
                    held: None,
                    dir: self.dir.clone(),
                    name: c,
                }));
            }
            // O_EXLOCK | O_NONBLOCK on a locked file.
            Err(Errno::EWOULDBLOCK) if fs::LOCK_IN_OPEN => {
                self.step(Step::AfterLock, name, Err(Errno::EWOULDBLOCK));
                return Ok(Outcome::Busy);
            }
            // No permission, or a kind that cannot be opened at all (a socket: ENXIO):
            // never a job, and a person must see it, so reject it by name.
            Err(errno) => return self.reject_unopenable(name, c, errno),
        };
        let held = Held {
            file: Some(File::from(fd)),
            dir: self.dir.clone(),
            name: c,
            claimer: self.id,
            hook: self.hook.clone(),
        };

        let locked = if fs::LOCK_IN_OPEN {
            Ok(())
        } else {
            fs::flock_exclusive_nonblocking(held.file().as_fd())
        };
        held.step(Step::AfterLock, locked);
        match locked {
            Ok(()) => {}
            Err(Errno::EWOULDBLOCK) => return Ok(Outcome::Busy),
            // On a shared file system (GlusterFS) a file deleted through another client
            // since our open: the job is gone, completed there.
            Err(Errno::ENOENT | Errno::ESTALE) => return Ok(Outcome::Gone),
            Err(errno) => return Err(Error::sys(Op::Lock, &self.dir.display_path(name), errno)),
        }

        let verdict = self.verify(&held);
        let code = match &verdict {
            Ok(Verdict::Claimed(_)) => Ok(()),
            Ok(Verdict::Stale(StaleReason::Replaced)) => Err(Errno::ESTALE),
            Ok(Verdict::Stale(_)) => Err(Errno::ENOENT),
            Ok(Verdict::Rejected(RejectReason::HardLinked { .. }, _)) => Err(Errno::EMLINK),
            Ok(Verdict::Rejected(..)) => Err(Errno::EINVAL),
            Err(e) => Err(e.errno().unwrap_or(Errno::EIO)),
        };
        held.step(Step::AfterVerify, code);
        Ok(match verdict? {
            Verdict::Claimed(stat) => Outcome::Claimed(Claim { held, stat }),
            Verdict::Stale(reason) => Outcome::Stale(reason),
            Verdict::Rejected(reason, stat) => Outcome::Rejected(Rejected {
                reason,
                stat: Some(stat),
                name: held.name.clone(),
                dir: held.dir.clone(),
                held: Some(held),
            }),
        })
    }

    fn reject_unopenable(&self, name: &OsStr, c: CString, errno: Errno) -> Result<Outcome, Error> {
        let reason = match fs::fstatat_nofollow(self.dir.as_fd(), &c) {
            Err(Errno::ENOENT) => return Ok(Outcome::Gone),
            Ok(stat) if stat.kind != FileKind::Regular => RejectReason::NotRegular(stat.kind),
            Ok(_) if errno == Errno::EACCES || errno == Errno::EPERM => {
                RejectReason::Unreadable(errno)
            }
            _ => return Err(Error::sys(Op::Open, &self.dir.display_path(name), errno)),
        };
        Ok(Outcome::Rejected(Rejected {
            reason,
            stat: None,
            held: None,
            dir: self.dir.clone(),
            name: c,
        }))
    }

    fn verify(&self, held: &Held) -> Result<Verdict, Error> {
        let path = || self.dir.display_path(held.os_name());
        let mut stat = match fs::fstat(held.file().as_fd()) {
            Ok(stat) => stat,
            // A shared file system's client whose server deleted the file meanwhile.
            Err(Errno::ENOENT | Errno::ESTALE) => return Ok(Verdict::Stale(StaleReason::Unlinked)),
            Err(errno) => return Err(Error::sys(Op::Fstat, &path(), errno)),
        };
        if stat.kind != FileKind::Regular {
            return Ok(Verdict::Rejected(RejectReason::NotRegular(stat.kind), stat));
        }
        if stat.nlink > 1 {
            // A client's attribute cache may still hold the second link a producer's
            // link-then-unlink publish had for an instant: ask the file system itself
            // before rejecting a job for it.
            stat = fs::fstat_fresh(held.file().as_fd())
                .map_err(|errno| Error::sys(Op::Fstat, &path(), errno))?;
        }
        if stat.nlink > 1 {
            return Ok(Verdict::Rejected(
                RejectReason::HardLinked { nlink: stat.nlink },
                stat,
            ));
        }
        if self.strategy == Strategy::Naive {
            // The naive pattern stops here: it trusts that the lock means ownership.
            return Ok(Verdict::Claimed(stat));
        }
        if stat.nlink == 0 {
            return Ok(Verdict::Stale(StaleReason::Unlinked));
        }
        match fs::fstatat_nofollow(self.dir.as_fd(), &held.name) {
            Ok(there) if there.dev == stat.dev && there.ino == stat.ino => {
                Ok(Verdict::Claimed(stat))
            }
            Ok(_) => Ok(Verdict::Stale(StaleReason::Replaced)),
            Err(Errno::ENOENT | Errno::ESTALE) => Ok(Verdict::Stale(StaleReason::NameGone)),
            Err(errno) => Err(Error::sys(Op::Fstatat, &path(), errno)),
        }
    }
}

enum Verdict {
    Claimed(FileStat),
    Stale(StaleReason),
    Rejected(RejectReason, FileStat),
}

/// An exclusively held job file. Dropping it releases the lock and leaves the file in
/// place (so another claimer may take it: at-least-once delivery).
pub struct Claim {
    held: Held,
    stat: FileStat,
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("dir", &self.held.dir.path())
            .field("name", &self.held.os_name())
            .field("dev", &self.stat.dev)
            .field("ino", &self.stat.ino)
            .finish()
    }
}

/// A failed move: the claim is handed back, still locked, so the caller can try another
/// name or release it.
#[derive(Debug)]
pub struct MoveFailed<T> {
    /// Why the move failed (EEXIST when the target name is taken; a name that no longer
    /// names the claimed file is left alone).
    pub error: ActError,
    /// The claim, still holding its lock.
    pub claim: T,
}

impl Claim {
    /// The locked file, positioned wherever the last read left it. Read it through
    /// `&File` (`Read` is implemented for `&File`).
    pub fn file(&self) -> &File {
        self.held.file()
    }

    /// The job's name in its folder.
    pub fn name(&self) -> &OsStr {
        self.held.os_name()
    }

    /// The folder the job was claimed in.
    pub fn dir(&self) -> &Arc<Dir> {
        &self.held.dir
    }

    /// The file's (device, inode): its identity while the claim holds it.
    pub fn identity(&self) -> (u64, u64) {
        (self.stat.dev, self.stat.ino)
    }

    /// The `fstat` taken when the file was claimed.
    pub fn stat(&self) -> &FileStat {
        &self.stat
    }

    /// Reads the whole file from the start.
    pub fn read_all(&self) -> Result<Vec<u8>, Error> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.held.file();
        let mut bytes =
            Vec::with_capacity(usize::try_from(self.stat.size).unwrap_or(0).min(1 << 20));
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| Error::io(Op::Read, &self.held.dir.display_path(self.name()), e))?;
        Ok(bytes)
    }

    /// What the claim's name names now, if not the claimed file; checked under the lock
    /// right before every act on the name. Linux and macOS have no unlink or rename that
    /// acts only if the name still names a given inode, so a file renamed over the name
    /// between this check and the act (one system call later) is still acted on.
    fn name_now(&self) -> Result<Option<NameNow>, Error> {
        let held = &self.held;
        match fs::identity_at(held.dir.as_fd(), &held.name) {
            Ok(identity) if identity == self.identity() => Ok(None),
            Ok(_) => Ok(Some(NameNow::Replaced)),
            // ESTALE: a network or FUSE client's cached name whose file is gone.
            Err(Errno::ENOENT | Errno::ESTALE) => Ok(Some(NameNow::Gone)),
            Err(errno) => Err(Error::sys(
                Op::Fstatat,
                &held.dir.display_path(held.os_name()),
                errno,
            )),
        }
    }

    /// Checks the name under the lock (see [`NameNow`]), then does `act` on it.
    fn act_on_name(&self, act: impl FnOnce(&Held) -> Result<(), Error>) -> Result<(), ActError> {
        let held = &self.held;
        let now = match self.name_now() {
            Ok(now) => now,
            Err(e) => return Err(ActError::Io(e)),
        };
        match now {
            None => act(held).map_err(ActError::Io),
            Some(now) => Err(ActError::NotAtName {
                path: held.dir.display_path(held.os_name()),
                now,
            }),
        }
    }

    /// Completes the job: unlinks its name while still holding the lock, then closes.
    /// Whoever takes the lock afterwards sees a file with no links. A name that no
    /// longer names the claimed file is left alone ([`ActError::NotAtName`]).
    pub fn complete(self) -> Result<(), ActError> {
        self.held.step(Step::BeforeComplete, Ok(()));
        let result = self.act_on_name(|held| {
            fs::unlinkat(held.dir.as_fd(), &held.name).map_err(|errno| {
                Error::sys(Op::Unlink, &held.dir.display_path(held.os_name()), errno)
            })
        });
        self.held
            .step(Step::AfterComplete, act_step_result(&result));
        drop(self);
        result
    }

    /// Moves the job to `to/to_name` while still holding the lock (to retry/ or failed/),
    /// never replacing an existing name, then closes. A name that no longer names the
    /// claimed file is left alone ([`ActError::NotAtName`]). On failure the claim comes
    /// back, still locked.
    pub fn move_to(self, to: &Dir, to_name: &OsStr) -> Result<(), Box<MoveFailed<Claim>>> {
        self.held.step(Step::BeforeComplete, Ok(()));
        let result = self.act_on_name(|held| move_held(held, to, to_name));
        self.held
            .step(Step::AfterComplete, act_step_result(&result));
        match result {
            Ok(()) => Ok(()),
            Err(error) => Err(Box::new(MoveFailed { error, claim: self })),
        }
    }

    /// Renames the job within its folder to `to_name` while holding the lock, never
    /// replacing an existing name (EEXIST), and keeps the claim: the claim's name is
    /// `to_name` from then on. A name that no longer names the claimed file is left
    /// alone ([`ActError::NotAtName`]). The daemon counts a started attempt this way
    /// (`<id>.<n>` to `<id>.<n+1>`) before a handler runs.
    pub fn rename(&mut self, to_name: &OsStr) -> Result<(), ActError> {
        let dest = c_name(to_name)?;
        self.act_on_name(|held| {
            fs::renameat_noreplace(held.dir.as_fd(), &held.name, held.dir.as_fd(), &dest)
                .map_err(|errno| Error::sys(Op::Rename, &held.dir.display_path(to_name), errno))
        })?;
        self.held.name = dest;
        Ok(())
    }

    /// Releases the lock without touching the file (the same as dropping the claim).
    pub fn release(self) {}
}

/// How an act on a claim's name is reported to the step hook.
fn act_step_result(result: &Result<(), ActError>) -> Result<(), Errno> {
    match result {
        Ok(()) => Ok(()),
        Err(ActError::NotAtName {
            now: NameNow::Replaced,
            ..
        }) => Err(Errno::ESTALE),
        Err(ActError::NotAtName {
            now: NameNow::Gone, ..
        }) => Err(Errno::ENOENT),
        Err(ActError::Io(e)) => Err(e.errno().unwrap_or(Errno::EIO)),
    }
}

fn move_held(held: &Held, to: &Dir, to_name: &OsStr) -> Result<(), Error> {
    let dest = c_name(to_name)?;
    fs::renameat_noreplace(held.dir.as_fd(), &held.name, to.as_fd(), &dest)
        .map_err(|errno| Error::sys(Op::Rename, &to.display_path(to_name), errno))
}

/// A file that can never be a job. If it could be opened it is still locked, so moving
/// it to quarantine happens under the lock like every other move.
pub struct Rejected {
    reason: RejectReason,
    /// The `fstat` under the lock, when the file could be opened.
    stat: Option<FileStat>,
    held: Option<Held>,
    dir: Arc<Dir>,
    name: CString,
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .field("name", &OsStr::from_bytes(self.name.as_bytes()))
            .field("locked", &self.held.is_some())
            .finish()
    }
}

impl Rejected {
    /// Why the file can never be a job.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The rejected name in its folder.
    pub fn name(&self) -> &OsStr {
        OsStr::from_bytes(self.name.as_bytes())
    }

    /// The `fstat` taken under the lock, when the file could be opened and locked (None
    /// for a symlink, a socket, an unreadable file).
    pub fn stat(&self) -> Option<&FileStat> {
        self.stat.as_ref()
    }

    /// Whether the file is held locked (it is not when it could not be opened: a
    /// symlink, a socket, an unreadable file).
    pub fn is_locked(&self) -> bool {
        self.held.is_some()
    }

    /// Moves the rejected name to `to/to_name` (a symlink is moved itself, never its
    /// target), never replacing an existing name.
    pub fn move_to(self, to: &Dir, to_name: &OsStr) -> Result<(), Box<MoveFailed<Rejected>>> {
        let result = match &self.held {
            Some(held) => move_held(held, to, to_name),
            None => c_name(to_name).and_then(|dest| {
                fs::renameat_noreplace(self.dir.as_fd(), &self.name, to.as_fd(), &dest)
                    .map_err(|errno| Error::sys(Op::Rename, &to.display_path(to_name), errno))
            }),
        };
        match result {
            Ok(()) => Ok(()),
            Err(error) => Err(Box::new(MoveFailed {
                error: ActError::Io(error),
                claim: self,
            })),
        }
    }
}

/// Names in a spool folder, as `OsString`, for callers that list with [`Dir::entries`].
pub type Name = OsString;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_strategies_parse_back_from_their_names() {
        for step in Step::ALL {
            assert_eq!(step.as_str().parse(), Ok(step));
        }
        assert!("opened".parse::<Step>().is_err());
        for strategy in [Strategy::Naive, Strategy::Verified] {
            assert_eq!(strategy.as_str().parse(), Ok(strategy));
        }
    }
}
