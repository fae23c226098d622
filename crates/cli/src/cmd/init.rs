//! `spoolq init DIR [--group G] [--mode M]`: create a spool, or repair its modes and group.

use std::path::PathBuf;

use spoolq_spool::layout::DEFAULT_MODE;
use spoolq_spool::{CreateOptions, InitError, Spool};

use crate::cmd::value::Mode;
use crate::output::{self, Stdout};
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Creates DIR and its folders tmp/ new/ retry/ failed/ journal/, gives each (and DIR) the
mode and group, and may be run again: existing folders get the mode and group re-applied.
A directory holding anything else is refused (exit 2), so a spool never reuses a folder
with someone else's files.

Examples:
  spoolq init /var/spool/jobs
  sudo spoolq init /var/spool/jobs --group spoolq --mode 2770   # producers in group spoolq
                                                                # may drop jobs; setgid keeps the group")]
pub struct Args {
    /// The spool directory to create (or repair).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Group of the spool and its folders: a name or a numeric id.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Permission bits, in octal (e.g. 750, 2770: setgid so new files keep the group).
    /// The owner needs rwx; the sticky bit (1000) is refused.
    #[arg(long, value_name = "M", value_parser = parse_mode, default_value_t = Mode(DEFAULT_MODE))]
    pub mode: Mode,
}

/// The sticky bit, refused: it stops a daemon from removing the jobs it does not own.
const STICKY: u32 = 0o1000;

/// Parses an octal mode such as `750`, `0750` or `2770`, refusing modes that would keep
/// the daemon from removing jobs.
fn parse_mode(s: &str) -> Result<Mode, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("{s:?} is not an octal mode; write it like 750 or 2770"))?;
    if mode > 0o7777 {
        return Err(format!(
            "{s:?} is larger than 7777; write it like 750 or 2770"
        ));
    }
    if mode & 0o700 != 0o700 {
        return Err(format!(
            "{s:?} does not give the owner rwx; the daemon's user needs it (e.g. 750, 2770)"
        ));
    }
    if mode & STICKY != 0 {
        return Err(format!(
            "{s:?} sets the sticky bit (1000): in a sticky folder only a file's owner may \
             remove or rename it, so a daemon could not complete, retry or bury the jobs \
             producers own; leave it out (e.g. 2770: setgid keeps the group)"
        ));
    }
    Ok(Mode(mode))
}

fn resolve_group(group: &str) -> Result<u32, String> {
    if !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()) {
        return group
            .parse()
            .map_err(|_| format!("group id {group} is out of range"));
    }
    let c = spoolq_os::fs::c_string(group.as_bytes())
        .ok_or_else(|| format!("group name {group:?} contains a NUL byte"))?;
    match spoolq_os::host::group_id(&c) {
        Ok(Some(gid)) => Ok(gid),
        Ok(None) => Err(format!(
            "no group named {group:?}; create it first (groupadd / dseditgroup) or give a numeric id"
        )),
        Err(errno) => Err(format!("looking up group {group:?}: {errno}")),
    }
}

pub fn run(args: Args) -> Result<Exit, Error> {
    let gid = args
        .group
        .as_deref()
        .map(resolve_group)
        .transpose()
        .map_err(Error::Failed)?;
    let mode = args.mode.0;
    let options = CreateOptions { mode, gid };
    let (spool, report) = Spool::init(&args.dir, options).map_err(|e| {
        let hint = match &e {
            InitError::Layout(spoolq_spool::LayoutError::Io(io))
                if matches!(io.errno(), Some(x) if x == spoolq_claim::Errno::EPERM
                    || x == spoolq_claim::Errno::EACCES) =>
            {
                "; run it as root, or as the owner of the directory (and a member of the \
                 group for --group)"
            }
            InitError::Layout(spoolq_spool::LayoutError::Io(io)) if io.is_read_only() => {
                "; the file system is mounted read-only: remount it read-write (mount -o \
                 remount,rw MOUNTPOINT) or choose a directory on a writable one"
            }
            _ => "",
        };
        Error::Failed(format!("{e}{hint}"))
    })?;
    let path = spool.path().display();
    let mut out = Stdout::new();
    if report.root_created {
        out.line(&format!("created spool {path}"))?;
    } else if report.created.is_empty() {
        out.line(&format!("spool {path} exists; mode and group re-applied"))?;
    } else {
        out.line(&format!(
            "spool {path} exists; created {}; mode and group re-applied",
            report.created.join(", ")
        ))?;
    }
    let group = gid.map_or(String::new(), |g| format!(", group {g}"));
    out.line(&format!(
        "folders: tmp new retry failed journal, mode {mode:04o}{group}"
    ))?;
    if report.root_perm != mode {
        output::eprint_line(&format!(
            "spoolq init: warning: {path} has mode {:04o}, not {mode:04o}: the kernel dropped \
             bits (an unprivileged user cannot set setgid for a group it is not in); \
             re-run as root or as a member of the group",
            report.root_perm
        ));
    }
    if let Some(gid) = gid
        && mode & 0o030 != 0o030
    {
        out.line(&format!(
            "members of group {gid} may not drop jobs (mode {mode:04o} gives the group no \
             write and search on the folders), and a daemon running as one of them, not as \
             the owner, could not remove them; for producers and a daemon in the group use \
             --mode 2770"
        ))?;
    }
    if mode == DEFAULT_MODE && gid.is_none() {
        out.line(
            "only the owner may drop jobs; for producers in a group, re-run with \
             --group G --mode 2770",
        )?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_in_octal_and_must_leave_the_owner_rwx() {
        assert_eq!(parse_mode("750"), Ok(Mode(0o750)));
        assert_eq!(parse_mode("2770"), Ok(Mode(0o2770)));
        assert_eq!(parse_mode("0o700"), Ok(Mode(0o700)));
        assert!(parse_mode("0550").is_err());
        assert!(parse_mode("789").is_err());
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("3770").unwrap_err().contains("sticky"));
        assert!(parse_mode("1777").is_err());
        assert_eq!(resolve_group("0"), Ok(0));
        assert!(resolve_group("no-such-group-spoolq").is_err());
    }
}
