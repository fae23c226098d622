//! File-system calls on descriptors and names relative to them, on rustix.
//!
//! Each function is one system call (or, for [`renameat_noreplace`], the documented
//! fallback of one), over borrowed descriptors and C strings, with its errno returned as
//! a typed [`Errno`] and EINTR retried. No policy, no path handling: the path-aware face
//! is [`Dir`](crate::Dir).
#![forbid(unsafe_code)]

use std::ffi::{CStr, CString, OsString};
use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::retry_on_intr;

use crate::Errno;

/// Runs a rustix call, retrying on EINTR, with its errno typed.
fn call<T>(f: impl FnMut() -> rustix::io::Result<T>) -> Result<T, Errno> {
    retry_on_intr(f).map_err(Errno::from)
}

/// Opens a directory by path, refusing a symlink in the last component.
pub fn open_dir(path: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    call(|| rustix::fs::open(path, flags, Mode::empty()))
}

/// Opens a directory relative to `dir`, refusing a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    call(|| rustix::fs::openat(dir, name, flags, Mode::empty()))
}

/// Whether this platform takes the claim lock inside `open` (`O_EXLOCK`).
pub const LOCK_IN_OPEN: bool = cfg!(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
));

/// `O_EXLOCK` where `open` can take the lock (rustix names no such flag; its `OFlags`
/// pass unnamed bits through to the C library).
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
const EXLOCK: OFlags = OFlags::from_bits_retain(libc::O_EXLOCK as u32);

/// Opens a job file for claiming: read-only, non-blocking (a FIFO must not hang the
/// open), never following a symlink, never inherited by a child.
///
/// With `exlock` on macOS and the BSDs the open also takes the exclusive flock
/// (`O_EXLOCK`), failing with EWOULDBLOCK when another descriptor holds it; elsewhere
/// `exlock` is ignored and the caller must call [`flock_exclusive_nonblocking`].
pub fn open_job_at(dir: BorrowedFd<'_>, name: &CStr, exlock: bool) -> Result<OwnedFd, Errno> {
    #[allow(unused_mut)]
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    if exlock {
        flags |= EXLOCK;
    }
    let _ = exlock;
    call(|| rustix::fs::openat(dir, name, flags, Mode::empty()))
}

/// Creates a new file relative to `dir` for writing (appending if `append`); fails with
/// EEXIST if the name exists.
pub fn create_excl_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    mode: u32,
    append: bool,
) -> Result<OwnedFd, Errno> {
    let mut flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if append {
        flags |= OFlags::APPEND;
    }
    call(|| rustix::fs::openat(dir, name, flags, file_mode(mode)))
}

/// Opens (creating if needed) a file for appending, relative to `dir`.
pub fn open_append_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<OwnedFd, Errno> {
    // Non-blocking: a FIFO at the name fails at once (ENXIO) instead of waiting for a
    // reader; on a regular file the flag changes nothing.
    let flags = OFlags::WRONLY
        | OFlags::CREATE
        | OFlags::APPEND
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC;
    call(|| rustix::fs::openat(dir, name, flags, file_mode(mode)))
}

/// Opens a regular file read-only relative to `dir` (no lock), refusing symlinks.
pub fn open_read_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    call(|| rustix::fs::openat(dir, name, flags, Mode::empty()))
}

/// Opens a file by path for reading, non-blocking (a FIFO does not hang the open) and
/// never inherited; unless `follow`, a symlink in the last component is refused (ELOOP).
/// For files whose kind the caller checks with [`fstat`] before reading.
pub fn open_read(path: &CStr, follow: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    call(|| rustix::fs::open(path, flags, Mode::empty()))
}

/// Permission bits for a new file or directory (`mode_t` is 16 bits on macOS: higher
/// bits are not permissions anyway).
fn file_mode(mode: u32) -> Mode {
    Mode::from_bits_truncate((mode & 0o7777) as rustix::fs::RawMode)
}

