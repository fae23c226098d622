//! Raw floors: the system calls of producing and consuming a job in a plain loop, with
//! no queue, journal, runtime or handler. They are what `spoolq lab --bench` compares
//! spoolq against, in the same run, on the same file system.
//!
//! - produce: create in tmp/ (O_EXCL), write header and payload in one write, close,
//!   rename into new/ without replacing. No fsync (`spoolq produce --sync never`).
//! - consume (verified): list new/, then per name open (O_NOFOLLOW | O_CLOEXEC |
//!   O_NONBLOCK), flock, fstat, fstatat, read up to 4 KiB, unlink, close.
//! - consume (shared): list new/, then per name open, flock, fstat, rename into a
//!   private folder, list that folder (the inode check), read up to 4 KiB, unlink the
//!   private name, close.
//!
//! The files are real spoolq jobs (the same header), so spoolq and the floor read the
//! same bytes.

use std::ffi::{CString, OsStr};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use spoolq_os::{Dir, Errno, fs};
use spoolq_spool::{JobHeader, JobId, Spool};

/// Why a floor loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] spoolq_spool::LayoutError),
    /// A directory operation failed.
    #[error(transparent)]
    Dir(#[from] spoolq_os::Error),
    /// A raw system call on a job failed.
    #[error("{op} {name}: {errno}")]
    Sys {
        /// The call.
        op: &'static str,
        /// The job's name.
        name: String,
        /// What the kernel answered.
        errno: Errno,
    },
    /// A std I/O call failed.
    #[error("{op}: {source}")]
    Io {
        /// The call.
        op: &'static str,
        /// Its error.
        source: std::io::Error,
    },
}

fn sys_err<'a>(op: &'static str, name: &'a CString) -> impl Fn(Errno) -> FloorError + 'a {
    move |errno| FloorError::Sys {
        op,
        name: name.to_string_lossy().into_owned(),
        errno,
    }
}

/// The bytes of one job: its header and `size` bytes of payload.
pub fn job_bytes(id: JobId, size: usize) -> Vec<u8> {
    let mut bytes = JobHeader::new(id, size as u64).render();
    bytes.resize(bytes.len() + size, b'x');
    bytes
}

/// Publishes `count` jobs of `size` payload bytes into the spool at `spool`, raw.
pub fn produce(spool: &Path, count: u64, size: usize) -> Result<(), FloorError> {
    let spool = Spool::open(spool)?;
    produce_into(&spool, count, size)
}

/// [`produce`] on an open spool.
pub fn produce_into(spool: &Spool, count: u64, size: usize) -> Result<(), FloorError> {
    produce_loop(spool, count, size, false)
}

/// [`produce_into`] with durability: fsync each file before the rename and new/ after.
pub fn produce_synced(spool: &Spool, count: u64, size: usize) -> Result<(), FloorError> {
    produce_loop(spool, count, size, true)
}

fn produce_loop(spool: &Spool, count: u64, size: usize, fsync: bool) -> Result<(), FloorError> {
    let (tmp, new) = (spool.tmp(), spool.new_dir());
    let io = |op| move |source| FloorError::Io { op, source };
    for _ in 0..count {
        let id = JobId::generate();
        let name = CString::new(id.to_string()).expect("a uuid has no NUL");
        let bytes = job_bytes(id, size);
        let fd = fs::create_excl_at(tmp.as_fd(), &name, 0o640, false)
            .map_err(sys_err("create", &name))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(&bytes).map_err(io("write"))?;
        if fsync {
            file.sync_all().map_err(io("fsync"))?;
        }
        // Closed before it is published, as `Spool::drop_job` does (a shared file
        // system's client may keep written data until the close).
        drop(file);
        fs::renameat_noreplace(tmp.as_fd(), &name, new.as_fd(), &name)
            .map_err(sys_err("rename", &name))?;
        if fsync {
            new.sync()?;
        }
    }
    Ok(())
}

/// Consumes jobs from new/ of the spool at `spool` until `count` were consumed,
/// listing the folder again whenever a listing is exhausted, and sleeping 1 ms after a
/// listing that found nothing. Returns the number consumed.
pub fn consume(spool: &Path, count: u64, verify: bool) -> Result<u64, FloorError> {
    let spool = Spool::open(spool)?;
    consume_dir(spool.new_dir(), count, verify)
}

