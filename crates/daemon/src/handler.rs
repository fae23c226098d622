//! Running the handler for one claimed job.
//!
//! The external command's stdin is the job file itself: a duplicate of the locked
//! descriptor, the same open file description and so the same lock, positioned at the
//! payload (the header's length was checked against the file's, so reading to the end
//! reads exactly the payload). Every process of the handler that keeps its stdin holds
//! the job's lock with it: the job cannot be claimed again until the last of them exits,
//! whatever becomes of the daemon (docs/protocol.md). The job's facts are in
//! SPOOLQ_JOB_ID, SPOOLQ_JOB_ATTEMPT and SPOOLQ_SPOOL; its stdout and stderr go to the
//! log line by line, tagged with the job id, with bounded line length and count, and the
//! last lines of stderr are kept for the reason file.
//!
//! Lifetime: the handler leads its own process group, so a timeout or a shutdown can
//! signal everything it started (SIGTERM, then SIGKILL after a grace); it is killed when
//! its `Child` is dropped; on Linux it also gets SIGKILL when the daemon dies
//! (PR_SET_PDEATHSIG, armed for the spawning thread, hence the spawn happens on an async
//! runtime thread and never on a short-lived blocking-pool thread). On Linux it is
//! started with `spoolq_os::spawn::spawn_linked` (clone with CLONE_VM | CLONE_VFORK, as glibc's
//! posix_spawn does, plus the death signal) and waited on through its pidfd, because
//! forking copies the daemon's mappings for every job (docs/performance.md);
//! elsewhere, and on kernels without CLONE_PIDFD, through `tokio::process`. An exit
//! already observed wins over the job timeout and over a shutdown's termination: after
//! the daemon was stopped (SIGSTOP, a frozen cgroup) both may be due at once.
//!
//! This module runs a handler and reports how it ended ([`Run`]); what that means for
//! the job is `outcome`'s, when to stop is `lifecycle`'s.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use spoolq_os::process::{Signal, signal_process_group};
use spoolq_os::spawn::kill_child_with_parent;
use spoolq_spool::JobId;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tracing::{debug, info, warn};

use crate::lifecycle::Lifecycle;

/// Longest handler output line logged; the rest of the line is dropped.
const MAX_LINE: usize = 4096;
/// Lines logged per stream per job; later lines are read (so the handler never blocks
/// on a full pipe) but not logged.
const MAX_LINES: usize = 1000;
/// Lines of stderr kept for the reason file.
pub(crate) const STDERR_TAIL: usize = 20;
/// How long to wait for the output pipes to close after the handler exited.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// What one run of the handler came to.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Exit status, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// It was terminated at the job timeout.
    pub timed_out: bool,
    /// It was terminated because the daemon is shutting down: release the job.
    pub interrupted: bool,
    /// It could not be started.
    pub spawn_error: Option<String>,
    /// No handler was started for this attempt (the job was not run).
    pub not_started: bool,
    pub stderr_tail: Vec<String>,
    pub started: SystemTime,
    pub ended: SystemTime,
}

impl Run {
    /// A run starting now; its end is set when it ends (to its start if it never ran
    /// or returned at once), so one reading of the clock serves both.
    fn new() -> Run {
        let now = SystemTime::now();
        Run {
            code: None,
            signal: None,
            timed_out: false,
            interrupted: false,
            spawn_error: None,
            not_started: false,
            stderr_tail: Vec::new(),
            started: now,
            ended: now,
        }
    }

    /// What is known of a handler that was never started.
    pub fn not_started() -> Run {
        let mut run = Run::new();
        run.not_started = true;
        run
    }

    /// A short description: "exit 3", "signal 9", "timed out", ...
    pub fn describe(&self) -> String {
        if self.not_started {
            return "not started".to_owned();
        }
        let mut what = match (self.code, self.signal, &self.spawn_error) {
            (_, _, Some(e)) => format!("could not start: {e}"),
            (Some(code), _, _) => format!("exit {code}"),
            (None, Some(sig), _) => format!("killed by signal {sig}"),
            (None, None, None) => "ended without a status".to_owned(),
        };
        if self.timed_out {
            what = format!("timed out ({what})");
        }
        if self.interrupted {
            what = format!("interrupted by shutdown ({what})");
        }
        what
    }
}

