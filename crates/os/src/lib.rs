//! The operating-system layer of spoolq: safe, typed wrappers over the system calls the
//! other crates make beyond `std`, on rustix wherever rustix provides the call.
//!
//! # What is here
//!
//! - [`Dir`]: a directory held open by descriptor, and every `*at` operation spoolq
//!   makes on the names in it (open, create, stat, unlink, no-replace rename, lock
//!   probe, listing). No path is ever resolved again from a string.
//! - [`fs`]: the same calls one level down, on borrowed descriptors and C strings, for
//!   the claim protocol and for raw floor loops that must not pay for any abstraction.
//! - [`process`]: signals to process groups, pipes.
//! - [`filesystem`]: which file system a folder lives on, and whether spoolq's
//!   one-host assumptions are known to hold there.
//! - [`host`]: the host name, the boot id, the group database, the monotonic clock.
//! - [`spawn`]: starting handler processes tied to the daemon (parent-death signal,
//!   vfork-style spawn on Linux).
//! - [`Errno`] with the symbolic name of every errno Linux and macOS define, and
//!   [`Error`], a failed operation with its path.
//!
//! # Boundaries
//!
//! This crate knows system calls, descriptors and errnos; it knows nothing of jobs,
//! claims, journals or spools, and makes no policy: no retries beyond EINTR, no
//! fallbacks except where a kernel or file system may lack a call (the no-replace
//! rename, CLONE_PIDFD), no logging. The claim protocol built on it is `spoolq-claim`.
//!
//! All unsafe code of spoolq is in [`spawn`], where no maintained crate offers the
//! calls safely; every other module, and every other crate, forbids it.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod dir;
mod errno;
mod error;
pub mod filesystem;
pub mod fs;
pub mod host;
pub mod process;
pub mod spawn;

pub use dir::{Dir, Entries, c_name};
pub use errno::{Errno, describe_io};
pub use error::{Error, Op};
pub use filesystem::{FileSystem, Sharing};
pub use fs::{FileKind, FileStat, MountId};
pub use host::{BootIdError, HostnameError, boot_id, hostname, monotonic_ns};
