//! Which journal files to read, each once: a journal is identified by its writer (host,
//! boot, process id, start) and its place in that writer's rotation, not by its path, so
//! a copy of a journal given beside the original (`--journal` on a folder that includes
//! this host's files) is read once.
//!
//! The identity comes from the file's name ([`JournalName`]: role, host, pid, start,
//! sequence) and the boot its first record names; a shared journal's file (one-shot
//! processes appending) by its name's role, host and boot and its first record; a file
//! whose name is not a journal name by its first record alone (host, boot, pid, both its
//! times). Of two
//! files with one identity the longer is read, and the other is a copy when its bytes are
//! the first bytes of the longer (a copy taken while the writer was still appending);
//! otherwise it is reported as a conflicting copy and not read.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{FileItem, FileRecords, JournalName, Problem, ProblemKind, Role, Writer};

/// How many items of a file are looked at for its first record.
const FIRST_RECORD_WITHIN: usize = 64;

/// The journal files to read, and the copies left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalSet {
    /// The files to read, each process's files together and in rotation order.
    pub files: Vec<PathBuf>,
    /// Files not read because another file given is the same journal.
    pub copies: Vec<JournalCopy>,
    /// Files that could not be opened, and conflicting copies.
    pub problems: Vec<Problem>,
}

/// A file left out because it is a copy of one that is read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct JournalCopy {
    /// The copy.
    pub file: PathBuf,
    /// The file read in its place.
    pub same_as: PathBuf,
}

/// Who wrote a journal file, and which of its files it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Identity {
    /// From the file's name, and the boot of its first record.
    Named {
        role: Role,
        host: String,
        pid: u32,
        start_ms: u64,
        boot: Option<String>,
        sequence: u32,
    },
    /// A shared journal (many one-shot processes append to it): its name's role, host and
    /// boot, and its first record, which no other file of that journal starts with (a
    /// file of the journal removed by retention and made again restarts its sequence).
    Shared {
        role: Role,
        host: String,
        boot: String,
        pid: u32,
        mono_ns: u64,
        wall: String,
    },
    /// From the first record of a file not named as journals are.
    FirstRecord {
        host: String,
        boot: Option<String>,
        pid: u32,
        mono_ns: u64,
        wall: String,
    },
}

struct Candidate {
    path: PathBuf,
    len: u64,
    identity: Option<Identity>,
}

impl JournalSet {
    /// Opens each of `files` to identify it; files that cannot be opened (not regular, a
    /// symlink, unreadable) become problems.
    pub fn identify(files: &[PathBuf]) -> JournalSet {
        let mut set = JournalSet::default();
        let mut candidates = Vec::with_capacity(files.len());
        for path in files {
            match FileRecords::open(path) {
                Ok(records) => candidates.push(identify(records)),
                Err(problem) => set.problems.push(problem),
            }
        }
        let mut groups: HashMap<Identity, Vec<usize>> = HashMap::new();
        for (index, candidate) in candidates.iter().enumerate() {
            if let Some(identity) = &candidate.identity {
                groups.entry(identity.clone()).or_default().push(index);
            }
        }
        let mut left_out = vec![false; candidates.len()];
        for members in groups.values().filter(|m| m.len() > 1) {
            // The longest holds the most records; on a tie, the first given.
            let keep = *members
                .iter()
                .max_by_key(|&&i| (candidates[i].len, std::cmp::Reverse(i)))
                .expect("a group has members");
            for &other in members.iter().filter(|&&i| i != keep) {
                left_out[other] = true;
                let (file, kept) = (&candidates[other].path, &candidates[keep].path);
                match is_prefix(file, kept) {
                    Ok(true) => set.copies.push(JournalCopy {
                        file: file.clone(),
                        same_as: kept.clone(),
                    }),
                    Ok(false) => set.problems.push(Problem {
                        file: file.clone(),
                        line: 0,
                        kind: ProblemKind::ConflictingCopy {
                            same_writer_as: kept.clone(),
                        },
                    }),
                    Err(kind) => set.problems.push(Problem {
                        file: file.clone(),
                        line: 0,
                        kind,
                    }),
                }
            }
        }
        let mut kept: Vec<Candidate> = candidates
            .into_iter()
            .zip(left_out)
            .filter_map(|(candidate, out)| (!out).then_some(candidate))
            .collect();
        // A process's files in rotation order, one process after another (the names sort
        // them so too, except past sequence 9999).
        kept.sort_by(|a, b| {
            let named = |c: &Candidate| {
                let name = c.path.file_name().and_then(JournalName::parse)?;
                Some((name.role, name.host, name.writer, name.sequence))
            };
            (named(a).is_none(), named(a), &a.path).cmp(&(named(b).is_none(), named(b), &b.path))
        });
        set.files = kept.into_iter().map(|c| c.path).collect();
        set
    }
}

/// The identity of an opened journal file.
fn identify(mut records: FileRecords) -> Candidate {
    let path = records.path().to_owned();
    let len = records.len();
    let first = records
        .by_ref()
        .take(FIRST_RECORD_WITHIN)
        .find_map(|item| match item {
            FileItem::Record(entry) => Some(entry.record),
            FileItem::Unknown(_) | FileItem::Problem(_) => None,
        });
    let named = path.file_name().and_then(JournalName::parse);
    let identity = match (named, first) {
        (
            Some(JournalName {
                role,
                host,
                writer: Writer::Shared { boot },
                ..
            }),
            first,
        ) => first.map(|first| Identity::Shared {
            role,
            host,
            boot,
            pid: first.pid,
            mono_ns: first.mono_ns,
            wall: first.wall,
        }),
        (
            Some(JournalName {
                role,
                host,
                writer: Writer::Process { pid, start_ms },
                sequence,
            }),
            first,
        ) => Some(Identity::Named {
            role,
            boot: first.filter(|r| r.pid == pid).and_then(|r| r.boot),
            host,
            pid,
            start_ms,
            sequence,
        }),
        (None, Some(first)) => Some(Identity::FirstRecord {
            host: first.host,
            boot: first.boot,
            pid: first.pid,
            mono_ns: first.mono_ns,
            wall: first.wall,
        }),
        (None, None) => None,
    };
    Candidate {
        path,
        len,
        identity,
    }
}

/// Whether the bytes of `short` are the first bytes of `long`.
fn is_prefix(short: &Path, long: &Path) -> Result<bool, ProblemKind> {
    let open = |path: &Path| super::open_regular(path).map(|(file, _)| file);
    let (mut short, mut long) = (open(short)?, open(long)?);
    let unreadable = |e: std::io::Error| ProblemKind::Unreadable(e.to_string());
    let (mut a, mut b) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut short, &mut a).map_err(unreadable)?;
        if n == 0 {
            return Ok(true);
        }
        let m = read_full(&mut long, &mut b[..n]).map_err(unreadable)?;
        if m < n || a[..n] != b[..n] {
            return Ok(false);
        }
    }
}

/// Reads until `buf` is full or the file ends; returns how much was read.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
