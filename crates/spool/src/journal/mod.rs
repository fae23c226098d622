//! The journal: one JSON-lines event log per process, and a reader that merges many.
//!
//! Each record carries the process (host, boot, pid), a wall-clock time and a
//! CLOCK_MONOTONIC time, and one [`Event`] with exactly its fields (`event.rs`); `wire.rs`
//! is the line format. Within one boot of one host the monotonic clock is shared by every
//! process, so sorting by it orders their events the way a kernel tracer would; it
//! restarts at boot and differs between hosts, which is why records name their boot (the
//! auditor orders events of different boots or hosts by other evidence, see
//! docs/audit.md). A writer assigns both times under its lock, so each file is in
//! monotonic order and the reader can merge files without sorting them whole.
//!
//! Writing is one `write(2)` per record, or per batch of records up to
//! [`MAX_WRITE_BYTES`], on an O_APPEND file: every line lands whole or, after a crash or
//! a full file system, as at most one torn line, which the reader skips and reports.
//! Lines from a newer writer are kept aside whole ([`UnknownRecord`]), never dropped.

mod encode;
mod event;
mod fields;
mod name;
pub mod retention;
mod set;
mod wire;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use spoolq_claim::Dir;

use fields::{Text, Wire};

pub use event::{
    ClaimStep, Claimed, Dead, Done, Event, EventKind, Paused, Produced, Pruned, Quarantined,
    Record, Released, Requeued, Resumed, Retry, RetryResult, Start, Stop, Stuck, file_identity,
};
pub use name::{JournalName, Role, Writer};
pub use set::{JournalCopy, JournalSet};
pub use wire::{Line, UnknownRecord, WhyUnknown, parse_line};

/// The journal format version this build writes.
pub const JOURNAL_VERSION: u32 = 1;
/// Journal files end with this.
pub const JOURNAL_SUFFIX: &str = ".jsonl";
/// The most bytes one `write(2)` of [`JournalWriter::write_batch`] carries: a longer
/// batch is split between records (a single longer record still goes whole, alone).
/// Well under what local file systems write in one go, so a batch is never cut short by
/// anything but a full file system or a crash.
pub const MAX_WRITE_BYTES: usize = 64 * 1024;

/// Why a journal write failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Writing (or fsyncing) a journal file failed.
    #[error("writing journal {}: {source}", path.display())]
    Write {
        /// The journal file.
        path: PathBuf,
        /// The write's error.
        source: std::io::Error,
    },
    /// Creating a journal file failed.
    #[error(transparent)]
    Open(#[from] spoolq_claim::Error),
    /// The host has no name a journal file can be named after.
    #[error("naming the journal: {0}")]
    Host(#[from] spoolq_os::HostnameError),
}

impl JournalError {
    /// True when the file system is full.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            JournalError::Write { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
                    || source.kind() == std::io::ErrorKind::QuotaExceeded
            }
            JournalError::Open(e) => e.is_out_of_space(),
            JournalError::Host(_) => false,
        }
    }

    /// True when the file system is mounted read-only.
    pub fn is_read_only(&self) -> bool {
        match self {
            JournalError::Write { source, .. } => {
                source.kind() == std::io::ErrorKind::ReadOnlyFilesystem
            }
            JournalError::Open(e) => e.is_read_only(),
            JournalError::Host(_) => false,
        }
    }
}

/// A batch of records that was not (entirely) written: the records before the failure
/// are in the journal, the rest are not.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({} of {} records written)", written.len(), written.len() + unwritten.len())]
pub struct BatchError {
    /// The records written, stamped, in order: they are in the journal.
    pub written: Vec<Record>,
    /// The records not written, in order, to be written again or given up. The first may
    /// have left a fragment of its line, which the next write cuts off with a newline.
    pub unwritten: Vec<Record>,
    /// The error that stopped the batch.
    #[source]
    pub error: JournalError,
}

/// Options of a journal writer.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// fsync after every record (survives power loss; slow).
    pub fsync: bool,
    /// Start a new file once the current one reaches this many bytes.
    pub rotate_bytes: Option<u64>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            fsync: false,
            rotate_bytes: Some(64 * 1024 * 1024),
        }
    }
}

struct Current {
    /// Open for appending, with a shared flock held for as long as this writer may write
    /// it: retention never removes a file whose lock it cannot take.
    file: File,
    path: PathBuf,
    /// Its size: what this writer wrote, plus, for a shared journal, what it held when
    /// opened.
    written: u64,
    name: JournalName,
    /// The last write failed (a full file system, say) and may have left part of a line:
    /// the next record starts with a newline, so it is not glued to that fragment.
    torn: bool,
    /// The bytes of the write being prepared (kept between writes: no allocation per
    /// record).
    buf: Vec<u8>,
    /// Where each record's line ends in `buf` (after its newline).
    ends: Vec<usize>,
    wall: WallClock,
    /// The wall-clock stamp of the write being prepared.
    wall_text: String,
    /// The JSON text of the stamps of the write being prepared (`mono_ns` to `boot`).
    stamps: Vec<u8>,
    /// A file removed by hand while it was written was replaced by this one: the removed
    /// file's path and this one's, until [`JournalWriter::take_reopened`] takes them.
    reopened: Option<(PathBuf, PathBuf)>,
}

