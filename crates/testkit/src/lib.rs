//! Fixtures shared by the integration tests of the daemon and the `spoolq` binary: a
//! spool in a temporary folder, dropping jobs into it, reading what the journals say,
//! and watching processes. Real files and real processes only; nothing is mocked.
//!
//! Boundaries: no daemon, no binary, no async runtime here (each test crate adds its own
//! way of running the daemon on top), so every test crate can depend on this one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spoolq_spool::{
    CreateOptions, Durability, EventKind, FailedName, JobId, Reason, Record, Spool,
};

/// A generous bound for conditions that normally hold within milliseconds: tests poll
/// observable conditions up to this long, they never sleep a fixed time instead.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A spool in a temporary folder, removed when dropped.
#[derive(Debug)]
pub struct TempSpool {
    /// The temporary folder; the spool is its `spool/`.
    pub dir: tempfile::TempDir,
    /// The spool, open.
    pub spool: Spool,
}

impl Default for TempSpool {
    fn default() -> Self {
        TempSpool::new()
    }
}

impl TempSpool {
    /// A fresh spool with the default modes; panics if the temporary folder cannot be made.
    pub fn new() -> TempSpool {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let spool = Spool::create(&dir.path().join("spool"), CreateOptions::default())
            .expect("a spool in the temporary folder");
        TempSpool { dir, spool }
    }

    /// The spool's path.
    pub fn path(&self) -> PathBuf {
        self.spool.path().to_owned()
    }

