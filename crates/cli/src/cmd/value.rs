//! Flag value types that print the way they parse, so that clap can show a default
//! defined in a library (`default_value_t`) and parse it back: a duration as humantime
//! writes it, a file mode in octal, an audit finding by its flag name.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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
        for n in [0, 1, 256] {
            assert_eq!(workers(&Workers(n).to_string()), Ok(Workers(n)));
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