/// Clears `O_NONBLOCK` on `fd` (two `fcntl` calls, once), so that reads wait: for a
/// thread that does nothing but wait on the descriptor, cheaper than toggling the flag
/// around every read.
pub fn set_blocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = call(|| rustix::fs::fcntl_getfl(fd))?;
    call(|| rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK))
}

/// `flock(fd, LOCK_EX | LOCK_NB)`.
pub fn flock_exclusive_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    call(|| rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive))
}

/// `flock(fd, LOCK_SH)`, waiting for an exclusive holder to let go: a journal writer's
/// hold on the file it writes, which tells a pruner the file is alive.
pub fn flock_shared(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    call(|| rustix::fs::flock(fd, FlockOperation::LockShared))
}

/// `flock(fd, LOCK_SH | LOCK_NB)`: used by read-only inspection that must not hold the
/// exclusive lock a consumer wants.
pub fn flock_shared_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    call(|| rustix::fs::flock(fd, FlockOperation::NonBlockingLockShared))
}

/// The kind of a file, from `st_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file: the only kind a job can be.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link (seen only by calls that do not follow it).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A UNIX domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A type this build does not name.
    Unknown,
}

impl FileKind {
    fn from_type(file_type: FileType) -> FileKind {
        match file_type {
            FileType::RegularFile => FileKind::Regular,
            FileType::Directory => FileKind::Directory,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Fifo,
            FileType::Socket => FileKind::Socket,
            FileType::CharacterDevice => FileKind::CharDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            _ => FileKind::Unknown,
        }
    }

    /// A short lowercase name ("regular file", "fifo", ...).
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "regular file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symbolic link",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Unknown => "unknown file type",
        }
    }
}

/// The fields of `struct stat` that spoolq uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// The device (`st_dev`): with `ino`, the file's identity.
    pub dev: u64,
    /// The inode number (`st_ino`).
    pub ino: u64,
    /// The file's type, from `st_mode`.
    pub kind: FileKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub perm: u32,
    /// Hard links to the inode (`st_nlink`); 0 once the last name was unlinked.
    pub nlink: u64,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Owner (`st_uid`).
    pub uid: u32,
    /// Group (`st_gid`).
    pub gid: u32,
    /// Last modification (`st_mtime`); the epoch for a time before it.
    pub mtime: SystemTime,
    /// Last change of the inode (`st_ctime`): set by the kernel at creation, at every
    /// write and at every change of name, owner or mode, and never settable by a
    /// program, so unlike `mtime` a copy made with preserved times (`cp -p`, `rsync -a`,
    /// `tar x`) does not carry the original's.
    pub ctime: SystemTime,
    /// When the file was created, where the file system reports it (`statx`'s
    /// `stx_btime` on Linux, `st_birthtime` on macOS). With the inode number it tells a
    /// file from a later one that reuses the number once the first is freed.
    pub birth: Option<SystemTime>,
}

impl FileStat {
    // The widths and signedness of these fields differ per platform and architecture;
    // every value fits in the field it is cast to.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from_raw(st: &rustix::fs::Stat) -> FileStat {
        let mtime = since_epoch(st.st_mtime as i64, st.st_mtime_nsec as i64);
        let ctime = since_epoch(st.st_ctime as i64, st.st_ctime_nsec as i64);
        #[cfg(target_vendor = "apple")]
        let birth = Some(since_epoch(
            st.st_birthtime as i64,
            st.st_birthtime_nsec as i64,
        ));
        #[cfg(not(target_vendor = "apple"))]
        let birth = None;
        let mode = st.st_mode as u32;
        FileStat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            kind: FileKind::from_type(FileType::from_raw_mode(mode as rustix::fs::RawMode)),
            perm: mode & 0o7777,
            nlink: st.st_nlink as u64,
            size: (st.st_size as i64).max(0) as u64,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            mtime,
            ctime,
            birth,
        }
    }

    /// From `statx`, which reports the birth time where the file system keeps one.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn from_statx(stx: &rustix::fs::Statx) -> FileStat {
        let time = |t: &rustix::fs::StatxTimestamp| since_epoch(t.tv_sec, i64::from(t.tv_nsec));
        // An inode made before its file system kept birth times may report the epoch.
        let born = rustix::fs::StatxFlags::from_bits_retain(stx.stx_mask)
            .contains(rustix::fs::StatxFlags::BTIME)
            && (stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec) != (0, 0);
        let mode = u32::from(stx.stx_mode);
        FileStat {
            dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
            ino: stx.stx_ino,
            kind: FileKind::from_type(FileType::from_raw_mode(mode as rustix::fs::RawMode)),
            perm: mode & 0o7777,
            nlink: u64::from(stx.stx_nlink),
            size: stx.stx_size,
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            mtime: time(&stx.stx_mtime),
            ctime: time(&stx.stx_ctime),
            birth: born.then(|| time(&stx.stx_btime)),
        }
    }
}

