//! Journal retention: removing old journal files by age and by total size, without ever
//! removing a file a live process still writes, and without making the audit wrong.
//!
//! A writer holds a shared flock on every journal file it may still write (see
//! `JournalWriter`). [`prune`] takes a file only when it gets the exclusive lock
//! (`LOCK_EX | LOCK_NB`): a file whose lock it cannot take is alive, and stays, however
//! old. It looks only at files named as journals are ([`JournalName`]): anything else in
//! journal/ is left alone.
//!
//! Removing journals must not make a job look lost: a job produced in a file that
//! remains and completed in a file that was removed would. So before it removes anything,
//! [`prune`] journals a `pruned` record whose horizon is the latest instant any record of
//! the files it removes was written (each file's modification time, or its last record's
//! stamp if later), and removes a file only if it is unchanged since (same size and
//! modification time). Nothing removed was written after the horizon, and the latest
//! `pruned` record always survives the files it describes (it is newer than all of them:
//! a later pruning that removes it writes a later horizon). The auditor judges lost jobs
//! only among those produced after the horizon (see docs/audit.md).

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use spoolq_os::{Dir, Errno, FileKind};

use super::{FileItem, FileRecords, JournalError, JournalName, JournalWriter, Pruned, Record};
use crate::names::printable;

/// How much of the journals to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Remove files not written for longer than this; `None`: no limit by age.
    pub max_age: Option<Duration>,
    /// Remove the oldest files while all journal files together are larger than this;
    /// `None`: no limit by size.
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// 30 days: a month of evidence to audit, on any spool.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
    /// 1 GiB: several million records, small beside any spool's disk.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            max_age: Some(Retention::DEFAULT_MAX_AGE),
            max_bytes: Some(Retention::DEFAULT_MAX_BYTES),
        }
    }
}

/// A journal file removed (or, in a dry run, that would be).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PrunedFile {
    /// Its name in journal/.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// When it was last written (RFC 3339).
    pub last_write: String,
    /// Why: `age` or `size`.
    pub why: &'static str,
}

/// What a pruning did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Nothing was removed: `removed` lists what would have been.
    pub dry_run: bool,
    /// Files removed.
    pub removed: Vec<PrunedFile>,
    /// Journal files over a limit but still written by a live process: kept.
    pub kept_live: u64,
    /// Files selected but changed (or gone) between the choice and the removal: kept.
    pub kept_changed: u64,
    /// Journal files and their bytes before.
    pub files_before: u64,
    /// See `files_before`.
    pub bytes_before: u64,
    /// Journal files and their bytes after.
    pub files_after: u64,
    /// See `files_after`.
    pub bytes_after: u64,
    /// The horizon journaled (RFC 3339): nothing removed was written after it.
    pub horizon: Option<String>,
}

