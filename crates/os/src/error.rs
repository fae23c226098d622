//! The error of a file-system operation: which operation failed, on which path, with
//! which errno.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::Errno;

/// The operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Opening a directory (`open`/`openat` with `O_DIRECTORY`).
    OpenDir,
    /// Opening a file (`openat`).
    Open,
    /// Taking a lock (`flock`).
    Lock,
    /// `fstat` of a descriptor.
    Fstat,
    /// `fstatat` of a name.
    Fstatat,
    /// `unlinkat`.
    Unlink,
    /// A rename, with or without replacing; the path is the target.
    Rename,
    /// Creating a file (`openat` with `O_CREAT`).
    Create,
    /// `mkdirat`.
    Mkdir,
    /// `fchmod`.
    Chmod,
    /// `fchown`.
    Chown,
    /// `fsync`.
    Fsync,
    /// Listing a directory.
    ReadDir,
    /// Reading a file's bytes.
    Read,
    /// `fstatfs` of a folder: which file system it is on.
    Statfs,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::OpenDir => "opening directory",
            Op::Open => "opening",
            Op::Lock => "locking",
            Op::Fstat => "fstat of",
            Op::Fstatat => "fstatat of",
            Op::Unlink => "unlinking",
            Op::Rename => "renaming to",
            Op::Create => "creating",
            Op::Mkdir => "creating directory",
            Op::Chmod => "changing mode of",
            Op::Chown => "changing owner of",
            Op::Fsync => "fsync of",
            Op::ReadDir => "listing",
            Op::Read => "reading",
            Op::Statfs => "statfs of",
        })
    }
}

/// An I/O failure of a directory operation, or of the claim protocol built on them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{op} {}: {errno}", path.display())]
    Sys {
        /// The operation.
        op: Op,
        /// The path it was made on, for the message.
        path: PathBuf,
        /// What the kernel answered.
        errno: Errno,
    },
    /// A std I/O call failed (reads, fsync).
    #[error("{op} {}: {}", path.display(), crate::errno::describe_io(source))]
    Io {
        /// The operation.
        op: Op,
        /// The path it was made on, for the message.
        path: PathBuf,
        /// The std error, which may carry an errno.
        #[source]
        source: std::io::Error,
    },
    /// A name that cannot be passed to the kernel (it contains a NUL byte).
    #[error("invalid file name {name:?}: it contains a NUL byte")]
    InvalidName {
        /// The name as given.
        name: OsString,
    },
}

impl Error {
    /// A failed system call on `path`.
    pub fn sys(op: Op, path: &Path, errno: Errno) -> Error {
        Error::Sys {
            op,
            path: path.to_owned(),
            errno,
        }
    }

    /// A failed std I/O call on `path`.
    pub fn io(op: Op, path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// The errno behind this error, if it came from a system call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            Error::Io { source, .. } => Errno::from_io(source),
            Error::InvalidName { .. } => None,
        }
    }

    /// True for ENOENT: the name was not there.
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(Errno::ENOENT)
    }

    /// True for ENOENT or ESTALE: the file is gone. A network or FUSE client answers
    /// ESTALE for a file its server deleted (through another client) while this one still
    /// had its name or a descriptor for it.
    pub fn is_gone(&self) -> bool {
        matches!(self.errno(), Some(e) if e == Errno::ENOENT || e == Errno::ESTALE)
    }

    /// True for EEXIST: the target name is taken.
    pub fn is_already_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST)
    }

    /// True for EROFS: the file system is mounted read-only.
    pub fn is_read_only(&self) -> bool {
        self.errno() == Some(Errno::EROFS)
    }

    /// True for ENOSPC or EDQUOT: out of space.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self.errno(), Some(e) if e == Errno::ENOSPC || e == Errno::EDQUOT)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        let kind = match e.errno() {
            Some(errno) => errno.to_io().kind(),
            None => std::io::ErrorKind::InvalidInput,
        };
        std::io::Error::new(kind, e)
    }
}