/// The facts a handler run needs.
#[derive(Debug)]
pub(crate) struct Job<'a> {
    pub id: JobId,
    /// 1-based.
    pub attempt: u32,
    /// A duplicate of the locked descriptor, positioned at the payload: the handler's
    /// stdin.
    pub payload: File,
    pub length: u64,
    pub spool: &'a std::path::Path,
}

/// Handler settings from the config.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub command: Option<Vec<OsString>>,
    pub simulate_work: Option<Duration>,
    pub timeout: Duration,
    pub kill_grace: Duration,
}

/// Process groups of running handlers, so that a second signal can kill them all,
/// whole groups, as the process exits at once (`kill_on_drop` of a dropped run kills
/// only its handler's own process).
static LIVE_GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends SIGKILL to the process group of every handler running in this process. For
/// the binary's "second signal exits at once" path, right before it exits.
pub fn kill_all_handlers() {
    for pgid in live().iter() {
        let _ = signal_process_group(*pgid, Signal::Kill);
    }
}

/// Runs the handler for `job`; it is terminated once `lifecycle` is.
pub(crate) async fn run(settings: &Settings, job: Job<'_>, lifecycle: &mut Lifecycle) -> Run {
    let Some(command) = &settings.command else {
        return builtin(settings, job, lifecycle).await;
    };
    let mut run = Run::new();
    let Started {
        mut process,
        stdout,
        stderr,
    } = match start(command, &job) {
        Ok(started) => started,
        Err(e) => {
            run.spawn_error = Some(e.to_string());
            run.ended = SystemTime::now();
            return run;
        }
    };
    let pgid = process.id();
    live().insert(pgid);
    debug!(job = %job.id, attempt = job.attempt, pid = pgid, "handler started");

    // The handler has its own descriptor of the job now; the daemon keeps the claim's.
    drop(job.payload);
    let id = job.id;
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
    let out = tokio::spawn(log_lines(stdout, id, "stdout", None));
    let err = tokio::spawn(log_lines(stderr, id, "stderr", Some(tail.clone())));

    let timeout = tokio::time::sleep(settings.timeout);
    tokio::pin!(timeout);
    let status = tokio::select! {
        biased;
        status = process.wait() => status,
        () = &mut timeout => match process.try_wait() {
            // It exited while the daemon could not look (stopped, say): that exit wins.
            Ok(Some(status)) => Ok(status),
            _ => {
                run.timed_out = true;
                warn!(job = %id, timeout = %humantime::format_duration(settings.timeout),
                    "handler timed out: terminating its process group");
                stop(&mut process, pgid, settings.kill_grace).await
            }
        },
        () = lifecycle.wait_terminating() => match process.try_wait() {
            Ok(Some(status)) => Ok(status),
            _ => {
                run.interrupted = true;
                warn!(job = %id, "shutdown grace expired: terminating the handler");
                stop(&mut process, pgid, settings.kill_grace).await
            }
        },
    };
    // Whatever the handler left behind in its group is orphaned work: end it too. The
    // group id cannot have been reused by now unless every member died and the pid
    // space wrapped around within microseconds.
    let _ = signal_process_group(pgid, Signal::Kill);
    live().remove(&pgid);
    run.ended = SystemTime::now();
    match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            run.code = status.code();
            run.signal = status.signal();
        }
        Err(e) => run.spawn_error = Some(format!("waiting for the handler: {e}")),
    }
    for task in [out, err] {
        let abort = task.abort_handle();
        if tokio::time::timeout(OUTPUT_DRAIN, task).await.is_err() {
            abort.abort();
        }
    }
    run.stderr_tail = tail
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .collect();
    run
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// A started handler and the daemon's ends of its output pipes.
struct Started {
    process: Process,
    stdout: Reader,
    stderr: Reader,
}

/// A running handler, started one of two ways.
enum Process {
    /// Through `tokio::process` (macOS, and Linux kernels without CLONE_PIDFD).
    Std { child: Child, pid: u32 },
    /// Through `spawn::spawn_linked` (Linux): no fork of the daemon, waited on by pidfd.
    #[cfg(target_os = "linux")]
    Linked(spoolq_os::spawn::AsyncLinkedChild),
}

impl Process {
    /// Its process id, which is also its process group id.
    fn id(&self) -> u32 {
        match self {
            Process::Std { pid, .. } => *pid,
            #[cfg(target_os = "linux")]
            Process::Linked(child) => child.id(),
        }
    }

