//! spoolq's shared vocabulary: the spool's layout, the job file format, the names that
//! carry attempt counts and due times, the atomic drop of a new job, and the journal.
//!
//! Boundaries: this crate defines formats and does single, self-contained file
//! operations. It never claims jobs (that is `spoolq-claim`) and never runs handlers or
//! decides policy (that is the daemon).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codes;
pub mod failed;
pub mod job;
pub mod journal;
pub mod layout;
pub mod names;
pub mod pause;
pub mod status;

pub use codes::{
    DeadCause, DoneResult, Errno, QuarantineCause, ReleaseCause, RequeueCause, UnknownWord, Word,
};
pub use failed::{FailedEntry, FailedName, FoundIn, Reason, ReasonCode};
pub use job::{FORMAT_VERSION, HeaderError, Job, JobHeader, JobId, ParseJobIdError};
pub use journal::{
    Aside, BatchError, Entry, Event, EventKind, JournalError, JournalWriter, Merged, Problem,
    ProblemKind, Record, UnknownEntry, UnknownRecord, WriterOptions,
};
pub use layout::{
    CreateOptions, DropError, Dropped, Durability, InitError, InitReport, LayoutError, Spool,
};
pub use names::{ReadyName, RetryName};
pub use pause::{PAUSE_MARKER, Pause, Paused};
