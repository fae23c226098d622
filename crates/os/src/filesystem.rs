//! Which file system a folder lives on, and whether spoolq's one-host assumptions are
//! known to hold there.
//!
//! spoolq's claim, discovery and status were designed for a local file system, where
//! the kernel answers every lookup and stat itself, inotify (or FSEvents) reports every
//! change, and `/proc/locks` lists every lock. On a file system shared by several hosts
//! (NFS, SMB, 9p, FUSE clients such as JuiceFS or GlusterFS, Ceph, ...) a client may
//! answer lookups and stats from its caches, sees no event for a change another host
//! made, and keeps locks on a server. [`file_system`] tells which kind a folder is on:
//! `statfs`'s `f_type` on Linux (with the FUSE subtype, `fuse.juicefs`, from
//! `/proc/self/mountinfo`), `f_fstypename` and `MNT_LOCAL` on macOS.
#![forbid(unsafe_code)]

use std::fmt;
use std::os::fd::BorrowedFd;

use crate::Errno;

/// What spoolq may assume on a file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// A file system of this host alone (ext4, xfs, btrfs, tmpfs, APFS, ...): the kernel
    /// answers every lookup and stat, the watcher sees every change, and on Linux
    /// `/proc/locks` lists every lock. spoolq's local assumptions hold.
    Local,
    /// A file system other hosts may reach too (NFS, SMB/CIFS, 9p, FUSE, Ceph, Lustre,
    /// ...): caches may answer lookups and stats, the watcher sees only this host's
    /// changes, and locks live on a server. spoolq's local assumptions are not known to
    /// hold.
    Shared,
    /// A file system spoolq does not know: treated like [`Sharing::Shared`].
    Unknown,
}

impl Sharing {
    /// Whether spoolq's one-host assumptions are known to hold: only on a local file
    /// system.
    pub fn local_assumptions_hold(self) -> bool {
        self == Sharing::Local
    }

    /// `"local"`, `"shared"` or `"unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Local => "local",
            Sharing::Shared => "shared",
            Sharing::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Sharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The file system a folder lives on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSystem {
    /// Its type as the mount table names it: `ext4`, `tmpfs`, `nfs4`, `fuse.juicefs`,
    /// `fuse.glusterfs`, `apfs`, `smbfs`; `0x...` (the `f_type` in hex) for a type
    /// spoolq knows no name for and the mount table did not tell.
    pub name: String,
    /// What spoolq may assume there.
    pub sharing: Sharing,
}

impl fmt::Display for FileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.sharing)
    }
}

/// The file system the folder (or file) `fd` is on.
///
/// Linux: `fstatfs`'s `f_type` decides local or shared; the name is the mount table's
/// (`/proc/self/mountinfo`, the line whose device is the folder's `st_dev`), which gives
/// FUSE file systems their subtype, falling back to the name of the `f_type`. macOS:
/// `f_fstypename`, and `MNT_LOCAL` in `f_flags` for local.
pub fn file_system(fd: BorrowedFd<'_>) -> Result<FileSystem, Errno> {
    imp::file_system(fd)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::*;

    pub(super) fn file_system(fd: BorrowedFd<'_>) -> Result<FileSystem, Errno> {
        let statfs = rustix::io::retry_on_intr(|| rustix::fs::fstatfs(fd)).map_err(Errno::from)?;
        // f_type's width and signedness differ per architecture; the magic numbers are
        // 32-bit values.
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        let magic = (statfs.f_type as i64 as u64) & 0xffff_ffff;
        let stat = crate::fs::fstat(fd)?;
        let table_name = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|info| {
                mount_type(
                    &info,
                    crate::fs::device_major(stat.dev),
                    crate::fs::device_minor(stat.dev),
                )
            });
        let (known_name, sharing) = classify_magic(magic);
        let name = table_name
            .or_else(|| known_name.map(str::to_owned))
            .unwrap_or_else(|| format!("{magic:#x}"));
        Ok(FileSystem { name, sharing })
    }
}

#[cfg(target_vendor = "apple")]
mod imp {
    use super::*;

