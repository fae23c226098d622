//! The only module of spoolq that speaks raw libc.
//!
//! Every system call the project needs beyond `std` is wrapped here exactly once, as a
//! safe function over borrowed descriptors and C strings, with its errno returned as a
//! typed [`Errno`]. Nothing outside this module contains `unsafe`; every other crate of
//! the workspace carries `#![forbid(unsafe_code)]`.
//!
//! The wrappers do no policy: no retries beyond EINTR, no fallbacks except where the
//! kernel may lack a call (`renameat2`), no path handling. The safe types built on
//! them live in `dir.rs` and `lib.rs`.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsString};
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, SystemTime};

/// An `errno` value returned by a failed system call.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    pub const EWOULDBLOCK: Errno = Errno(libc::EWOULDBLOCK);
    pub const ELOOP: Errno = Errno(libc::ELOOP);
    pub const ENOTDIR: Errno = Errno(libc::ENOTDIR);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const ENOSPC: Errno = Errno(libc::ENOSPC);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const EMLINK: Errno = Errno(libc::EMLINK);
    pub const ENAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);
    pub const EXDEV: Errno = Errno(libc::EXDEV);
    pub const EPERM: Errno = Errno(libc::EPERM);

    /// The errno left by the last failed call on this thread.
    fn last() -> Errno {
        Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }

    /// The symbolic name (`"ENOENT"`), for journals and logs.
    pub fn name(self) -> &'static str {
        match self.0 {
            libc::ENOENT => "ENOENT",
            libc::EEXIST => "EEXIST",
            libc::EWOULDBLOCK => "EWOULDBLOCK",
            libc::ELOOP => "ELOOP",
            libc::ENOTDIR => "ENOTDIR",
            libc::EISDIR => "EISDIR",
            libc::EINTR => "EINTR",
            libc::EINVAL => "EINVAL",
            libc::ENOSYS => "ENOSYS",
            libc::ENOSPC => "ENOSPC",
            libc::EDQUOT => "EDQUOT",
            libc::EACCES => "EACCES",
            libc::EPERM => "EPERM",
            libc::EMLINK => "EMLINK",
            libc::ENAMETOOLONG => "ENAMETOOLONG",
            libc::EXDEV => "EXDEV",
            libc::EIO => "EIO",
            libc::EROFS => "EROFS",
            libc::EBADF => "EBADF",
            libc::EMFILE => "EMFILE",
            libc::ENFILE => "ENFILE",
            libc::ENOTEMPTY => "ENOTEMPTY",
            libc::ENXIO => "ENXIO",
            libc::ESRCH => "ESRCH",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            _ => "E?",
        }
    }

    /// The equivalent `std::io::Error`.
    pub fn to_io(self) -> std::io::Error {
        std::io::Error::from_raw_os_error(self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // io::Error's Display appends "(os error N)"; the symbolic name reads better.
        let text = self.to_io().to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        write!(f, "{text} ({})", self.name())
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// Runs a call that returns -1 on error, retrying on EINTR.
fn check(mut call: impl FnMut() -> libc::c_int) -> Result<libc::c_int, Errno> {
    loop {
        let ret = call();
        if ret != -1 {
            return Ok(ret);
        }
        let errno = Errno::last();
        if errno != Errno::EINTR {
            return Err(errno);
        }
    }
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open-like call, so it is a valid
    // descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Opens a directory by path, refusing a symlink in the last component.
pub fn open_dir(path: &CStr) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    check(|| unsafe { libc::open(path.as_ptr(), flags) }).map(owned)
}

/// Opens a directory relative to `dir`, refusing a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `dir` is a live descriptor borrowed for the call; `name` is NUL-terminated.
    check(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(owned)
}

/// Opens a job file for claiming: read-only, non-blocking (a FIFO must not hang the
/// open), never following a symlink, never inherited by a child.
///
/// With `exlock` on macOS and the BSDs the open also takes the exclusive flock
/// (`O_EXLOCK`), failing with EWOULDBLOCK when another descriptor holds it; elsewhere
/// `exlock` is ignored and the caller must call [`flock_exclusive_nonblocking`].
pub fn open_job_at(dir: BorrowedFd<'_>, name: &CStr, exlock: bool) -> Result<OwnedFd, Errno> {
    #[allow(unused_mut)]
    let mut flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    if exlock {
        flags |= libc::O_EXLOCK;
    }
    let _ = exlock;
    // SAFETY: `dir` is a live descriptor borrowed for the call; `name` is NUL-terminated.
    check(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(owned)
}

/// Whether this platform takes the claim lock inside `open` (`O_EXLOCK`).
pub const LOCK_IN_OPEN: bool = cfg!(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
));

/// Creates a new file relative to `dir` for writing (appending if `append`); fails with
/// EEXIST if the name exists.
pub fn create_excl_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    mode: u32,
    append: bool,
) -> Result<OwnedFd, Errno> {
    let mut flags =
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    if append {
        flags |= libc::O_APPEND;
    }
    let mode = mode as libc::c_uint;
    // SAFETY: `dir` is live for the call; `name` is NUL-terminated; the variadic mode
    // argument is passed as the promoted unsigned int that open(2) reads.
    check(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) }).map(owned)
}

