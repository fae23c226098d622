//! Signals to process groups, the pipes a handler's stdio is made of (on rustix), what
//! /proc tells of another process on Linux (when it started, its command name), and the
//! CPU time this process's waited-for children used.
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

/// CPU time of processes: in user space and in the kernel on their behalf.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time in user space.
    pub user: std::time::Duration,
    /// Time in the kernel (system calls, page faults).
    pub system: std::time::Duration,
}

impl CpuTime {
    /// User and system time together.
    pub fn total(self) -> std::time::Duration {
        self.user + self.system
    }

    /// The time used since `earlier`, a reading of the same clock; None if this reading
    /// is older.
    pub fn since(self, earlier: CpuTime) -> Option<CpuTime> {
        Some(CpuTime {
            user: self.user.checked_sub(earlier.user)?,
            system: self.system.checked_sub(earlier.system)?,
        })
    }
}

/// CPU time (every thread) used so far by this process's children that have ended and
/// been waited for (`getrusage(RUSAGE_CHILDREN)`): the difference across one child's
/// wait is that child's CPU time, which a benchmark cannot read from /proc once the
/// child is gone.
pub fn waited_children_cpu() -> Result<CpuTime, Errno> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| Errno(e as i32))?;
    let duration = |t: nix::sys::time::TimeVal| {
        let seconds = u64::try_from(t.tv_sec()).unwrap_or(0);
        let micros = u64::try_from(t.tv_usec()).unwrap_or(0);
        std::time::Duration::from_secs(seconds) + std::time::Duration::from_micros(micros)
    };
    Ok(CpuTime {
        user: duration(usage.user_time()),
        system: duration(usage.system_time()),
    })
}

/// Creates a pipe, both ends close-on-exec (atomically: another thread may be spawning
/// a handler at the same moment): `(read end, write end)`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd), Errno> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(Errno::from)
}

/// When the system booted, in whole seconds (`btime` in `/proc/stat`, Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn boot_time() -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: u64 = stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// A running process as /proc shows it (Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// When it started (the boot time plus its start in clock ticks since boot; to the
    /// second at best, the boot time being in whole seconds).
    pub started: std::time::SystemTime,
    /// Its command name (`/proc/PID/comm`, at most 15 bytes), if readable.
    pub command: Option<String>,
}

/// Process `pid` if it is running (not a zombie: a zombie holds no descriptors), from
/// `/proc/PID/stat` and `/proc/stat`; None if it is not, or /proc hides it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn process_info(pid: u32) -> Option<ProcessInfo> {
    use std::time::Duration;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command in parentheses may hold spaces and parentheses: fields follow the last.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state (field 3 of proc(5)) ... starttime (field 22).
    if *fields.first()? == "Z" {
        return None;
    }
    let start_ticks: u64 = fields.get(19)?.parse().ok()?;
    let boot = boot_time()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let since_boot = Duration::from_secs(start_ticks / ticks)
        + Duration::from_nanos((start_ticks % ticks) * 1_000_000_000 / ticks);
    let command = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end_matches('\n').to_owned());
    Some(ProcessInfo {
        started: boot + since_boot,
        command,
    })
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

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_tells_when_a_process_started_and_what_it_runs() {
        let before = std::time::SystemTime::now();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let info = process_info(child.id()).unwrap();
        // The boot time is in whole seconds.
        let slack = std::time::Duration::from_secs(2);
        assert!(info.started + slack >= before, "{info:?}");
        assert!(
            info.started <= std::time::SystemTime::now() + slack,
            "{info:?}"
        );
        assert_eq!(info.command.as_deref(), Some("sleep"));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(process_info(child.id()), None, "reaped: gone");
    }

    #[test]
    fn a_waited_childs_cpu_time_is_counted_once_it_is_waited_for() {
        let before = waited_children_cpu().unwrap();
        let started = std::time::Instant::now();
        // A shell counting to 300,000 needs far more than 10 ms of CPU.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        let wall = started.elapsed();
        assert!(status.success(), "{status:?}");
        let used = waited_children_cpu()
            .unwrap()
            .since(before)
            .unwrap()
            .total();
        assert!(used >= std::time::Duration::from_millis(10), "{used:?}");
        // One thread cannot use more CPU than the time it ran; other tests of this binary
        // may wait for a short child meanwhile, hence the slack.
        assert!(
            used <= wall + std::time::Duration::from_millis(200),
            "{used:?} of CPU in {wall:?}"
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