    /// Its status if it has exited (reaping it), without waiting: tells an exit the
    /// event loop has not reported yet.
    fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        match self {
            Process::Std { child, .. } => child.try_wait(),
            #[cfg(target_os = "linux")]
            Process::Linked(child) => {
                use std::os::unix::process::ExitStatusExt;
                Ok(child.try_wait()?.map(std::process::ExitStatus::from_raw))
            }
        }
    }

    /// Waits for it to exit (cancel-safe: waiting again later is fine).
    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Process::Std { child, .. } => child.wait().await,
            #[cfg(target_os = "linux")]
            Process::Linked(child) => {
                use std::os::unix::process::ExitStatusExt;
                child.wait().await.map(std::process::ExitStatus::from_raw)
            }
        }
    }
}

/// Set once `spawn_linked` reported a kernel without CLONE_PIDFD.
#[cfg(target_os = "linux")]
static LINKED_UNSUPPORTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Starts the handler command for `job`: in its own process group, killed with the
/// daemon, its stdin the job file (a duplicate of `job.payload`), its stdout and stderr
/// two pipes.
fn start(command: &[OsString], job: &Job<'_>) -> std::io::Result<Started> {
    #[cfg(target_os = "linux")]
    {
        use std::sync::atomic::Ordering;
        if !LINKED_UNSUPPORTED.load(Ordering::Relaxed) {
            match start_linked(command, job) {
                Ok(started) => return Ok(started),
                Err(LinkedError::Io(e)) => return Err(e),
                Err(LinkedError::Unsupported) => LINKED_UNSUPPORTED.store(true, Ordering::Relaxed),
            }
            warn!("this kernel lacks CLONE_PIDFD: handlers are started with fork from now on");
        }
    }
    start_std(command, job)
}

/// The names of the job's facts in the handler's environment.
const JOB_VARIABLES: [&str; 3] = ["SPOOLQ_JOB_ID", "SPOOLQ_JOB_ATTEMPT", "SPOOLQ_SPOOL"];

/// The job's facts, in the environment of the handler.
fn job_variables(job: &Job<'_>) -> [(&'static str, OsString); 3] {
    let [id, attempt, spool] = JOB_VARIABLES;
    [
        (id, job.id.to_string().into()),
        (attempt, job.attempt.to_string().into()),
        (spool, job.spool.as_os_str().to_owned()),
    ]
}

