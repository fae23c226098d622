//! failed/: the names files get there, and the reason file beside each.
//!
//! A file moved to failed/ keeps the name it had (`<name>`); if that is taken, `.1`,
//! `.2`, ... is appended (`<name>.N`); if the name of its reason file would be longer
//! than a file name may be, it gets a generated `quarantined-<uuid>` (plus `.N` likewise).
//! A stale hidden name that a drain sweeps out of new/ becomes `<name without its leading
//! dots>.hidden.<unix ms>`, so that `ls` and `spoolq status` see it. Beside each is
//! `<its name>.reason.json`, a [`Reason`], written through a hidden temporary file. The
//! daemon makes these names with [`FailedName`], and the auditor and `spoolq status`
//! read them back with [`FailedEntry`].

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes::{DeadCause, QuarantineCause, UnknownWord, Word, words};
use crate::job::JobId;
use crate::names::{is_hidden, printable};

/// The suffix of a reason file in failed/.
pub const REASON_SUFFIX: &str = ".reason.json";
/// The longest file name most file systems accept (NAME_MAX).
pub const NAME_MAX: usize = 255;
/// The format version of reason files this build writes.
pub const REASON_VERSION: u32 = 1;

const GENERATED_PREFIX: &str = "quarantined-";
const HIDDEN_MARK: &str = ".hidden.";

/// The name of a file moved into failed/.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedName {
    /// What the name is made from.
    pub base: FailedBase,
    /// The `.N` appended because the name was taken; 0 for none.
    pub collision: u32,
}

/// What a name in failed/ is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailedBase {
    /// The name the file had where it was found.
    Original(OsString),
    /// `quarantined-<uuid>`: the original name was too long to have a reason file
    /// beside it (the reason keeps it).
    Generated(Uuid),
    /// `<stripped>.hidden.<swept_ms>`: a hidden name a drain moved out of new/,
    /// without its leading dots, and when (Unix time in milliseconds).
    Hidden {
        /// The name without its leading dots.
        stripped: OsString,
        /// When it was swept, Unix time in milliseconds.
        swept_ms: u64,
    },
}

impl FailedName {
    /// The name the file had where it was found.
    pub fn original(name: &OsStr) -> FailedName {
        FailedName::of(FailedBase::Original(name.to_owned()))
    }

    /// A fresh generated name.
    pub fn generated() -> FailedName {
        FailedName::of(FailedBase::Generated(JobId::generate().0))
    }

    /// The visible name of a hidden file swept out of new/ at `now`.
    pub fn hidden(name: &OsStr, now: SystemTime) -> FailedName {
        let stripped: Vec<u8> = name
            .as_bytes()
            .iter()
            .copied()
            .skip_while(|&b| b == b'.')
            .collect();
        let swept_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        FailedName::of(FailedBase::Hidden {
            stripped: OsString::from_vec(stripped),
            swept_ms,
        })
    }

    fn of(base: FailedBase) -> FailedName {
        FailedName { base, collision: 0 }
    }

    /// The same name with the next collision suffix.
    pub fn next_collision(&self) -> FailedName {
        FailedName {
            base: self.base.clone(),
            collision: self.collision.saturating_add(1),
        }
    }

    /// Whether it is a generated `quarantined-<uuid>` name.
    pub fn is_generated(&self) -> bool {
        matches!(self.base, FailedBase::Generated(_))
    }

    /// The file name.
    pub fn to_os_string(&self) -> OsString {
        let mut bytes = match &self.base {
            FailedBase::Original(name) => name.as_bytes().to_vec(),
            FailedBase::Generated(uuid) => {
                format!("{GENERATED_PREFIX}{}", uuid.hyphenated()).into_bytes()
            }
            FailedBase::Hidden { stripped, swept_ms } => {
                let mut bytes = stripped.as_bytes().to_vec();
                bytes.extend_from_slice(format!("{HIDDEN_MARK}{swept_ms}").as_bytes());
                bytes
            }
        };
        if self.collision > 0 {
            bytes.extend_from_slice(format!(".{}", self.collision).as_bytes());
        }
        OsString::from_vec(bytes)
    }