/// Opens (creating if needed) a file for appending, relative to `dir`.
pub fn open_append_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<OwnedFd, Errno> {
    let flags =
        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mode = mode as libc::c_uint;
    // SAFETY: as in `create_excl_at`.
    check(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) }).map(owned)
}

/// Opens a regular file read-only relative to `dir` (no lock), refusing symlinks.
pub fn open_read_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `dir` is live for the call; `name` is NUL-terminated.
    check(|| unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(owned)
}

/// `flock(fd, LOCK_EX | LOCK_NB)`.
pub fn flock_exclusive_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: `fd` is a live descriptor borrowed for the call.
    check(|| unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }).map(drop)
}

/// `flock(fd, LOCK_SH | LOCK_NB)`: used by read-only inspection that must not hold the
/// exclusive lock a consumer wants.
pub fn flock_shared_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: `fd` is a live descriptor borrowed for the call.
    check(|| unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) }).map(drop)
}

/// The kind of a file, from `st_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileKind {
    fn from_mode(mode: libc::mode_t) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => FileKind::Regular,
            libc::S_IFDIR => FileKind::Directory,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFSOCK => FileKind::Socket,
            libc::S_IFCHR => FileKind::CharDevice,
            libc::S_IFBLK => FileKind::BlockDevice,
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
    pub dev: u64,
    pub ino: u64,
    pub kind: FileKind,
    /// Permission bits (`st_mode & 0o7777`).
    pub perm: u32,
    pub nlink: u64,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub mtime: SystemTime,
}

