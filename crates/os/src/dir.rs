//! A directory held open by descriptor, and the `*at` operations on names inside it.
//!
//! Every path operation of spoolq goes through a [`Dir`]: names are resolved relative to
//! the held descriptor, never re-resolved from a path string, and never through a
//! symlink. Swapping a spool folder for a symlink after the daemon opened it therefore
//! cannot redirect the daemon; [`Dir::still_at`] detects the swap.
#![forbid(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::Errno;
use crate::error::{Error, Op};
use crate::fs::{self, FileStat};

/// A directory opened with `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// `name` as a C string for the kernel; [`Error::InvalidName`] if it holds a NUL byte.
pub fn c_name(name: &OsStr) -> Result<CString, Error> {
    fs::c_string(name.as_bytes()).ok_or_else(|| Error::InvalidName {
        name: name.to_owned(),
    })
}

impl Dir {
    /// Opens the directory at `path`; a symlink as its last component is refused (ELOOP
    /// or ENOTDIR).
    pub fn open(path: &Path) -> Result<Dir, Error> {
        let c_path = c_name(path.as_os_str())?;
        let fd = fs::open_dir(&c_path).map_err(|errno| Error::sys(Op::OpenDir, path, errno))?;
        Ok(Dir {
            fd,
            path: path.to_owned(),
        })
    }

    /// Opens a subdirectory by name, refusing a symlink.
    pub fn open_subdir(&self, name: &OsStr) -> Result<Dir, Error> {
        let c = c_name(name)?;
        let path = self.path.join(name);
        let fd = fs::open_dir_at(self.fd.as_fd(), &c)
            .map_err(|errno| Error::sys(Op::OpenDir, &path, errno))?;
        Ok(Dir { fd, path })
    }

    /// Creates a subdirectory with `mode` (before umask); Ok(false) if it already exists.
    pub fn create_subdir(&self, name: &OsStr, mode: u32) -> Result<bool, Error> {
        let c = c_name(name)?;
        match fs::mkdirat(self.fd.as_fd(), &c, mode) {
            Ok(()) => Ok(true),
            Err(Errno::EEXIST) => Ok(false),
            Err(errno) => Err(Error::sys(Op::Mkdir, &self.path.join(name), errno)),
        }
    }