fn start_std(command: &[OsString], job: &Job<'_>) -> std::io::Result<Started> {
    let Some((program, args)) = command.split_first() else {
        return Err(std::io::Error::other("empty handler command"));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(job_variables(job))
        .stdin(Stdio::from(job.payload.try_clone()?))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    kill_child_with_parent(cmd.as_std_mut());
    let mut child = cmd.spawn()?;
    let Some(pid) = child.id() else {
        return Err(std::io::Error::other(
            "the handler vanished right after spawning",
        ));
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(std::io::Error::other("the handler's pipes are missing"));
    };
    Ok(Started {
        process: Process::Std { child, pid },
        stdout: Box::new(stdout),
        stderr: Box::new(stderr),
    })
}

/// Why `start_linked` started nothing.
#[cfg(target_os = "linux")]
enum LinkedError {
    /// A kernel without CLONE_PIDFD: start handlers with `tokio::process` instead.
    Unsupported,
    Io(std::io::Error),
}

#[cfg(target_os = "linux")]
impl From<std::io::Error> for LinkedError {
    fn from(e: std::io::Error) -> LinkedError {
        LinkedError::Io(e)
    }
}

#[cfg(target_os = "linux")]
impl From<spoolq_os::Errno> for LinkedError {
    fn from(errno: spoolq_os::Errno) -> LinkedError {
        LinkedError::Io(errno.to_io())
    }
}

#[cfg(target_os = "linux")]
fn start_linked(command: &[OsString], job: &Job<'_>) -> Result<Started, LinkedError> {
    use spoolq_os::Errno;
    use spoolq_os::spawn::{self, SpawnError};
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use tokio::net::unix::pipe;

    let c_string = |bytes: &[u8]| {
        CString::new(bytes).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the handler command contains a NUL byte",
            )
        })
    };
    let Some(program) = command.first() else {
        return Err(std::io::Error::other("empty handler command").into());
    };
    let path = resolve_program(program).ok_or(Errno::ENOENT)?;
    let path = c_string(path.as_os_str().as_bytes())?;
    let argv = command
        .iter()
        .map(|a| c_string(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let ours = job_variables(job)
        .into_iter()
        .filter_map(|(key, value)| env_entry(OsStr::new(key), &value))
        .collect::<Vec<_>>();
    let envp = inherited_environment()
        .iter()
        .chain(&ours)
        .map(CString::as_c_str)
        .collect::<Vec<_>>();
    let stdin_child = std::os::fd::OwnedFd::from(job.payload.try_clone()?);
    let (stdout, stdout_child) = spawn::pipe()?;
    let (stderr, stderr_child) = spawn::pipe()?;
    let (stdout, stderr) = (
        pipe::Receiver::from_owned_fd(stdout)?,
        pipe::Receiver::from_owned_fd(stderr)?,
    );
    let child_ends = [stdin_child, stdout_child, stderr_child];
    let child = match spawn::spawn_linked(&path, &argv, &envp, child_ends) {
        Ok(child) => child,
        Err(SpawnError::Unsupported) => return Err(LinkedError::Unsupported),
        Err(SpawnError::Failed(errno)) => return Err(errno.into()),
    };
    Ok(Started {
        process: Process::Linked(spawn::AsyncLinkedChild::new(child)?),
        stdout: Box::new(stdout),
        stderr: Box::new(stderr),
    })
}

/// `KEY=VALUE` as a C string; `None` if either holds a NUL (no environ entry does).
#[cfg(target_os = "linux")]
fn env_entry(key: &OsStr, value: &OsStr) -> Option<std::ffi::CString> {
    let mut entry = key.as_encoded_bytes().to_vec();
    entry.push(b'=');
    entry.extend_from_slice(value.as_encoded_bytes());
    std::ffi::CString::new(entry).ok()
}

/// The daemon's environment minus the job variables, prepared once: the daemon never
/// changes its environment, so rebuilding it per job would only allocate on the hot
/// path.
#[cfg(target_os = "linux")]
fn inherited_environment() -> &'static [std::ffi::CString] {
    static ENVIRONMENT: std::sync::OnceLock<Vec<std::ffi::CString>> = std::sync::OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        std::env::vars_os()
            .filter(|(key, _)| !JOB_VARIABLES.iter().any(|name| key == name))
            .filter_map(|(key, value)| env_entry(&key, &value))
            .collect()
    })
}

/// Where `program` is, the way `execvp` would find it: itself if it has a slash, else
/// the first executable regular file of that name on PATH.
pub(crate) fn resolve_program(program: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.as_encoded_bytes().contains(&b'/') {
        let path = Path::new(program);
        return executable(path).then(|| path.to_owned());
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

/// SIGTERM to the group, SIGKILL after the grace; returns the handler's status.
async fn stop(
    child: &mut Process,
    pgid: u32,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let _ = signal_process_group(pgid, Signal::Term);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = signal_process_group(pgid, Signal::Kill);
            child.wait().await
        }
    }
}

/// The built-in handler: log the job (at debug), optionally pretend to work, succeed.
async fn builtin(settings: &Settings, job: Job<'_>, lifecycle: &mut Lifecycle) -> Run {
    let mut run = Run::new();
    debug!(target: crate::log_sink::JOB_LOG_TARGET, job = %job.id, attempt = job.attempt, bytes = job.length,
        "built-in handler: job received");
    if let Some(work) = settings.simulate_work {
        tokio::select! {
            () = tokio::time::sleep(work.min(settings.timeout)) => {
                if work > settings.timeout {
                    run.timed_out = true;
                }
            }
            () = lifecycle.wait_terminating() => run.interrupted = true,
        }
    }
    if !run.timed_out && !run.interrupted {
        run.code = Some(0);
    }
    run.ended = SystemTime::now();
    run
}

/// The built-in handler without simulated work, synchronously: log the job (at debug),
/// succeed.
pub(crate) fn builtin_now(id: JobId, attempt: u32, length: u64) -> Run {
    let mut run = Run::new();
    debug!(target: crate::log_sink::JOB_LOG_TARGET, job = %id, attempt, bytes = length,
        "built-in handler: job received");
    run.code = Some(0);
    run
}

