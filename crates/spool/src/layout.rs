//! The spool's folders, held open by descriptor, and the atomic drop of a new job.
//!
//! ```text
//! SPOOL/
//!   tmp/      producers write here, then rename into new/ (same file system: atomic)
//!   new/      ready jobs, one file each; consumers claim here
//!   retry/    jobs waiting out a backoff after a failed attempt
//!   failed/   dead letters and quarantined files, each with a reason beside it
//!   journal/  one JSON-lines event log per process
//!   claimed/  one private folder per shared-strategy claimer, holding the jobs it took
//! ```
//!
//! claimed/ came after the others: a spool made before it gets it from `spoolq init` or
//! from a daemon's start ([`Spool::claimed`]), and nothing else needs it.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spoolq_os::{Dir, Errno, FileKind};

use crate::job::{JobHeader, JobId, LENGTH_WIDTH};
use crate::names::{ReadyName, RetryName};

/// The folders of a spool, in creation order.
pub const FOLDERS: [&str; 6] = ["tmp", "new", "retry", "failed", "journal", CLAIMED];

/// The folder of the shared claim strategy's private folders, `claimed/<claimer>/`.
pub const CLAIMED: &str = "claimed";

/// The pause marker's name in the spool's root (`spoolq pause` writes it; see
/// [`crate::pause`]): the one file of the root that is the spool's own.
pub const PAUSE_MARKER: &str = "paused";

/// The default mode of the spool's folders.
pub const DEFAULT_MODE: u32 = 0o750;

/// Why a spool could not be opened or created. Each message names the fix that works.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The spool directory itself does not exist.
    #[error("spool {}: no such directory; create it with `spoolq init {}`", path.display(), path.display())]
    NotFound {
        /// The missing directory.
        path: PathBuf,
    },
    /// One of the spool's folders does not exist.
    #[error(
        "spool {} has no {folder}/ folder; `spoolq init {}` creates the missing folders and \
         leaves the jobs in the others alone",
        spool.display(), spool.display()
    )]
    FolderMissing {
        /// The spool.
        spool: PathBuf,
        /// The missing folder's name.
        folder: &'static str,
    },
    /// The spool's path is not a directory (a regular file, say).
    #[error(
        "spool {} is a {kind}, not a directory: give the spool's directory (`spoolq init DIR` \
         makes one)",
        path.display()
    )]
    RootNotADirectory {
        /// The path given.
        path: PathBuf,
        /// What it is instead ("regular file", ...).
        kind: &'static str,
    },
    /// A folder is a symlink or not a directory: refused, never followed.
    #[error("spool folder {} is a {kind}, not a directory; {}", path.display(), folder_fix(kind))]
    NotADirectory {
        /// The folder.
        path: PathBuf,
        /// What it is instead ("symbolic link", "regular file", ...).
        kind: &'static str,
    },
    /// Any other failure of a directory operation.
    #[error(transparent)]
    Io(#[from] spoolq_os::Error),
}

/// What to do about a folder that is not a directory.
fn folder_fix(kind: &str) -> &'static str {
    if kind == FileKind::Symlink.describe() {
        "spoolq never follows links inside a spool: replace it with a real directory"
    } else {
        "move it out of the spool, then `spoolq init` on the spool makes the folder"
    }
}

/// What is at `path`, not following a symlink, for messages.
fn kind_at(path: &Path) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return "missing file";
    };
    let t = meta.file_type();
    let kind = if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_file() {
        FileKind::Regular
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_socket() {
        FileKind::Socket
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else {
        FileKind::Unknown
    };
    kind.describe()
}

/// Why `spoolq init` refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The directory holds entries besides the five folders.
    #[error(
        "{}: refusing to make a spool here: it holds {count} entr{} besides spoolq's folders \
         (tmp new retry failed journal): {}{}; choose a new or empty directory, or move those \
         entries elsewhere first",
        path.display(),
        if *count == 1 { "y" } else { "ies" },
        found.join(", "),
        if *count > found.len() { format!(" and {} more", count - found.len()) } else { String::new() }
    )]
    ForeignContent {
        /// The directory.
        path: PathBuf,
        /// The first few foreign entries, each as `name (kind)`.
        found: Vec<String>,
        /// How many foreign entries there are in all.
        count: usize,
    },
    /// The path exists and is not a directory.
    #[error("{}: exists and is not a directory; choose another path for the spool", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Creating or opening the spool failed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