    /// The path this directory was opened at (for messages; never used to resolve).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside this directory, for messages.
    pub fn display_path(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// `fstat` of the directory itself.
    pub fn stat(&self) -> Result<FileStat, Error> {
        fs::fstat(self.fd.as_fd()).map_err(|errno| Error::sys(Op::Fstat, &self.path, errno))
    }

    /// `fstat` of the directory itself, answered by the file system rather than a
    /// client's attribute cache ([`fs::fstat_fresh`]).
    pub fn stat_fresh(&self) -> Result<FileStat, Error> {
        fs::fstat_fresh(self.fd.as_fd()).map_err(|errno| Error::sys(Op::Fstat, &self.path, errno))
    }

    /// The file system this directory is on ([`crate::filesystem::file_system`]).
    pub fn file_system(&self) -> Result<crate::FileSystem, Error> {
        crate::filesystem::file_system(self.fd.as_fd())
            .map_err(|errno| Error::sys(Op::Statfs, &self.path, errno))
    }

    /// The bytes an unprivileged writer may still use on this directory's file system.
    pub fn available_bytes(&self) -> Result<u64, Error> {
        fs::available_bytes(self.fd.as_fd())
            .map_err(|errno| Error::sys(Op::Fstat, &self.path, errno))
    }

    /// The mount this directory is on (see [`fs::MountId`]).
    pub fn mount(&self) -> Result<fs::MountId, Error> {
        fs::mount_of(self.fd.as_fd()).map_err(|errno| Error::sys(Op::Fstat, &self.path, errno))
    }

    /// `fstatat(name, AT_SYMLINK_NOFOLLOW)`.
    pub fn stat_at(&self, name: &OsStr) -> Result<FileStat, Error> {
        let c = c_name(name)?;
        fs::fstatat_nofollow(self.fd.as_fd(), &c)
            .map_err(|errno| Error::sys(Op::Fstatat, &self.path.join(name), errno))
    }

    /// Whether `parent/name` still names this very directory (same device and inode, and
    /// not a symlink). False means the folder was moved away or replaced.
    pub fn still_at(&self, parent: &Dir, name: &OsStr) -> Result<bool, Error> {
        let mine = self.stat()?;
        match parent.stat_at(name) {
            Ok(there) => Ok(there.dev == mine.dev && there.ino == mine.ino),
            Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `unlinkat(name)`.
    pub fn unlink(&self, name: &OsStr) -> Result<(), Error> {
        let c = c_name(name)?;
        fs::unlinkat(self.fd.as_fd(), &c)
            .map_err(|errno| Error::sys(Op::Unlink, &self.path.join(name), errno))
    }

    /// Renames `name` to `to/to_name`, never replacing an existing name (EEXIST).
    pub fn rename_noreplace(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> Result<(), Error> {
        let from = c_name(name)?;
        let dest = c_name(to_name)?;
        fs::renameat_noreplace(self.fd.as_fd(), &from, to.fd.as_fd(), &dest)
            .map_err(|errno| Error::sys(Op::Rename, &to.path.join(to_name), errno))
    }

    /// Renames `name` to `to/to_name`, replacing it. Only for private names (a reason
    /// file written beside its job, a temp file into a private folder).
    pub fn rename_replace(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> Result<(), Error> {
        let from = c_name(name)?;
        let dest = c_name(to_name)?;
        fs::renameat(self.fd.as_fd(), &from, to.fd.as_fd(), &dest)
            .map_err(|errno| Error::sys(Op::Rename, &to.path.join(to_name), errno))
    }

    /// Creates `name` exclusively (O_CREAT | O_EXCL | O_NOFOLLOW) for writing.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> Result<File, Error> {
        let c = c_name(name)?;
        fs::create_excl_at(self.fd.as_fd(), &c, mode, false)
            .map(File::from)
            .map_err(|errno| Error::sys(Op::Create, &self.path.join(name), errno))
    }

    /// Creates `name` exclusively for appending (O_APPEND: every write lands at the end,
    /// whoever else appends).
    pub fn create_new_append(&self, name: &OsStr, mode: u32) -> Result<File, Error> {
        let c = c_name(name)?;
        fs::create_excl_at(self.fd.as_fd(), &c, mode, true)
            .map(File::from)
            .map_err(|errno| Error::sys(Op::Create, &self.path.join(name), errno))
    }

    /// Opens `name` for appending, creating it if needed (never through a symlink, and
    /// failing at once with ENXIO on a FIFO).
    pub fn open_append(&self, name: &OsStr, mode: u32) -> Result<File, Error> {
        let c = c_name(name)?;
        fs::open_append_at(self.fd.as_fd(), &c, mode)
            .map(File::from)
            .map_err(|errno| Error::sys(Op::Create, &self.path.join(name), errno))
    }

    /// Opens `name` read-only without locking it (never through a symlink).
    pub fn open_read(&self, name: &OsStr) -> Result<File, Error> {
        let c = c_name(name)?;
        fs::open_read_at(self.fd.as_fd(), &c)
            .map(File::from)
            .map_err(|errno| Error::sys(Op::Open, &self.path.join(name), errno))
    }

    /// Whether another open file description holds an exclusive lock on `name` right now:
    /// opens it read-only (never through a symlink, never blocking on a FIFO) and tries
    /// `flock(LOCK_SH | LOCK_NB)` on that fresh descriptor, which is closed on return.
    ///
    /// For read-only inspection (`spoolq status`) where the kernel offers no lock table
    /// (macOS, the BSDs). The probe is not invisible: while the shared lock is held (a
    /// few microseconds) a consumer's `LOCK_EX | LOCK_NB` on the same file fails, so that
    /// consumer skips the job for an instant and finds it again on its next scan. It never
    /// takes, moves or loses the job. On Linux prefer reading `/proc/locks`, which takes no
    /// lock at all.
    ///
    /// Errors: the open failing (ENOENT if the name is gone, ELOOP for a symlink, EACCES)
    /// or the lock failing with anything but EWOULDBLOCK.
    pub fn probe_locked(&self, name: &OsStr) -> Result<bool, Error> {
        let c = c_name(name)?;
        let path = || self.path.join(name);
        let fd = fs::open_read_at(self.fd.as_fd(), &c)
            .map_err(|errno| Error::sys(Op::Open, &path(), errno))?;
        match fs::flock_shared_nonblocking(fd.as_fd()) {
            Ok(()) => Ok(false),
            Err(Errno::EWOULDBLOCK) => Ok(true),
            Err(errno) => Err(Error::sys(Op::Lock, &path(), errno)),
        }
        // `fd` is closed here, releasing the shared lock if it was taken.
    }

    /// Changes the permission bits of the directory itself.
    pub fn set_mode(&self, mode: u32) -> Result<(), Error> {
        fs::fchmod(self.fd.as_fd(), mode).map_err(|errno| Error::sys(Op::Chmod, &self.path, errno))
    }

    /// Changes the group of the directory itself.
    pub fn set_group(&self, gid: u32) -> Result<(), Error> {
        fs::fchown_group(self.fd.as_fd(), gid)
            .map_err(|errno| Error::sys(Op::Chown, &self.path, errno))
    }

    /// `fsync` of the directory, making renames into it durable.
    pub fn sync(&self) -> Result<(), Error> {
        fs::fsync(self.fd.as_fd()).map_err(|errno| Error::sys(Op::Fsync, &self.path, errno))
    }

    /// Lists the names in this directory (without `.` and `..`), streaming: memory does
    /// not grow with the directory.
    pub fn entries(&self) -> Result<Entries<'_>, Error> {
        let stream = fs::dir_stream(self.fd.as_fd())
            .map_err(|errno| Error::sys(Op::ReadDir, &self.path, errno))?;
        Ok(Entries { dir: self, stream })
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// An iterator over the names in a [`Dir`].
#[derive(Debug)]
pub struct Entries<'a> {
    dir: &'a Dir,
    stream: fs::DirStream,
}

impl Iterator for Entries<'_> {
    type Item = Result<OsString, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.stream
            .next_name()
            .map(|r| r.map_err(|errno| Error::sys(Op::ReadDir, &self.dir.path, errno)))
    }
}