    /// The path of one of the spool's folders (`new`, `failed`, ...).
    pub fn folder(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// A scratch folder beside the spool (handler scripts' marker files, daemon logs).
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).expect("scratch folder");
        p
    }

    /// Drops one job (atomically, without fsync) and returns its id.
    pub fn drop_job(&self, payload: &str) -> JobId {
        let id = JobId::generate();
        self.spool
            .drop_job(id, &mut payload.as_bytes(), Durability::NEVER)
            .expect("drop a job");
        id
    }

    /// Drops `n` jobs, each with its own small payload, and returns their ids in order.
    pub fn drop_jobs(&self, n: usize) -> Vec<JobId> {
        (0..n)
            .map(|i| self.drop_job(&format!("job {i}\n")))
            .collect()
    }

    /// The names in one of the spool's folders, sorted.
    pub fn names(&self, folder: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.folder(folder))
            .expect("list a spool folder")
            .map(|e| {
                e.expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Every journal record, ordered by the monotonic clock. Lines these tests cannot
    /// read are a failure: spoolq itself wrote every journal here.
    pub fn records(&self) -> Vec<Record> {
        let (entries, aside) =
            spoolq_spool::journal::read_all(&[self.folder("journal")]).expect("read the journals");
        assert!(aside.unknown.is_empty(), "{:?}", aside.unknown);
        entries.into_iter().map(|e| e.record).collect()
    }

    /// The records of one kind, ordered by the monotonic clock.
    pub fn events(&self, kind: EventKind) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.kind() == kind)
            .collect()
    }

    /// How many records of `kind` each job has.
    pub fn count_per_job(&self, kind: EventKind) -> HashMap<JobId, usize> {
        let mut counts = HashMap::new();
        for r in self.events(kind) {
            if let Some(id) = r.job() {
                *counts.entry(id).or_default() += 1;
            }
        }
        counts
    }

    /// The reason file beside `failed/NAME`, parsed.
    pub fn reason(&self, name: &str) -> Reason {
        let reason_name = FailedName::original(name.as_ref()).reason_name();
        let path = self.folder("failed").join(reason_name);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Reason::from_file_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{} is not a reason file: {e}", path.display()))
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs no code).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// A pid a handler script wrote into a file.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether this is a CI run (`CI=true`, as CI sets it): there a test that cannot do its
/// work fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Ends a test that cannot do its work here because `missing` (root, a mount, a program)
/// is not available. Under `CI=true` it fails the test, so CI never passes a test that
/// did not run; elsewhere it prints a `SKIPPED` line with the test's name on the real
/// stderr (past libtest's capture, so it is seen) and returns: `return skip("...")`.
#[track_caller]
pub fn skip(missing: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    if in_ci() {
        panic!("{test} cannot run: {missing} (CI=true: a test that cannot run fails)");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {missing}");
}

/// One volume of a shared file system mounted several times on this machine, each mount
/// an independent client with its own caches standing in for a host: `scripts/shared-fs.sh
/// up` brings them up and says which variables name them.
#[derive(Debug, Clone)]
pub struct SharedMounts {
    /// The engine (`juicefs`, `glusterfs`).
    pub engine: String,
    /// The mount points, each reaching the same volume.
    pub mounts: Vec<PathBuf>,
}

impl SharedMounts {
    /// The mounts named by `SPOOLQ_SHARED_FS_MOUNTS` (comma-separated), of the engine
    /// named by `SPOOLQ_SHARED_FS_ENGINE`; None (or a panic, if a named mount is no
    /// directory) when the variable is unset.
    pub fn from_env() -> Option<SharedMounts> {
        let engine = std::env::var("SPOOLQ_SHARED_FS_ENGINE").unwrap_or_else(|_| "unknown".into());
        SharedMounts::named("SPOOLQ_SHARED_FS_MOUNTS", &engine)
    }

    /// The GlusterFS mounts named by `SPOOLQ_GLUSTERFS_MOUNTS`.
    pub fn glusterfs() -> Option<SharedMounts> {
        SharedMounts::named("SPOOLQ_GLUSTERFS_MOUNTS", "glusterfs")
    }

    fn named(variable: &str, engine: &str) -> Option<SharedMounts> {
        let value = std::env::var(variable)
            .ok()
            .filter(|v| !v.trim().is_empty())?;
        let mounts: Vec<PathBuf> = value.split(',').map(|m| PathBuf::from(m.trim())).collect();
        for mount in &mounts {
            assert!(
                mount.is_dir(),
                "{variable} names {}, which is not a directory: is the volume mounted \
                 (scripts/shared-fs.sh status)?",
                mount.display()
            );
        }
        assert!(mounts.len() >= 2, "{variable} names fewer than two mounts");
        Some(SharedMounts {
            engine: engine.to_owned(),
            mounts,
        })
    }

    /// A fresh folder on the volume, made through the first mount and seen through every
    /// other, removed (through the first mount) when dropped.
    pub fn scratch(&self) -> SharedScratch {
        let dir = tempfile::Builder::new()
            .prefix("spoolq-test-")
            .tempdir_in(&self.mounts[0])
            .expect("a folder on the shared volume");
        let relative = dir
            .path()
            .strip_prefix(&self.mounts[0])
            .expect("inside the first mount")
            .to_owned();
        let scratch = SharedScratch {
            dir,
            paths: self.mounts.iter().map(|m| m.join(&relative)).collect(),
        };
        // Another client may take a moment to see a name made through the first one.
        for path in &scratch.paths {
            let deadline = std::time::Instant::now() + PATIENCE;
            while !path.is_dir() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} never appeared through its mount",
                    path.display()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        scratch
    }
}

/// A folder on a shared volume, with its path through each mount.
#[derive(Debug)]
pub struct SharedScratch {
    dir: tempfile::TempDir,
    /// The folder through each mount, in the order of the mounts.
    pub paths: Vec<PathBuf>,
}

impl SharedScratch {
    /// The folder through the first mount.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A tmpfs mounted for one test (a small file system a test can fill), unmounted when
/// dropped. Mounting needs root (CAP_SYS_ADMIN): where it is not permitted, `mount`
/// says why and the test calls [`skip`].
#[derive(Debug)]
pub struct TmpfsMount(PathBuf);

impl TmpfsMount {
    /// Mounts a tmpfs of `size` (as `mount -o size=`: "256k", "2m") at `at`, creating
    /// the folder first. The error says why it could not.
    pub fn mount(at: &Path, size: &str) -> Result<TmpfsMount, String> {
        std::fs::create_dir_all(at).map_err(|e| format!("creating {}: {e}", at.display()))?;
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("running mount(8): {e}"))?;
        if out.status.success() {
            Ok(TmpfsMount(at.to_owned()))
        } else {
            Err(format!(
                "mounting a tmpfs is not permitted here ({}: {})",
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        }
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Runs `program args` with `text` on stdin: its stdout on success, Err with its words
/// otherwise; `None` when it cannot be started (a failure under CI).
pub fn run_with_stdin(
    program: &str,
    args: &[&str],
    text: &str,
    what: &str,
) -> Option<Result<String, String>> {
    let Ok(mut child) = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        skip(what);
        return None;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{program} exited {:?}: {stdout}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

/// Every sample as OpenMetrics reads it (`name{labels}` to value), with each family's
/// type (`# TYPE name type`), from Python's prometheus_client parser (a python with it
/// named by `SPOOLQ_METRICS_PYTHON`, as `.ci/run` makes); `None` when it is missing (a
/// failure under CI), `Err` when the parser refuses `text`.
pub fn openmetrics(
    text: &str,
) -> Option<Result<std::collections::BTreeMap<String, String>, String>> {
    const PARSE: &str = r##"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print("# TYPE %s %s" % (family.name, family.type))
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, float(s.value)))
"##;
    let python = std::env::var("SPOOLQ_METRICS_PYTHON").unwrap_or_else(|_| "python3".into());
    let check = std::process::Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .output();
    if !check.is_ok_and(|out| out.status.success()) {
        skip(
            "Python's prometheus_client (the OpenMetrics parser): set SPOOLQ_METRICS_PYTHON to \
             a python with it, as .ci/run does",
        );
        return None;
    }
    let parsed = run_with_stdin(&python, &["-c", PARSE], text, "python3")?;
    Some(parsed.map(|out| {
        out.lines()
            .filter_map(|line| line.rsplit_once(' '))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    }))
}