    /// The name of its reason file.
    pub fn reason_name(&self) -> OsString {
        let mut name = self.to_os_string();
        name.push(REASON_SUFFIX);
        name
    }

    /// Whether its reason file's name is short enough for a file name.
    pub fn fits(&self) -> bool {
        self.reason_name().len() <= NAME_MAX
    }

    /// Reads a name made by this module. A `.N` appended to an original name cannot be
    /// told from one the name had already, so an original name reads back whole; its
    /// job is the same either way. `None` for hidden names.
    pub fn parse(name: &OsStr) -> Option<FailedName> {
        if is_hidden(name) {
            return None;
        }
        let bytes = name.as_bytes();
        if let Some(rest) = bytes.strip_prefix(GENERATED_PREFIX.as_bytes())
            && let Some((uuid, collision)) = split_collision(rest, |uuid| {
                std::str::from_utf8(uuid)
                    .ok()
                    .and_then(|u| u.parse::<JobId>().ok())
                    .map(|id| id.0)
            })
        {
            return Some(FailedName {
                base: FailedBase::Generated(uuid),
                collision,
            });
        }
        if let Some(((stripped, swept_ms), collision)) = split_collision(bytes, hidden_parts) {
            return Some(FailedName {
                base: FailedBase::Hidden {
                    stripped: OsString::from_vec(stripped.to_vec()),
                    swept_ms,
                },
                collision,
            });
        }
        Some(FailedName::original(name))
    }

    /// The job its name is for: the id an original name starts with (a job name, or a
    /// job name with an attempt count, a due time or a collision suffix).
    pub fn job(&self) -> Option<JobId> {
        let FailedBase::Original(name) = &self.base else {
            return None;
        };
        let bytes = name.as_bytes();
        let id = bytes.get(..36)?;
        if !matches!(bytes.get(36), None | Some(b'.')) {
            return None;
        }
        std::str::from_utf8(id).ok()?.parse().ok()
    }
}

impl fmt::Display for FailedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(&self.to_os_string()))
    }
}

/// `bytes` read by `parse` as it is, or else with a `.N` collision suffix taken off.
fn split_collision<'a, T>(
    bytes: &'a [u8],
    parse: impl Fn(&'a [u8]) -> Option<T>,
) -> Option<(T, u32)> {
    if let Some(value) = parse(bytes) {
        return Some((value, 0));
    }
    let dot = bytes.iter().rposition(|&b| b == b'.')?;
    let collision = decimal(&bytes[dot + 1..])?;
    Some((parse(&bytes[..dot])?, u32::try_from(collision).ok()?))
}

/// `<stripped>.hidden.<ms>` as its parts.
fn hidden_parts(bytes: &[u8]) -> Option<(&[u8], u64)> {
    let mark = HIDDEN_MARK.as_bytes();
    let at = bytes.windows(mark.len()).rposition(|w| w == mark)?;
    Some((&bytes[..at], decimal(&bytes[at + mark.len()..])?))
}

fn decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A name listed in failed/.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailedEntry {
    /// A file moved here.
    Moved(FailedName),
    /// The reason file of a file moved here (the file itself may be gone).
    Reason(FailedName),
    /// A name starting with `.`: a reason file being written, or anything else hidden.
    Hidden,
}

impl FailedEntry {
    /// What a name listed in failed/ is.
    pub fn parse(name: &OsStr) -> FailedEntry {
        if is_hidden(name) {
            return FailedEntry::Hidden;
        }
        match name.as_bytes().strip_suffix(REASON_SUFFIX.as_bytes()) {
            Some(moved) => FailedName::parse(OsStr::from_bytes(moved))
                .map_or(FailedEntry::Hidden, FailedEntry::Reason),
            None => FailedName::parse(name).map_or(FailedEntry::Hidden, FailedEntry::Moved),
        }
    }

    /// The job a moved file or its reason file is named for.
    pub fn job(&self) -> Option<JobId> {
        match self {
            FailedEntry::Moved(name) | FailedEntry::Reason(name) => name.job(),
            FailedEntry::Hidden => None,
        }
    }
}