/// [`consume`] on an open folder.
pub fn consume_dir(dir: &Dir, count: u64, verify: bool) -> Result<u64, FloorError> {
    let mut buf = vec![0u8; 4096];
    let mut done = 0;
    while done < count {
        let before = done;
        for name in dir.entries()? {
            let name = name?;
            if name.as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            if consume_one(dir, &name, verify, &mut buf)? {
                done += 1;
            }
        }
        if done == before {
            // Nothing there yet: do not spin on the folder and starve the producer of
            // the CPU it shares (a consumer that lists in a tight loop is not a floor).
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    Ok(done)
}

/// Lists `dir` once and consumes everything in it. Returns the number consumed.
pub fn consume_all(dir: &Dir, verify: bool) -> Result<u64, FloorError> {
    let mut buf = vec![0u8; 4096];
    let mut done = 0;
    for name in dir.entries()? {
        let name = name?;
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        if consume_one(dir, &name, verify, &mut buf)? {
            done += 1;
        }
    }
    Ok(done)
}

/// The shared claim's floor: every job file in `dir` taken into `private` by rename,
/// checked in a listing of `private`, read and unlinked there. Returns how many.
pub fn consume_all_taking(dir: &Dir, private: &Dir) -> Result<u64, FloorError> {
    let mut buf = vec![0u8; 4096];
    let mut done = 0;
    for name in dir.entries()? {
        let name = name?;
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let name = CString::new(name.as_encoded_bytes()).expect("names have no NUL");
        let fd = match fs::open_job_at(dir.as_fd(), &name, true) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(errno) => return Err(sys_err("open", &name)(errno)),
        };
        if !fs::LOCK_IN_OPEN {
            match fs::flock_exclusive_nonblocking(fd.as_fd()) {
                Ok(()) => {}
                Err(Errno::EWOULDBLOCK) => continue,
                Err(errno) => return Err(sys_err("flock", &name)(errno)),
            }
        }
        let st = fs::fstat(fd.as_fd()).map_err(sys_err("fstat", &name))?;
        match fs::renameat_to_own_name(dir.as_fd(), &name, private.as_fd(), &name) {
            Ok(()) => {}
            Err(Errno::ENOENT) => continue,
            Err(errno) => return Err(sys_err("rename", &name)(errno)),
        }
        let mut stream = fs::dir_stream(private.as_fd()).map_err(sys_err("opendir", &name))?;
        let mut listed = None;
        while let Some(entry) = stream.next_inode() {
            let (listed_name, ino) = entry.map_err(sys_err("getdents", &name))?;
            if listed_name.as_encoded_bytes() == name.as_bytes() {
                listed = Some(ino);
                break;
            }
        }
        if listed != Some(st.ino) {
            continue;
        }
        let mut file = std::fs::File::from(fd);
        file.read(&mut buf)
            .map_err(|source| FloorError::Io { op: "read", source })?;
        fs::unlinkat(private.as_fd(), &name).map_err(sys_err("unlink", &name))?;
        drop(file);
        done += 1;
    }
    Ok(done)
}

fn consume_one(dir: &Dir, name: &OsStr, verify: bool, buf: &mut [u8]) -> Result<bool, FloorError> {
    let name = CString::new(name.as_encoded_bytes()).expect("names have no NUL");
    let fd = match fs::open_job_at(dir.as_fd(), &name, true) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(false),
        Err(errno) => return Err(sys_err("open", &name)(errno)),
    };
    if !fs::LOCK_IN_OPEN {
        match fs::flock_exclusive_nonblocking(fd.as_fd()) {
            Ok(()) => {}
            Err(Errno::EWOULDBLOCK) => return Ok(false),
            Err(errno) => return Err(sys_err("flock", &name)(errno)),
        }
    }
    if verify {
        let st = fs::fstat(fd.as_fd()).map_err(sys_err("fstat", &name))?;
        match fs::fstatat_nofollow(dir.as_fd(), &name) {
            Ok(there) if there.ino == st.ino && st.nlink == 1 => {}
            _ => return Ok(false),
        }
    }
    let mut file = std::fs::File::from(fd);
    file.read(buf)
        .map_err(|source| FloorError::Io { op: "read", source })?;
    fs::unlinkat(dir.as_fd(), &name).map_err(sys_err("unlink", &name))?;
    drop(file);
    Ok(true)
}
