//! Output streams that cannot be written, through the real binary. A closed stdout (a
//! pipe whose reader has gone, as under `| head -1`) is not an error: every command that
//! prints still does all its work and exits with the status it would have had (0, or 1
//! for a finding), never with a panic (101) or SIGPIPE. Any other failure to write the
//! results is an I/O error (2). A closed or failing stderr only loses messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use spoolq_spool::{CreateOptions, Spool};

fn spoolq() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spoolq"));
    cmd.stdin(Stdio::null());
    cmd
}

/// A pipe whose reading end is already closed: every write into it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// A stream whose every write fails with ENOSPC (Linux's /dev/full).
#[cfg(target_os = "linux")]
fn full() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
        .into()
}

/// Runs `cmd` with its stdout a pipe whose reader has gone.
fn with_closed_stdout(cmd: &mut Command) -> Output {
    cmd.stdout(closed_pipe()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exited with `code`, and neither panicked nor was killed by a signal.
#[track_caller]
fn assert_exit(out: &Output, code: i32, what: &str) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_eq!(out.status.code(), Some(code), "{what}: stderr:\n{stderr}");
}

fn new_spool(dir: &Path) -> PathBuf {
    let path = dir.join("spool");
    Spool::create(&path, CreateOptions::default()).unwrap();
    path
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn help_and_version_into_a_closed_pipe_exit_0() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["daemon", "--help"],
        &["lab", "--help"],
        &["audit", "timeline", "--help"],
    ] {
        let out = with_closed_stdout(spoolq().args(args));
        assert_exit(&out, 0, &args.join(" "));
    }
}

#[test]
fn status_init_and_service_into_a_closed_pipe_exit_0_and_do_their_work() {
    let dir = tempfile::tempdir().unwrap();
    let spool = new_spool(dir.path());
    std::fs::write(spool.join("new/.hidden"), b"").unwrap();
    for json in [false, true] {
        let mut cmd = spoolq();
        cmd.arg("status").arg("--spool").arg(&spool);
        if json {
            cmd.arg("--json");
        }
        assert_exit(&with_closed_stdout(&mut cmd), 0, "status");
    }

    let fresh = dir.path().join("fresh");
    let out = with_closed_stdout(spoolq().arg("init").arg(&fresh));
    assert_exit(&out, 0, "init");
    assert!(Spool::open(&fresh).is_ok(), "init made the spool");

    let out = with_closed_stdout(
        spoolq()
            .args(["service", "install", "--systemd", "--print", "--spool"])
            .arg(&spool)
            .args(["--", "/bin/true"]),
    );
    assert_exit(&out, 0, "service install --print");
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let out = with_closed_stdout(
        spoolq()
            .args(["service", "install", "--systemd", "--output-dir"])
            .arg(&units)
            .arg("--spool")
            .arg(&spool)
            .args(["--", "/bin/true"]),
    );
    assert_exit(&out, 0, "service install --output-dir");
    assert_eq!(count(&units), 1, "the unit was written");
}

#[test]
fn produce_into_a_closed_pipe_publishes_every_job_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let spool = new_spool(dir.path());
    let out = with_closed_stdout(
        spoolq()
            .args(["produce", "--count", "1000", "--sync", "never", "--spool"])
            .arg(&spool),
    );
    assert_exit(&out, 0, "produce --count 1000");
    assert_eq!(count(&spool.join("new")), 1000);

    let payloads: Vec<PathBuf> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("payload-{i}"));
            std::fs::write(&path, format!("job {i}\n")).unwrap();
            path
        })
        .collect();
    let out = with_closed_stdout(
        spoolq()
            .arg("produce")
            .arg("--spool")
            .arg(&spool)
            .args(&payloads),
    );
    assert_exit(&out, 0, "produce FILE...");
    assert_eq!(count(&spool.join("new")), 1003);
}

#[test]
fn audit_into_a_closed_pipe_keeps_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let spool = new_spool(dir.path());
    let out = spoolq()
        .args(["produce", "--spool"])
        .arg(&spool)
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_exit(&out, 0, "produce");
    let id = text(&out.stdout).trim().to_owned();
    for args in [
        &["audit"][..],
        &["audit", "--json"],
        &["audit", "timeline", &id],
    ] {
        let out = with_closed_stdout(spoolq().args(args).arg("--spool").arg(&spool));
        assert_exit(&out, 0, &args.join(" "));
    }
    // The job disappears without a completion: lost, a finding, still exit 1.
    std::fs::remove_file(spool.join("new").join(&id)).unwrap();
    for args in [&["audit"][..], &["audit", "--json"]] {
        let out = with_closed_stdout(spoolq().args(args).arg("--spool").arg(&spool));
        assert_exit(&out, 1, &args.join(" "));
        assert!(text(&out.stderr).contains("lost"), "{}", text(&out.stderr));
    }
}

