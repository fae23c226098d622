//! The job file: a short text header, a blank line, then the payload bytes untouched.
//!
//! ```text
//! spoolq-job 1
//! id: 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a
//! created: 2026-11-26T22:25:14.123456789Z
//! length: 00000000000000000005
//!
//! hello
//! ```
//!
//! `length` is the payload's size in bytes. It lets a consumer tell a complete job from
//! one that is still being written in place or was truncated, which a rename-in producer
//! never shows but a careless `cp` into new/ does. spoolq writes it zero-padded to 20
//! digits so that a producer can stream a payload of unknown size and fill the length in
//! afterwards; readers accept any 1 to 20 digits.
//!
//! Fields are `key: value`, one per line, each exactly once; unknown keys are an error
//! within a format version (a new field means a new version).

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use uuid::Uuid;

/// The first line of every job file, up to the version number.
pub const MAGIC: &str = "spoolq-job";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// A header longer than this is not a header.
pub const MAX_HEADER_LEN: usize = 4096;
/// The width of the zero-padded length field as spoolq writes it.
pub const LENGTH_WIDTH: usize = 20;

/// A job's unique id: a UUID (v7 when spoolq generates it, so ids sort by creation time).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// A fresh UUID v7.
    pub fn generate() -> JobId {
        JobId(Uuid::now_v7())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The error of parsing a [`JobId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a job id: expected a UUID such as 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a")]
pub struct ParseJobIdError(pub String);

impl FromStr for JobId {
    type Err = ParseJobIdError;

    fn from_str(s: &str) -> Result<JobId, ParseJobIdError> {
        // Only the canonical hyphenated form: it is also the file name.
        if s.len() != 36 {
            return Err(ParseJobIdError(s.to_owned()));
        }
        Uuid::parse_str(s)
            .map(JobId)
            .map_err(|_| ParseJobIdError(s.to_owned()))
    }
}

/// The parsed header of a job file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobHeader {
    /// The job's id: the authority, whatever the file is named.
    pub id: JobId,
    /// When the producer created the job.
    pub created: SystemTime,
    /// The payload's length in bytes.
    pub length: u64,
}

/// Every way a job file can be malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Zero bytes.
    #[error("the file is empty (zero bytes): not a job")]
    Empty,
    /// No `spoolq-job` magic at the start.
    #[error("the file does not start with \"{MAGIC} <version>\": not a spoolq job")]
    NotAJob,
    /// A format version this build does not read (as written).
    #[error(
        "job format version {0:?} is not supported by this spoolq (it reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(String),
    /// No blank line within [`MAX_HEADER_LEN`] bytes.
    #[error(
        "the header has no blank line ending it within {MAX_HEADER_LEN} bytes (header only, or not a job)"
    )]
    Unterminated,
    /// The header's bytes are not UTF-8.
    #[error("the header is not UTF-8 text")]
    NotUtf8,
    /// A line that is not `key: value`.
    #[error("header line {line} is not \"key: value\"")]
    MalformedLine {
        /// Its 1-based line number.
        line: usize,
    },
    /// A key this format version does not have.
    #[error("header field {0:?} is not known to job format version {FORMAT_VERSION}")]
    UnknownField(String),
    /// A key given twice.
    #[error("header field {0:?} appears twice")]
    DuplicateField(String),
    /// A required key that is absent.
    #[error("header field {0:?} is missing")]
    MissingField(&'static str),
    /// An `id` that is not a canonical UUID.
    #[error("header id {0:?} is not a UUID")]
    BadId(String),
    /// A `created` that is not an RFC 3339 time.
    #[error("header created time {0:?} is not an RFC 3339 UTC time")]
    BadTime(String),
    /// A `length` that is not 1 to 20 digits.
    #[error("header length {0:?} is not a number of bytes")]
    BadLength(String),
    /// The file holds another payload length than the header declares.
    #[error(
        "the header declares a {declared}-byte payload but the file holds {actual} bytes: \
         truncated, or still being written in place (write jobs elsewhere and rename them in)"
    )]
    LengthMismatch {
        /// The header's `length`.
        declared: u64,
        /// The bytes after the header.
        actual: u64,
    },
}

impl JobHeader {
    /// A header for a new job created now.
    pub fn new(id: JobId, length: u64) -> JobHeader {
        JobHeader {
            id,
            created: SystemTime::now(),
            length,
        }
    }

    /// The header's bytes, ending with the blank line; the length is zero-padded to
    /// [`LENGTH_WIDTH`] digits, at [`JobHeader::length_offset`].
    pub fn render(&self) -> Vec<u8> {
        format!(
            "{MAGIC} {FORMAT_VERSION}\nid: {}\ncreated: {}\nlength: {:0width$}\n\n",
            self.id,
            humantime::format_rfc3339_nanos(self.created),
            self.length,
            width = LENGTH_WIDTH
        )
        .into_bytes()
    }

    /// Where the length digits start in [`JobHeader::render`]'s output, so a producer
    /// that streams a payload can write the real length afterwards.
    pub fn length_offset(&self) -> usize {
        self.render().len() - 2 - LENGTH_WIDTH
    }

    /// Parses the header at the start of `bytes`; returns it and the header's length
    /// (the payload starts there). Does not check the payload's length: `bytes` may be
    /// just a prefix of the file.
    pub fn parse_prefix(bytes: &[u8]) -> Result<(JobHeader, usize), HeaderError> {
        if bytes.is_empty() {
            return Err(HeaderError::Empty);
        }
        let Some(rest) = bytes
            .strip_prefix(MAGIC.as_bytes())
            .and_then(|rest| rest.strip_prefix(b" "))
        else {
            return Err(HeaderError::NotAJob);
        };
        let magic_len = bytes.len() - rest.len();
        let window = &bytes[..bytes.len().min(MAX_HEADER_LEN)];
        let end = blank_line(window).ok_or(HeaderError::Unterminated)?;
        let text = std::str::from_utf8(&window[..end]).map_err(|_| HeaderError::NotUtf8)?;
        // The lines of `text` as `split('\n')` gives them, found with memchr.
        let line_end =
            |from: usize| memchr::memchr(b'\n', &text.as_bytes()[from..]).map(|i| from + i);
        let first_end = line_end(0);
        let version = &text[magic_len..first_end.unwrap_or(text.len())];
        if !is_format_version(version) {
            return Err(HeaderError::UnsupportedVersion(version.to_owned()));
        }
        let (mut id, mut created, mut length) = (None, None, None);
        let mut next = first_end.map(|at| at + 1);
        let mut number = 1;
        while let Some(start) = next {
            let stop = line_end(start);
            next = stop.map(|at| at + 1);
            let line = &text[start..stop.unwrap_or(text.len())];
            number += 1;
            let (key, value) =
                split_field(line).ok_or(HeaderError::MalformedLine { line: number })?;
            let slot_taken = match key {
                "id" => id
                    .replace(
                        value
                            .parse::<JobId>()
                            .map_err(|_| HeaderError::BadId(value.into()))?,
                    )
                    .is_some(),
                "created" => created.replace(parse_time(value)?).is_some(),
                "length" => length.replace(parse_length(value)?).is_some(),
                other => return Err(HeaderError::UnknownField(other.to_owned())),
            };
            if slot_taken {
                return Err(HeaderError::DuplicateField(key.to_owned()));
            }
        }
        let header = JobHeader {
            id: id.ok_or(HeaderError::MissingField("id"))?,
            created: created.ok_or(HeaderError::MissingField("created"))?,
            length: length.ok_or(HeaderError::MissingField("length"))?,
        };
        Ok((header, end + 2))
    }

    /// Checks that a file of `file_len` bytes, whose header is `header_len` bytes, holds
    /// exactly the declared payload.
    pub fn check_length(&self, header_len: usize, file_len: u64) -> Result<(), HeaderError> {
        let actual = file_len.saturating_sub(header_len as u64);
        if actual != self.length {
            return Err(HeaderError::LengthMismatch {
                declared: self.length,
                actual,
            });
        }
        Ok(())
    }
}

/// Why [`JobHeader::read_from`] found no valid header.
#[derive(Debug, thiserror::Error)]
pub enum ReadHeaderError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// What was read is not a job of this length.
    #[error("{0}")]
    Invalid(#[from] HeaderError),
}

impl JobHeader {
    /// Reads, parses and checks the header of `file`, `file_len` bytes long, by
    /// positioned reads (so the descriptor's offset is left alone for whoever reads the
    /// payload next): at most [`MAX_HEADER_LEN`] bytes, and the payload's length checked
    /// against the file's. Returns the header and its length.
    pub fn read_from(
        file: &std::fs::File,
        file_len: u64,
    ) -> Result<(JobHeader, usize), ReadHeaderError> {
        let want = usize::try_from(file_len)
            .unwrap_or(usize::MAX)
            .min(MAX_HEADER_LEN);
        // A header is a few lines: read a short prefix first, and the rest of the
        // header's window only when no blank line ends the header within it.
        let mut prefix = [0u8; HEADER_PREFIX_LEN];
        let short = want.min(HEADER_PREFIX_LEN);
        let filled = read_at_most(file, &mut prefix[..short], 0)?;
        let parsed = if filled < short || blank_line(&prefix[..filled]).is_some() {
            JobHeader::parse_prefix(&prefix[..filled])
        } else {
            let mut window = vec![0u8; want];
            window[..filled].copy_from_slice(&prefix[..filled]);
            let more = read_at_most(file, &mut window[filled..], filled as u64)?;
            JobHeader::parse_prefix(&window[..filled + more])
        };
        let (header, header_len) = parsed?;
        header.check_length(header_len, file_len)?;
        Ok((header, header_len))
    }
}

/// Bytes [`JobHeader::read_from`] reads first: more than any header spoolq writes.
const HEADER_PREFIX_LEN: usize = 512;

/// Fills `buf` from `file` at `offset` by positioned reads, up to the end of the file;
/// returns how many bytes were read.
fn read_at_most(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;

    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Where the first blank line (`\n\n`) starts in `bytes`.
fn blank_line(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'\n', &bytes[from..]).map(|i| from + i) {
        if bytes.get(at + 1) == Some(&b'\n') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `key: value` split at the first `": "`.
fn split_field(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(at) = memchr::memchr(b':', &bytes[from..]).map(|i| from + i) {
        if bytes.get(at + 1) == Some(&b' ') {
            return Some((&line[..at], &line[at + 2..]));
        }
        from = at + 1;
    }
    None
}

/// Whether `version` is [`FORMAT_VERSION`] as written: its decimal digits, nothing else.
fn is_format_version(version: &str) -> bool {
    let digits = version.bytes().all(|b| b.is_ascii_digit());
    digits && !version.starts_with('0') && version.parse() == Ok(FORMAT_VERSION)
}

fn parse_time(value: &str) -> Result<SystemTime, HeaderError> {
    humantime::parse_rfc3339(value).map_err(|_| HeaderError::BadTime(value.to_owned()))
}

fn parse_length(value: &str) -> Result<u64, HeaderError> {
    let bad = || HeaderError::BadLength(value.to_owned());
    if value.is_empty() || value.len() > LENGTH_WIDTH || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    value.parse().map_err(|_| bad())
}

/// A whole job in memory: its header and a borrowed payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job<'a> {
    /// The parsed header.
    pub header: JobHeader,
    /// The bytes after the header, exactly `header.length` of them.
    pub payload: &'a [u8],
}

impl<'a> Job<'a> {
    /// Parses a whole job file.
    pub fn parse(bytes: &'a [u8]) -> Result<Job<'a>, HeaderError> {
        let (header, header_len) = JobHeader::parse_prefix(bytes)?;
        header.check_length(header_len, bytes.len() as u64)?;
        Ok(Job {
            header,
            payload: &bytes[header_len..],
        })
    }

    /// The whole file's bytes.
    pub fn render(&self) -> Vec<u8> {
        let mut bytes = self.header.render();
        bytes.extend_from_slice(self.payload);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    /// The header's grammar read the plain way (`split`, `split_once`, a formatted
    /// magic and version): what `parse_prefix` must agree with.
    fn plain_reading(bytes: &[u8]) -> Result<(JobHeader, usize), HeaderError> {
        if bytes.is_empty() {
            return Err(HeaderError::Empty);
        }
        let magic = format!("{MAGIC} ");
        if !bytes.starts_with(magic.as_bytes()) {
            return Err(HeaderError::NotAJob);
        }
        let window = &bytes[..bytes.len().min(MAX_HEADER_LEN)];
        let end = window
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or(HeaderError::Unterminated)?;
        let text = std::str::from_utf8(&window[..end]).map_err(|_| HeaderError::NotUtf8)?;
        let mut lines = text.split('\n');
        let version = &lines.next().unwrap_or_default()[magic.len()..];
        if version != FORMAT_VERSION.to_string() {
            return Err(HeaderError::UnsupportedVersion(version.to_owned()));
        }
        let (mut id, mut created, mut length) = (None, None, None);
        for (index, line) in lines.enumerate() {
            let (key, value) = line
                .split_once(": ")
                .ok_or(HeaderError::MalformedLine { line: index + 2 })?;
            let slot_taken = match key {
                "id" => id
                    .replace(
                        value
                            .parse::<JobId>()
                            .map_err(|_| HeaderError::BadId(value.into()))?,
                    )
                    .is_some(),
                "created" => created.replace(parse_time(value)?).is_some(),
                "length" => length.replace(parse_length(value)?).is_some(),
                other => return Err(HeaderError::UnknownField(other.to_owned())),
            };
            if slot_taken {
                return Err(HeaderError::DuplicateField(key.to_owned()));
            }
        }
        let header = JobHeader {
            id: id.ok_or(HeaderError::MissingField("id"))?,
            created: created.ok_or(HeaderError::MissingField("created"))?,
            length: length.ok_or(HeaderError::MissingField("length"))?,
        };
        Ok((header, end + 2))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn parse_prefix_agrees_with_the_plain_reading(
            start in 0..4usize,
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                &b"1"[..], b"01", b"2", b" ", b"\n", b"\n\n", b"id: ",
                b"019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a", b"created: ",
                b"2026-11-26T22:25:14.123456789Z", b"length: ", b"00000000000000000005", b"5",
                b": ", b":", b"x", b"\xc3\xa9", b"\xff",
            ]), 0..10),
            blank_line in any::<bool>(),
        ) {
            let valid = JobHeader::new(JobId::generate(), 5).render();
            let mut bytes = match start {
                0 => Vec::new(),
                1 => b"spoolq-job ".to_vec(),
                2 => b"spoolq-job 1\n".to_vec(),
                // A whole header but its blank line: the pieces continue it.
                _ => valid[..valid.len() - 1].to_vec(),
            };
            for piece in &pieces {
                bytes.extend_from_slice(piece);
            }
            if blank_line {
                bytes.extend_from_slice(b"\n\nhello");
            }
            prop_assert_eq!(JobHeader::parse_prefix(&bytes), plain_reading(&bytes));
        }
    }

    /// `read_from` on a file holding `bytes` judges it as `parse_prefix` and
    /// `check_length` judge the whole file.
    fn read_as_parsed(bytes: &[u8]) {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let read = JobHeader::read_from(&file, bytes.len() as u64).map_err(|e| match e {
            ReadHeaderError::Invalid(e) => e,
            ReadHeaderError::Io(e) => panic!("{e}"),
        });
        let parsed = JobHeader::parse_prefix(bytes).and_then(|(header, len)| {
            header.check_length(len, bytes.len() as u64)?;
            Ok((header, len))
        });
        assert_eq!(read, parsed, "{:?}", String::from_utf8_lossy(bytes));
    }

    #[test]
    fn a_header_read_from_a_file_is_judged_as_the_whole_file_parsed() {
        let header = JobHeader::new(JobId::generate(), 3).render();
        let job = [&header[..], b"abc"].concat();
        read_as_parsed(&job);
        read_as_parsed(&job[..job.len() - 1]);
        read_as_parsed(b"");
        read_as_parsed(b"not a job");
        // Headers longer than the first read: a blank line on either side of its end,
        // across it, and none within MAX_HEADER_LEN.
        let start = b"spoolq-job 1\nid: 019ac1d2-7f3e-7b61-9a0c-3f1e2d4c5b6a\n";
        for blank_at in [
            HEADER_PREFIX_LEN - 3,
            HEADER_PREFIX_LEN - 1,
            HEADER_PREFIX_LEN,
            700,
        ] {
            let mut long = start.to_vec();
            long.extend_from_slice(b"x: ");
            long.resize(blank_at, b'y');
            long.extend_from_slice(b"\n\npayload");
            read_as_parsed(&long);
        }
        let mut unterminated = start.to_vec();
        unterminated.resize(MAX_HEADER_LEN + 100, b'z');
        read_as_parsed(&unterminated);
    }
}
