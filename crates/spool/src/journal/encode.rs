//! Writing a journal line: the JSON text of a [`Wire`] appended to a caller's buffer,
//! byte for byte what `serde_json::to_writer` makes of it (keys in `Wire`'s order,
//! absent keys left out, no spaces, strings escaped as serde_json escapes them).
//!
//! The daemon writes two records per job; through serde this was a third of its work per
//! job, mostly in the generic string escaping. Here a string that needs no escape (every
//! word, id, name and time the daemon writes) is one copy, and integers go through
//! `itoa`. The stamps a write puts on all its lines (`mono_ns` to `boot`) are encoded
//! once for the write and copied into each line. Reading stays serde's (`wire`); the
//! tests below hold the two writers equal.

use super::fields::{Text, Wire};
use crate::job::JobId;

/// `,"key":` as one piece of bytes (every key but `v` follows another).
macro_rules! key {
    ($key:literal) => {
        concat!(",\"", $key, "\":").as_bytes()
    };
}

impl Wire<'_> {
    /// Appends the line's JSON text (without a newline) to `out`, its own stamps
    /// included: the whole line, which the tests hold equal to serde_json's.
    #[cfg(test)]
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        // Room for a typical line at once, so that the pieces below do not grow the
        // buffer one by one.
        out.reserve(512);
        self.write_head(out);
        self.write_stamps(out);
        self.write_tail(out);
    }

    /// [`write_json`](Self::write_json) with the stamps (`mono_ns` to `boot`) taken from
    /// `stamps`, the bytes [`write_stamps`](Self::write_stamps) wrote for them, instead of
    /// from this line's own fields: a writer encodes the stamps of a write once for all
    /// its lines.
    pub(crate) fn write_json_stamped(&self, out: &mut Vec<u8>, stamps: &[u8]) {
        out.reserve(512);
        self.write_head(out);
        out.extend_from_slice(stamps);
        self.write_tail(out);
    }

    /// `{"v":..,"event":..`: what comes before the stamps.
    fn write_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"v\":");
        integer(out, self.v);
        text(out, key!("event"), Some(&self.event));
    }

    /// The stamps a writer puts on every line, `,"mono_ns":..` to `,"boot":..`.
    pub(crate) fn write_stamps(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(key!("mono_ns"));
        integer(out, self.mono_ns);
        text(out, key!("wall"), Some(&self.wall));
        text(out, key!("host"), Some(&self.host));
        out.extend_from_slice(key!("pid"));
        integer(out, self.pid);
        text(out, key!("boot"), self.boot.as_ref());
    }

    /// Every key after the stamps, and the closing brace.
    fn write_tail(&self, out: &mut Vec<u8>) {
        let Wire {
            v: _,
            event: _,
            mono_ns: _,
            wall: _,
            host: _,
            pid: _,
            boot: _,
            job,
            worker,
            strategy,
            attempt,
            name,
            step,
            result,
            errno,
            exit,
            signal,
            detail,
            ino,
            btime_ns,
            outcome_ns,
            horizon_ns,
        } = self;
        if let Some(job) = job {
            out.extend_from_slice(key!("job"));
            job_id(out, *job);
        }
        optional(out, key!("worker"), *worker);
        text(out, key!("strategy"), strategy.as_ref());
        optional(out, key!("attempt"), *attempt);
        text(out, key!("name"), name.as_ref());
        text(out, key!("step"), step.as_ref());
        text(out, key!("result"), result.as_ref());
        text(out, key!("errno"), errno.as_ref());
        optional(out, key!("exit"), *exit);
        optional(out, key!("signal"), *signal);
        text(out, key!("detail"), detail.as_ref());
        optional(out, key!("ino"), *ino);
        optional(out, key!("btime_ns"), *btime_ns);
        optional(out, key!("outcome_ns"), *outcome_ns);
        optional(out, key!("horizon_ns"), *horizon_ns);
        out.push(b'}');
    }
}