/// The hidden name a reason file is written under before it is renamed into place.
pub fn reason_temp_name() -> OsString {
    OsString::from(format!(".reason-{}.tmp", JobId::generate()))
}

words! {
    /// The folder a file was found in before it was moved to failed/.
    pub enum FoundIn {
        /// new/: a job that ran, or a file a claim rejected there.
        New = "new",
        /// retry/: a name there that is not a retry name.
        Retry = "retry",
    }
}

/// Why a file is in failed/: the `reason` code of its reason file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// A job that ran and failed for good.
    Dead(DeadCause),
    /// A file that is not a valid job.
    Quarantined(QuarantineCause),
    /// A hidden name a drain moved out of new/ (see the module documentation).
    HiddenInNew,
}

/// The word of [`ReasonCode::HiddenInNew`].
const HIDDEN_IN_NEW: &str = "hidden_in_new";

impl ReasonCode {
    /// The word reason files carry.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Dead(cause) => cause.as_str(),
            ReasonCode::Quarantined(cause) => cause.as_str(),
            ReasonCode::HiddenInNew => HIDDEN_IN_NEW,
        }
    }
}

impl From<DeadCause> for ReasonCode {
    fn from(cause: DeadCause) -> ReasonCode {
        ReasonCode::Dead(cause)
    }
}

impl From<QuarantineCause> for ReasonCode {
    fn from(cause: QuarantineCause) -> ReasonCode {
        ReasonCode::Quarantined(cause)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for ReasonCode {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<ReasonCode, UnknownWord> {
        if s == HIDDEN_IN_NEW {
            return Ok(ReasonCode::HiddenInNew);
        }
        DeadCause::from_word(s)
            .map(ReasonCode::Dead)
            .or_else(|_| QuarantineCause::from_word(s).map(ReasonCode::Quarantined))
            .map_err(|_| UnknownWord {
                what: "reason code",
                word: s.to_owned(),
            })
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ReasonCode, D::Error> {
        let word = String::deserialize(d)?;
        word.parse().map_err(serde::de::Error::custom)
    }
}

/// A reason file's contents: why a file is in failed/, for people and for tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Format version of this file.
    pub v: u32,
    /// Why the file is there.
    pub reason: ReasonCode,
    /// What happened, for a person.
    pub message: String,
    /// The name the file had where it was found (printable).
    pub original_name: String,
    /// The folder it was found in.
    pub found_in: FoundIn,
    /// The name it has in failed/ (printable).
    pub stored_as: String,
    /// The job its name or header names, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    /// Attempts made, including the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// The last attempt's exit status, if the handler exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// The signal that ended the last attempt, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Whether the last attempt ran past the job timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The last lines the handler wrote to stderr.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// When the job was created (from its header), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When the last attempt started, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_started: Option<String>,
    /// When the last attempt ended, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_ended: Option<String>,
    /// When it was moved, RFC 3339.
    pub failed_at: String,
    /// The daemon that moved it: `host:pid`.
    pub daemon: String,
}

impl Reason {
    /// A reason for `original` (found in new/) with only the code and the message; the
    /// mover fills in the rest.
    pub fn new(
        reason: impl Into<ReasonCode>,
        message: impl Into<String>,
        original: &OsStr,
    ) -> Reason {
        Reason {
            v: REASON_VERSION,
            reason: reason.into(),
            message: message.into(),
            original_name: printable(original),
            found_in: FoundIn::New,
            stored_as: String::new(),
            job: None,
            attempts: None,
            exit_status: None,
            signal: None,
            timed_out: false,
            stderr_tail: Vec::new(),
            created: None,
            last_attempt_started: None,
            last_attempt_ended: None,
            failed_at: String::new(),
            daemon: String::new(),
        }
    }

    /// The file's bytes: indented JSON and a final newline.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a Reason always serializes");
        json.push(b'\n');
        json
    }

    /// Reads a reason file's bytes.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Reason, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn name(text: &str) -> OsString {
        OsString::from(text)
    }

