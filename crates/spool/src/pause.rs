//! Pausing a spool: a marker file, `paused`, in the spool's root. While it exists, the
//! daemons of the spool claim nothing (jobs in flight finish), a drain exits at once,
//! and `spoolq status` says since when and why. `spoolq pause` writes it, `spoolq
//! resume` removes it.
//!
//! The marker lives in the root, beside the folders, so that no listing of a job folder
//! ever meets it. Its text is `key=value` lines: `since` (RFC 3339), `by` (host:pid of
//! the process that paused) and `reason` (one line). Its existence is what pauses: a
//! marker whose text cannot be read as that (written by hand, say) still pauses, since
//! its modification time.
//!
//! This module reads and writes the marker; who acts on it, and how fast, is the
//! daemon's business.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::time::SystemTime;

use serde::Serialize;

pub use crate::layout::PAUSE_MARKER;
use crate::layout::{LayoutError, Spool};

/// The longest reason kept, in characters: a reason is a line for a person.
pub const MAX_REASON_CHARS: usize = 500;

/// The most of a marker read: anything longer was not written by `spoolq pause`.
const MAX_MARKER_BYTES: u64 = 4096;

/// A spool's pause, as its marker says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    /// Since when, RFC 3339 UTC (the marker's own stamp, or its modification time).
    pub since: String,
    /// `since` as nanoseconds since the Unix epoch.
    pub since_ns: i64,
    /// Why, as the operator said (`--reason`).
    pub reason: Option<String>,
    /// Who paused it: `host:pid` of the `spoolq pause` process.
    pub by: Option<String>,
}

impl Pause {
    /// One line for logs and journals: `since ... by ... reason ...`.
    pub fn describe(&self) -> String {
        let mut text = format!("since {}", self.since);
        if let Some(by) = &self.by {
            text += &format!(" by {by}");
        }
        match &self.reason {
            Some(reason) => text += &format!(": {reason}"),
            None => text += " (no reason given)",
        }
        text
    }

    /// Seconds from `since` to `now` (0 when `since` is ahead of this host's clock).
    pub fn age_secs(&self, now: SystemTime) -> f64 {
        let now_ns = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        (now_ns.saturating_sub(self.since_ns)).max(0) as f64 / 1e9
    }
}

/// What [`Spool::pause`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paused {
    /// The marker was written now.
    Now(Pause),
    /// The spool was already paused: its marker is left as it was.
    Already(Pause),
}

/// A reason as one printable line of at most [`MAX_REASON_CHARS`] characters.
pub fn one_line(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

fn wall(t: SystemTime) -> (String, i64) {
    let ns = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let text = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(_) => humantime::format_rfc3339_micros(t).to_string(),
        Err(_) => humantime::format_rfc3339_micros(SystemTime::UNIX_EPOCH).to_string(),
    };
    (text, ns)
}

/// The marker's text read as a [`Pause`]; `mtime` stands in for a missing or bad stamp.
fn parse(text: &str, mtime: SystemTime) -> Pause {
    let mut since = None;
    let mut reason = None;
    let mut by = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = one_line(value);
        match key.trim() {
            "since" => since = humantime::parse_rfc3339_weak(&value).ok(),
            "reason" if !value.is_empty() => reason = Some(value),
            "by" if !value.is_empty() => by = Some(value),
            _ => {}
        }
    }
    let (since, since_ns) = wall(since.unwrap_or(mtime));
    Pause {
        since,
        since_ns,
        reason,
        by,
    }
}

impl Spool {
    /// The spool's pause, if its marker exists.
    pub fn pause_state(&self) -> Result<Option<Pause>, LayoutError> {
        let root = self.root();
        let name = OsStr::new(PAUSE_MARKER);
        let file = match root.open_read(name) {
            Ok(file) => file,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let io = |source| {
            LayoutError::Io(spoolq_os::Error::Io {
                op: spoolq_os::Op::Read,
                path: root.path().join(name),
                source,
            })
        };
        let mtime = file.metadata().and_then(|m| m.modified()).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_MARKER_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Ok(Some(parse(&String::from_utf8_lossy(&bytes), mtime)))
    }

    /// Pauses the spool: writes its marker (a hidden file in the root renamed into place,
    /// never replacing one), unless it is paused already.
    pub fn pause(&self, reason: Option<&str>, by: &str) -> Result<Paused, LayoutError> {
        if let Some(pause) = self.pause_state()? {
            return Ok(Paused::Already(pause));
        }
        let root = self.root();
        let (since, since_ns) = wall(SystemTime::now());
        let pause = Pause {
            since,
            since_ns,
            reason: reason.map(one_line).filter(|r| !r.is_empty()),
            by: Some(one_line(by)),
        };
        let mut text = format!("since={}\n", pause.since);
        if let Some(by) = &pause.by {
            text += &format!("by={by}\n");
        }
        if let Some(reason) = &pause.reason {
            text += &format!("reason={reason}\n");
        }
        let temp = format!(".{PAUSE_MARKER}.{}.{since_ns}", std::process::id());
        let temp = OsStr::new(&temp);
        let mut file = root.create_new(temp, 0o664)?;
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        drop(file);
        if let Err(source) = written {
            let _ = root.unlink(temp);
            return Err(LayoutError::Io(spoolq_os::Error::Io {
                op: spoolq_os::Op::Create,
                path: root.path().join(temp),
                source,
            }));
        }
        let placed = root.rename_noreplace(temp, root, OsStr::new(PAUSE_MARKER));
        if let Err(e) = placed {
            let _ = root.unlink(temp);
            if e.is_already_exists()
                && let Some(pause) = self.pause_state()?
            {
                return Ok(Paused::Already(pause));
            }
            return Err(e.into());
        }
        let _ = root.sync();
        Ok(Paused::Now(pause))
    }

    /// Resumes the spool: removes its marker. The pause it ended, or None when it was
    /// not paused.
    pub fn resume(&self) -> Result<Option<Pause>, LayoutError> {
        let Some(pause) = self.pause_state()? else {
            return Ok(None);
        };
        match self.root().unlink(OsStr::new(PAUSE_MARKER)) {
            Ok(()) => {
                let _ = self.root().sync();
                Ok(Some(pause))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reads_back_and_a_bad_one_still_pauses_since_its_mtime() {
        let mtime = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let p = parse(
            "since=2026-01-02T03:04:05.000006Z\nby=h:1\nreason=disk swap\n",
            mtime,
        );
        assert_eq!(p.since, "2026-01-02T03:04:05.000006Z");
        assert_eq!(p.reason.as_deref(), Some("disk swap"));
        assert_eq!(p.by.as_deref(), Some("h:1"));
        let bad = parse("\u{0}garbage\nsince=yesterday\n", mtime);
        assert_eq!(bad.since_ns, 1_700_000_000_000_000_000);
        assert_eq!(bad.reason, None);
    }

    #[test]
    fn a_reason_becomes_one_bounded_line() {
        assert_eq!(one_line(" a\nb\tc "), "a b c");
        assert_eq!(
            one_line(&"x".repeat(2000)).chars().count(),
            MAX_REASON_CHARS
        );
    }
}
