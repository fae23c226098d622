//! Journal file names: made by the writer for each file it starts, read back by `spoolq
//! status` (which processes journaled lately), the auditor (which role a file's process
//! had) and retention (which files are journals at all).
//!
//! - `<role>-<host>-<pid>-<start ms>-<sequence>.jsonl`: one process's journal (a daemon).
//! - `<role>-<host>-shared-<boot>-<sequence>.jsonl`: the journal every one-shot process
//!   of a role (`spoolq produce`, `spoolq requeue`) on a host appends to during one boot,
//!   so that a thousand one-job calls leave one file, not a thousand; `<boot>` is the
//!   boot id's letters and digits.

use std::ffi::{OsStr, OsString};
use std::fmt;

use super::JOURNAL_SUFFIX;
use crate::codes::{Word, words};

words! {
    /// What kind of process writes a journal.
    pub enum Role {
        /// `spoolq daemon`: claims and outcomes.
        Daemon = "daemon",
        /// `spoolq produce` and the lab's producer: `produced` records.
        Producer = "producer",
    }
}

/// Who writes a journal file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Writer {
    /// One process.
    Process {
        /// The writer's process id.
        pid: u32,
        /// When the process started its journal, Unix time in milliseconds.
        start_ms: u64,
    },
    /// Every one-shot process of the role on the host during one boot, each appending
    /// its records.
    Shared {
        /// The boot, as the name carries it: the boot id's ASCII letters and digits.
        boot: String,
    },
}

/// The word that marks a shared journal's name where a pid would be.
const SHARED: &str = "shared";

/// The name of one journal file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JournalName {
    /// What kind of process writes the file.
    pub role: Role,
    /// The host as the name carries it: ASCII letters, digits and `-`, anything else
    /// replaced by `_` (see [`JournalName::new`]).
    pub host: String,
    /// One process, or the shared journal of a boot.
    pub writer: Writer,
    /// The file's place in its journal: 0, then 1, 2... as it rotates.
    pub sequence: u32,
}

impl JournalName {
    /// The writer's process id, for one process's journal.
    pub fn pid(&self) -> Option<u32> {
        match self.writer {
            Writer::Process { pid, .. } => Some(pid),
            Writer::Shared { .. } => None,
        }
    }

    /// When the writing process started, for one process's journal.
    pub fn start_ms(&self) -> Option<u64> {
        match self.writer {
            Writer::Process { start_ms, .. } => Some(start_ms),
            Writer::Shared { .. } => None,
        }
    }

    /// Whether it is a shared journal.
    pub fn is_shared(&self) -> bool {
        matches!(self.writer, Writer::Shared { .. })
    }

    /// The first file of the journal shared by one-shot processes of `role` on `host`
    /// during boot `boot_id`; `None` when the boot id has no letter or digit.
    pub fn shared(role: Role, host: &str, boot_id: &str) -> Option<JournalName> {
        let boot: String = boot_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        if boot.is_empty() {
            return None;
        }
        Some(JournalName {
            writer: Writer::Shared { boot },
            ..JournalName::new(role, host, 0, 0)
        })
    }

    /// The first file of a process's journal. `host` is made safe for a file name (an
    /// empty one becomes `_`, so that every name made here parses back).
    pub fn new(role: Role, host: &str, pid: u32, start_ms: u64) -> JournalName {
        let mut safe: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if safe.is_empty() {
            safe.push('_');
        }
        JournalName {
            role,
            host: safe,
            writer: Writer::Process { pid, start_ms },
            sequence: 0,
        }
    }

    /// The file that follows this one when the journal rotates.
    pub fn next(&self) -> JournalName {
        JournalName {
            sequence: self.sequence + 1,
            ..self.clone()
        }
    }