#[test]
fn lab_into_a_closed_pipe_runs_and_exits_with_its_verdict() {
    for json in [false, true] {
        let mut cmd = spoolq();
        cmd.args([
            "lab",
            "--jobs",
            "20",
            "--consumers",
            "2",
            "--workers",
            "1",
            "--work",
            "0s",
        ]);
        if json {
            cmd.arg("--json");
        }
        let out = with_closed_stdout(&mut cmd);
        assert_exit(&out, 0, "lab");
        // It ran: the progress on stderr reached the end of both strategies.
        let stderr = text(&out.stderr);
        assert!(stderr.contains("verified: consuming 20/20"), "{stderr}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_an_io_error_but_the_jobs_are_published() {
    let dir = tempfile::tempdir().unwrap();
    let spool = new_spool(dir.path());
    let out = spoolq()
        .arg("status")
        .arg("--spool")
        .arg(&spool)
        .stdout(full())
        .output()
        .unwrap();
    assert_exit(&out, 2, "status > /dev/full");
    assert!(
        text(&out.stderr).contains("writing to standard output"),
        "{}",
        text(&out.stderr)
    );
    let out = spoolq()
        .args(["produce", "--count", "10", "--sync", "never", "--spool"])
        .arg(&spool)
        .stdout(full())
        .output()
        .unwrap();
    assert_exit(&out, 2, "produce > /dev/full");
    assert!(
        text(&out.stderr).contains("published"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count(&spool.join("new")), 10);
}

/// Streams that cannot be written.
#[derive(Debug, Clone, Copy)]
enum Broken {
    Closed,
    #[cfg(target_os = "linux")]
    Full,
}

impl Broken {
    const ALL: &[Broken] = &[
        Broken::Closed,
        #[cfg(target_os = "linux")]
        Broken::Full,
    ];

    fn stdio(self) -> Stdio {
        match self {
            Broken::Closed => closed_pipe(),
            #[cfg(target_os = "linux")]
            Broken::Full => full(),
        }
    }
}

#[test]
fn a_closed_or_full_stderr_changes_no_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let spool = new_spool(dir.path());
    let missing = dir.path().join("missing");
    // A spool with a lost job: produced, then gone without a completion.
    let lost = dir.path().join("lost");
    Spool::create(&lost, CreateOptions::default()).unwrap();
    let out = spoolq()
        .args(["produce", "--spool"])
        .arg(&lost)
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_exit(&out, 0, "produce");
    let id = text(&out.stdout).trim().to_owned();
    std::fs::remove_file(lost.join("new").join(id)).unwrap();
    for broken in Broken::ALL {
        let name = format!("{broken:?}");
        let stderr = || broken.stdio();
        // An error that cannot be told: still exit 2, not a panic.
        let out = spoolq()
            .arg("status")
            .arg("--spool")
            .arg(&missing)
            .stderr(stderr())
            .status()
            .unwrap();
        assert_eq!(out.code(), Some(2), "status, stderr {name}");
        // A usage error: clap's message is lost, the status is not.
        let out = spoolq()
            .args(["lab", "--strategy", "optimistic"])
            .stderr(stderr())
            .status()
            .unwrap();
        assert_eq!(out.code(), Some(2), "bad flag, stderr {name}");
        // A finding that cannot be told on stderr: still exit 1.
        let out = spoolq()
            .args(["audit", "--spool"])
            .arg(&lost)
            .stdout(Stdio::null())
            .stderr(stderr())
            .status()
            .unwrap();
        assert_eq!(out.code(), Some(1), "audit, stderr {name}");
        // The daemon logs every job at info on stderr: it drains all the same.
        let out = spoolq()
            .args(["produce", "--count", "50", "--sync", "never", "--spool"])
            .arg(&spool)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(out.code(), Some(0));
        let out = spoolq()
            .args(["daemon", "--drain", "--workers", "2", "--spool"])
            .arg(&spool)
            .stderr(stderr())
            .status()
            .unwrap();
        assert_eq!(out.code(), Some(0), "daemon, stderr {name}");
        assert_eq!(count(&spool.join("new")), 0, "daemon, stderr {name}");
        // The lab's progress goes to stderr.
        let out = spoolq()
            .args(["lab", "--jobs", "10", "--consumers", "1", "--work", "0s"])
            .stdout(Stdio::null())
            .stderr(stderr())
            .status()
            .unwrap();
        assert_eq!(out.code(), Some(0), "lab, stderr {name}");
    }
}

/// The daemon's log on a closed pipe or a full disk while handlers write to it: work
/// goes on, every job gets its outcome record, SIGTERM stops it cleanly (0, never 101),
/// and the stop record counts the log lines it had to drop.
#[test]
fn a_daemon_whose_stderr_fails_records_every_outcome_and_counts_the_lines_it_dropped() {
    use spoolq_spool::{Event, EventKind};
    use spoolq_testkit::{PATIENCE, TempSpool};
    use std::time::Instant;

    const JOBS: usize = 20;
    for broken in Broken::ALL {
        let spool = TempSpool::new();
        let ids = spool.drop_jobs(JOBS);
        let mut daemon = spoolq()
            .args(["daemon", "--workers", "2", "--spool"])
            .arg(spool.path())
            .args(["--", "sh", "-c", "cat; echo 'a line for the log' >&2"])
            .stdout(Stdio::null())
            .stderr(broken.stdio())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        while spool.count_per_job(EventKind::Done).len() < JOBS {
            assert!(
                daemon.try_wait().unwrap().is_none(),
                "{broken:?}: the daemon died"
            );
            assert!(Instant::now() < deadline, "{broken:?}: jobs left undone");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let term = Command::new("kill")
            .args(["-TERM", &daemon.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = daemon.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{broken:?}: no exit after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(0), "{broken:?}");
        let done = spool.count_per_job(EventKind::Done);
        for id in &ids {
            assert_eq!(done.get(id), Some(&1), "{broken:?}: job {id}");
        }
        assert!(spool.names("new").is_empty(), "{broken:?}");
        let stops = spool.events(EventKind::Stop);
        let [stop] = &stops[..] else {
            panic!("{broken:?}: one stop record, not {stops:?}");
        };
        let Event::Stop(stop) = &stop.event else {
            unreachable!()
        };
        let dropped: u64 = stop
            .detail
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("log_lines_dropped="))
            .unwrap_or_else(|| panic!("{broken:?}: no count in {:?}", stop.detail))
            .parse()
            .unwrap();
        // At least the start lines and one per handler line (a job's own lines are at
        // debug).
        assert!(dropped > JOBS as u64, "{broken:?}: {}", stop.detail);
    }
}
