//! Running the handler for one claimed job.
//!
//! The external command gets the payload on stdin, streamed from the locked descriptor
//! (a duplicate of it, positioned at the payload), never loaded whole into memory; the
//! job's facts in SPOOLQ_JOB_ID, SPOOLQ_JOB_ATTEMPT and SPOOLQ_SPOOL; its stdout and
//! stderr go to the log line by line, tagged with the job id, with bounded line length
//! and count, and the last lines of stderr are kept for the reason file.
//!
//! Lifetime: the handler leads its own process group, so a timeout or a shutdown can
//! signal everything it started (SIGTERM, then SIGKILL after a grace); it is killed when
//! its `Child` is dropped; on Linux it also gets SIGKILL when the daemon dies
//! (PR_SET_PDEATHSIG, armed for the spawning thread, hence the spawn happens on an async
//! runtime thread and never on a short-lived blocking-pool thread). The job's lock
//! descriptor is O_CLOEXEC and the stdin pipe is fed by the daemon, so the handler never
//! holds the lock.
//!
//! This module does not decide what an exit means; `worker` does.

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use spoolq_claim::sys::{Signal, kill_child_with_parent, signal_process_group};
use spoolq_spool::JobId;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tracing::{debug, info, warn};

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
    pub stderr_tail: Vec<String>,
    pub started: SystemTime,
    pub ended: SystemTime,
}

impl Run {
    fn new() -> Run {
        Run {
            code: None,
            signal: None,
            timed_out: false,
            interrupted: false,
            spawn_error: None,
            stderr_tail: Vec::new(),
            started: SystemTime::now(),
            ended: SystemTime::now(),
        }
    }

    /// A short description: "exit 3", "signal 9", "timed out", ...
    pub fn describe(&self) -> String {
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
    /// A duplicate of the locked descriptor, positioned at the payload.
    pub payload: File,
    pub length: u64,
    pub spool: &'a std::path::Path,
}

/// Handler settings from the config.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub command: Option<Vec<std::ffi::OsString>>,
    pub simulate_work: Option<Duration>,
    pub timeout: Duration,
    pub kill_grace: Duration,
}

/// Process groups of running handlers, so that a second signal can kill them all
/// before the process exits at once (exit skips destructors, so `kill_on_drop` would
/// not run).
static LIVE_GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    LIVE_GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends SIGKILL to the process group of every handler running in this process. For
/// the binary's "second signal exits at once" path, right before `process::exit`.
pub fn kill_all_handlers() {
    for pgid in live().iter() {
        let _ = signal_process_group(*pgid, Signal::Kill);
    }
}

/// Runs the handler for `job`. `terminate` turns true when the shutdown grace expired.
pub(crate) async fn run(
    settings: &Settings,
    job: Job<'_>,
    mut terminate: watch::Receiver<bool>,
) -> Run {
    let Some(command) = &settings.command else {
        return builtin(settings, job, terminate).await;
    };
    let mut run = Run::new();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .env("SPOOLQ_JOB_ID", job.id.to_string())
        .env("SPOOLQ_JOB_ATTEMPT", job.attempt.to_string())
        .env("SPOOLQ_SPOOL", job.spool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    kill_child_with_parent(cmd.as_std_mut());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            run.spawn_error = Some(e.to_string());
            run.ended = SystemTime::now();
            return run;
        }
    };
    let Some(pgid) = child.id() else {
        // Already reaped: cannot happen before the first wait, but never panic.
        run.spawn_error = Some("the handler vanished right after spawning".into());
        return run;
    };
    live().insert(pgid);
    debug!(job = %job.id, attempt = job.attempt, pid = pgid, "handler started");

    let stdin = child.stdin.take();
    let payload = tokio::fs::File::from_std(job.payload);
    let length = job.length;
    let id = job.id;
    let pump = tokio::spawn(async move {
        let Some(mut stdin) = stdin else { return };
        let mut source = payload.take(length);
        match tokio::io::copy(&mut source, &mut stdin).await {
            Ok(_) => {}
            // The handler need not read its stdin; closing it early is its right.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => debug!(job = %id, error = %e, "feeding the payload to the handler stopped"),
        }
    });
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(log_lines(s, id, "stdout", None)));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(log_lines(s, id, "stderr", Some(tail.clone()))));

    let timeout = tokio::time::sleep(settings.timeout);
    tokio::pin!(timeout);
    let status = tokio::select! {
        status = child.wait() => status,
        () = &mut timeout => {
            run.timed_out = true;
            warn!(job = %id, timeout = %humantime::format_duration(settings.timeout),
                "handler timed out: terminating its process group");
            stop(&mut child, pgid, settings.kill_grace).await
        }
        () = crate::flag_set(&mut terminate) => {
            run.interrupted = true;
            warn!(job = %id, "shutdown grace expired: terminating the handler");
            stop(&mut child, pgid, settings.kill_grace).await
        }
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
    pump.abort();
    let _ = pump.await;
    for task in [out, err].into_iter().flatten() {
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

/// SIGTERM to the group, SIGKILL after the grace; returns the handler's status.
async fn stop(
    child: &mut Child,
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

/// The built-in handler: log the job, optionally pretend to work, succeed.
async fn builtin(settings: &Settings, job: Job<'_>, mut terminate: watch::Receiver<bool>) -> Run {
    let mut run = Run::new();
    info!(job = %job.id, attempt = job.attempt, bytes = job.length, "built-in handler: job received");
    if let Some(work) = settings.simulate_work {
        tokio::select! {
            () = tokio::time::sleep(work.min(settings.timeout)) => {
                if work > settings.timeout {
                    run.timed_out = true;
                }
            }
            () = crate::flag_set(&mut terminate) => run.interrupted = true,
        }
    }
    if !run.timed_out && !run.interrupted {
        run.code = Some(0);
    }
    run.ended = SystemTime::now();
    run
}

/// The built-in handler without simulated work, synchronously: log the job, succeed.
pub(crate) fn builtin_now(id: JobId, attempt: u32, length: u64) -> Run {
    let mut run = Run::new();
    info!(job = %id, attempt, bytes = length, "built-in handler: job received");
    run.code = Some(0);
    run.ended = run.started;
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