/// Wall-clock stamps, RFC 3339 UTC with microseconds exactly as
/// `humantime::format_rfc3339_micros` writes them, with the date and time of day
/// formatted once per second (a busy journal takes thousands of records a second).
#[derive(Debug, Default)]
struct WallClock {
    /// The second `prefix` is for, since the epoch.
    secs: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS` of that second.
    prefix: String,
}

impl WallClock {
    #[cfg(test)]
    fn format(&mut self, now: SystemTime) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 8);
        self.format_into(now, &mut out);
        out
    }

    /// [`format`](Self::format) into `out` (cleared first), reusing its allocation.
    fn format_into(&mut self, now: SystemTime, out: &mut String) {
        out.clear();
        let Ok(since) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            // (humantime's own verdict on a time before the epoch)
            out.push_str(&humantime::format_rfc3339_micros(now).to_string());
            return;
        };
        let secs = since.as_secs();
        if self.secs != Some(secs) {
            let mut text = humantime::format_rfc3339_seconds(now).to_string();
            text.pop(); // the Z
            self.prefix = text;
            self.secs = Some(secs);
        }
        out.push_str(&self.prefix);
        out.push('.');
        let mut digits = [b'0'; 6];
        let mut micros = since.subsec_micros();
        for d in digits.iter_mut().rev() {
            *d = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out.extend(digits.iter().map(|&d| char::from(d)));
        out.push('Z');
    }
}

/// A wall-clock stamp as nanoseconds since the Unix epoch: the writer's own format
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) read directly, anything else through humantime's
/// RFC 3339 reader. `None` for text that is not a time, or one outside `i64`
/// nanoseconds (years 1677 to 2262).
pub fn parse_wall(text: &str) -> Option<i64> {
    parse_wall_micros(text.as_bytes()).or_else(|| {
        let t = humantime::parse_rfc3339_weak(text).ok()?;
        match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).ok(),
            Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
        }
    })
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as [`WallClock`] writes it, without allocating.
fn parse_wall_micros(b: &[u8]) -> Option<i64> {
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range].iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let micros = num(20..26)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    // Days since the epoch of a proleptic Gregorian date (Howard Hinnant's
    // days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    secs.checked_mul(1_000_000_000)?.checked_add(micros * 1_000)
}

/// An appending journal writer for one process; shareable between threads.
pub struct JournalWriter {
    dir: Arc<Dir>,
    host: String,
    /// Read once: every record of the process carries it.
    boot: Option<String>,
    pid: u32,
    options: WriterOptions,
    current: Mutex<Current>,
    /// Set when `current.reopened` was set, so that callers check it without the lock.
    reopened: AtomicBool,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("name", &self.lock().name)
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Creates a new journal file in `dir` for this process, named by [`JournalName`]:
    /// `<role>-<host>-<pid>-<start ms>-<sequence>.jsonl`.
    pub fn create(
        dir: Arc<Dir>,
        role: Role,
        options: WriterOptions,
    ) -> Result<JournalWriter, JournalError> {
        let host = spoolq_os::hostname()?;
        // Without a boot id the records read as those of journals that predate it (one
        // boot per host); that is no reason to refuse to journal.
        let boot = spoolq_os::boot_id().ok();
        let pid = std::process::id();
        let start_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let current = open_file(&dir, JournalName::new(role, &host, pid, start_ms))?;
        Ok(JournalWriter {
            dir,
            host,
            boot,
            pid,
            options,
            current: Mutex::new(current),
            reopened: AtomicBool::new(false),
        })
    }

    /// If the file being written was removed (by hand) and the writer went on in a new
    /// one since the last call: the removed file's path and the new one's.
    pub fn take_reopened(&self) -> Option<(PathBuf, PathBuf)> {
        if !self.reopened.swap(false, Ordering::Relaxed) {
            return None;
        }
        self.lock().reopened.take()
    }

    /// The name of the file being written, and how many bytes it holds so far.
    pub fn position(&self) -> (OsString, u64) {
        let current = self.lock();
        (current.name.to_os_string(), current.written)
    }

    /// Opens the journal that every one-shot process of `role` on this host appends to
    /// during this boot (`<role>-<host>-shared-<boot>-<sequence>.jsonl`), creating it if
    /// needed: one file for any number of short-lived processes, instead of one each.
    /// Each record is one `write(2)` on an `O_APPEND` descriptor, so records of
    /// processes appending at once never interleave within a line; the file is in
    /// monotonic order per process, not across them.
    ///
    /// Falls back to a file of this process's own ([`JournalWriter::create`]) when the
    /// system has no boot id, or when the shared file cannot be used safely: not a regular
    /// file, hard-linked, or not writable by this user. A new shared file gets mode 0660
    /// when journal/ is group-writable (producers of one group share it), else 0640.
    pub fn open_shared(
        dir: Arc<Dir>,
        role: Role,
        options: WriterOptions,
    ) -> Result<JournalWriter, JournalError> {
        let host = spoolq_os::hostname()?;
        let boot = spoolq_os::boot_id().ok();
        let first = boot
            .as_deref()
            .and_then(|boot| JournalName::shared(role, &host, boot));
        let Some(first) = first else {
            return JournalWriter::create(dir, role, options);
        };
        match open_shared_file(&dir, first, options.rotate_bytes)? {
            Some(current) => Ok(JournalWriter {
                dir,
                host,
                boot,
                pid: std::process::id(),
                options,
                current: Mutex::new(current),
                reopened: AtomicBool::new(false),
            }),
            None => JournalWriter::create(dir, role, options),
        }
    }

    /// The file currently written.
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// The host name every record is stamped with.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The process id every record is stamped with.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The boot id every record carries, if the system has one.
    pub fn boot(&self) -> Option<&str> {
        self.boot.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        // A panic while holding the lock cannot leave the file half-written (each write
        // is whole lines, prepared before it), so a poisoned lock is still usable.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one record, stamping process and times. Returns once the line is written
    /// to the kernel (and fsynced, if configured).
    pub fn write(&self, record: Record) -> Result<Record, JournalError> {
        match self.write_batch(vec![record]) {
            Ok(mut written) => Ok(written.pop().expect("one record in, one record out")),
            Err(e) => Err(e.error),
        }
    }

    /// Appends several records, in order, each stamped as [`write`](Self::write) stamps
    /// one, in one `write(2)` per [`MAX_WRITE_BYTES`] of lines (and one fsync per write,
    /// if configured). Rotation happens between records exactly where one `write` per
    /// record would have rotated. Returns the stamped records once all are written to
    /// the kernel.
    ///
    /// On failure the records whose line reached the file are reported as written and
    /// the rest as unwritten; nothing after a failed write is attempted. A line whose
    /// final newline did not make it counts as written: the reader takes it whole, and
    /// the next write supplies the newline (so a batch, or a single `write`, that lost
    /// only its final newline succeeds).
    pub fn write_batch(&self, records: Vec<Record>) -> Result<Vec<Record>, BatchError> {
        self.write_lines(records, Stamp::Records)
    }

    /// [`write_batch`](Self::write_batch), with the stamps (host, boot, pid, times) in
    /// the lines only: the records come back as they were given. For a caller that keeps
    /// no record (the daemon), this spares allocating each record's stamp.
    pub fn append_batch(&self, records: Vec<Record>) -> Result<Vec<Record>, BatchError> {
        self.write_lines(records, Stamp::LinesOnly)
    }

    fn write_lines(
        &self,
        mut records: Vec<Record>,
        stamp: Stamp,
    ) -> Result<Vec<Record>, BatchError> {
        let mut current = self.lock();
        let current = &mut *current;
        let mut done = 0;
        while done < records.len() {
            if let Some(limit) = self.options.rotate_bytes
                && current.written >= limit
            {
                let next = if current.name.is_shared() {
                    open_shared_file(&self.dir, current.name.next(), Some(limit)).and_then(|next| {
                        next.ok_or_else(|| JournalError::Write {
                            path: self.dir.display_path(&current.name.next().to_os_string()),
                            source: std::io::Error::other(
                                "the next file of the shared journal is not a regular \
                                     file of one link this process may write",
                            ),
                        })
                    })
                } else {
                    open_file(&self.dir, current.name.next())
                };
                match next {
                    Ok(mut next) => {
                        next.buf = std::mem::take(&mut current.buf);
                        next.ends = std::mem::take(&mut current.ends);
                        next.wall = std::mem::take(&mut current.wall);
                        next.wall_text = std::mem::take(&mut current.wall_text);
                        *current = next;
                    }
                    Err(error) => return Err(split(records, done, error)),
                }
            }
            let end = self.fill(current, &mut records, done, stamp);
            let (landed, failed) = write_fully(&current.file, &current.buf);
            let failed = match failed {
                None if self.options.fsync => current.file.sync_data().err(),
                other => other,
            };
            current.written += landed as u64;
            if let Some(source) = failed {
                current.torn = true;
                // When everything landed, the fsync failed: the records count as unwritten,
                // since they may not survive a power loss.
                if landed < current.buf.len() {
                    // Records whose whole JSON text landed are in the journal (the reader
                    // takes a last line without its newline, and with `torn` set the next
                    // write starts with that newline).
                    done += current.ends.iter().filter(|&&e| e - 1 <= landed).count();
                    if done == records.len() {
                        // Only the last newline is missing: every record is written.
                        return Ok(records);
                    }
                }
                let error = JournalError::Write {
                    path: current.path.clone(),
                    source,
                };
                return Err(split(records, done, error));
            }
            current.torn = false;
            if removed(&current.file) {
                self.replace_removed(current);
            }
            done = end;
        }
        if current.buf.capacity() > 4 * MAX_WRITE_BYTES {
            current.buf = Vec::with_capacity(MAX_WRITE_BYTES);
        }
        Ok(records)
    }

    /// The file being written was removed (its last link is gone, say by a person's `rm`):
    /// goes on in a new file, named as a rotation names it (for a shared journal, the next
    /// file of the shared sequence, which other writers may have made already), and writes the lines just
    /// written into the removed one there again, so that no record is left only in a file
    /// nobody can read. The lines written before the removal went with the file. If the
    /// new file cannot be made, writing goes on in the removed one and the next write
    /// tries again.
    fn replace_removed(&self, current: &mut Current) {
        let next = if current.name.is_shared() {
            open_shared_file(&self.dir, current.name.next(), self.options.rotate_bytes)
                .ok()
                .flatten()
        } else {
            open_file(&self.dir, current.name.next()).ok()
        };
        let Some(mut next) = next else {
            return;
        };
        let lines = current.buf.strip_prefix(b"\n").unwrap_or(&current.buf);
        let (landed, failed) = write_fully(&next.file, lines);
        next.written += landed as u64;
        next.torn = failed.is_some();
        next.buf = std::mem::take(&mut current.buf);
        next.ends = std::mem::take(&mut current.ends);
        next.wall = std::mem::take(&mut current.wall);
        next.wall_text = std::mem::take(&mut current.wall_text);
        if self.options.fsync && !next.torn {
            next.torn = next.file.sync_data().is_err();
        }
        next.reopened = Some((current.path.clone(), next.path.clone()));
        *current = next;
        self.reopened.store(true, Ordering::Relaxed);
    }

    /// Stamps and serializes `records[first..]` into `current.buf`, up to one write's
    /// worth: at most [`MAX_WRITE_BYTES`] (unless the first line alone is longer), and no
    /// record past the one that reaches the rotation size. Returns the end of the records
    /// taken. The caller holds the lock, so stamps are in file order.
    fn fill(
        &self,
        current: &mut Current,
        records: &mut [Record],
        first: usize,
        stamp: Stamp,
    ) -> usize {
        current.buf.clear();
        current.ends.clear();
        if current.torn {
            // A blank line is skipped by readers; a fragment before it stays one
            // malformed line instead of swallowing the next record.
            current.buf.push(b'\n');
        }
        // One reading of both clocks stamps every line of this write: the lines reach
        // the file together, in the one write(2) below. Both clocks are read under the
        // lock, so each file is in monotonic order. The stamps are encoded once, too.
        let mono_ns = spoolq_os::monotonic_ns();
        current
            .wall
            .format_into(SystemTime::now(), &mut current.wall_text);
        current.stamps.clear();
        Wire {
            mono_ns,
            wall: Text::borrowed(&current.wall_text),
            host: Text::borrowed(&self.host),
            pid: self.pid,
            boot: self.boot.as_deref().map(Text::borrowed),
            ..Wire::default()
        }
        .write_stamps(&mut current.stamps);
        let mut end = first;
        while let Some(record) = records.get_mut(end) {
            let before = current.buf.len();
            if stamp == Stamp::Records {
                record.host.clone_from(&self.host);
                record.boot.clone_from(&self.boot);
                record.pid = self.pid;
                record.mono_ns = mono_ns;
                record.wall.clone_from(&current.wall_text);
            }
            record
                .to_wire()
                .write_json_stamped(&mut current.buf, &current.stamps);
            current.buf.push(b'\n');
            if current.buf.len() > MAX_WRITE_BYTES && end > first {
                // The next write takes it (stamped again then, so times stay in order).
                current.buf.truncate(before);
                break;
            }
            current.ends.push(current.buf.len());
            end += 1;
            if self
                .options
                .rotate_bytes
                .is_some_and(|limit| current.written + current.buf.len() as u64 >= limit)
            {
                break;
            }
        }
        end
    }
}

/// Where a write puts the writer's stamps (host, boot, pid, times).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// Into each record and its line.
    Records,
    /// Into the lines only.
    LinesOnly,
}

/// Writes all of `bytes` (one `write(2)` unless the kernel takes less); returns how many
/// bytes landed and the error that stopped it, if any.
fn write_fully(mut file: &File, bytes: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut landed = 0;
    while landed < bytes.len() {
        match file.write(&bytes[landed..]) {
            Ok(0) => return (landed, Some(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => landed += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (landed, Some(e)),
        }
    }
    (landed, None)
}

/// Whether `file` has no name left: its last link was removed while it was open.
fn removed(file: &File) -> bool {
    use std::os::fd::AsFd;
    spoolq_os::fs::fstat(file.as_fd()).is_ok_and(|stat| stat.nlink == 0)
}

/// A batch failed after `done` records were written.
fn split(mut records: Vec<Record>, done: usize, error: JournalError) -> BatchError {
    let unwritten = records.split_off(done);
    BatchError {
        written: records,
        unwritten,
        error,
    }
}

/// Creates one process's journal file (it must not exist) and takes its shared lock.
fn open_file(dir: &Dir, name: JournalName) -> Result<Current, JournalError> {
    let file_name = name.to_os_string();
    loop {
        let file = dir.create_new_append(&file_name, 0o640)?;
        // Retention may have removed the file between its creation and the lock (it
        // cannot tell a file not yet locked from one no longer written): then it is made
        // again under the same name.
        if lock_live(dir, &file_name, &file)? {
            return Ok(current(dir, name, file, 0));
        }
    }
}

/// The file of the shared journal `name`, or of a later sequence when that one reached
/// `limit`, created if needed, with its shared lock taken; `None` when a file at one of
/// those names cannot be used safely (see [`JournalWriter::open_shared`]).
fn open_shared_file(
    dir: &Dir,
    mut name: JournalName,
    limit: Option<u64>,
) -> Result<Option<Current>, JournalError> {
    let group_writable = dir.stat().map_err(JournalError::Open)?.perm & 0o020 != 0;
    let mode = if group_writable { 0o660 } else { 0o640 };
    // Each turn either moves to the next sequence or found a file removed meanwhile by
    // retention; many turns mean something is wrong with journal/.
    for _ in 0..10_000 {
        let file_name = name.to_os_string();
        let file = match dir.create_new_append(&file_name, mode) {
            Ok(file) => {
                // Exactly this mode, whatever the umask: the group's producers append too.
                let _ = spoolq_os::fs::fchmod(std::os::fd::AsFd::as_fd(&file), mode);
                file
            }
            Err(e) if e.is_already_exists() => match dir.open_append(&file_name, mode) {
                Ok(file) => file,
                Err(e) if e.is_not_found() => continue,
                Err(e) if e.errno().is_some_and(unusable) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        let stat = spoolq_os::fs::fstat(std::os::fd::AsFd::as_fd(&file)).map_err(|errno| {
            spoolq_os::Error::sys(spoolq_os::Op::Fstat, &dir.display_path(&file_name), errno)
        })?;
        if stat.kind != spoolq_os::FileKind::Regular || stat.nlink != 1 {
            return Ok(None);
        }
        if !lock_live(dir, &file_name, &file)? {
            continue;
        }
        let size = spoolq_os::fs::fstat(std::os::fd::AsFd::as_fd(&file))
            .map(|stat| stat.size)
            .unwrap_or(stat.size);
        if limit.is_some_and(|limit| size >= limit) {
            name = name.next();
            continue;
        }
        return Ok(Some(current(dir, name, file, size)));
    }
    Ok(None)
}

/// Errors that make a shared journal's file unusable for this process (it journals in
/// a file of its own instead): no permission, a link, a FIFO or a socket at the name.
fn unusable(errno: spoolq_os::Errno) -> bool {
    use spoolq_os::Errno;
    [
        Errno::EACCES,
        Errno::EPERM,
        Errno::ELOOP,
        Errno::ENXIO,
        Errno::EISDIR,
    ]
    .contains(&errno)
}

/// Takes the shared lock a writer holds on its file, then checks that the name still
/// names that file: false when retention removed it meanwhile (the caller opens again).
fn lock_live(dir: &Dir, name: &OsStr, file: &File) -> Result<bool, JournalError> {
    use std::os::fd::AsFd;
    let path = || dir.display_path(name);
    spoolq_os::fs::flock_shared(file.as_fd())
        .map_err(|errno| spoolq_os::Error::sys(spoolq_os::Op::Lock, &path(), errno))?;
    let mine = spoolq_os::fs::fstat(file.as_fd())
        .map_err(|errno| spoolq_os::Error::sys(spoolq_os::Op::Fstat, &path(), errno))?;
    match dir.stat_at(name) {
        Ok(there) => Ok(there.dev == mine.dev && there.ino == mine.ino),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn current(dir: &Dir, name: JournalName, file: File, written: u64) -> Current {
    Current {
        path: dir.display_path(&name.to_os_string()),
        file,
        written,
        name,
        torn: false,
        buf: Vec::new(),
        ends: Vec::new(),
        wall: WallClock::default(),
        wall_text: String::new(),
        stamps: Vec::new(),
        reopened: None,
    }
}

/// A problem found while reading journals. Never fatal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The journal file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub kind: ProblemKind,
}

/// What was wrong with a journal line, or a journal file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum ProblemKind {
    /// The last line of a file has no newline and does not parse: a crash mid-write.
    Torn,
    /// A line that is not a valid record.
    Malformed(String),
    /// A file that could not be read at all.
    Unreadable(String),
    /// A line longer than [`MAX_LINE_BYTES`] (no writer makes one): skipped to the next
    /// newline without being held in memory.
    LineTooLong {
        /// The line's length.
        bytes: u64,
    },
    /// A symbolic link: not followed (journal/ is writable by producers, and a link may
    /// point anywhere, `/dev/zero` included).
    Symlink,
    /// Not a regular file (a FIFO, a device, a directory): not opened for reading.
    NotRegular(String),
    /// A file named as the same writer's journal as another (host, boot, pid, start,
    /// sequence) whose content is not a copy of it: not read (it would count that
    /// writer's records twice).
    ConflictingCopy {
        /// The file read for that writer.
        same_writer_as: PathBuf,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.kind {
            ProblemKind::Torn => "torn last line (a crash mid-write), skipped".to_owned(),
            ProblemKind::Malformed(e) => format!("malformed line, skipped: {e}"),
            ProblemKind::Unreadable(e) => format!("cannot read the file: {e}"),
            ProblemKind::LineTooLong { bytes } => format!(
                "a line of {bytes} bytes, longer than any journal record ({} KiB at most), \
                 skipped",
                MAX_LINE_BYTES / 1024
            ),
            ProblemKind::Symlink => "a symbolic link, not followed: not read".to_owned(),
            ProblemKind::NotRegular(kind) => format!("not a regular file (a {kind}): not read"),
            ProblemKind::ConflictingCopy { same_writer_as } => format!(
                "names the same writer (host, boot, pid, start, sequence) as {} but is not a \
                 copy of it: not read; audit the two apart",
                same_writer_as.display()
            ),
        };
        write!(f, "{}:{}: {what}", self.file.display(), self.line)
    }
}

/// A record with where it came from.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The record.
    pub record: Record,
    /// The journal file it was read from.
    pub file: Arc<Path>,
    /// Its 1-based line number there.
    pub line: u64,
}

/// A record this build does not understand, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UnknownEntry {
    /// The journal file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// The line, kept whole.
    pub record: UnknownRecord,
}

impl std::fmt::Display for UnknownEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: a record from a newer writer, kept unread ({}): {}",
            self.file.display(),
            self.line,
            self.record.why,
            self.record.raw
        )
    }
}

/// What reading journals set aside besides the records it understood: problems (damaged
/// lines, unreadable files) and records from newer writers. Nothing read is dropped
/// unseen: the first [`KEPT_ASIDE`] of each are kept whole, and all are counted (a
/// hostile file of a million bad lines must not become a million problems in memory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aside {
    /// The first problems met, at most [`KEPT_ASIDE`].
    pub problems: Vec<Problem>,
    /// How many problems were met in all.
    pub problem_count: u64,
    /// The first records from newer writers met, at most [`KEPT_ASIDE`].
    pub unknown: Vec<UnknownEntry>,
    /// How many records from newer writers were met in all.
    pub unknown_count: u64,
}

/// How many problems, and how many records from newer writers, a reading keeps whole.
pub const KEPT_ASIDE: usize = 1000;

impl Aside {
    /// Counts a problem, keeping it if fewer than [`KEPT_ASIDE`] are kept.
    pub fn add_problem(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < KEPT_ASIDE {
            self.problems.push(problem);
        }
    }

    /// Counts a record from a newer writer, keeping it if fewer than [`KEPT_ASIDE`] are
    /// kept.
    pub fn add_unknown(&mut self, unknown: UnknownEntry) {
        self.unknown_count += 1;
        if self.unknown.len() < KEPT_ASIDE {
            self.unknown.push(unknown);
        }
    }

    /// Sets `item` aside if it is a problem or a record from a newer writer; gives a
    /// record back.
    pub fn take(&mut self, item: FileItem) -> Option<Entry> {
        match item {
            FileItem::Record(entry) => return Some(entry),
            FileItem::Unknown(unknown) => self.add_unknown(unknown),
            FileItem::Problem(problem) => self.add_problem(problem),
        }
        None
    }
}

/// One item of a journal file.
#[derive(Clone, Debug)]
pub enum FileItem {
    /// A record this build understands.
    Record(Entry),
    /// A record from a newer writer, kept whole.
    Unknown(UnknownEntry),
    /// A damaged line, or a file that could not be read on.
    Problem(Problem),
}

/// Lists the journal files under `paths`: files as given, folders by their
/// `*.jsonl` names (whatever the kind of file; [`FileRecords::open`] refuses what is not
/// a regular file), sorted by name.
pub fn journal_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension() == Some(OsStr::new("jsonl"))
                        && p.file_name().is_some_and(|n| !crate::names::is_hidden(n))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// The longest line a reader takes: far above any record a writer makes (a record's
/// longest fields are a file name and an error message), far below what would strain
/// memory. A longer line is a [`ProblemKind::LineTooLong`], skipped without being held.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The items of one journal file, in file order.
pub struct FileRecords {
    path: Arc<Path>,
    reader: Option<Box<dyn BufRead + Send>>,
    line: u64,
    buf: Vec<u8>,
    /// The file's size when it was opened.
    len: u64,
}

impl std::fmt::Debug for FileRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRecords")
            .field("path", &self.path)
            .field("line", &self.line)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Opens a journal file for reading without trusting what its name points at: never
/// through a symbolic link, never waiting (a FIFO opens at once, and is then refused),
/// and only a regular file is kept.
fn open_regular(path: &Path) -> Result<(File, u64), ProblemKind> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| ProblemKind::Unreadable("the path contains a NUL byte".to_owned()))?;
    let fd = match spoolq_os::fs::open_read(&c_path, false) {
        Ok(fd) => fd,
        Err(errno) if errno == spoolq_os::Errno::ELOOP || errno == spoolq_os::Errno::EMLINK => {
            // ELOOP (EMLINK on FreeBSD) is O_NOFOLLOW meeting a link, unless the path
            // itself is unresolvable; tell the two apart.
            return Err(match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => ProblemKind::Symlink,
                _ => ProblemKind::Unreadable(std::io::Error::from(errno).to_string()),
            });
        }
        Err(errno) => {
            return Err(ProblemKind::Unreadable(
                std::io::Error::from(errno).to_string(),
            ));
        }
    };
    let stat = spoolq_os::fs::fstat(std::os::fd::AsFd::as_fd(&fd))
        .map_err(|errno| ProblemKind::Unreadable(std::io::Error::from(errno).to_string()))?;
    if stat.kind != spoolq_os::FileKind::Regular {
        return Err(ProblemKind::NotRegular(stat.kind.describe().to_owned()));
    }
    Ok((File::from(fd), stat.size))
}

impl FileRecords {
    /// Opens a journal file (never following a symlink, never blocking, regular files
    /// only).
    pub fn open(path: &Path) -> Result<FileRecords, Problem> {
        let (file, len) = open_regular(path).map_err(|kind| Problem {
            file: path.to_owned(),
            line: 0,
            kind,
        })?;
        Ok(FileRecords::from_reader(
            path,
            BufReader::with_capacity(256 * 1024, file),
            len,
        ))
    }

    /// The items of journal lines read from `reader` (of `len` bytes), reported as those
    /// of `path`: the file reader's whole judgement of a stream of bytes, and the
    /// `journal_file` fuzz target's entry point.
    pub fn from_reader(
        path: &Path,
        reader: impl BufRead + Send + 'static,
        len: u64,
    ) -> FileRecords {
        FileRecords {
            path: Arc::from(path),
            reader: Some(Box::new(reader)),
            line: 0,
            buf: Vec::with_capacity(512),
            len,
        }
    }

    /// The file's size when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the file was empty when opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file it reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `path` to read only its last `window` bytes, from the first line that
    /// starts in them; line numbers stay those of the whole file (the lines before are
    /// skipped, not parsed).
    pub fn open_tail(path: &Path, window: u64) -> Result<FileRecords, Problem> {
        let mut records = FileRecords::open(path)?;
        let unreadable = |e: std::io::Error, line| Problem {
            file: path.to_owned(),
            line,
            kind: ProblemKind::Unreadable(e.to_string()),
        };
        let len = records.len;
        let Some(reader) = records.reader.as_mut() else {
            return Ok(records);
        };
        let before = len.saturating_sub(window);
        let mut skipped = 0;
        while skipped < before {
            match reader.skip_until(b'\n') {
                Ok(0) => break,
                Ok(n) => {
                    skipped += n as u64;
                    records.line += 1;
                }
                Err(e) => return Err(unreadable(e, records.line)),
            }
        }
        Ok(records)
    }

    /// The next record, record from a newer writer, or problem with a line; `None` at
    /// the end of the file.
    pub fn next_item(&mut self) -> Option<FileItem> {
        loop {
            let reader = self.reader.as_mut()?;
            self.buf.clear();
            match read_line_bounded(reader, &mut self.buf) {
                Ok(LineRead::End) => {
                    self.reader = None;
                    return None;
                }
                Ok(LineRead::TooLong { bytes }) => {
                    self.line += 1;
                    return Some(FileItem::Problem(Problem {
                        file: self.path.to_path_buf(),
                        line: self.line,
                        kind: ProblemKind::LineTooLong { bytes },
                    }));
                }
                Ok(LineRead::Line) => {
                    self.line += 1;
                    let complete = self.buf.last() == Some(&b'\n');
                    let text = if complete {
                        &self.buf[..self.buf.len() - 1]
                    } else {
                        &self.buf[..]
                    };
                    return Some(match parse_line(text, complete) {
                        Ok(None) => continue,
                        Ok(Some(Line::Record(record))) => FileItem::Record(Entry {
                            record,
                            file: self.path.clone(),
                            line: self.line,
                        }),
                        Ok(Some(Line::Unknown(record))) => FileItem::Unknown(UnknownEntry {
                            file: self.path.to_path_buf(),
                            line: self.line,
                            record,
                        }),
                        Err(kind) => FileItem::Problem(Problem {
                            file: self.path.to_path_buf(),
                            line: self.line,
                            kind,
                        }),
                    });
                }
                Err(e) => {
                    self.reader = None;
                    return Some(FileItem::Problem(Problem {
                        file: self.path.to_path_buf(),
                        line: self.line,
                        kind: ProblemKind::Unreadable(e.to_string()),
                    }));
                }
            }
        }
    }
}

impl Iterator for FileRecords {
    type Item = FileItem;
    fn next(&mut self) -> Option<FileItem> {
        self.next_item()
    }
}

/// What [`read_line_bounded`] read.
enum LineRead {
    /// A line (with its newline, unless the file ended first) is in the buffer.
    Line,
    /// A line longer than [`MAX_LINE_BYTES`] was consumed, not kept; it had `bytes`.
    TooLong { bytes: u64 },
    /// The end of the file.
    End,
}

/// Reads one line into `buf` (empty on entry), holding at most [`MAX_LINE_BYTES`] of it:
/// a longer line is consumed up to its newline and only counted.
fn read_line_bounded<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<LineRead> {
    // Bytes of a line too long to keep, once it is known to be one.
    let mut skipped: Option<u64> = None;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match skipped {
                Some(bytes) => LineRead::TooLong { bytes },
                None if buf.is_empty() => LineRead::End,
                None => LineRead::Line,
            });
        }
        let (take, complete) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        match &mut skipped {
            Some(bytes) => *bytes += take as u64,
            None if buf.len() + take > MAX_LINE_BYTES + 1 => {
                skipped = Some((buf.len() + take) as u64);
                buf.clear();
            }
            None => buf.extend_from_slice(&available[..take]),
        }
        reader.consume(take);
        if complete {
            return Ok(match skipped {
                Some(bytes) => LineRead::TooLong { bytes },
                None => LineRead::Line,
            });
        }
    }
}

/// Merges many journal files by monotonic time, streaming: memory holds one pending
/// record per file. Each file is expected in monotonic order (as the writer makes it).
/// Problems and records from newer writers are set aside as they are met. The order is
/// meaningful within one boot of one host only; the auditor reads a [`JournalSet`] file
/// by file instead and orders across boots and hosts by other evidence.
#[derive(Debug)]
pub struct Merged {
    sources: Vec<FileRecords>,
    heap: BinaryHeap<Reverse<(u64, usize, u64)>>,
    pending: Vec<Option<Entry>>,
    aside: Aside,
}

impl Merged {
    /// Opens every file; unreadable ones become problems.
    pub fn open(files: &[PathBuf]) -> Merged {
        let mut merged = Merged {
            sources: Vec::new(),
            heap: BinaryHeap::new(),
            pending: Vec::new(),
            aside: Aside::default(),
        };
        for path in files {
            match FileRecords::open(path) {
                Ok(source) => {
                    merged.sources.push(source);
                    merged.pending.push(None);
                    let index = merged.sources.len() - 1;
                    merged.refill(index);
                }
                Err(problem) => merged.aside.add_problem(problem),
            }
        }
        merged
    }

    fn refill(&mut self, index: usize) {
        while let Some(item) = self.sources[index].next_item() {
            if let Some(entry) = self.aside.take(item) {
                self.heap
                    .push(Reverse((entry.record.mono_ns, index, entry.line)));
                self.pending[index] = Some(entry);
                return;
            }
        }
    }

    /// What was set aside so far (complete once the iterator is exhausted).
    pub fn aside(&self) -> &Aside {
        &self.aside
    }

    /// What was set aside, once the merge is done with.
    pub fn into_aside(self) -> Aside {
        self.aside
    }
}

impl Iterator for Merged {
    type Item = Entry;
    fn next(&mut self) -> Option<Entry> {
        let Reverse((_, index, _)) = self.heap.pop()?;
        let entry = self.pending[index].take();
        self.refill(index);
        entry
    }
}

/// Reads every record under `paths` (files or folders), ordered by monotonic time
/// (stable for equal times), with what was set aside.
pub fn read_all(paths: &[PathBuf]) -> std::io::Result<(Vec<Entry>, Aside)> {
    let files = journal_files(paths)?;
    let mut merged = Merged::open(&files);
    let mut entries: Vec<Entry> = merged.by_ref().collect();
    // Files written by hand or by other tools may be out of order within themselves.
    entries.sort_by_key(|e| e.record.mono_ns);
    Ok((entries, merged.into_aside()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn wall_stamps_are_humantimes_within_a_second_and_across_seconds() {
        let mut clock = WallClock::default();
        let times = [
            at(0, 0),
            at(1_795_740_997, 0),
            at(1_795_740_997, 999),
            at(1_795_740_997, 1_000),
            at(1_795_740_997, 123_456_789),
            at(1_795_740_997, 999_999_999),
            at(1_795_740_998, 5_000),
            // Back in time (the wall clock may be set back): not the cached second.
            at(1_795_740_996, 7_000),
            at(951_782_399, 999_999_000),     // 2000-02-29T23:59:59
            at(253_402_300_799, 999_999_999), // the last second humantime formats
        ];
        for t in times {
            assert_eq!(
                clock.format(t),
                humantime::format_rfc3339_micros(t).to_string(),
                "{t:?}"
            );
        }
        assert_eq!(
            clock.format(at(1_795_740_997, 123_456_789)),
            "2026-11-27T00:56:37.123456Z"
        );
    }

    #[test]
    fn wall_stamps_read_back_as_nanoseconds() {
        assert_eq!(parse_wall("1970-01-01T00:00:00.000000Z"), Some(0));
        assert_eq!(
            parse_wall("2026-11-27T00:56:37.123456Z"),
            Some(1_795_740_997_123_456_000)
        );
        // Other RFC 3339 forms go through humantime.
        assert_eq!(
            parse_wall("2026-11-27T00:56:37Z"),
            Some(1_795_740_997_000_000_000)
        );
        for bad in ["", "x", "2026-13-27T00:56:37.123456Z", "27/11/2026"] {
            assert_eq!(parse_wall(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn written_wall_stamps_read_back(secs in 0u64..9_223_372_036, micros in 0u32..1_000_000) {
            let t = at(secs, micros * 1_000);
            let text = WallClock::default().format(t);
            let want = i64::try_from(secs * 1_000_000_000 + u64::from(micros) * 1_000).unwrap();
            prop_assert_eq!(parse_wall(&text), Some(want));
        }

        #[test]
        fn wall_stamps_agree_with_humantime(
            secs in 0u64..253_402_300_800,
            steps in proptest::collection::vec((0u64..3, 0u32..1_000_000_000), 1..8),
        ) {
            let mut clock = WallClock::default();
            for (ahead, nanos) in steps {
                let t = at(secs + ahead, nanos);
                if secs + ahead >= 253_402_300_800 {
                    continue;
                }
                prop_assert_eq!(clock.format(t), humantime::format_rfc3339_micros(t).to_string());
            }
        }
    }
}
