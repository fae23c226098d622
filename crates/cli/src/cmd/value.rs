//! Flag value types that print the way they parse, so that clap can show a default
//! defined in a library (`default_value_t`) and parse it back: a duration as humantime
//! writes it, a file mode in octal, an audit finding by its flag name.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use spoolq_auditor::Finding;

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

/// A duration longer than zero.
pub fn positive_duration(s: &str) -> Result<HumanDuration, String> {
    match s.parse::<HumanDuration>()? {
        d if d.0.is_zero() => {
            Err("must be longer than zero (a fresh file may still be written)".into())
        }
        d => Ok(d),
    }
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
    }
}
