//! Signals to process groups, and the pipes a handler's stdio is made of, on rustix.
#![forbid(unsafe_code)]

use rustix::process::Pid;

use crate::Errno;

/// A signal spoolq sends to a handler's process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: asks the handler to stop.
    Term,
    /// SIGKILL: ends it.
    Kill,
}

impl Signal {
    pub(crate) fn to_rustix(self) -> rustix::process::Signal {
        match self {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
        }
    }
}

/// Sends `signal` to every process in process group `pgid`.
///
/// Groups 0 and 1 are refused (EINVAL): `kill(0)` means "my own group" and `kill(-1)`
/// "everyone", never what a caller holding a handler's group id means.
pub fn signal_process_group(pgid: u32, signal: Signal) -> Result<(), Errno> {
    let pgid = i32::try_from(pgid)
        .ok()
        .filter(|&pgid| pgid > 1)
        .and_then(Pid::from_raw)
        .ok_or(Errno::EINVAL)?;
    rustix::process::kill_process_group(pgid, signal.to_rustix()).map_err(Errno::from)
}

/// Whether a process with this id exists (`kill(pid, 0)`: it may belong to another
/// user, and an id can be reused once its process is gone).
pub fn exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(errno) => errno == rustix::io::Errno::PERM,
    }
}

/// Creates a pipe, both ends close-on-exec (atomically: another thread may be spawning
/// a handler at the same moment): `(read end, write end)`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd), Errno> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(Errno::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_own_group_and_everyone_are_refused() {
        assert_eq!(signal_process_group(0, Signal::Term), Err(Errno::EINVAL));
        assert_eq!(signal_process_group(1, Signal::Term), Err(Errno::EINVAL));
        assert_eq!(
            signal_process_group(u32::MAX, Signal::Kill),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn a_group_gets_the_signal() {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        signal_process_group(child.id(), Signal::Term).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(15), "{status:?}");
    }
}