impl From<spoolq_os::Error> for InitError {
    fn from(e: spoolq_os::Error) -> InitError {
        InitError::Layout(LayoutError::Io(e))
    }
}

/// What [`Spool::init`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The spool directory itself did not exist before.
    pub root_created: bool,
    /// The folders that were created (the others existed and had their mode and group
    /// re-applied).
    pub created: Vec<&'static str>,
    /// The permission bits the root has now, as the kernel kept them (an unprivileged
    /// process may lose the setgid bit on a group it is not a member of).
    pub root_perm: u32,
    /// The group the root has now.
    pub root_gid: u32,
}

/// An open spool: a descriptor for the root and for each folder.
#[derive(Debug, Clone)]
pub struct Spool {
    root: Arc<Dir>,
    tmp: Arc<Dir>,
    new: Arc<Dir>,
    retry: Arc<Dir>,
    failed: Arc<Dir>,
    journal: Arc<Dir>,
}

/// How to create a spool's folders.
#[derive(Debug, Clone, Copy)]
pub struct CreateOptions {
    /// Permission bits of each folder (applied exactly, whatever the umask).
    pub mode: u32,
    /// Group to give each folder, if any.
    pub gid: Option<u32>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            mode: DEFAULT_MODE,
            gid: None,
        }
    }
}

fn classify(path: &Path, e: spoolq_os::Error) -> LayoutError {
    match e.errno() {
        Some(Errno::ENOENT) => LayoutError::NotFound {
            path: path.to_owned(),
        },
        Some(Errno::ELOOP) | Some(Errno::ENOTDIR) => LayoutError::NotADirectory {
            path: path.to_owned(),
            kind: kind_at(path),
        },
        _ => LayoutError::Io(e),
    }
}

/// [`classify`] for the spool's own directory.
fn classify_root(path: &Path, e: spoolq_os::Error) -> LayoutError {
    match classify(path, e) {
        LayoutError::NotADirectory { path, kind } => LayoutError::RootNotADirectory { path, kind },
        other => other,
    }
}

/// [`classify`] for folder `name` of the spool at `root`.
fn classify_folder(root: &Path, name: &'static str, e: spoolq_os::Error) -> LayoutError {
    match classify(&root.join(name), e) {
        LayoutError::NotFound { .. } => LayoutError::FolderMissing {
            spool: root.to_owned(),
            folder: name,
        },
        other => other,
    }
}

/// Creates `path` (and its parents) if needed, then opens it, resolving the links an
/// operator may have set up on the way once.
fn make_root(path: &Path) -> Result<(PathBuf, Dir), LayoutError> {
    std::fs::create_dir_all(path).map_err(|e| {
        LayoutError::Io(spoolq_os::Error::Io {
            op: spoolq_os::Op::Mkdir,
            path: path.to_owned(),
            source: e,
        })
    })?;
    let root_path = std::fs::canonicalize(path).map_err(|_| LayoutError::NotFound {
        path: path.to_owned(),
    })?;
    let root = Dir::open(&root_path).map_err(|e| classify_root(path, e))?;
    Ok((root_path, root))
}