    #[test]
    fn hidden_names_lose_their_leading_dots_and_gain_the_time() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1234);
        let made = |n: &str| FailedName::hidden(OsStr::new(n), t).to_os_string();
        assert_eq!(made(".DS_Store"), "DS_Store.hidden.1234");
        assert_eq!(made("..x.y"), "x.y.hidden.1234");
        assert_eq!(made("."), ".hidden.1234");
    }

    #[test]
    fn every_form_is_made_and_read_back() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1796161441408);
        let id: JobId = "01a2338f-569a-701f-a8f1-1427733c89a3".parse().unwrap();
        let generated = FailedName::generated();
        let cases = [
            FailedName::original(OsStr::new("junk")),
            FailedName::original(OsStr::new("junk")).next_collision(),
            FailedName::hidden(OsStr::new(".DS_Store"), t),
            FailedName::hidden(OsStr::new(".DS_Store"), t)
                .next_collision()
                .next_collision(),
            generated.clone(),
            generated.next_collision(),
        ];
        let texts: Vec<OsString> = cases.iter().map(FailedName::to_os_string).collect();
        assert_eq!(texts[1], "junk.1");
        assert_eq!(texts[2], "DS_Store.hidden.1796161441408");
        assert_eq!(texts[3], "DS_Store.hidden.1796161441408.2");
        assert!(texts[4].to_str().unwrap().starts_with("quarantined-"));
        for (made, text) in cases.iter().zip(&texts) {
            let read = FailedName::parse(text).unwrap();
            assert_eq!(read.to_os_string(), *text);
            if !matches!(made.base, FailedBase::Original(_)) {
                assert_eq!(&read, made);
            }
        }
        // Job names, with attempts, due times and collision suffixes, name their job.
        for text in [
            format!("{id}"),
            format!("{id}.2"),
            format!("{id}.2.1"),
            format!("{id}.1.1796161361587"),
        ] {
            assert_eq!(FailedName::parse(&name(&text)).unwrap().job(), Some(id));
            assert_eq!(FailedEntry::parse(&name(&text)).job(), Some(id));
            let reason = format!("{text}{REASON_SUFFIX}");
            assert!(matches!(
                FailedEntry::parse(&name(&reason)),
                FailedEntry::Reason(_)
            ));
            assert_eq!(FailedEntry::parse(&name(&reason)).job(), Some(id));
        }
        for text in [
            format!("{id}x"),
            "junk".to_owned(),
            texts[4].to_str().unwrap().to_owned(),
        ] {
            assert_eq!(
                FailedName::parse(&name(&text)).unwrap().job(),
                None,
                "{text}"
            );
        }
        assert_eq!(FailedEntry::parse(&reason_temp_name()), FailedEntry::Hidden);
        assert_eq!(FailedEntry::parse(&name(".hidden.5")), FailedEntry::Hidden);
    }

    #[test]
    fn only_names_whose_reason_file_fits_fit() {
        let longest = "x".repeat(NAME_MAX - REASON_SUFFIX.len());
        assert!(FailedName::original(OsStr::new(&longest)).fits());
        assert!(
            !FailedName::original(OsStr::new(&longest))
                .next_collision()
                .fits()
        );
        assert!(FailedName::generated().next_collision().fits());
    }

    #[test]
    fn reason_codes_read_back() {
        let codes = DeadCause::ALL
            .iter()
            .map(|&c| ReasonCode::Dead(c))
            .chain(
                QuarantineCause::ALL
                    .iter()
                    .map(|&c| ReasonCode::Quarantined(c)),
            )
            .chain([ReasonCode::HiddenInNew]);
        let mut seen = std::collections::HashSet::new();
        for code in codes {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(code.as_str().parse(), Ok(code));
        }
        assert!("no_such_reason".parse::<ReasonCode>().is_err());
    }

    proptest! {
        #[test]
        fn any_visible_name_reads_back_as_itself(
            bytes in proptest::collection::vec(any::<u8>(), 1..60),
            collision in 0u32..3,
        ) {
            prop_assume!(bytes[0] != b'.' && !bytes.contains(&b'/') && !bytes.contains(&0));
            let mut made = FailedName::original(OsStr::from_bytes(&bytes));
            made.collision = collision;
            let text = made.to_os_string();
            let read = FailedName::parse(&text).unwrap();
            prop_assert_eq!(read.to_os_string(), text);
        }
    }
}