impl FileStat {
    fn from_raw(st: &libc::stat) -> FileStat {
        let secs = st.st_mtime;
        let nanos = st.st_mtime_nsec;
        let mtime = if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos.clamp(0, 999_999_999) as u32)
        } else {
            SystemTime::UNIX_EPOCH
        };
        FileStat {
            // The widths of these fields differ per platform; all fit in u64.
            #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
            dev: st.st_dev as u64,
            #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
            ino: st.st_ino as u64,
            kind: FileKind::from_mode(st.st_mode),
            #[allow(clippy::unnecessary_cast)]
            perm: (st.st_mode & 0o7777) as u32,
            #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
            nlink: st.st_nlink as u64,
            size: st.st_size.max(0) as u64,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime,
        }
    }
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> Result<FileStat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fd` is live; `st` points to writable memory of the right size.
    check(|| unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0, so it initialised the whole struct.
    Ok(FileStat::from_raw(unsafe { st.assume_init_ref() }))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> Result<FileStat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `dir` is live; `name` is NUL-terminated; `st` is writable and sized.
    check(|| unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat returned 0, so it initialised the whole struct.
    Ok(FileStat::from_raw(unsafe { st.assume_init_ref() }))
}

/// `unlinkat(dir, name, 0)`.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: `dir` is live; `name` is NUL-terminated.
    check(|| unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `dir` is live; `name` is NUL-terminated.
    check(|| unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })
        .map(drop)
}

/// `fchmod(fd, mode)`.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    // SAFETY: `fd` is live.
    check(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `fchown(fd, uid, gid)`; `None` leaves that id unchanged.
pub fn fchown(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
    let uid = uid.unwrap_or(u32::MAX) as libc::uid_t;
    let gid = gid.unwrap_or(u32::MAX) as libc::gid_t;
    // SAFETY: `fd` is live; -1 (u32::MAX) means "unchanged" to fchown.
    check(|| unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// `renameat`, replacing `to` if it exists. Only for names nobody else publishes.
pub fn renameat(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    // SAFETY: both descriptors are live; both names are NUL-terminated.
    check(|| unsafe {
        libc::renameat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
        )
    })
    .map(drop)
}

/// `linkat(from_dir, from, to_dir, to, 0)`.
pub fn linkat(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    // SAFETY: both descriptors are live; both names are NUL-terminated.
    check(|| unsafe {
        libc::linkat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// Renames without ever replacing an existing `to` (EEXIST instead).
///
/// Linux: `renameat2(RENAME_NOREPLACE)`. macOS: `renameatx_np(RENAME_EXCL)`. Where the
/// kernel or file system lacks the flag (EINVAL, ENOSYS), falls back to `linkat` then
/// `unlinkat`, which is equally exclusive (link fails with EEXIST) and only briefly
/// shows the file under both names.
pub fn renameat_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    match renameat_noreplace_native(from_dir, from, to_dir, to) {
        Err(e) if e == Errno::EINVAL || e == Errno::ENOSYS => {
            linkat(from_dir, from, to_dir, to)?;
            unlinkat(from_dir, from)
        }
        other => other,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn renameat_noreplace_native(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    // SAFETY: both descriptors are live; both names are NUL-terminated.
    check(|| unsafe {
        libc::renameat2(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })
    .map(drop)
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
fn renameat_noreplace_native(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), Errno> {
    // SAFETY: both descriptors are live; both names are NUL-terminated.
    check(|| unsafe {
        libc::renameatx_np(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_EXCL,
        )
    })
    .map(drop)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
fn renameat_noreplace_native(
    _from_dir: BorrowedFd<'_>,
    _from: &CStr,
    _to_dir: BorrowedFd<'_>,
    _to: &CStr,
) -> Result<(), Errno> {
    Err(Errno::ENOSYS)
}

/// A directory stream over a private open file description of a directory, so two
/// listings of the same directory never share a read offset.
pub struct DirStream {
    dirp: std::ptr::NonNull<libc::DIR>,
}

// SAFETY: the DIR stream is owned exclusively by this value and only touched through
// `&mut self`; moving it to another thread is sound.
unsafe impl Send for DirStream {}

impl fmt::Debug for DirStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirStream").finish_non_exhaustive()
    }
}

/// Opens a directory stream on `dir` (through a fresh `openat(dir, ".")`).
pub fn dir_stream(dir: BorrowedFd<'_>) -> Result<DirStream, Errno> {
    let fd = open_dir_at(dir, c".")?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
    // SAFETY: `raw` is a valid directory descriptor whose ownership passes to the DIR
    // stream on success.
    let dirp = unsafe { libc::fdopendir(raw) };
    match std::ptr::NonNull::new(dirp) {
        Some(dirp) => Ok(DirStream { dirp }),
        None => {
            let errno = Errno::last();
            drop(owned(raw));
            Err(errno)
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always safe to call; returns this thread's errno slot.
    unsafe { libc::__errno_location() }
}

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly"
))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always safe to call; returns this thread's errno slot.
    unsafe { libc::__error() }
}

#[cfg(any(target_os = "openbsd", target_os = "netbsd"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always safe to call; returns this thread's errno slot.
    unsafe { libc::__errno() }
}

impl DirStream {
    /// The next name, skipping `.` and `..`; `None` at the end.
    pub fn next_name(&mut self) -> Option<Result<OsString, Errno>> {
        loop {
            // SAFETY: the errno slot is thread-local and writable; readdir reports
            // errors only through errno, so it must be cleared first.
            unsafe { *errno_location() = 0 };
            // SAFETY: `dirp` is a live stream owned by self.
            let entry = unsafe { libc::readdir(self.dirp.as_ptr()) };
            if entry.is_null() {
                // SAFETY: reading this thread's errno slot.
                let errno = unsafe { *errno_location() };
                return if errno == 0 {
                    None
                } else {
                    Some(Err(Errno(errno)))
                };
            }
            // SAFETY: readdir returned a valid entry whose d_name is NUL-terminated and
            // stays valid until the next readdir on this stream; it is copied at once.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            return Some(Ok(OsString::from_vec(bytes.to_vec())));
        }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: `dirp` is live and owned; closedir also closes its descriptor.
        unsafe { libc::closedir(self.dirp.as_ptr()) };
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock shared by every process on the host, so
/// it orders journal events across processes.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists here.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if ret != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The host name, or `"localhost"` if it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its full length, which is passed.
    let ret = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if ret != 0 {
        return "localhost".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The group id of a group name, from the group database.
pub fn group_id(name: &CStr) -> Result<Option<u32>, Errno> {
    let mut grp = std::mem::MaybeUninit::<libc::group>::uninit();
    let mut buf = vec![0u8; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid and writable for the sizes given; the buffer
    // outlives the call and `result` is only read after it.
    let ret = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            grp.as_mut_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if ret != 0 {
        return Err(Errno(ret));
    }
    if result.is_null() {
        return Ok(None);
    }
    // SAFETY: getgrnam_r succeeded and set `result` to `grp`, which it initialised.
    Ok(Some(unsafe { grp.assume_init_ref() }.gr_gid))
}

/// A signal spoolq sends to a handler's process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
}

/// Sends `signal` to every process in process group `pgid`.
pub fn signal_process_group(pgid: u32, signal: Signal) -> Result<(), Errno> {
    let sig = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(Errno::EINVAL);
    };
    if pgid <= 1 {
        // kill(-1) and kill(0) mean "everyone" and "my own group": never intended.
        return Err(Errno::EINVAL);
    }
    // SAFETY: kill has no memory-safety preconditions.
    check(|| unsafe { libc::kill(-pgid, sig) }).map(drop)
}

/// Arranges for a child spawned by `command` to receive SIGKILL when the thread that
/// spawned it dies (Linux `PR_SET_PDEATHSIG`). Elsewhere a no-op: there the daemon
/// relies on killing the handler's process group on drop.
///
/// The death signal follows the spawning *thread*, so spawn from a thread that lives as
/// long as the daemon (an async worker thread, not a short-lived blocking-pool thread).
pub fn kill_child_with_parent(command: &mut std::process::Command) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (prctl, getppid, kill/getpid), allocating nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() as u32 != parent {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = command;
}

/// Converts bytes to a C string, `None` if they contain a NUL.
pub fn c_string(bytes: &[u8]) -> Option<CString> {
    CString::new(bytes).ok()
}

#[cfg(all(target_os = "linux", feature = "async"))]
pub use linked::AsyncLinkedChild;
#[cfg(target_os = "linux")]
pub use linked::{LinkedChild, SpawnError, pipe, spawn_linked};

/// Starting a handler process without copying the daemon (Linux).
///
/// `std::process::Command` forks as soon as a `pre_exec` hook is set, and the daemon
/// needs one for `PR_SET_PDEATHSIG`. Forking copies the daemon's mappings and page
/// tables for a child that throws them away at `execve`: most of the cost of a short
/// handler (docs/performance.md, "Exec handler against xargs"). This does what glibc's
/// `posix_spawn` does instead, `clone(CLONE_VM | CLONE_VFORK)` onto a small private
/// stack, and adds the one step `posix_spawn` cannot: the parent-death signal, set in
/// the child before `execve`. The child gets a pidfd (`CLONE_PIDFD`, Linux 5.2) so the
/// caller can wait for it on its event loop without SIGCHLD.
#[cfg(target_os = "linux")]
mod linked {
    use std::ffi::{CStr, CString};
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::{Errno, check, owned};

    /// Creates a pipe, both ends close-on-exec (atomically: another thread may be
    /// spawning a handler at the same moment): `(read end, write end)`.
    pub fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
        let mut fds = [-1 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        check(|| unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
        Ok((owned(fds[0]), owned(fds[1])))
    }

    /// The child's stack: it only calls a handful of thin libc wrappers before execve.
    const CHILD_STACK: usize = 64 * 1024;
    /// Signals 1..NSIG on Linux.
    const SIGNALS: libc::c_int = 65;

    /// What the child needs, prepared by the parent: the child must not allocate (another
    /// thread of the daemon may hold the allocator's lock) nor touch anything else.
    struct ChildPlan {
        program: *const libc::c_char,
        argv: *const *const libc::c_char,
        envp: *const *const libc::c_char,
        /// Descriptors to become the child's 0, 1 and 2; all above 2.
        stdio: [RawFd; 3],
        parent: libc::pid_t,
        /// Set by the child when a step before execve fails: its errno.
        error: AtomicI32,
    }

    /// Why [`spawn_linked`] started nothing.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SpawnError {
        /// The kernel refused the clone flags (no CLONE_PIDFD, before Linux 5.2).
        Unsupported,
        /// A step failed with this errno (setup, the clone, or in the child up to and
        /// including `execve`).
        Failed(Errno),
    }

    impl From<Errno> for SpawnError {
        fn from(errno: Errno) -> SpawnError {
            SpawnError::Failed(errno)
        }
    }

    /// A handler started by [`spawn_linked`]: its own process group leader, killed by the
    /// kernel when the spawning thread dies, killed and reaped when dropped unwaited.
    #[derive(Debug)]
    pub struct LinkedChild {
        pid: libc::pid_t,
        pidfd: OwnedFd,
        reaped: bool,
    }

    /// Children dropped before they could be reaped: reaped at the next spawn.
    static ORPHANS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

    fn reap_orphans() {
        let mut orphans = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
        orphans.retain(|&pid| {
            let mut status = 0;
            // SAFETY: waitpid writes only to `status`; `pid` is our unreaped child.
            let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            ret == 0
        });
    }

    /// A mapping for the child's stack with a guard page below it, unmapped on drop.
    struct Stack {
        base: *mut libc::c_void,
        len: usize,
    }

    impl Stack {
        fn new() -> Result<Stack, Errno> {
            // SAFETY: sysconf has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
                .ok()
                .filter(|&p| p > 0)
                .unwrap_or(4096);
            let len = CHILD_STACK + page;
            // SAFETY: an anonymous private mapping at an address of the kernel's choice;
            // no existing memory is affected.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(Errno::last());
            }
            let stack = Stack { base, len };
            // SAFETY: the first page of the mapping just created, owned by `stack`.
            if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
                return Err(Errno::last());
            }
            Ok(stack)
        }

        /// The initial stack pointer: the top of the mapping (stacks grow down on every
        /// architecture Linux runs this on), 16-byte aligned since mmap is page-aligned.
        fn top(&self) -> *mut libc::c_void {
            // SAFETY: one past the end of the mapping, the conventional stack top.
            unsafe { self.base.cast::<u8>().add(self.len).cast() }
        }
    }

    impl Drop for Stack {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, no longer used: the vfork child has
            // exec'd or exited by the time clone returns in the parent.
            unsafe { libc::munmap(self.base, self.len) };
        }
    }

    /// Returns `fd` if it is above 2, else a close-on-exec duplicate that is: the child
    /// dup2s its three descriptors onto 0, 1 and 2 in order, which must not clobber a
    /// source still to be moved.
    fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
        if fd.as_raw_fd() > 2 {
            return Ok(fd);
        }
        // SAFETY: fcntl on a descriptor we own; the result is a new descriptor we own.
        check(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) }).map(owned)
    }

    /// The child side of the clone: runs on its own stack in the daemon's memory while
    /// the spawning thread is suspended. Only async-signal-safe calls, no allocation,
    /// no panics; every failure ends in `_exit(127)` with the errno left in the plan.
    extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `ChildPlan` the parent keeps alive until clone returns,
        // which with CLONE_VFORK is after this child has exec'd or exited.
        let plan = unsafe { &*arg.cast::<ChildPlan>() };
        let fail = || -> libc::c_int {
            // SAFETY: errno is a plain int in the (suspended) spawning thread's TLS;
            // _exit ends the child without running anything of the daemon's.
            unsafe {
                let errno = *super::errno_location();
                plan.error.store(
                    if errno == 0 { libc::EIO } else { errno },
                    Ordering::Relaxed,
                );
                libc::_exit(127)
            }
        };
        // SAFETY: each call is an async-signal-safe system call wrapper on values
        // prepared by the parent; the child owns a copy of the signal handler table
        // (no CLONE_SIGHAND), so changing dispositions here does not touch the daemon's.
        unsafe {
            // Every signal is blocked (the parent blocked them around clone). Put the
            // daemon's handlers back to default before unblocking, so none of them can
            // run in this child on borrowed memory; SIGPIPE to default as std does
            // (Rust ignores it in the daemon; execve would keep it ignored).
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            for signal in 1..SIGNALS {
                if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                    continue;
                }
                let mut current: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
                    continue;
                }
                let handled =
                    current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN;
                if handled || signal == libc::SIGPIPE {
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
                return fail();
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return fail();
            }
            // The spawning thread cannot die while suspended in vfork, but the process
            // can be killed as a whole: then nobody waits for this handler.
            if libc::getppid() != plan.parent {
                libc::_exit(127);
            }
            if libc::setpgid(0, 0) != 0 {
                return fail();
            }
            for (target, &fd) in (0..).zip(plan.stdio.iter()) {
                if libc::dup2(fd, target) < 0 {
                    return fail();
                }
            }
            libc::execve(plan.program, plan.argv, plan.envp);
            fail()
        }
    }

    /// Starts `program` (a path; no PATH search) with `argv` and the full environment
    /// `envp`, its stdin, stdout and stderr the given descriptors (closed here in the
    /// parent once the child has them), in a new process group of its own, with
    /// SIGKILL as its parent-death signal. The spawning thread is its parent: spawn
    /// from a thread that lives as long as the handler should.
    ///
    /// Fails with the errno of the step that failed, `execve`'s included (ENOENT,
    /// EACCES, ...), after reaping the failed child; with [`SpawnError::Unsupported`]
    /// when the clone itself is refused with EINVAL or ENOSYS (a kernel without
    /// CLONE_PIDFD): the caller should then use `std::process::Command`. Only here is
    /// it known which step failed: an EINVAL from `execve` is not a kernel's verdict.
    pub fn spawn_linked(
        program: &CStr,
        argv: &[CString],
        envp: &[&CStr],
        stdio: [OwnedFd; 3],
    ) -> Result<LinkedChild, SpawnError> {
        reap_orphans();
        let [stdin, stdout, stderr] = stdio;
        let stdio = [
            above_stdio(stdin)?,
            above_stdio(stdout)?,
            above_stdio(stderr)?,
        ];
        let argv: Vec<*const libc::c_char> = argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp: Vec<*const libc::c_char> = envp
            .iter()
            .map(|e| e.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let plan = ChildPlan {
            program: program.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            stdio: [
                stdio[0].as_raw_fd(),
                stdio[1].as_raw_fd(),
                stdio[2].as_raw_fd(),
            ],
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
            error: AtomicI32::new(0),
        };
        let stack = Stack::new()?;
        let mut pidfd: libc::c_int = -1;
        // SAFETY: sigset_t is plain data that sigfillset and pthread_sigmask initialise.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both sets are valid for writes; blocking signals on this thread only.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        }
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
        // SAFETY: the child runs `child_main` on `stack`, which stays mapped until after
        // clone returns; CLONE_VFORK suspends this thread until the child has exec'd or
        // exited, so `plan`, `argv`, `envp`, the C strings they point to and `stdio`
        // outlive every use the child makes of them. CLONE_PIDFD stores the pidfd in
        // `pidfd` (the parent_tid argument).
        let pid = unsafe {
            libc::clone(
                child_main,
                stack.top(),
                flags,
                std::ptr::from_ref(&plan).cast_mut().cast(),
                &mut pidfd as *mut libc::c_int,
            )
        };
        let clone_error = Errno::last();
        // SAFETY: restoring this thread's signal mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
        drop(stack);
        drop(stdio);
        if pid < 0 {
            return Err(
                if clone_error == Errno::EINVAL || clone_error == Errno::ENOSYS {
                    SpawnError::Unsupported
                } else {
                    SpawnError::Failed(clone_error)
                },
            );
        }
        let child = LinkedChild {
            pid,
            pidfd: owned(pidfd),
            reaped: false,
        };
        match plan.error.load(Ordering::Relaxed) {
            0 => Ok(child),
            error => {
                let mut child = child;
                // The child has already exited (vfork returned without an exec).
                let _ = child.wait_blocking();
                Err(SpawnError::Failed(Errno(error)))
            }
        }
    }

    impl LinkedChild {
        /// The process id, which is also its process group id.
        pub fn id(&self) -> u32 {
            self.pid.unsigned_abs()
        }

        /// The raw wait status if the child has exited (reaping it), `None` if it
        /// still runs. Wait for readability of [`AsFd`] (the pidfd) before calling.
        pub fn try_wait(&mut self) -> Result<Option<i32>, Errno> {
            self.wait_with(libc::WNOHANG)
        }

        fn wait_blocking(&mut self) -> Result<Option<i32>, Errno> {
            self.wait_with(0)
        }

        fn wait_with(&mut self, options: libc::c_int) -> Result<Option<i32>, Errno> {
            if self.reaped {
                return Err(Errno(libc::ECHILD));
            }
            let mut status = 0;
            // SAFETY: waitpid writes only to `status`; `pid` is our unreaped child, so
            // the id cannot have been reused.
            let ret = check(|| unsafe { libc::waitpid(self.pid, &mut status, options) })?;
            if ret == 0 {
                return Ok(None);
            }
            self.reaped = true;
            Ok(Some(status))
        }
    }

    impl AsFd for LinkedChild {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.pidfd.as_fd()
        }
    }

    impl AsRawFd for LinkedChild {
        fn as_raw_fd(&self) -> RawFd {
            self.pidfd.as_raw_fd()
        }
    }

    /// A [`LinkedChild`] waited on by a tokio event loop (its pidfd turns readable when
    /// it exits).
    #[cfg(feature = "async")]
    #[derive(Debug)]
    pub struct AsyncLinkedChild(tokio::io::unix::AsyncFd<LinkedChild>);

    #[cfg(feature = "async")]
    impl AsyncLinkedChild {
        /// Registers `child` with the current tokio runtime (call from within one).
        pub fn new(child: LinkedChild) -> std::io::Result<AsyncLinkedChild> {
            // SAFETY: the descriptor is the child's pidfd, an OwnedFd the child holds
            // until it is dropped, and `as_raw_fd` always returns that same descriptor.
            let registered = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(
                    child,
                    tokio::io::Interest::READABLE,
                )
            };
            registered
                .map(AsyncLinkedChild)
                .map_err(std::io::Error::from)
        }

        /// The process id, which is also its process group id.
        pub fn id(&self) -> u32 {
            self.0.get_ref().id()
        }

        /// Waits for the child to exit and reaps it: its raw wait status. Cancel-safe.
        pub async fn wait(&mut self) -> std::io::Result<i32> {
            loop {
                let mut ready = self.0.readable_mut().await?;
                match ready.get_inner_mut().try_wait() {
                    Ok(Some(status)) => return Ok(status),
                    Ok(None) => ready.clear_ready(),
                    Err(e) => return Err(e.to_io()),
                }
            }
        }
    }

    impl Drop for LinkedChild {
        fn drop(&mut self) {
            if self.reaped {
                return;
            }
            // SAFETY: `pid` is our unreaped child, so the signal cannot reach another.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            if !matches!(self.try_wait(), Ok(Some(_))) {
                ORPHANS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(self.pid);
            }
        }
    }
}
