//! The keys of a journal line and the codecs of their values: the flat [`Wire`] every
//! line is read into and written from (see `wire` for the line format), the conversions
//! of each field type to and from its key, and the `put!`, `take!` and `on_wire!` macros
//! each event kind (`event`) uses to name its keys. Nothing here knows the event kinds,
//! so the events and the line reader both build on it.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

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
        $( $line.$field = $crate::journal::fields::ToWire::to_wire($field); )*
    };
}
pub(crate) use put;

/// `take!(line.key)`: the value of `key` as the field's type (a missing key is an error
/// unless the field is an `Option`); `take!(line => Event { a, b })`: the event, each
/// field from its key.
macro_rules! take {
    ($line:ident . $key:ident) => {
        $crate::journal::fields::FromWire::from_wire($line.$key.take(), stringify!($key))?
    };
    ($line:ident => $event:ident { $($field:ident),* $(,)? }) => {
        $event {
            $( $field: $crate::journal::fields::take!($line.$field), )*
        }
    };
}
pub(crate) use take;

/// Implements [`OnWire`] for an event whose fields each sit under the key of their name.
/// The destructuring and the struct expression make the compiler check that the list
/// names every field.
macro_rules! on_wire {
    ($event:ident { $($field:ident),* $(,)? }) => {
        impl $crate::journal::fields::OnWire for $event {
            fn put<'a>(&'a self, line: &mut $crate::journal::fields::Wire<'a>) {
                let $event { $($field),* } = self;
                $crate::journal::fields::put!(line: $($field),*);
            }

            fn take(
                line: &mut $crate::journal::fields::Wire<'_>,
            ) -> Result<$event, $crate::journal::fields::Decode> {
                Ok($crate::journal::fields::take!(line => $event { $($field),* }))
            }
        }
    };
}
pub(crate) use on_wire;
