//! Facts about the host: its name, its groups, its monotonic clock.
#![forbid(unsafe_code)]

use std::ffi::CStr;

use crate::Errno;

/// Why the host has no usable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    /// `uname` reports an empty node name.
    #[error("the host name is empty; give the host a name (hostname(1))")]
    Empty,
    /// The node name is not UTF-8 (its bytes).
    #[error(
        "the host name \"{}\" is not UTF-8; give the host an ASCII name (hostname(1))",
        .0.escape_ascii()
    )]
    NotUtf8(Vec<u8>),
}

/// The host's name: the node name of `uname(2)`, which is what `gethostname` reads.
pub fn hostname() -> Result<String, HostnameError> {
    host_name_from(rustix::system::uname().nodename())
}

fn host_name_from(node: &CStr) -> Result<String, HostnameError> {
    let bytes = node.to_bytes();
    if bytes.is_empty() {
        return Err(HostnameError::Empty);
    }
    String::from_utf8(bytes.to_vec()).map_err(|e| HostnameError::NotUtf8(e.into_bytes()))
}

/// The group id of a group name, from the group database; `None` if there is no such
/// group.
pub fn group_id(name: &CStr) -> Result<Option<u32>, Errno> {
    // Group names are text; a name that is not cannot be in a database of them anyway.
    let Ok(name) = name.to_str() else {
        return Ok(None);
    };
    match nix::unistd::Group::from_name(name) {
        Ok(group) => Ok(group.map(|group| group.gid.as_raw())),
        Err(errno) => Err(Errno(errno as i32)),
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock shared by every process on the host, so
/// it orders journal events across processes.
pub fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_name_is_the_node_name_uname_reports() {
        let out = std::process::Command::new("uname")
            .arg("-n")
            .output()
            .unwrap();
        let expected = String::from_utf8(out.stdout).unwrap();
        assert_eq!(hostname().unwrap(), expected.trim_end_matches('\n'));
    }

    #[test]
    fn an_empty_or_non_utf8_node_name_is_an_error() {
        assert_eq!(host_name_from(c""), Err(HostnameError::Empty));
        let err = host_name_from(c"caf\xe9").unwrap_err();
        assert_eq!(err, HostnameError::NotUtf8(b"caf\xe9".to_vec()));
        assert!(err.to_string().contains(r#""caf\xe9""#), "{err}");
        assert_eq!(host_name_from(c"build-7").unwrap(), "build-7");
    }

    #[test]
    fn groups_are_found_by_name() {
        // Group 0 is called "root" on Linux and "wheel" on macOS.
        let root = if cfg!(target_vendor = "apple") {
            c"wheel"
        } else {
            c"root"
        };
        assert_eq!(group_id(root).unwrap(), Some(0));
        assert_eq!(group_id(c"spoolq-no-such-group").unwrap(), None);
    }

    #[test]
    fn the_monotonic_clock_does_not_go_back() {
        let first = monotonic_ns();
        let second = monotonic_ns();
        assert!(first > 0);
        assert!(second >= first);
    }
}