    /// Reads a journal file name; `None` for anything else (including a role this
    /// build does not know). The host may contain `-`; the role may not.
    pub fn parse(name: &OsStr) -> Option<JournalName> {
        let stem = name.to_str()?.strip_suffix(JOURNAL_SUFFIX)?;
        let mut right = stem.rsplitn(4, '-');
        let sequence = number(right.next()?)?;
        let (second, first) = (right.next()?, right.next()?);
        let writer = if first == SHARED {
            if second.is_empty() || !second.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            Writer::Shared {
                boot: second.to_owned(),
            }
        } else {
            Writer::Process {
                pid: number(first)?,
                start_ms: number(second)?,
            }
        };
        let (role, host) = right.next()?.split_once('-')?;
        if host.is_empty() {
            return None;
        }
        Some(JournalName {
            role: Role::from_word(role).ok()?,
            host: host.to_owned(),
            writer,
            sequence,
        })
    }

    /// The file name.
    pub fn to_os_string(&self) -> OsString {
        OsString::from(self.to_string())
    }
}

/// Decimal digits only (no sign, no spaces), as the writer makes them.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for JournalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.writer {
            Writer::Process { pid, start_ms } => write!(
                f,
                "{}-{}-{pid}-{start_ms}-{:04}{JOURNAL_SUFFIX}",
                self.role, self.host, self.sequence
            ),
            Writer::Shared { boot } => write!(
                f,
                "{}-{}-{SHARED}-{boot}-{:04}{JOURNAL_SUFFIX}",
                self.role, self.host, self.sequence
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_parse_with_dashes_in_the_host() {
        let n = JournalName::parse(OsStr::new("daemon-web-01-4242-1790000000123-0003.jsonl"));
        assert_eq!(
            n,
            Some(JournalName {
                role: Role::Daemon,
                host: "web-01".into(),
                writer: Writer::Process {
                    pid: 4242,
                    start_ms: 1_790_000_000_123,
                },
                sequence: 3,
            })
        );
        let shared = JournalName::parse(OsStr::new(
            "producer-web-01-shared-0f3243b9dba9416681f80df857c9382d-0002.jsonl",
        ))
        .unwrap();
        assert_eq!(
            (shared.host.as_str(), shared.writer.clone(), shared.sequence),
            (
                "web-01",
                Writer::Shared {
                    boot: "0f3243b9dba9416681f80df857c9382d".into()
                },
                2
            )
        );
        assert_eq!(shared.pid(), None);
        for bad in [
            "x.jsonl",
            "daemon-4242-1-2.jsonl",
            "daemon-h-p-1-2.jsonl",
            "a-b-1-2-3.txt",
            "reaper-h-1-2-3.jsonl",
            "daemon--1-2-3.jsonl",
            "daemon-h-+1-2-3.jsonl",
            "producer-h-shared--0001.jsonl",
            "producer-h-shared-ab_c-0001.jsonl",
            "producer-shared-abc-0001.jsonl",
        ] {
            assert_eq!(JournalName::parse(OsStr::new(bad)), None, "{bad}");
        }
    }

    #[test]
    fn made_names_read_as_the_writer_wrote_them() {
        let first = JournalName::new(Role::Producer, "web.example.com", 7, 1_790_000_000_123);
        assert_eq!(
            first.to_string(),
            "producer-web_example_com-7-1790000000123-0000.jsonl"
        );
        assert_eq!(
            first.next().next().to_string(),
            "producer-web_example_com-7-1790000000123-0002.jsonl"
        );
        assert_eq!(JournalName::new(Role::Daemon, "", 1, 2).host, "_");
    }

    proptest! {
        #[test]
        fn every_made_name_parses_back(
            host in ".{0,40}",
            pid: u32,
            start_ms: u64,
            rotations in 0u32..20_000,
            daemon: bool,
        ) {
            let role = if daemon { Role::Daemon } else { Role::Producer };
            let mut name = JournalName::new(role, &host, pid, start_ms);
            name.sequence = rotations;
            prop_assert_eq!(JournalName::parse(&name.to_os_string()), Some(name));
        }

        #[test]
        fn every_made_shared_name_parses_back(
            host in ".{0,40}",
            boot in "[-0-9a-fA-F]{1,40}",
            rotations in 0u32..20_000,
        ) {
            let Some(mut name) = JournalName::shared(Role::Producer, &host, &boot) else {
                prop_assume!(false);
                unreachable!()
            };
            name.sequence = rotations;
            prop_assert_eq!(JournalName::parse(&name.to_os_string()), Some(name));
        }
    }
}
