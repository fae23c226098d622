//! The journal's line format, version 1: one flat JSON object per line,
//!
//! ```text
//! {"v":1,"event":"claimed","mono_ns":..,"wall":"..","host":"..","pid":..,"job":"..",
//!  "worker":1,"strategy":"verified","attempt":1,"name":".."}
//! ```
//!
//! keys in this order, optional keys left out (`boot`, after `pid`, and `ino`, `btime_ns`
//! and `outcome_ns`, at the end, are optional on read too: lines without them read). A [`Record`] is written by filling the
//! private flat [`Wire`] (borrowing every string from the record) and serializing it
//! (the journal writer through `encode`, which writes what serde_json writes), and
//! read by deserializing a `Wire` (borrowing every string from the line that has no
//! escapes) and taking each event's fields out of it. One flat struct both ways keeps
//! the hot paths to one serde pass with no intermediate buffering, and it is the whole
//! version 1 reader: a line is whatever these keys say.
//!
//! A line this build cannot interpret, because its version, its event or a word in it is
//! newer than this build, is an [`UnknownRecord`], kept whole: never a problem, never
//! dropped.

use serde::{Deserialize, Serialize};

use super::JOURNAL_VERSION;
use super::event::{Event, EventKind, Record};
use super::fields::{Decode, Text, Wire};
use crate::codes::Word;

impl Record {
    /// The record as a line's keys, borrowing its strings.
    pub(crate) fn to_wire(&self) -> Wire<'_> {
        let mut line = Wire {
            v: JOURNAL_VERSION,
            event: Text::word(self.kind().as_str()),
            mono_ns: self.mono_ns,
            wall: Text::borrowed(&self.wall),
            host: Text::borrowed(&self.host),
            pid: self.pid,
            boot: self.boot.as_deref().map(Text::borrowed),
            ..Wire::default()
        };
        self.event.put(&mut line);
        line
    }
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        match decode(Wire::deserialize(d)?) {
            Ok(record) => Ok(record),
            Err(Undecodable::Unknown { why, .. }) => Err(serde::de::Error::custom(why)),
            Err(Undecodable::Malformed(message)) => Err(serde::de::Error::custom(message)),
        }
    }
}

/// What one journal line holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A record this build understands.
    Record(Record),
    /// A record from a newer writer (or another tool), kept as it was written.
    Unknown(UnknownRecord),
}

impl Line {
    /// The record, if this build understands it.
    pub fn into_record(self) -> Option<Record> {
        match self {
            Line::Record(record) => Some(record),
            Line::Unknown(_) => None,
        }
    }
}

/// A line this build does not understand, most likely written by a newer spoolq: kept
/// whole (the auditor and `spoolq status` count and list these), never interpreted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownRecord {
    /// The line's format version.
    pub v: u32,
    /// Its event word (empty when it has none).
    pub event: String,
    /// What this build does not know about it.
    pub why: WhyUnknown,
    /// The line as written, without its newline.
    pub raw: String,
}

/// What a build does not know about an [`UnknownRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum WhyUnknown {
    /// Its format version is newer than this build reads.
    Version {
        /// The line's version.
        v: u32,
    },
    /// Its event is not one this build knows.
    Event {
        /// The line's event word.
        event: String,
    },
    /// A known event, with a word this build does not know under `key` (a new step, a
    /// new strategy, a new result).
    Word {
        /// The key the word is under.
        key: &'static str,
        /// The word.
        word: String,
    },
}

impl std::fmt::Display for WhyUnknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WhyUnknown::Version { v } => {
                write!(f, "journal version {v} is newer than this spoolq reads")
            }
            WhyUnknown::Event { event } => {
                write!(f, "event {event:?} is not known to this spoolq")
            }
            WhyUnknown::Word { key, word } => {
                write!(f, "{key} {word:?} is not known to this spoolq")
            }
        }
    }
}

/// Why a line's keys are not a record this build can use.
enum Undecodable {
    Unknown {
        v: u32,
        event: String,
        why: WhyUnknown,
    },
    Malformed(String),
}

/// The record a line's keys describe.
fn decode(mut line: Wire<'_>) -> Result<Record, Undecodable> {
    let unknown = |line: &Wire<'_>, why| Undecodable::Unknown {
        v: line.v,
        event: line.event.as_str().to_owned(),
        why,
    };
    if line.v > JOURNAL_VERSION {
        return Err(unknown(&line, WhyUnknown::Version { v: line.v }));
    }
    let Ok(kind) = EventKind::from_word(line.event.as_str()) else {
        let event = line.event.as_str().to_owned();
        return Err(unknown(&line, WhyUnknown::Event { event }));
    };
    let event = match Event::take(kind, &mut line) {
        Ok(event) => event,
        Err(Decode::UnknownWord { key, word }) => {
            return Err(unknown(&line, WhyUnknown::Word { key, word }));
        }
        Err(Decode::Missing(key)) => {
            return Err(Undecodable::Malformed(format!(
                "a {kind} record without {key}"
            )));
        }
        Err(Decode::Invalid(why)) => {
            return Err(Undecodable::Malformed(format!("a {kind} record: {why}")));
        }
    };
    Ok(Record {
        mono_ns: line.mono_ns,
        wall: line.wall.into_string(),
        host: line.host.into_string(),
        pid: line.pid,
        boot: line.boot.map(Text::into_string),
        event,
    })
}

/// The keys that tell a newer line from a broken one, when a line does not read as
/// version 1.
#[derive(Deserialize)]
struct Head<'a> {
    v: u32,
    #[serde(default, borrow)]
    event: Option<Text<'a>>,
}

/// Parses one journal line, `text` without its newline; `complete` says whether the
/// newline was there (a line without one that does not parse is torn: a crash
/// mid-write). `Ok(None)` for a blank line, which readers skip. Pure: the journal
/// reader's whole judgement of a line, and the fuzz target's entry point.
pub fn parse_line(text: &[u8], complete: bool) -> Result<Option<Line>, super::ProblemKind> {
    use super::ProblemKind;
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let kept = |v, event, why| {
        Line::Unknown(UnknownRecord {
            v,
            event,
            why,
            raw: String::from_utf8_lossy(text).into_owned(),
        })
    };
    match serde_json::from_slice::<Wire<'_>>(text) {
        Ok(line) => match decode(line) {
            Ok(record) => Ok(Some(Line::Record(record))),
            Err(Undecodable::Unknown { v, event, why }) => Ok(Some(kept(v, event, why))),
            Err(Undecodable::Malformed(message)) => Err(ProblemKind::Malformed(message)),
        },
        Err(error) => {
            // A newer writer may use version 1's keys differently: what the head says
            // decides between a newer record and a broken line.
            if let Ok(head) = serde_json::from_slice::<Head<'_>>(text) {
                let event = head.event.map(Text::into_string).unwrap_or_default();
                if head.v > JOURNAL_VERSION {
                    let why = WhyUnknown::Version { v: head.v };
                    return Ok(Some(kept(head.v, event, why)));
                }
                if !event.is_empty() && EventKind::from_word(&event).is_err() {
                    let why = WhyUnknown::Event {
                        event: event.clone(),
                    };
                    return Ok(Some(kept(head.v, event, why)));
                }
            }
            if complete {
                Err(ProblemKind::Malformed(error.to_string()))
            } else {
                Err(ProblemKind::Torn)
            }
        }
    }
}
