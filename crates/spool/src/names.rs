//! File names in the spool's folders, which carry what must survive a restart.
//!
//! - new/: `<id>` for a first attempt, `<id>.<attempts>` after `attempts` failed ones.
//! - retry/: `<id>.<attempts>.<due>` where `due` is the Unix time in milliseconds after
//!   which the job may be moved back to new/.
//! - failed/: the name the file had, and a reason file beside it (see [`crate::failed`]).
//!
//! The id inside the file is the authority: a name that does not match its header is
//! quarantined. Names starting with `.` are never jobs (editors, Finder's `.DS_Store`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use crate::job::JobId;

/// True for names no consumer should look at.
pub fn is_hidden(name: &OsStr) -> bool {
    name.as_bytes().first() == Some(&b'.')
}

/// A name in new/: which job, after how many failed attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadyName {
    /// The job.
    pub id: JobId,
    /// Attempts already made (0 for a fresh job).
    pub attempts: u32,
}

impl ReadyName {
    /// The name of job `id` after `attempts` failed attempts.
    pub fn new(id: JobId, attempts: u32) -> ReadyName {
        ReadyName { id, attempts }
    }

    /// Reads `<id>` or `<id>.<attempts>`; `None` for any other name.
    pub fn parse(name: &OsStr) -> Option<ReadyName> {
        let s = name.to_str()?;
        let (id, attempts) = match s.split_once('.') {
            Some((id, n)) => (id, parse_count(n)?),
            None => (s, 0),
        };
        Some(ReadyName {
            id: id.parse().ok()?,
            attempts,
        })
    }

    /// The file name.
    pub fn to_os_string(&self) -> OsString {
        OsString::from(self.to_string())
    }
}

impl fmt::Display for ReadyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.attempts == 0 {
            write!(f, "{}", self.id)
        } else {
            write!(f, "{}.{}", self.id, self.attempts)
        }
    }
}

/// A name in retry/: which job, after how many attempts, due when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetryName {
    /// The job.
    pub id: JobId,
    /// Attempts already made.
    pub attempts: u32,
    /// Unix time in milliseconds.
    pub due_ms: u64,
}

impl RetryName {
    /// The name of job `id` after `attempts` attempts, due at `due` (to the millisecond).
    pub fn new(id: JobId, attempts: u32, due: SystemTime) -> RetryName {
        let due_ms = due
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        RetryName {
            id,
            attempts,
            due_ms,
        }
    }

    /// Reads `<id>.<attempts>.<due ms>`; `None` for any other name.
    pub fn parse(name: &OsStr) -> Option<RetryName> {
        let mut parts = name.to_str()?.split('.');
        let id = parts.next()?.parse().ok()?;
        let attempts = parse_count(parts.next()?)?;
        let due = parts.next()?;
        if parts.next().is_some() || due.is_empty() || !due.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(RetryName {
            id,
            attempts,
            due_ms: due.parse().ok()?,
        })
    }

    /// When the job may go back to new/.
    pub fn due(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.due_ms)
    }

    /// The name it gets when moved back to new/.
    pub fn ready(&self) -> ReadyName {
        ReadyName::new(self.id, self.attempts)
    }

    /// The file name.
    pub fn to_os_string(&self) -> OsString {
        OsString::from(self.to_string())
    }
}

impl fmt::Display for RetryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.id, self.attempts, self.due_ms)
    }
}

fn parse_count(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A printable form of any name (non-UTF-8 bytes and control characters escaped), for
/// logs, journals and reason files.
pub fn printable(name: &OsStr) -> String {
    // The common case (every job name): printable ASCII, which stays as it is.
    if let Some(text) = name.to_str()
        && text.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return text.to_owned();
    }
    escaped(name)
}

/// [`printable`] the long way, for any bytes.
fn escaped(name: &OsStr) -> String {
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn printable_escapes_controls_and_invalid_bytes_only() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.2",
                "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.2",
            ),
            (b" ~!", " ~!"),
            (b"a\nb\x7f", "a\\nb\\u{7f}"),
            (b"caf\xc3\xa9", "caf\u{e9}"),
            (b"bad\xff", "bad\\xff"),
            (b"", ""),
        ];
        for (bytes, want) in cases {
            assert_eq!(printable(OsStr::from_bytes(bytes)), want, "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn the_ascii_shortcut_agrees_with_the_long_way(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let name = OsStr::from_bytes(&bytes);
            prop_assert_eq!(printable(name), escaped(name));
        }

        #[test]
        fn printable_ascii_names_agree_too(text in "[ -~]{0,40}") {
            let name = OsStr::new(&text);
            prop_assert_eq!(printable(name), escaped(name));
            prop_assert_eq!(printable(name), text);
        }
    }
}
