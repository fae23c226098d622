//! Flag value types that print the way they parse, so that clap can show a default
//! defined in a library (`default_value_t`) and parse it back: a duration as humantime
//! writes it, a file mode in octal, an audit finding by its flag name.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use spoolq_auditor::Finding;
use spoolq_daemon::{Accepted, Bound, Config};

/// `items` as a flag with `value_delimiter = ','` takes them (clap shows several
/// default values separated by spaces, which such a flag would not parse).
pub fn comma_list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

/// A duration written as humantime does: `500ms`, `5s`, `10m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&humantime::format_duration(self.0), f)
    }
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<HumanDuration, String> {
        humantime::parse_duration(s)
            .map(HumanDuration)
            .map_err(|e| format!("{e} (examples: 500ms, 5s, 10min, 1h)"))
    }
}

/// A size in bytes: digits, optionally with a k, M or G suffix (1024s).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let multiplier: u64 = match unit {
        "" | "B" | "b" => 1,
        "k" | "K" | "KiB" | "kB" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        "G" | "GiB" | "GB" => 1 << 30,
        "T" | "TiB" | "TB" => 1 << 40,
        _ => return Err(format!("{s:?} is not a size: use bytes, or 4k, 1M, 1G")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{s:?} is not a size: use bytes, or 4k, 1M, 1G"))
}

/// A retention limit: a value, or `none` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit<T> {
    /// No limit.
    None,
    /// This limit.
    Some(T),
}

impl<T: Copy> Limit<T> {
    pub fn get(self) -> Option<T> {
        match self {
            Limit::None => None,
            Limit::Some(t) => Some(t),
        }
    }
}

impl fmt::Display for Limit<HumanDuration> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::None => f.write_str("none"),
            Limit::Some(d) => d.fmt(f),
        }
    }
}

impl FromStr for Limit<HumanDuration> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "none" {
            return Ok(Limit::None);
        }
        positive_duration(s).map(Limit::Some)
    }
}

/// A size limit, shown in the largest unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Limit<Bytes> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::None => f.write_str("none"),
            Limit::Some(Bytes(n)) => {
                for (unit, size) in [
                    ("T", 1u64 << 40),
                    ("G", 1 << 30),
                    ("M", 1 << 20),
                    ("k", 1 << 10),
                ] {
                    if *n >= size && n % size == 0 {
                        return write!(f, "{}{unit}", n / size);
                    }
                }
                write!(f, "{n}")
            }
        }
    }
}

impl FromStr for Limit<Bytes> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "none" {
            return Ok(Limit::None);
        }
        match parse_size(s)? {
            0 => Err("must be larger than zero, or none".into()),
            n => Ok(Limit::Some(Bytes(n))),
        }
    }
}

/// A duration longer than zero.
pub fn positive_duration(s: &str) -> Result<HumanDuration, String> {
    match s.parse::<HumanDuration>()? {
        d if d.0.is_zero() => {
            Err("must be longer than zero (a fresh file may still be written)".into())
        }
        d => Ok(d),
    }
}

/// A point in time for `--at`: RFC 3339 with its zone (`2026-12-01T18:30:00Z`,
/// `2026-12-01T19:30:00+01:00`; a space may stand for the `T`), or `@` and Unix seconds
/// (`@1796161441`). A time without a zone is refused: whose local time it is would be a
/// guess.
pub fn parse_at(s: &str) -> Result<SystemTime, String> {
    let hint = "write it as 2026-12-01T18:30:00Z, 2026-12-01T19:30:00+01:00 or @<unix seconds> \
                (date -u +%FT%TZ -d 'tomorrow 18:30' prints one)";
    if let Some(secs) = s.strip_prefix('@') {
        let secs: u64 = secs
            .parse()
            .map_err(|_| format!("{s:?} is not @<unix seconds>; {hint}"))?;
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
    }
    let (local, offset_secs) =
        split_offset(s).ok_or_else(|| format!("{s:?} has no time zone (Z or +HH:MM); {hint}"))?;
    let utc = humantime::parse_rfc3339_weak(local)
        .map_err(|e| format!("{s:?} is not a time ({e}); {hint}"))?;
    let shift = Duration::from_secs(offset_secs.unsigned_abs());
    let t = if offset_secs >= 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    };
    t.ok_or_else(|| format!("{s:?} is out of range; {hint}"))
}

/// `text` without its zone, and the zone's offset east of UTC in seconds; `None` when it
/// has none.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(local) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return Some((local, 0));
    }
    let at = text.len().checked_sub(6)?;
    let (local, zone) = (text.get(..at)?, text.get(at..)?);
    let bytes = zone.as_bytes();
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if bytes[3] != b':' || !local.contains(':') {
        return None;
    }
    let hours: i64 = zone.get(1..3)?.parse().ok()?;
    let minutes: i64 = zone.get(4..6)?.parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((local, sign * (hours * 3600 + minutes * 60)))
}