/// A time given as seconds and nanoseconds since the epoch; before the epoch counts as
/// the epoch (spoolq compares such times, it does not date files before 1970).
fn since_epoch(secs: i64, nanos: i64) -> SystemTime {
    match u64::try_from(secs) {
        Ok(secs) => {
            SystemTime::UNIX_EPOCH + Duration::new(secs, nanos.clamp(0, 999_999_999) as u32)
        }
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// `statx` with the basic fields and the birth time (Linux): one system call, like the
/// `fstat` it replaces, falling back to `fstat`/`fstatat` on kernels without `statx`
/// (rustix reports those, and container filters that refuse it, as ENOSYS). Both kinds
/// of result encode the device the same way (`makedev` of its major and minor).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn statx_at(dir: BorrowedFd<'_>, name: &CStr, flags: AtFlags) -> Result<Option<FileStat>, Errno> {
    use rustix::fs::StatxFlags;
    let mask = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
    match call(|| rustix::fs::statx(dir, name, flags, mask)) {
        Ok(stx) => Ok(Some(FileStat::from_statx(&stx))),
        Err(Errno::ENOSYS) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// `fstat(fd)` (on Linux through `statx`, for the birth time).
pub fn fstat(fd: BorrowedFd<'_>) -> Result<FileStat, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(stat) = statx_at(fd, c"", AtFlags::EMPTY_PATH)? {
        return Ok(stat);
    }
    call(|| rustix::fs::fstat(fd)).map(|st| FileStat::from_raw(&st))
}

/// `fstat(fd)` answered by the file system itself rather than by a client's attribute
/// cache: on Linux `statx(AT_STATX_FORCE_SYNC)`, which makes an NFS or FUSE client ask
/// its server (on a local file system it is an ordinary stat); elsewhere `fstat`.
pub fn fstat_fresh(fd: BorrowedFd<'_>) -> Result<FileStat, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(stat) = statx_at(fd, c"", AtFlags::EMPTY_PATH | AtFlags::STATX_FORCE_SYNC)? {
        return Ok(stat);
    }
    call(|| rustix::fs::fstat(fd)).map(|st| FileStat::from_raw(&st))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)` (on Linux through `statx`, for the birth
/// time).
pub fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> Result<FileStat, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(stat) = statx_at(dir, name, AtFlags::SYMLINK_NOFOLLOW)? {
        return Ok(stat);
    }
    call(|| rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW))
        .map(|st| FileStat::from_raw(&st))
}

/// The kind of the file `name` names in `dir`, without following a symlink and without
/// opening it (`fstatat(AT_SYMLINK_NOFOLLOW)`; on Linux `statx` asking for the type
/// only): opening a device or a FIFO has side effects, stating it has none.
pub fn kind_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<FileKind, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::StatxFlags;
        let flags = AtFlags::SYMLINK_NOFOLLOW;
        match call(|| rustix::fs::statx(dir, name, flags, StatxFlags::TYPE)) {
            Ok(stx) => {
                let mode = u32::from(stx.stx_mode);
                return Ok(FileKind::from_type(FileType::from_raw_mode(
                    mode as rustix::fs::RawMode,
                )));
            }
            Err(Errno::ENOSYS) => {}
            Err(errno) => return Err(errno),
        }
    }
    fstatat_nofollow(dir, name).map(|stat| stat.kind)
}

/// The `(st_dev, st_ino)` of the file `name` names in `dir`, not following a symlink:
/// the identity [`fstat`] reports for a descriptor of the same file (on Linux `statx`
/// asking for the inode only, encoding the device as [`fstat`] does).
pub fn identity_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<(u64, u64), Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::StatxFlags;
        let flags = AtFlags::SYMLINK_NOFOLLOW;
        match call(|| rustix::fs::statx(dir, name, flags, StatxFlags::INO)) {
            Ok(stx) => {
                return Ok((
                    rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
                    stx.stx_ino,
                ));
            }
            Err(Errno::ENOSYS) => {}
            Err(errno) => return Err(errno),
        }
    }
    fstatat_nofollow(dir, name).map(|stat| (stat.dev, stat.ino))
}

/// Clears `O_NONBLOCK` on the open file description of `fd` (every descriptor sharing
/// it sees the change). For a file opened non-blocking so that a FIFO could not hang the
/// open, once it is known to be a regular file that another program will read.
pub fn clear_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let flags = call(|| rustix::fs::fcntl_getfl(fd))?;
    if flags.contains(OFlags::NONBLOCK) {
        call(|| rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK))?;
    }
    Ok(())
}

/// Which mounted file system a file is on: its device and, on Linux, the id of the mount
/// it was reached through (`statx`'s `STATX_MNT_ID`, since Linux 5.8). A rename cannot
/// cross mounts, not even two mounts of one device (a bind mount), so two files may be
/// renamed into each other's folders only if [`MountId::same_as`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountId {
    /// The device (`st_dev`).
    pub dev: u64,
    /// The mount's id, where the kernel reports it.
    pub mount: Option<u64>,
}

impl MountId {
    /// Whether both are on one mount: the same device, and the same mount id where both
    /// are known.
    pub fn same_as(self, other: MountId) -> bool {
        self.dev == other.dev
            && match (self.mount, other.mount) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// The mount `fd`'s file is on.
pub fn mount_of(fd: BorrowedFd<'_>) -> Result<MountId, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::StatxFlags;
        let mask = StatxFlags::BASIC_STATS | StatxFlags::MNT_ID;
        match call(|| rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, mask)) {
            Ok(stx) => {
                let known = StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::MNT_ID);
                return Ok(MountId {
                    dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
                    mount: known.then_some(stx.stx_mnt_id),
                });
            }
            Err(Errno::ENOSYS) => {}
            Err(errno) => return Err(errno),
        }
    }
    fstat(fd).map(|stat| MountId {
        dev: stat.dev,
        mount: None,
    })
}

/// The bytes an unprivileged writer may still use on the file system of `fd`
/// (`fstatvfs`: available blocks times the fragment size).
pub fn available_bytes(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    let vfs = call(|| rustix::fs::fstatvfs(fd))?;
    // The widths differ per platform; every value fits in a u64.
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    Ok((vfs.f_bavail as u64).saturating_mul(vfs.f_frsize as u64))
}

/// Waits at most `timeout` for `fd` to have something to read (or its end, or an
/// error to report): true when a read would not block. For readers that must notice a
/// request to stop while the other end is silent (a terminal, a pipe).
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, Errno> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    // A timeout too long for a timespec waits a second: the caller asks again.
    let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    });
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(n) => Ok(n > 0),
        Err(e) if e == rustix::io::Errno::INTR => Ok(false),
        Err(e) => Err(Errno::from(e)),
    }
}

/// The major number of a device id (`major(3)`).
pub fn device_major(dev: u64) -> u32 {
    rustix::fs::major(dev as rustix::fs::Dev)
}

/// The minor number of a device id (`minor(3)`).
pub fn device_minor(dev: u64) -> u32 {
    rustix::fs::minor(dev as rustix::fs::Dev)
}

/// `unlinkat(dir, name, 0)`.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    call(|| rustix::fs::unlinkat(dir, name, AtFlags::empty()))
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
    call(|| rustix::fs::mkdirat(dir, name, file_mode(mode)))
}

/// `fchmod(fd, mode)`.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    call(|| rustix::fs::fchmod(fd, file_mode(mode)))
}

/// `fchown(fd, -1, gid)`: changes the group only. `u32::MAX` is not a group id (to the
/// kernel it means "unchanged"): EINVAL.
pub fn fchown_group(fd: BorrowedFd<'_>, gid: u32) -> Result<(), Errno> {
    if gid == u32::MAX {
        return Err(Errno::EINVAL);
    }
    let gid = rustix::fs::Gid::from_raw(gid);
    call(|| rustix::fs::fchown(fd, None, Some(gid)))
}

/// `fsync(fd)`.
pub fn fsync(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    call(|| rustix::fs::fsync(fd))
}

/// `renameat`, replacing `to` if it exists. Only for names nobody else publishes.
pub fn renameat(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    call(|| rustix::fs::renameat(from_dir, from, to_dir, to))
}

/// Renames to a name only the caller ever creates (a claimer's private folder): without
/// replacing where the file system takes the no-replace flag, plainly where it does not
/// (EINVAL, ENOSYS). Never a link then unlink, which would show the file under two names
/// to whoever finds the first one while it has both.
pub fn renameat_to_own_name(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    match renameat_noreplace_native(from_dir, from, to_dir, to) {
        Err(e) if no_replace_unsupported(e) => renameat(from_dir, from, to_dir, to),
        other => other,
    }
}

/// `linkat(from_dir, from, to_dir, to, 0)`.
pub fn linkat(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    call(|| rustix::fs::linkat(from_dir, from, to_dir, to, AtFlags::empty()))
}

/// Renames without ever replacing an existing `to` (EEXIST instead).
///
/// Linux: `renameat2(RENAME_NOREPLACE)`. macOS: `renameatx_np(RENAME_EXCL)`, which
/// rustix calls for `RenameFlags::NOREPLACE` there. Where the kernel or file system
/// lacks the flag (EINVAL, ENOSYS; on macOS ENOTSUP, see rename(2)), falls back to
/// `linkat` then `unlinkat`, which is equally exclusive (link fails with EEXIST) and
/// only briefly shows the file under both names. The unlink finding the old name gone
/// (ENOENT) is success: the link stands, and whoever removed the old name finished the
/// move (a consumer finishing a publish it met with two links, see docs/protocol.md).
pub fn renameat_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    match renameat_noreplace_native(from_dir, from, to_dir, to) {
        Err(e) if no_replace_unsupported(e) => {
            linkat(from_dir, from, to_dir, to)?;
            match unlinkat(from_dir, from) {
                Err(Errno::ENOENT) => Ok(()),
                other => other,
            }
        }
        other => other,
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn renameat_noreplace_native(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    call(|| rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE))
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn renameat_noreplace_native(
    _from_dir: BorrowedFd<'_>,
    _from: &CStr,
    _to_dir: BorrowedFd<'_>,
    _to: &CStr,
) -> Result<(), Errno> {
    Err(Errno::ENOSYS)
}

/// Whether `errno` says the kernel or the file system lacks the no-replace flag: EINVAL
/// or ENOSYS (an old kernel, a file system without it, such as GlusterFS's FUSE client),
/// and on macOS ENOTSUP (a volume without `VOL_CAP_INT_RENAME_EXCL`).
fn no_replace_unsupported(errno: Errno) -> bool {
    #[cfg(target_vendor = "apple")]
    let apple = errno == Errno::ENOTSUP;
    #[cfg(not(target_vendor = "apple"))]
    let apple = false;
    errno == Errno::EINVAL || errno == Errno::ENOSYS || apple
}

/// A directory stream over a private open file description of a directory, so two
/// listings of the same directory never share a read offset.
pub struct DirStream {
    stream: rustix::fs::Dir,
}

impl fmt::Debug for DirStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirStream").finish_non_exhaustive()
    }
}

/// Opens a directory stream on `dir` (through a fresh `openat(dir, ".")`).
pub fn dir_stream(dir: BorrowedFd<'_>) -> Result<DirStream, Errno> {
    let fd = open_dir_at(dir, c".")?;
    let stream = rustix::fs::Dir::new(fd).map_err(Errno::from)?;
    Ok(DirStream { stream })
}

impl DirStream {
    /// The next name, skipping `.` and `..`; `None` at the end.
    pub fn next_name(&mut self) -> Option<Result<OsString, Errno>> {
        self.next_entry().map(|entry| entry.map(|(name, _)| name))
    }

    /// The next name with the kind the directory entry reports (`d_type`), `None` where
    /// the file system does not say (`DT_UNKNOWN`); skips `.` and `..`. The kind is what
    /// it was when the entry was read: the name may be replaced since.
    pub fn next_entry(&mut self) -> Option<Result<(OsString, Option<FileKind>), Errno>> {
        self.next_raw().map(|entry| {
            entry.map(|entry| {
                let kind = match FileKind::from_type(entry.file_type()) {
                    FileKind::Unknown => None,
                    kind => Some(kind),
                };
                (name_of(&entry), kind)
            })
        })
    }

    /// The next name with the inode number its directory entry reports (`d_ino`), as
    /// the file system answered the listing: on a network or FUSE file system the
    /// server's answer, never a name cached by the kernel's lookups. Skips `.` and `..`.
    pub fn next_inode(&mut self) -> Option<Result<(OsString, u64), Errno>> {
        self.next_raw()
            .map(|entry| entry.map(|entry| (name_of(&entry), entry.ino())))
    }

    /// The next directory entry other than `.` and `..`.
    fn next_raw(&mut self) -> Option<Result<rustix::fs::DirEntry, Errno>> {
        loop {
            match self.stream.read()? {
                Ok(entry) if matches!(entry.file_name().to_bytes(), b"." | b"..") => {}
                Ok(entry) => return Some(Ok(entry)),
                Err(errno) => return Some(Err(errno.into())),
            }
        }
    }
}

/// Converts bytes to a C string, `None` if they contain a NUL.
pub fn c_string(bytes: &[u8]) -> Option<CString> {
    CString::new(bytes).ok()
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// On a file system that keeps birth times (ext4 here), a new file's is between the
    /// times read before and after creating it, and `fstat` and `fstatat` agree on it and
    /// on the device and inode.
    #[test]
    fn stat_reports_the_birth_time_and_both_calls_agree() {
        use std::os::fd::AsFd;
        let tmp = tempfile::tempdir().unwrap();
        let before = SystemTime::now();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let after = SystemTime::now();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        let file = std::fs::File::open(tmp.path().join("f")).unwrap();
        let by_fd = fstat(file.as_fd()).unwrap();
        let by_name = fstatat_nofollow(dir.as_fd(), c"f").unwrap();
        assert_eq!(by_fd, by_name);
        let std_meta = std::fs::metadata(tmp.path().join("f")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((by_fd.dev, by_fd.ino), (std_meta.dev(), std_meta.ino()));
        match by_fd.birth {
            Some(birth) => {
                // The file system's clock ticks coarser than SystemTime: allow 10 ms.
                let slack = Duration::from_millis(10);
                assert!(
                    birth + slack >= before && birth <= after + slack,
                    "{birth:?}"
                );
            }
            None => assert!(
                std::env::var_os("CI").is_none_or(|ci| ci != "true"),
                "this file system reports no birth time: run the test on ext4, xfs or btrfs"
            ),
        }
    }

    #[test]
    fn device_numbers_decode_like_glibc() {
        // makedev(253, 1) and makedev(259, 65536) in glibc's encoding.
        let small = (253u64 << 8) | 1;
        assert_eq!((device_major(small), device_minor(small)), (253, 1));
        let (ma, mi) = (259u64, 0x12345u64);
        let big = ((ma & 0xfff) << 8) | ((ma & !0xfff) << 32) | (mi & 0xff) | ((mi & !0xff) << 12);
        assert_eq!((device_major(big), device_minor(big)), (259, 0x12345));
    }
}

/// A directory entry's name, owned.
fn name_of(entry: &rustix::fs::DirEntry) -> OsString {
    OsString::from_vec(entry.file_name().to_bytes().to_vec())
}