/// Why a pruning could not run.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// journal/ could not be listed.
    #[error(transparent)]
    List(#[from] spoolq_os::Error),
    /// The `pruned` record could not be written: nothing was removed.
    #[error("journaling the pruning: {0}; nothing was removed")]
    Journal(#[from] JournalError),
}

/// A journal file as listed.
struct Listed {
    name: OsString,
    size: u64,
    mtime: SystemTime,
}

/// Removes the journal files of `dir` that `retention` says to, oldest first, as of
/// `now`, journaling the horizon in `journal` before removing anything (see the module
/// documentation). With `dry_run`, reports what it would remove and changes nothing.
pub fn prune(
    dir: &Dir,
    retention: &Retention,
    now: SystemTime,
    journal: &JournalWriter,
    dry_run: bool,
) -> Result<PruneReport, PruneError> {
    let mut listed = Vec::new();
    for name in dir.entries()? {
        let name = name?;
        if JournalName::parse(&name).is_none() {
            continue;
        }
        match dir.stat_at(&name) {
            Ok(stat) if stat.kind == FileKind::Regular => listed.push(Listed {
                name,
                size: stat.size,
                mtime: stat.mtime,
            }),
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    listed.sort_by(|a, b| (a.mtime, &a.name).cmp(&(b.mtime, &b.name)));
    let mut report = PruneReport {
        dry_run,
        files_before: listed.len() as u64,
        bytes_before: listed.iter().map(|f| f.size).sum(),
        ..PruneReport::default()
    };
    let mut remaining = report.bytes_before;
    let mut chosen: Vec<(&Listed, &'static str)> = Vec::new();
    for file in &listed {
        let old = retention
            .max_age
            .is_some_and(|max| now.duration_since(file.mtime).is_ok_and(|age| age > max));
        let over = retention.max_bytes.is_some_and(|max| remaining > max);
        let why = match (old, over) {
            (true, _) => "age",
            (false, true) => "size",
            (false, false) => continue,
        };
        match alive(dir, file) {
            Ok(false) => {
                remaining -= file.size;
                chosen.push((file, why));
            }
            Ok(true) => report.kept_live += 1,
            Err(_) => report.kept_changed += 1,
        }
    }
    if chosen.is_empty() {
        report.files_after = report.files_before;
        report.bytes_after = report.bytes_before;
        return Ok(report);
    }
    let horizon = chosen
        .iter()
        .map(|(file, _)| last_written_ns(dir, file))
        .max()
        .unwrap_or(0);
    report.horizon = Some(rfc3339_ns(horizon));
    if !dry_run {
        let bytes: u64 = chosen.iter().map(|(file, _)| file.size).sum();
        journal.write(Record::new(Pruned {
            horizon_ns: horizon,
            detail: format!("files={} bytes={bytes}", chosen.len()),
        }))?;
    }
    for (file, why) in chosen {
        if dry_run || remove_unchanged(dir, file) {
            report.removed.push(PrunedFile {
                name: printable(&file.name),
                bytes: file.size,
                last_write: humantime::format_rfc3339_millis(file.mtime).to_string(),
                why,
            });
        } else {
            report.kept_changed += 1;
        }
    }
    let removed_bytes: u64 = report.removed.iter().map(|f| f.bytes).sum();
    report.files_after = report.files_before - report.removed.len() as u64;
    report.bytes_after = report.bytes_before - removed_bytes;
    Ok(report)
}

/// Opens `file` without following a link or blocking, and checks it is still the file
/// listed (same size and modification time).
fn open_unchanged(dir: &Dir, file: &Listed) -> Option<std::fs::File> {
    let opened = dir.open_read(&file.name).ok()?;
    let stat = spoolq_os::fs::fstat(opened.as_fd()).ok()?;
    (stat.kind == FileKind::Regular && stat.size == file.size && stat.mtime == file.mtime)
        .then_some(opened)
}

/// Whether a process holds `file`'s shared lock (it still writes it). Err when the file
/// changed or went since it was listed.
fn alive(dir: &Dir, file: &Listed) -> Result<bool, ()> {
    let opened = open_unchanged(dir, file).ok_or(())?;
    match spoolq_os::fs::flock_exclusive_nonblocking(opened.as_fd()) {
        Ok(()) => Ok(false),
        Err(Errno::EWOULDBLOCK) => Ok(true),
        Err(_) => Err(()),
    }
    // `opened` is closed here, releasing the probe's lock.
}

/// Removes `file` if it is still unchanged and no process holds it: under the exclusive
/// lock, checking that the name still names the file locked.
fn remove_unchanged(dir: &Dir, file: &Listed) -> bool {
    let Some(opened) = open_unchanged(dir, file) else {
        return false;
    };
    if spoolq_os::fs::flock_exclusive_nonblocking(opened.as_fd()).is_err() {
        return false;
    }
    let (Ok(mine), Ok(there)) = (
        spoolq_os::fs::fstat(opened.as_fd()),
        dir.stat_at(&file.name),
    ) else {
        return false;
    };
    if mine.dev != there.dev || mine.ino != there.ino || mine.size != file.size {
        return false;
    }
    dir.unlink(&file.name).is_ok()
}

/// The latest instant `file` was written, in nanoseconds since the epoch: the later of
/// its modification time and its last record's wall-clock stamp.
fn last_written_ns(dir: &Dir, file: &Listed) -> u64 {
    let mtime = file
        .mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let last_record = FileRecords::open_tail(&dir.display_path(&file.name), 64 * 1024)
        .ok()
        .and_then(|records| {
            records
                .filter_map(|item| match item {
                    FileItem::Record(entry) => entry.record.wall_ns(),
                    FileItem::Unknown(_) | FileItem::Problem(_) => None,
                })
                .max()
        })
        .and_then(|ns| u64::try_from(ns).ok())
        .unwrap_or(0);
    mtime.max(last_record)
}

fn rfc3339_ns(ns: u64) -> String {
    humantime::format_rfc3339_micros(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}