impl Spool {
    /// Opens an existing spool; every folder must exist and be a real directory.
    pub fn open(path: &Path) -> Result<Spool, LayoutError> {
        // The root may be reached through links the operator set up (/var/spool/x ->
        // /data/x); resolve them once, then hold everything by descriptor.
        let root_path = std::fs::canonicalize(path).map_err(|_| LayoutError::NotFound {
            path: path.to_owned(),
        })?;
        let root = Dir::open(&root_path).map_err(|e| classify_root(path, e))?;
        let sub = |name: &'static str| -> Result<Arc<Dir>, LayoutError> {
            root.open_subdir(OsStr::new(name))
                .map(Arc::new)
                .map_err(|e| classify_folder(&root_path, name, e))
        };
        Ok(Spool {
            tmp: sub("tmp")?,
            new: sub("new")?,
            retry: sub("retry")?,
            failed: sub("failed")?,
            journal: sub("journal")?,
            root: Arc::new(root),
        })
    }

    /// Creates the spool and any missing folder (idempotent), then opens it.
    pub fn create(path: &Path, options: CreateOptions) -> Result<Spool, LayoutError> {
        let (root_path, root) = make_root(path)?;
        for name in FOLDERS {
            let created = root.create_subdir(OsStr::new(name), options.mode)?;
            let dir = root
                .open_subdir(OsStr::new(name))
                .map_err(|e| classify(&root_path.join(name), e))?;
            if created {
                dir.set_mode(options.mode)?;
                if let Some(gid) = options.gid {
                    dir.set_group(gid)?;
                }
            }
        }
        Spool::open(&root_path)
    }

    /// Makes `path` a spool for `spoolq init`: creates the directory and any missing
    /// folder, and (unlike [`Spool::create`], which leaves existing folders alone)
    /// applies `options` to the root and to every folder each time, so re-running it
    /// repairs modes and groups. The group is set before the mode, so a setgid bit
    /// survives the change of group.
    ///
    /// Refuses, before changing anything, a directory that holds anything besides the
    /// five folders (a file named `new` or a symlink in place of a folder counts as
    /// foreign): a spool's folders are deleted from and moved into by the daemon, so
    /// reusing a folder that holds someone else's files would be dangerous.
    pub fn init(path: &Path, options: CreateOptions) -> Result<(Spool, InitReport), InitError> {
        let existed = match std::fs::symlink_metadata(path) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(source) => {
                return Err(InitError::Layout(LayoutError::Io(spoolq_os::Error::Io {
                    op: spoolq_os::Op::Fstatat,
                    path: path.to_owned(),
                    source,
                })));
            }
        };
        if existed {
            // Follow links to the root once (as `open` does), then hold it by descriptor.
            let root_path = std::fs::canonicalize(path).map_err(|_| LayoutError::NotFound {
                path: path.to_owned(),
            })?;
            let root = Dir::open(&root_path).map_err(|e| match e.errno() {
                Some(Errno::ENOTDIR) | Some(Errno::ELOOP) => InitError::NotADirectory {
                    path: path.to_owned(),
                },
                _ => InitError::Layout(classify(path, e)),
            })?;
            let mut found = Vec::new();
            let mut count = 0usize;
            for name in root.entries()? {
                let name = name?;
                let kind = match root.stat_at(&name) {
                    Ok(stat) => Some(stat.kind),
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                };
                let is_folder = FOLDERS.iter().any(|f| OsStr::new(f) == name);
                if is_folder && kind == Some(spoolq_os::FileKind::Directory) {
                    continue;
                }
                // A paused spool's marker (`spoolq pause`) is the spool's own.
                if name == PAUSE_MARKER && kind == Some(spoolq_os::FileKind::Regular) {
                    continue;
                }
                count += 1;
                if found.len() < 10 {
                    let kind = kind.map_or("unknown", |k| k.describe());
                    found.push(format!("{} ({kind})", crate::names::printable(&name)));
                }
            }
            if count > 0 {
                return Err(InitError::ForeignContent {
                    path: root_path,
                    found,
                    count,
                });
            }
        }
        let (root_path, root) = make_root(path)?;
        let apply = |dir: &Dir| -> Result<(), spoolq_os::Error> {
            if let Some(gid) = options.gid {
                dir.set_group(gid)?;
            }
            dir.set_mode(options.mode)
        };
        apply(&root)?;
        let mut created = Vec::new();
        for name in FOLDERS {
            if root.create_subdir(OsStr::new(name), options.mode)? {
                created.push(name);
            }
            let dir = root
                .open_subdir(OsStr::new(name))
                .map_err(|e| classify(&root_path.join(name), e))?;
            apply(&dir)?;
        }
        let spool = Spool::open(&root_path)?;
        let report = InitReport {
            root_created: !existed,
            created,
            root_perm: spool.root.stat()?.perm,
            root_gid: spool.root.stat()?.gid,
        };
        Ok((spool, report))
    }

    /// The spool's canonical path (for messages; every operation goes by descriptor).
    pub fn path(&self) -> &Path {
        self.root.path()
    }
    /// The spool directory itself.
    pub fn root(&self) -> &Arc<Dir> {
        &self.root
    }
    /// tmp/: where drops are written before they are published.
    pub fn tmp(&self) -> &Arc<Dir> {
        &self.tmp
    }
    /// new/: ready jobs, where consumers claim.
    pub fn new_dir(&self) -> &Arc<Dir> {
        &self.new
    }
    /// retry/: jobs waiting out a backoff.
    pub fn retry(&self) -> &Arc<Dir> {
        &self.retry
    }
    /// failed/: dead letters and quarantined files, with their reason files.
    pub fn failed(&self) -> &Arc<Dir> {
        &self.failed
    }
    /// journal/: one event log per process.
    pub fn journal(&self) -> &Arc<Dir> {
        &self.journal
    }

    /// claimed/, created (with new/'s mode and group) if the spool was made before it
    /// existed.
    pub fn claimed(&self) -> Result<Arc<Dir>, LayoutError> {
        let name = OsStr::new(CLAIMED);
        if self.root.create_subdir(name, DEFAULT_MODE)? {
            let dir = self.root.open_subdir(name)?;
            let new = self.new.stat()?;
            // A daemon outside new/'s group keeps its own group: it may still write.
            let _ = dir.set_group(new.gid);
            dir.set_mode(new.perm)?;
        }
        self.root
            .open_subdir(name)
            .map(Arc::new)
            .map_err(|e| classify_folder(self.root.path(), CLAIMED, e))
    }

    /// claimed/ if it exists (status reads it; only a daemon creates it).
    pub fn claimed_if_any(&self) -> Result<Option<Dir>, spoolq_os::Error> {
        match self.root.open_subdir(OsStr::new(CLAIMED)) {
            Ok(dir) => Ok(Some(dir)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Each folder with its name, for integrity checks.
    pub fn folders(&self) -> [(&'static str, &Arc<Dir>); 5] {
        [
            ("tmp", &self.tmp),
            ("new", &self.new),
            ("retry", &self.retry),
            ("failed", &self.failed),
            ("journal", &self.journal),
        ]
    }

    /// The first of tmp/, retry/ and failed/ that is not on new/'s mount, if any, with
    /// new/'s path: jobs move between those four folders by rename, which cannot cross
    /// file systems, nor mounts of one (a bind mount). journal/ may be on another one: no
    /// job moves through it.
    pub fn folder_on_another_mount(&self) -> Result<Option<PathBuf>, spoolq_os::Error> {
        let new = self.new.mount()?;
        for dir in [&self.tmp, &self.retry, &self.failed] {
            if !dir.mount()?.same_as(new) {
                return Ok(Some(dir.path().to_owned()));
            }
        }
        Ok(None)
    }

    /// Checks that every folder held open is still the folder at its name (not moved
    /// away, not replaced by a symlink). Returns the names of those that are not.
    pub fn moved_folders(&self) -> Vec<&'static str> {
        self.folders()
            .into_iter()
            .filter(|(name, dir)| !matches!(dir.still_at(&self.root, OsStr::new(name)), Ok(true)))
            .map(|(name, _)| name)
            .collect()
    }

    /// Finishes the publish of job `id` whose file in new/ (inode `ino`) still has its
    /// producer's name in tmp/: where the file system has no no-replace rename
    /// (GlusterFS), a drop links the file into new/ and then unlinks its tmp/ name, so for
    /// an instant (or for good, if the producer died in between) the job has two links.
    /// Removes that tmp/ name (`<id>.<pid>.<sequence>`, as [`Spool::drop_job`] names it)
    /// and returns true; false when tmp/ holds no name of this id for this inode. The
    /// caller holds the job's lock; the producer, finding its tmp/ name gone, takes its
    /// publish as done.
    pub fn finish_publish(&self, id: JobId, ino: u64) -> Result<bool, spoolq_os::Error> {
        let prefix = format!("{id}.");
        for name in self.tmp.entries()? {
            let name = name?;
            if !name.as_encoded_bytes().starts_with(prefix.as_bytes()) {
                continue;
            }
            match self.tmp.stat_at(&name) {
                Ok(stat) if stat.ino == ino => {
                    return match self.tmp.unlink(&name) {
                        Err(e) if !e.is_not_found() => Err(e),
                        _ => Ok(true),
                    };
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Drops a new job atomically: write it into tmp/, optionally fsync it, rename it into
    /// new/ without replacing anything, optionally fsync new/. On any error nothing is
    /// left in new/ and the temp file is removed.
    ///
    /// # Example
    ///
    /// Create a spool in a temporary folder, drop a job, and find it whole in new/ under
    /// its id; a second drop with the same id is refused.
    ///
    /// ```
    /// use spoolq_spool::{CreateOptions, DropError, Durability, Job, JobId, Spool};
    ///
    /// let folder = tempfile::tempdir()?;
    /// let spool = Spool::create(&folder.path().join("spool"), CreateOptions::default())?;
    /// let id = JobId::generate();
    /// let dropped = spool.drop_job(id, &mut &b"hello"[..], Durability::NEVER)?;
    /// assert_eq!(dropped.payload_len, 5);
    ///
    /// let bytes = std::fs::read(spool.path().join("new").join(id.to_string()))?;
    /// let job = Job::parse(&bytes)?;
    /// assert_eq!((job.header.id, job.payload), (id, &b"hello"[..]));
    /// assert_eq!(std::fs::read_dir(spool.path().join("tmp"))?.count(), 0);
    ///
    /// let again = spool.drop_job(id, &mut &b"other"[..], Durability::NEVER);
    /// assert!(matches!(again, Err(DropError::IdTaken { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_job(
        &self,
        id: JobId,
        payload: &mut dyn Read,
        durability: Durability,
    ) -> Result<Dropped, DropError> {
        let ready = ReadyName::new(id, 0).to_os_string();
        self.drop_into(id, payload, durability, &self.new, &ready)
    }

    /// Drops a job that becomes claimable at `due`: written as [`Spool::drop_job`] writes
    /// one, then renamed into retry/ as `<id>.0.<due ms>` ([`RetryName`] with no attempt
    /// made), without replacing anything. The daemon's retry mover moves it to
    /// `new/<id>` once due, as it moves a retry. `durability.fsync_dir` fsyncs retry/.
    pub fn schedule_job(
        &self,
        id: JobId,
        payload: &mut dyn Read,
        durability: Durability,
        due: std::time::SystemTime,
    ) -> Result<Dropped, DropError> {
        let scheduled = RetryName::new(id, 0, due).to_os_string();
        self.drop_into(id, payload, durability, &self.retry, &scheduled)
    }

    /// Writes a job into tmp/ and publishes it as `to/name`.
    fn drop_into(
        &self,
        id: JobId,
        payload: &mut dyn Read,
        durability: Durability,
        to: &Dir,
        name: &OsStr,
    ) -> Result<Dropped, DropError> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let tmp_name = format!(
            "{id}.{}.{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let tmp_name = OsStr::new(&tmp_name);
        let file = self.tmp.create_new(tmp_name, 0o640)?;
        let result = self
            .write_job(file, tmp_name, id, payload, durability)
            .and_then(|written| self.publish(tmp_name, id, durability, to, name, written));
        if result.is_err() {
            // Best effort: the temp file may already be gone (renamed, or never made).
            let _ = self.tmp.unlink(tmp_name);
        }
        result
    }

    /// Writes the job into `file` (tmp/`tmp_name`) and closes it. Closed before the
    /// rename publishes it: a client of a shared file system may keep written data until
    /// the file is closed (JuiceFS does), and a consumer on another host would meet the
    /// job empty.
    fn write_job(
        &self,
        file: std::fs::File,
        tmp_name: &OsStr,
        id: JobId,
        payload: &mut dyn Read,
        durability: Durability,
    ) -> Result<Dropped, DropError> {
        let file = &file;
        let io_err = |source: std::io::Error| DropError::Write {
            path: self.tmp.display_path(tmp_name),
            source,
        };
        // A payload that fits in one small buffer is read whole first, so its length is
        // known: header and payload then go out in one write. A larger one streams, and
        // its length is written into the header afterwards.
        let mut small = Vec::with_capacity(SMALL_PAYLOAD);
        let mut limited = (&mut *payload).take(SMALL_PAYLOAD as u64 + 1);
        limited
            .read_to_end(&mut small)
            .map_err(|source| DropError::Payload { source })?;
        let (rendered, length) = if small.len() <= SMALL_PAYLOAD {
            let length = small.len() as u64;
            let mut bytes = JobHeader::new(id, length).render();
            let header_len = bytes.len();
            bytes.extend_from_slice(&small);
            ((&mut &*file).write_all(&bytes).map(|()| header_len), length)
        } else {
            let header = JobHeader::new(id, 0);
            let rendered = header.render();
            let mut writer = std::io::BufWriter::with_capacity(64 * 1024, file);
            writer.write_all(&rendered).map_err(io_err)?;
            writer.write_all(&small).map_err(io_err)?;
            // Copied by hand rather than with io::copy, so that a failed write (a full
            // disk) is told from a failed read of the payload.
            let mut buffer = vec![0; 64 * 1024];
            let mut rest = 0u64;
            loop {
                let n = match payload.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(source) => return Err(DropError::Payload { source }),
                };
                writer.write_all(&buffer[..n]).map_err(io_err)?;
                rest += n as u64;
            }
            writer.flush().map_err(io_err)?;
            drop(writer);
            let length = small.len() as u64 + rest;
            let digits = format!("{length:0width$}", width = LENGTH_WIDTH);
            let written = file
                .write_all_at(digits.as_bytes(), header.length_offset() as u64)
                .map(|()| rendered.len());
            (written, length)
        };
        let header_len = rendered.map_err(io_err)?;
        if durability.fsync_file {
            file.sync_all().map_err(io_err)?;
        }
        Ok(Dropped {
            id,
            payload_len: length,
            header_len: header_len as u64,
        })
    }

    /// Publishes the closed tmp/`tmp_name` as `to/name`, never replacing a file.
    fn publish(
        &self,
        tmp_name: &OsStr,
        id: JobId,
        durability: Durability,
        to: &Dir,
        name: &OsStr,
        written: Dropped,
    ) -> Result<Dropped, DropError> {
        match self.tmp.rename_noreplace(tmp_name, to, name) {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => return Err(DropError::IdTaken { id }),
            Err(e) => return Err(e.into()),
        }
        if durability.fsync_dir {
            to.sync()?;
        }
        Ok(written)
    }
}

/// Payloads up to this size are written together with their header in one write.
const SMALL_PAYLOAD: usize = 16 * 1024;

/// Which fsyncs a drop does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durability {
    /// fsync the job file before publishing it.
    pub fsync_file: bool,
    /// fsync new/ after publishing, so the rename survives power loss.
    pub fsync_dir: bool,
}

impl Durability {
    /// Both fsyncs: the job survives power loss once the drop returns.
    pub const ALWAYS: Durability = Durability {
        fsync_file: true,
        fsync_dir: true,
    };
    /// No fsync: survives a process crash, not power loss. For benchmarks and bulk loads.
    pub const NEVER: Durability = Durability {
        fsync_file: false,
        fsync_dir: false,
    };
}

/// A job that was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The job's id, which is also its name in new/.
    pub id: JobId,
    /// The payload's length in bytes.
    pub payload_len: u64,
    /// The header's length in bytes: the payload starts there.
    pub header_len: u64,
}

/// Why a drop failed. Nothing was published, and the drop's own file in tmp/ was
/// removed.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    /// The name it would be published under is taken (new/ holds a job of this id, or
    /// retry/ one scheduled for the same millisecond); it was left alone.
    #[error("job id {id} is already in the spool: refusing to replace it")]
    IdTaken {
        /// The id.
        id: JobId,
    },
    /// The payload's reader failed.
    #[error("reading the payload: {}", spoolq_os::describe_io(source))]
    Payload {
        /// The reader's error.
        source: std::io::Error,
    },
    /// Writing or fsyncing the temporary file failed.
    #[error("writing {}: {}", path.display(), spoolq_os::describe_io(source))]
    Write {
        /// The temporary file in tmp/.
        path: PathBuf,
        /// The write's error.
        source: std::io::Error,
    },
    /// Creating, renaming or fsyncing in the spool's folders failed.
    #[error(transparent)]
    Io(#[from] spoolq_os::Error),
}
