//! `spoolq produce` and `spoolq audit` as a user runs them: the real binary, real spools
//! in temp folders, exit codes and output checked.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use spoolq_claim::Strategy;
use spoolq_spool::journal::{Claimed, Done};
use spoolq_spool::{CreateOptions, DoneResult, Event, Job, JobId, Record, Spool};

fn spoolq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spoolq"))
}

fn new_spool() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    Spool::create(&path, CreateOptions::default()).unwrap();
    (dir, path)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spoolq runs")
}

fn ids(output: &Output) -> Vec<JobId> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| l.parse().expect("each stdout line is a job id"))
        .collect()
}

/// The job file for `id` in new/, parsed; its header must carry the same id.
fn job_payload(spool: &Path, id: JobId) -> Vec<u8> {
    let bytes = std::fs::read(spool.join("new").join(id.to_string())).unwrap();
    let job = Job::parse(&bytes).expect("a valid job file");
    assert_eq!(job.header.id, id);
    job.payload.to_vec()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn produce_from_files_stdin_and_count_parse_back() {
    let (dir, spool) = new_spool();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.bin");
    std::fs::write(&a, b"hello\n").unwrap();
    std::fs::write(&b, [0u8, 255, 10, 10, 13]).unwrap();
    let out = run(spoolq()
        .arg("produce")
        .arg("--spool")
        .arg(&spool)
        .arg(&a)
        .arg(&b));
    assert!(out.status.success(), "{out:?}");
    let from_files = ids(&out);
    assert_eq!(from_files.len(), 2);
    assert_eq!(job_payload(&spool, from_files[0]), b"hello\n");
    assert_eq!(job_payload(&spool, from_files[1]), [0u8, 255, 10, 10, 13]);

    let mut child = spoolq()
        .args(["produce", "--sync", "never", "--spool"])
        .arg(&spool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n\n\0")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let from_stdin = ids(&out);
    assert_eq!(from_stdin.len(), 1);
    assert_eq!(job_payload(&spool, from_stdin[0]), b"from stdin\n\n\0");

    let out = run(spoolq()
        .args([
            "produce", "--count", "3", "--size", "1k", "--sync", "batch", "--spool",
        ])
        .arg(&spool));
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
    let generated = ids(&out);
    assert_eq!(generated.len(), 3);
    for id in &generated {
        assert_eq!(job_payload(&spool, *id).len(), 1024);
    }
    assert_eq!(names(&spool.join("new")).len(), 6);
    assert!(names(&spool.join("tmp")).is_empty());

    // Every job was journaled: the audit sees 6 produced, all pending, none lost.
    let out = run(spoolq().args(["audit", "--json", "--spool"]).arg(&spool));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counts"]["produced"], 6);
    assert_eq!(report["counts"]["pending"], 6);
    assert_eq!(report["counts"]["lost"], 0);
}

#[test]
fn produce_with_id_refuses_an_id_in_the_spool() {
    let (dir, spool) = new_spool();
    let id = JobId::generate();
    let file = dir.path().join("p");
    std::fs::write(&file, b"x").unwrap();
    let produce = || {
        run(spoolq()
            .args([
                "produce",
                "--no-journal",
                "--id",
                &id.to_string(),
                "--spool",
            ])
            .arg(&spool)
            .arg(&file))
    };
    let out = produce();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(ids(&out), vec![id]);
    let out = produce();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in the spool"), "{err}");
    assert!(names(&spool.join("journal")).is_empty(), "--no-journal");

    // An id waiting in retry/ is taken too.
    let other = JobId::generate();
    std::fs::write(spool.join("retry").join(format!("{other}.1.123")), b"x").unwrap();
    let out = run(spoolq()
        .args(["produce", "--id", &other.to_string(), "--spool"])
        .arg(&spool)
        .arg(&file));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("retry"));
    assert_eq!(names(&spool.join("new")).len(), 1);
}

#[test]
fn produce_errors_name_the_path_and_exit_2() {
    let (dir, spool) = new_spool();
    let missing = dir.path().join("no-such-file");
    let out = run(spoolq()
        .arg("produce")
        .arg("--spool")
        .arg(&spool)
        .arg(&missing));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file"));
    // A folder given as FILE fails while reading: nothing may reach new/.
    let out = run(spoolq()
        .arg("produce")
        .arg("--spool")
        .arg(&spool)
        .arg(dir.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(names(&spool.join("new")).is_empty());
    assert!(names(&spool.join("tmp")).is_empty());

    let nowhere = dir.path().join("not-a-spool");
    let out = run(spoolq().arg("produce").arg("--spool").arg(&nowhere));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not-a-spool") && err.lines().count() == 1,
        "{err}"
    );

    let out = run(spoolq()
        .args(["produce", "--sync", "sometimes", "--spool"])
        .arg(&spool));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn producer_killed_mid_write_leaves_nothing_in_new() {
    let (_dir, spool) = new_spool();
    let mut child = spoolq()
        .args(["produce", "--spool"])
        .arg(&spool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&vec![b'x'; 256 * 1024]).unwrap();
    stdin.flush().unwrap();
    // Wait until the producer is demonstrably mid-write: its temp file exists in tmp/
    // (the pipe stays open, so it is blocked reading the rest of the payload).
    let deadline = Instant::now() + Duration::from_secs(20);
    while names(&spool.join("tmp")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the producer never started writing"
        );
        std::thread::yield_now();
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    drop(stdin);
    assert!(
        names(&spool.join("new")).is_empty(),
        "a partial job reached new/"
    );
}

fn claimed(job: JobId) -> Event {
    Claimed {
        job,
        worker: 0,
        strategy: Strategy::Naive,
        attempt: 1,
        name: job.to_string(),
        ino: None,
        btime_ns: None,
    }
    .into()
}

fn done(job: JobId, result: DoneResult) -> Event {
    Done {
        job,
        worker: 0,
        strategy: Strategy::Naive,
        attempt: 1,
        name: job.to_string(),
        result,
        exit: Some(0),
        signal: None,
        detail: None,
        outcome_ns: None,
    }
    .into()
}

/// Writes a journal file into the spool as a daemon process would have.
fn journal(spool: &Path, pid: u32, records: &[(u64, Event)]) {
    let mut text = String::new();
    for (t, event) in records {
        let mut r = Record::new(event.clone());
        r.mono_ns = *t;
        r.host = "h".to_owned();
        r.pid = pid;
        r.wall = "2026-11-26T22:00:00Z".to_owned();
        text.push_str(&serde_json::to_string(&r).unwrap());
        text.push('\n');
    }
    let path = spool
        .join("journal")
        .join(format!("daemon-h-{pid}-0-0000.jsonl"));
    std::fs::write(path, text).unwrap();
}

#[test]
fn audit_exit_codes_and_timeline() {
    let (dir, spool) = new_spool();
    let job = JobId::generate();
    let clean = JobId::generate();
    journal(
        &spool,
        1,
        &[
            (100, claimed(job)),
            (200, done(job, DoneResult::Ok)),
            (500, claimed(clean)),
            (600, done(clean, DoneResult::Ok)),
        ],
    );
    let out = run(spoolq().arg("audit").arg("--spool").arg(&spool));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("after completion              0"));

    // The seed's interleaving: a second process claims after the first completed.
    journal(
        &spool,
        2,
        &[(300, claimed(job)), (400, done(job, DoneResult::Enoent))],
    );
    let out = run(spoolq().arg("audit").arg("--spool").arg(&spool));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // A finding is named as --fail-on takes it.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "spoolq audit: findings: after-completion"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("after completion job {job}")),
        "{text}"
    );
    let out = run(spoolq().args(["audit", "--json", "--spool"]).arg(&spool));
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["duplicate_counts"]["after_completion"], 1);
    // --fail-on chooses which findings count.
    let out = run(spoolq()
        .args(["audit", "--fail-on", "redelivery,lost", "--spool"])
        .arg(&spool));
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // Journals given by --journal alone: no spool, so lost is unknown.
    let out = run(spoolq()
        .arg("audit")
        .arg("--journal")
        .arg(spool.join("journal")));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown (no spool given)"));

    let svg = dir.path().join("job.svg");
    let out = run(spoolq()
        .args(["audit", "timeline", &job.to_string(), "--spool"])
        .arg(&spool)
        .arg("--svg")
        .arg(&svg));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<&str> = text.lines().skip(2).take(4).collect();
    assert!(
        events[0].contains("h:1") && events[0].contains("claimed"),
        "{text}"
    );
    assert!(
        events[1].contains("h:1") && events[1].contains("done"),
        "{text}"
    );
    assert!(
        events[2].contains("h:2") && events[2].contains("claimed"),
        "{text}"
    );
    assert!(
        events[3].contains("h:2") && events[3].contains("enoent"),
        "{text}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches(r#"class="lane""#).count(), 2);

    // Usage and I/O errors: exit 2.
    let out = run(spoolq()
        .arg("audit")
        .arg("--spool")
        .arg(dir.path().join("missing")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
    assert_eq!(
        run(spoolq().args(["audit", "--bogus"])).status.code(),
        Some(2)
    );
    assert_eq!(run(spoolq().arg("audit")).status.code(), Some(2));
    assert_eq!(
        run(spoolq()
            .args(["audit", "--fail-on", "typo", "--spool"])
            .arg(&spool))
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        run(spoolq()
            .args(["audit", "timeline", "not-an-id", "--spool"])
            .arg(&spool))
        .status
        .code(),
        Some(2)
    );
}

#[test]
fn help_shows_examples() {
    for sub in [&["produce"][..], &["audit"], &["audit", "timeline"]] {
        let out = run(spoolq().args(sub).arg("--help"));
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Examples:"),
            "{sub:?}"
        );
    }
}