/// Logs a stream line by line, bounded; keeps the last lines in `tail` if given.
async fn log_lines<R: AsyncRead + Unpin>(
    stream: R,
    job: JobId,
    name: &'static str,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut reader = BufReader::new(stream);
    let mut line: Vec<u8> = Vec::new();
    let mut truncated = false;
    let mut logged = 0usize;
    let mut emit = |line: &mut Vec<u8>, truncated: &mut bool| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut text = String::from_utf8_lossy(line).into_owned();
        if *truncated {
            text.push_str(" [line truncated]");
        }
        line.clear();
        *truncated = false;
        if logged < MAX_LINES {
            info!(target: "spoolq::handler", job = %job, stream = name, "{text}");
        } else if logged == MAX_LINES {
            warn!(target: "spoolq::handler", job = %job, stream = name,
                "more than {MAX_LINES} lines of output: the rest is not logged");
        }
        logged = logged.saturating_add(1);
        if let Some(tail) = &tail {
            let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    };
    // A read error ends the stream like EOF: the handler's output is only logged.
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            if !line.is_empty() || truncated {
                emit(&mut line, &mut truncated);
            }
            break;
        }
        let (chunk, consumed, end_of_line) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        if chunk.len() > room {
            truncated = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        reader.consume(consumed);
        if end_of_line {
            emit(&mut line, &mut truncated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `command` through one way of starting it, its stdin a file holding a header
    /// and `payload`, positioned at the payload; returns what the handler printed on
    /// stdout and its exit code.
    async fn through(
        start: fn(&[OsString], &Job<'_>) -> std::io::Result<Started>,
        command: &[&str],
        payload: &[u8],
    ) -> (String, Option<i32>) {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"a header\n\n").unwrap();
        file.write_all(payload).unwrap();
        file.seek(SeekFrom::Start(10)).unwrap();
        let spool = tempfile::tempdir().unwrap();
        let job = Job {
            id: JobId::generate(),
            attempt: 2,
            payload: file,
            length: payload.len() as u64,
            spool: spool.path(),
        };
        let command: Vec<OsString> = command.iter().map(OsString::from).collect();
        let started = start(&command, &job).unwrap();
        drop(job);
        let mut process = started.process;
        let mut out = String::new();
        let mut stdout = started.stdout;
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut out)
            .await
            .unwrap();
        let status = process.wait().await.unwrap();
        (out, status.code())
    }

    const SCRIPT: &[&str] = &[
        "sh",
        "-c",
        "printf '%s %s ' \"$SPOOLQ_JOB_ATTEMPT\" \"$(cat)\"; exit 4",
    ];

    #[tokio::test]
    async fn both_ways_of_starting_a_handler_give_it_the_same_contract() {
        let (out, code) = through(start_std, SCRIPT, b"payload").await;
        assert_eq!((out.as_str(), code), ("2 payload ", Some(4)));
        #[cfg(target_os = "linux")]
        {
            let linked = |command: &[OsString], job: &Job<'_>| match start_linked(command, job) {
                Ok(started) => Ok(started),
                Err(LinkedError::Io(e)) => Err(e),
                Err(LinkedError::Unsupported) => panic!("this kernel lacks CLONE_PIDFD"),
            };
            let (out, code) = through(linked, SCRIPT, b"payload").await;
            assert_eq!((out.as_str(), code), ("2 payload ", Some(4)));
        }
    }

    #[tokio::test]
    async fn a_handler_that_vanished_is_a_clear_start_error() {
        let spool = tempfile::tempdir().unwrap();
        let job = Job {
            id: JobId::generate(),
            attempt: 1,
            payload: tempfile::tempfile().unwrap(),
            length: 0,
            spool: spool.path(),
        };
        let command = [OsString::from("/no/such/handler")];
        let Err(e) = start(&command, &job) else {
            panic!("a missing program started");
        };
        assert!(e.to_string().contains("No such file or directory"), "{e}");
    }

    #[tokio::test]
    async fn a_large_payload_reaches_the_handler_whole() {
        let big = vec![b'x'; (1 << 20) + 7];
        let (out, code) = through(start, &["wc", "-c"], &big).await;
        assert_eq!(out.trim(), big.len().to_string());
        assert_eq!(code, Some(0));
    }
}
