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
