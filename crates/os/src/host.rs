//! Facts about the host: its name, its boot, its groups, its monotonic clock.
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

/// Why the identity of the running boot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootIdError {
    #[error("reading the boot id ({source_name}): {error}")]
    /// The file or sysctl could not be read.
    Read {
        /// Where it was read from: a file or a sysctl.
        source_name: &'static str,
        /// Why not.
        error: String,
    },
    #[error("the boot id {0:?} is not a UUID")]
    /// What was read is not a UUID.
    Malformed(String),
    #[error("this system has no boot id spoolq can read")]
    /// The system has no boot id spoolq knows how to read.
    Unsupported,
}

/// The identity of the running boot: a UUID the kernel draws at boot, so that two
/// boots of one host (whose monotonic clocks both start near zero) and two hosts are
/// told apart. Linux: `/proc/sys/kernel/random/boot_id`; macOS: the
/// `kern.bootsessionuuid` sysctl. Lowercase, hyphenated. One read: callers that stamp
/// records keep it for the life of the process.
pub fn boot_id() -> Result<String, BootIdError> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        const PATH: &str = "/proc/sys/kernel/random/boot_id";
        let text = std::fs::read_to_string(PATH).map_err(|e| BootIdError::Read {
            source_name: PATH,
            error: e.to_string(),
        })?;
        boot_id_from(&text)
    }
    #[cfg(target_vendor = "apple")]
    {
        use sysctl::Sysctl;
        const NAME: &str = "kern.bootsessionuuid";
        let read = |e: sysctl::SysctlError| BootIdError::Read {
            source_name: NAME,
            error: e.to_string(),
        };
        let text = sysctl::Ctl::new(NAME)
            .and_then(|ctl| ctl.value_string())
            .map_err(read)?;
        boot_id_from(&text)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        Err(BootIdError::Unsupported)
    }
}

/// A boot id as the kernel prints it (a UUID, any case, maybe a trailing newline or
/// NUL), checked and lowercased.
fn boot_id_from(text: &str) -> Result<String, BootIdError> {
    let id = text.trim_end_matches(['\n', '\0']).trim();
    let hyphens_at = [8, 13, 18, 23];
    let well_formed = id.len() == 36
        && id.char_indices().all(|(i, c)| {
            if hyphens_at.contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if well_formed {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(BootIdError::Malformed(id.to_owned()))
    }
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
    fn boot_ids_are_checked_and_lowercased() {
        assert_eq!(
            boot_id_from("8F3C1A2B-0D4E-4F60-9A7B-1C2D3E4F5A6B\n").unwrap(),
            "8f3c1a2b-0d4e-4f60-9a7b-1c2d3e4f5a6b"
        );
        assert_eq!(
            boot_id_from("8f3c1a2b-0d4e-4f60-9a7b-1c2d3e4f5a6b\0").unwrap(),
            "8f3c1a2b-0d4e-4f60-9a7b-1c2d3e4f5a6b"
        );
        for bad in [
            "",
            "not a uuid",
            "8f3c1a2b0d4e4f609a7b1c2d3e4f5a6b",
            "8f3c1a2b-0d4e-4f60-9a7b-1c2d3e4f5a6g",
        ] {
            assert!(
                matches!(boot_id_from(bad), Err(BootIdError::Malformed(_))),
                "{bad}"
            );
        }
    }

    /// The boot id is the kernel's, and the same at every read within one boot.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_boot_id_is_the_kernels() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert_eq!(boot_id().unwrap(), kernel.trim());
        assert_eq!(boot_id().unwrap(), boot_id().unwrap());
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