/// A parser for a duration flag that accepts what `accepted` does: clap refuses any
/// other value at parse time (exit 2) with the range and its reason, the same bounds
/// the daemon library checks.
pub fn duration_in(
    accepted: Accepted<Duration>,
) -> impl Fn(&str) -> Result<HumanDuration, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let d = s.parse::<HumanDuration>()?;
        accepted
            .check("", d.0)
            .map(HumanDuration)
            .map_err(|e| e.bounds())
    }
}

/// A parser for a count flag that accepts what `accepted` does (see [`duration_in`]).
pub fn count_in<T>(
    accepted: Accepted<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: Bound + FromStr + Send + Sync + 'static,
{
    move |s: &str| {
        let n = s
            .parse::<T>()
            .map_err(|_| format!("not a whole number; {}", accepted.range()))?;
        accepted.check("", n).map_err(|e| e.bounds())
    }
}

/// The daemon's worker count: `auto` (one per CPU) or a number, as `--workers` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers(pub usize);

impl Workers {
    /// What `--workers` takes for one worker per CPU.
    pub const AUTO: &str = "auto";
}

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str(Workers::AUTO),
            n => write!(f, "{n}"),
        }
    }
}

/// `--workers`: `auto`, or a count within the daemon's accepted range (0 is refused: it
/// used to mean `auto` without saying so).
pub fn workers(s: &str) -> Result<Workers, String> {
    if s == Workers::AUTO {
        return Ok(Workers(0));
    }
    let accepted = Config::WORKERS;
    let n = s.parse::<usize>().map_err(|_| {
        format!(
            "not a number; write auto (one per CPU) or a count {}",
            accepted.range()
        )
    })?;
    accepted
        .check("", n)
        .map(Workers)
        .map_err(|e| format!("{}; or auto for one per CPU", e.bounds()))
}

/// Permission bits, written and read in octal (`750`, `2770`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:o}", self.0)
    }
}

/// An audit finding by the name `--fail-on` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailOn(pub Finding);

impl FailOn {
    pub fn name(self) -> &'static str {
        self.0.as_str()
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FailOn {
    type Err = spoolq_auditor::ParseFindingError;
    fn from_str(s: &str) -> Result<FailOn, Self::Err> {
        s.parse().map(FailOn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_back_from_how_it_prints() {
        for d in [
            Duration::from_millis(2),
            Duration::from_secs(5),
            Duration::from_secs(600),
            Duration::from_secs(3600),
            Duration::from_micros(1500),
        ] {
            let printed = HumanDuration(d).to_string();
            assert_eq!(printed.parse::<HumanDuration>(), Ok(HumanDuration(d)));
        }
        for finding in Finding::ALL {
            let printed = FailOn(finding).to_string();
            assert_eq!(printed.parse::<FailOn>(), Ok(FailOn(finding)));
        }
        assert_eq!(Mode(0o2770).to_string(), "2770");
        for text in ["none", "30days", "1h"] {
            let limit: Limit<HumanDuration> = text.parse().unwrap();
            assert_eq!(limit.to_string().parse::<Limit<HumanDuration>>(), Ok(limit));
        }
        for text in ["none", "1G", "1536M", "1000"] {
            let limit: Limit<Bytes> = text.parse().unwrap();
            assert_eq!(limit.to_string().parse::<Limit<Bytes>>(), Ok(limit));
        }
        assert_eq!(Limit::Some(Bytes(1 << 30)).to_string(), "1G");
        for n in [0, 1, 256] {
            assert_eq!(workers(&Workers(n).to_string()), Ok(Workers(n)));
        }
    }

    #[test]
    fn at_takes_rfc3339_with_a_zone_or_unix_seconds() {
        let at = |s: &str| parse_at(s).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap());
        let secs = Duration::from_secs;
        assert_eq!(at("2026-12-01T18:30:00Z"), Ok(secs(1_796_149_800)));
        assert_eq!(at("2026-12-01 18:30:00Z"), Ok(secs(1_796_149_800)));
        assert_eq!(at("2026-12-01T19:30:00+01:00"), Ok(secs(1_796_149_800)));
        assert_eq!(at("2026-12-01T13:00:00-05:30"), Ok(secs(1_796_149_800)));
        assert_eq!(
            at("2026-12-01T18:30:00.250Z"),
            Ok(Duration::from_millis(1_796_149_800_250))
        );
        assert_eq!(at("@1796149800"), Ok(secs(1_796_149_800)));
        for bad in [
            "2026-12-01T18:30:00",
            "2026-12-01",
            "tomorrow",
            "@-5",
            "2026-12-01T18:30:00+25:00",
            "",
        ] {
            assert!(parse_at(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_outside_the_daemons_bounds_name_the_range() {
        let e = workers("0").unwrap_err();
        assert!(e.contains("from 1 to 256") && e.contains("auto"), "{e}");
        assert!(workers("600").unwrap_err().contains("blocking threads"));
        let rescan = duration_in(Config::RESCAN_INTERVAL);
        assert!(rescan("1ns").unwrap_err().contains("from 10ms to 1day"));
        assert!(rescan("10ms").is_ok());
        assert!(count_in(Config::MAX_ATTEMPTS)("0").is_err());
        assert!(
            count_in(Config::MAX_ATTEMPTS)("x")
                .unwrap_err()
                .contains("from 1")
        );
    }
}
