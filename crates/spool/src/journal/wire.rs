//! The journal's line format, version 1: one flat JSON object per line,
//!
//! ```text
//! {"v":1,"event":"claimed","mono_ns":..,"wall":"..","host":"..","pid":..,"job":"..",
//!  "worker":1,"strategy":"verified","attempt":1,"name":".."}
//! ```
//!
//! keys in this order, optional keys left out (`boot`, after `pid`, and `ino`, `btime_ns`
//! and `outcome_ns`, at the end, are optional on read too: lines without them read). A [`Record`] is written by filling the
//! private flat [`Wire`] (borrowing every string from the record) and serializing it, and
//! read by deserializing a `Wire` (borrowing every string from the line that has no
//! escapes) and taking each event's fields out of it. One flat struct both ways keeps
//! the hot paths to one serde pass with no intermediate buffering, and it is the whole
//! version 1 reader: a line is whatever these keys say.
//!
//! A line this build cannot interpret, because its version, its event or a word in it is
//! newer than this build, is an [`UnknownRecord`], kept whole: never a problem, never
//! dropped.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::JOURNAL_VERSION;
use super::event::{Event, EventKind, Record};
use crate::codes::Word;
use crate::job::JobId;

/// A string on a line: borrowed from the line (or the record) wherever it can be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> Text<'a> {
    pub fn word(word: &'static str) -> Text<'a> {
        Text(Cow::Borrowed(word))
    }

    pub fn borrowed(text: &'a str) -> Text<'a> {
        Text(Cow::Borrowed(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

/// Every key a version 1 line may carry, in the order they are written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Wire<'a> {
    pub v: u32,
    #[serde(borrow)]
    pub event: Text<'a>,
    pub mono_ns: u64,
    #[serde(borrow)]
    pub wall: Text<'a>,
    #[serde(borrow)]
    pub host: Text<'a>,
    pub pid: u32,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub boot: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<u32>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub step: Option<Text<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub result: Option<Text<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub errno: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Text<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ino: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btime_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_ns: Option<u64>,
}

/// Why an event's fields could not be taken from a line.
#[derive(Debug)]
pub(crate) enum Decode {
    /// A key the event needs is not there.
    Missing(&'static str),
    /// A word this build does not know (from a newer writer).
    UnknownWord { key: &'static str, word: String },
    /// Keys that contradict each other.
    Invalid(&'static str),
}

/// How one event's fields sit on a line: which keys it fills, and how it reads them back.
pub(crate) trait OnWire: Sized {
    fn put<'a>(&'a self, line: &mut Wire<'a>);
    fn take(line: &mut Wire<'_>) -> Result<Self, Decode>;
}

/// A field's value as the value of its key.
pub(crate) trait ToWire<'a, W> {
    fn to_wire(&'a self) -> Option<W>;
}

/// A field's value from the value of its key (`None`: the key is absent).
pub(crate) trait FromWire<W>: Sized {
    fn from_wire(value: Option<W>, key: &'static str) -> Result<Self, Decode>;
}

macro_rules! plain_values {
    ($($t:ty),*) => {$(
        impl<'a> ToWire<'a, $t> for $t {
            fn to_wire(&'a self) -> Option<$t> {
                Some(*self)
            }
        }
        impl FromWire<$t> for $t {
            fn from_wire(value: Option<$t>, key: &'static str) -> Result<$t, Decode> {
                value.ok_or(Decode::Missing(key))
            }
        }
    )*};
}
plain_values!(u32, u64, i32, JobId);

impl<'a> ToWire<'a, Text<'a>> for String {
    fn to_wire(&'a self) -> Option<Text<'a>> {
        Some(Text::borrowed(self))
    }
}

impl<'a> FromWire<Text<'a>> for String {
    fn from_wire(value: Option<Text<'a>>, key: &'static str) -> Result<String, Decode> {
        value.map(Text::into_string).ok_or(Decode::Missing(key))
    }
}

impl<'a, T: Word> ToWire<'a, Text<'a>> for T {
    fn to_wire(&'a self) -> Option<Text<'a>> {
        Some(Text::word(self.word()))
    }
}

impl<'a, T: Word> FromWire<Text<'a>> for T {
    fn from_wire(value: Option<Text<'a>>, key: &'static str) -> Result<T, Decode> {
        let text = value.ok_or(Decode::Missing(key))?;
        T::from_word(text.as_str()).map_err(|unknown| Decode::UnknownWord {
            key,
            word: unknown.word,
        })
    }
}

impl<'a, W, T: ToWire<'a, W>> ToWire<'a, W> for Option<T> {
    fn to_wire(&'a self) -> Option<W> {
        self.as_ref().and_then(ToWire::to_wire)
    }
}

impl<W, T: FromWire<W>> FromWire<W> for Option<T> {
    fn from_wire(value: Option<W>, key: &'static str) -> Result<Option<T>, Decode> {
        value.map(|v| T::from_wire(Some(v), key)).transpose()
    }
}

/// `put!(line: a, b)`: sets the keys `a` and `b` of `line` from the bindings `a` and `b`.
macro_rules! put {
    ($line:ident: $($field:ident),* $(,)?) => {
        $( $line.$field = $crate::journal::wire::ToWire::to_wire($field); )*
    };
}
pub(crate) use put;

/// `take!(line.key)`: the value of `key` as the field's type (a missing key is an error
/// unless the field is an `Option`); `take!(line => Event { a, b })`: the event, each
/// field from its key.
macro_rules! take {
    ($line:ident . $key:ident) => {
        $crate::journal::wire::FromWire::from_wire($line.$key.take(), stringify!($key))?
    };
    ($line:ident => $event:ident { $($field:ident),* $(,)? }) => {
        $event {
            $( $field: $crate::journal::wire::take!($line.$field), )*
        }
    };
}
pub(crate) use take;

/// Implements [`OnWire`] for an event whose fields each sit under the key of their name.
/// The destructuring and the struct expression make the compiler check that the list
/// names every field.
macro_rules! on_wire {
    ($event:ident { $($field:ident),* $(,)? }) => {
        impl $crate::journal::wire::OnWire for $event {
            fn put<'a>(&'a self, line: &mut $crate::journal::wire::Wire<'a>) {
                let $event { $($field),* } = self;
                $crate::journal::wire::put!(line: $($field),*);
            }

            fn take(
                line: &mut $crate::journal::wire::Wire<'_>,
            ) -> Result<$event, $crate::journal::wire::Decode> {
                Ok($crate::journal::wire::take!(line => $event { $($field),* }))
            }
        }
    };
}
pub(crate) use on_wire;

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