#[inline(always)]
fn integer(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// `key` (from [`key!`]) and the value, if there is one.
#[inline(always)]
fn optional(out: &mut Vec<u8>, key: &[u8], value: Option<impl itoa::Integer>) {
    if let Some(value) = value {
        out.extend_from_slice(key);
        integer(out, value);
    }
}

/// `key` (from [`key!`]) and the string, if there is one.
#[inline(always)]
fn text(out: &mut Vec<u8>, key: &[u8], value: Option<&Text<'_>>) {
    if let Some(value) = value {
        out.extend_from_slice(key);
        string(out, value.as_str());
    }
}

/// A job id as serde writes a UUID to a human-readable format: hyphenated, lower case.
fn job_id(out: &mut Vec<u8>, id: JobId) {
    let mut buf = uuid::Uuid::encode_buffer();
    out.push(b'"');
    out.extend_from_slice(id.0.hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

/// A JSON string as serde_json writes it: `"` and `\` escaped with a backslash, the
/// control characters below 0x20 as `\b \t \n \f \r` or `\u00xx` (lower-case hex), every
/// other character (DEL and non-ASCII included) as it is.
fn string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    // Without an early exit the check compiles to a few vector instructions per 16
    // bytes; the strings a journal carries almost never need an escape.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both(wire: &Wire<'_>) -> (String, String) {
        let mut ours = Vec::new();
        wire.write_json(&mut ours);
        let serde = serde_json::to_string(wire).unwrap();
        (String::from_utf8(ours).unwrap(), serde)
    }

    #[test]
    fn every_character_below_0x80_and_some_beyond_are_escaped_as_serde_json_escapes_them() {
        let every: String = (0u8..0x80).map(char::from).collect();
        for detail in [
            every.as_str(),
            "",
            "é ü \u{2028} \u{1F600} \u{7f}",
            "\\\"\\",
        ] {
            let wire = Wire {
                detail: Some(Text::borrowed(detail)),
                ..Wire::default()
            };
            let (ours, serde) = both(&wire);
            assert_eq!(ours, serde);
        }
    }

    #[test]
    fn every_key_present_and_every_key_absent_are_written_as_serde_json_writes_them() {
        assert_eq!(both(&Wire::default()).0, both(&Wire::default()).1);
        let full = Wire {
            v: 1,
            event: Text::borrowed("claimed"),
            mono_ns: u64::MAX,
            wall: Text::borrowed("2026-12-02T03:25:42.948145Z"),
            host: Text::borrowed("host"),
            pid: u32::MAX,
            boot: Some(Text::borrowed("0f3243b9-dba9-4166-81f8-0df857c9382d")),
            job: Some(JobId::generate()),
            worker: Some(7),
            strategy: Some(Text::borrowed("verified")),
            attempt: Some(0),
            name: Some(Text::borrowed("a\nname")),
            step: Some(Text::borrowed("open")),
            result: Some(Text::borrowed("ok")),
            errno: Some(Text::borrowed("EAGAIN")),
            exit: Some(i32::MIN),
            signal: Some(-1),
            detail: Some(Text::borrowed("\"quoted\"")),
            ino: Some(0),
            btime_ns: Some(1),
            outcome_ns: Some(u64::MAX),
            horizon_ns: Some(42),
        };
        let (ours, serde) = both(&full);
        assert_eq!(ours, serde);
    }

    proptest! {
        #[test]
        fn any_line_is_written_as_serde_json_writes_it(
            strings in proptest::collection::vec(any::<String>(), 6),
            numbers in proptest::collection::vec(any::<u64>(), 4),
            small in proptest::collection::vec(proptest::option::of(any::<i32>()), 2),
            present in proptest::collection::vec(any::<bool>(), 14),
        ) {
            let on = |i: usize| present[i];
            let wire = Wire {
                v: numbers[0] as u32,
                event: Text::borrowed(&strings[0]),
                mono_ns: numbers[1],
                wall: Text::borrowed(&strings[1]),
                host: Text::borrowed(&strings[2]),
                pid: numbers[2] as u32,
                boot: on(0).then(|| Text::borrowed(&strings[3])),
                job: on(1).then(|| JobId(uuid::Uuid::from_u128(u128::from(numbers[3])))),
                worker: on(2).then_some(numbers[0] as u32),
                strategy: on(3).then(|| Text::borrowed(&strings[4])),
                attempt: on(4).then_some(numbers[2] as u32),
                name: on(5).then(|| Text::borrowed(&strings[5])),
                step: on(6).then(|| Text::borrowed(&strings[0])),
                result: on(7).then(|| Text::borrowed(&strings[1])),
                errno: on(8).then(|| Text::borrowed(&strings[2])),
                exit: small[0],
                signal: small[1],
                detail: on(9).then(|| Text::borrowed(&strings[3])),
                ino: on(10).then_some(numbers[1]),
                btime_ns: on(11).then_some(numbers[3]),
                outcome_ns: on(12).then_some(numbers[0]),
                horizon_ns: on(13).then_some(numbers[2]),
            };
            let (ours, serde) = both(&wire);
            prop_assert_eq!(&ours, &serde);
            let mut stamps = Vec::new();
            wire.write_stamps(&mut stamps);
            let unstamped = Wire {
                mono_ns: 0,
                wall: Text::default(),
                host: Text::default(),
                pid: 0,
                boot: None,
                ..wire
            };
            let mut stamped = Vec::new();
            unstamped.write_json_stamped(&mut stamped, &stamps);
            prop_assert_eq!(String::from_utf8(stamped).unwrap(), serde);
        }
    }
}