    pub(super) fn file_system(fd: BorrowedFd<'_>) -> Result<FileSystem, Errno> {
        let statfs = rustix::io::retry_on_intr(|| rustix::fs::fstatfs(fd)).map_err(Errno::from)?;
        let name: String = statfs
            .f_fstypename
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| char::from(c as u8))
            .collect();
        let local = statfs.f_flags & (libc::MNT_LOCAL as u32) != 0;
        Ok(FileSystem {
            sharing: classify_apple(&name, local),
            name,
        })
    }

    /// FUSE file systems on macOS call themselves local; they are not.
    fn classify_apple(name: &str, local: bool) -> Sharing {
        let fuse = ["macfuse", "osxfuse", "fusefs", "fuse"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        match (local, fuse) {
            (_, true) | (false, _) => Sharing::Shared,
            (true, false) => Sharing::Local,
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod imp {
    use super::*;

    pub(super) fn file_system(_fd: BorrowedFd<'_>) -> Result<FileSystem, Errno> {
        Ok(FileSystem {
            name: "unknown".to_owned(),
            sharing: Sharing::Unknown,
        })
    }
}

/// The name and kind of a Linux `f_type` (linux/magic.h, statfs(2)).
pub fn classify_magic(magic: u64) -> (Option<&'static str>, Sharing) {
    let local = |name| (Some(name), Sharing::Local);
    let shared = |name| (Some(name), Sharing::Shared);
    match magic {
        0xef53 => local("ext4"),
        0x5846_5342 => local("xfs"),
        0x9123_683e => local("btrfs"),
        0x0102_1994 => local("tmpfs"),
        0x8584_58f6 => local("ramfs"),
        0xf2f5_2010 => local("f2fs"),
        0x2fc1_2fc1 => local("zfs"),
        0x794c_7630 => local("overlay"),
        0x5265_4973 => local("reiserfs"),
        0x3153_464a => local("jfs"),
        0xca45_1a4e => local("bcachefs"),
        0x3434 => local("nilfs2"),
        0x4d44 => local("vfat"),
        0x2011_bab0 => local("exfat"),
        0x5346_544e => local("ntfs"),
        0x7366_746e => local("ntfs3"),
        0x482b => local("hfsplus"),
        0x6969 => shared("nfs"),
        0x517b => shared("smb"),
        0xff53_4d42 => shared("cifs"),
        0xfe53_4d42 => shared("smb2"),
        0x0102_1997 => shared("9p"),
        0x6573_5546 => shared("fuse"),
        0x00c3_6400 => shared("ceph"),
        0x5346_414f => shared("afs"),
        0x6b41_4653 => shared("afs"),
        0x7375_7245 => shared("coda"),
        0x7461_636f => shared("ocfs2"),
        0x0116_1970 => shared("gfs2"),
        0x0bd0_0bd0 => shared("lustre"),
        0x4750_4653 => shared("gpfs"),
        0x1366_1366 => shared("orangefs"),
        0x786f_4256 => shared("vboxsf"),
        _ => (None, Sharing::Unknown),
    }
}

/// The file system type `/proc/self/mountinfo` gives for the mount of device
/// `major:minor` (`fuse.juicefs`, `ext4`); the last such line, a mount on top of the
/// others, wins.
pub fn mount_type(mountinfo: &str, major: u32, minor: u32) -> Option<String> {
    let wanted = format!("{major}:{minor}");
    let mut found = None;
    for line in mountinfo.lines() {
        let mut fields = line.split(' ');
        if fields.nth(2) != Some(wanted.as_str()) {
            continue;
        }
        // Optional fields end with a lone "-", then the type and the source.
        if let Some(fs_type) = fields.skip_while(|f| *f != "-").nth(1) {
            found = Some(fs_type.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_table_names_the_fuse_subtype_and_the_last_mount_wins() {
        let info = "22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n\
                    90 22 0:61 / /mnt/a rw,relatime shared:40 - fuse.juicefs JuiceFS:vol rw\n\
                    91 22 0:62 / /mnt/g rw - fuse.glusterfs vm:/gv0 rw\n\
                    92 22 0:61 / /mnt/a rw master:3 - fuse.other x rw\n";
        assert_eq!(mount_type(info, 8, 2).as_deref(), Some("ext4"));
        assert_eq!(mount_type(info, 0, 62).as_deref(), Some("fuse.glusterfs"));
        assert_eq!(mount_type(info, 0, 61).as_deref(), Some("fuse.other"));
        assert_eq!(mount_type(info, 0, 99), None);
    }

    #[test]
    fn magic_numbers_name_the_kind() {
        assert_eq!(classify_magic(0xef53), (Some("ext4"), Sharing::Local));
        assert_eq!(classify_magic(0x6969), (Some("nfs"), Sharing::Shared));
        assert_eq!(classify_magic(0x6573_5546), (Some("fuse"), Sharing::Shared));
        assert_eq!(classify_magic(0x1234), (None, Sharing::Unknown));
        assert!(!Sharing::Unknown.local_assumptions_hold());
        assert!(Sharing::Local.local_assumptions_hold());
    }

    /// The temporary folder is on a local file system here (ext4, tmpfs, overlay).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_temporary_folder_is_on_a_local_file_system() {
        use std::os::fd::AsFd;
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        let fs = file_system(dir.as_fd()).unwrap();
        assert_eq!(fs.sharing, Sharing::Local, "{fs}");
        assert!(!fs.name.is_empty());
    }
}
