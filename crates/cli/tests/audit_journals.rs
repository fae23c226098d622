//! `spoolq audit` and `spoolq status` on the journals of real runs (the `spoolq produce`
//! and `spoolq daemon` binaries), tried as a new and as a hostile user would: a copy of
//! the journals given again, hostile files in journal/, a job file copied under a second
//! name, a producer-chosen id, many one-shot producers, a timeline of an unknown job.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::*;
use serde_json::Value;
use spoolq_spool::JobId;

/// Runs a command to its end, failing the test (not hanging it) if it takes longer than
/// PATIENCE: a reader that blocked on a FIFO would.
fn finish(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a full pipe never stalls the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).unwrap();
        v
    });
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `spoolq produce --count n` into the spool (journaled); the ids.
fn produce(spool: &TempSpool, n: usize) -> Vec<JobId> {
    let out = finish(
        spoolq()
            .args([
                "produce",
                "--sync",
                "never",
                "--count",
                &n.to_string(),
                "--spool",
            ])
            .arg(spool.path()),
    );
    assert!(out.status.success(), "{out:?}");
    text(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// A draining daemon with the built-in handler, run to its end.
fn drain(spool: &TempSpool) {
    let mut daemon = spool.daemon(&["--drain", "--workers", "2"], &[]);
    let status = daemon.wait(PATIENCE);
    assert!(status.success(), "{}", daemon.log_text());
}

fn audit_json(args: &[&str], spool: &TempSpool) -> (Output, Value) {
    let out = finish(
        spoolq()
            .args(["audit", "--json"])
            .args(args)
            .arg("--spool")
            .arg(spool.path()),
    );
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    (out, report)
}

fn journal_names(spool: &TempSpool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spool.folder("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Issue case 3: `--journal` given a copy that includes this host's files used to double
/// every job and report each as a concurrent duplicate. A journal is identified by its
/// writer and read once: a full copy, and a copy taken while the daemon's journal was
/// shorter (its first lines), are both left out as copies.
#[test]
fn a_copy_of_the_journals_given_again_is_read_once() {
    const JOBS: usize = 40;
    let spool = TempSpool::new();
    produce(&spool, JOBS);
    drain(&spool);
    let copy = spool.scratch().join("journal-copy");
    let partial = spool.scratch().join("journal-partial");
    std::fs::create_dir(&copy).unwrap();
    std::fs::create_dir(&partial).unwrap();
    let files = journal_names(&spool);
    assert_eq!(files.len(), 2, "a producer and a daemon: {files:?}");
    for file in &files {
        let name = file.file_name().unwrap();
        std::fs::copy(file, copy.join(name)).unwrap();
        let bytes = std::fs::read(file).unwrap();
        let cut = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        std::fs::write(partial.join(name), &bytes[..cut]).unwrap();
    }

    let (out, report) = audit_json(
        &[
            "--journal",
            copy.to_str().unwrap(),
            "--journal",
            partial.to_str().unwrap(),
        ],
        &spool,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(report["counts"]["produced"], JOBS);
    assert_eq!(report["counts"]["claimed"], JOBS);
    assert_eq!(report["counts"]["completed"], JOBS);
    assert_eq!(report["duplicates"].as_array().unwrap().len(), 0);
    assert_eq!(report["journal_files"].as_array().unwrap().len(), 2);
    assert_eq!(report["journal_copies"].as_array().unwrap().len(), 4);
    assert_eq!(report["problem_count"], 0);

    let out = finish(
        spoolq()
            .args(["audit", "--journal"])
            .arg(&copy)
            .arg("--spool")
            .arg(spool.path()),
    );
    assert_eq!(out.status.code(), Some(0));
    let human = text(&out.stdout);
    assert!(
        human.contains("2 journal file(s) (2 more were copies of these, read once)"),
        "{human}"
    );
    assert!(human.contains("a copy of"), "{human}");
}

/// Issue case 4: producers may write into journal/. A FIFO there hung the auditor, a
/// symlink was followed (to /etc/passwd; to /dev/zero, ending in a 2 GiB allocation and
/// an abort), a file without a newline was read whole. Now each is skipped with a
/// problem naming it, a line is held up to 64 KiB, the problems printed are bounded and
/// the rest counted, and status reads journal/ under the same rules. The audit runs
/// under a 512 MiB address-space limit: holding the 1 GiB line would fail it.
#[test]
fn hostile_files_in_journal_are_skipped_each_with_a_problem() {
    let spool = TempSpool::new();
    produce(&spool, 10);
    drain(&spool);
    let journal = spool.folder("journal");
    let status = Command::new("mkfifo")
        .arg(journal.join("daemon-evil-1-1796205600000-0000.jsonl"))
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("/etc/passwd", journal.join("passwd.jsonl")).unwrap();
    std::os::unix::fs::symlink(
        "/dev/zero",
        journal.join("daemon-evil-2-1796205600000-0000.jsonl"),
    )
    .unwrap();
    // A gigabyte without a newline (sparse: no disk is used).
    let endless = std::fs::File::create(journal.join("endless.jsonl")).unwrap();
    endless.set_len(1 << 30).unwrap();
    drop(endless);
    std::fs::write(journal.join("flood.jsonl"), "not json\n".repeat(3_000)).unwrap();

    let out = finish(
        Command::new("prlimit")
            .arg(format!("--as={}", 512u64 << 20))
            .arg(env!("CARGO_BIN_EXE_spoolq"))
            .args(["audit", "--json", "--spool"])
            .arg(spool.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counts"]["completed"], 10);
    assert_eq!(report["counts"]["lost"], 0);
    assert_eq!(report["problem_count"], 3_000 + 4);
    let problems = report["problems"].as_array().unwrap();
    let of = |file: &str| -> Vec<&Value> {
        problems
            .iter()
            .filter(|p| p["file"].as_str().unwrap().ends_with(file))
            .map(|p| &p["kind"])
            .collect()
    };
    assert_eq!(of("-1-1796205600000-0000.jsonl")[0]["kind"], "not_regular");
    assert_eq!(of("-1-1796205600000-0000.jsonl")[0]["detail"], "fifo");
    assert_eq!(of("-2-1796205600000-0000.jsonl")[0]["kind"], "symlink");
    assert_eq!(of("passwd.jsonl")[0]["kind"], "symlink");
    assert_eq!(of("endless.jsonl")[0]["kind"], "line_too_long");
    assert_eq!(of("endless.jsonl")[0]["detail"]["bytes"], 1u64 << 30);

    // The human report lists the first problems and counts the rest.
    let out = finish(spoolq().args(["audit", "--spool"]).arg(spool.path()));
    assert_eq!(out.status.code(), Some(0));
    let human = text(&out.stdout);
    assert!(human.contains("journal problems (3004)"), "{human}");
    assert!(human.contains("and 2984 more"), "{human}");
    assert!(human.contains("a symbolic link, not followed"), "{human}");
    assert!(human.lines().count() < 200, "{human}");

    let out = finish(
        spoolq()
            .args(["status", "--json", "--spool"])
            .arg(spool.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = status["journal_problems"]["first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(status["journal_problems"]["count"], 2, "{status}");
    assert!(kinds.contains(&"not_regular") && kinds.contains(&"symlink"));
    assert!(
        status["recent_processes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["host"] != "evil"),
        "{status}"
    );
    let out = finish(spoolq().args(["status", "--spool"]).arg(spool.path()));
    assert!(text(&out.stdout).contains("2 problem(s) reading journal/"));
}

/// Issue case 5: a job file copied under a second name (`ID` and `ID.1`), or into retry/
/// beside new/, or under its id in capitals, runs twice. Each run is of its own file, so
/// the audit reports a copy (one id, two files: counted, exit 1 with `copied`), not a
/// concurrent or after-completion violation. The same for an id produced again once the
/// first file was done (`produce --id`), whose new file may even get the freed inode
/// number: its birth time tells it apart.
#[test]
fn a_job_file_copied_under_a_second_name_is_a_copy_not_a_violation() {
    let spool = TempSpool::new();
    let ids = produce(&spool, 4);
    let new = spool.folder("new");
    let named = |id: &JobId| new.join(id.to_string());
    std::fs::copy(named(&ids[0]), new.join(format!("{}.1", ids[0]))).unwrap();
    std::fs::copy(
        named(&ids[1]),
        spool.folder("retry").join(format!("{}.1.1000", ids[1])),
    )
    .unwrap();
    std::fs::copy(named(&ids[2]), new.join(ids[2].to_string().to_uppercase())).unwrap();
    drain(&spool);
    assert!(std::fs::read_dir(&new).unwrap().next().is_none(), "all ran");

    let (out, report) = audit_json(&[], &spool);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(text(&out.stderr).trim(), "spoolq audit: findings: copied");
    assert_eq!(report["counts"]["copied"], 3);
    assert_eq!(report["counts"]["completed"], 7);
    let d = &report["duplicate_counts"];
    assert_eq!(
        (d["concurrent"].clone(), d["after_completion"].clone()),
        (0.into(), 0.into())
    );
    let copied: Vec<JobId> = report["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["job"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids[..3].iter().all(|id| copied.contains(id)), "{copied:?}");

    // The fourth job, done, is produced again under the same id: a second file.
    let file = spool.scratch().join("payload");
    std::fs::write(&file, b"again").unwrap();
    let out = finish(
        spoolq()
            .args(["produce", "--id", &ids[3].to_string(), "--spool"])
            .arg(spool.path())
            .arg(&file),
    );
    assert!(out.status.success(), "{out:?}");
    drain(&spool);
    let (_, report) = audit_json(&[], &spool);
    assert_eq!(report["counts"]["copied"], 4);
    assert_eq!(report["duplicate_counts"]["after_completion"], 0);
    assert_eq!(report["duplicate_counts"]["concurrent"], 0);
}

/// `produce --id` refuses an id already in the spool whatever the case of either name,
/// as the daemon reads names (an id in capitals is the same job).
#[test]
fn produce_id_is_refused_whatever_the_case() {
    let spool = TempSpool::new();
    let file = spool.scratch().join("payload");
    std::fs::write(&file, b"x").unwrap();
    let id = JobId::generate();
    let produce_id = |id: &str| {
        finish(
            spoolq()
                .args(["produce", "--no-journal", "--id", id, "--spool"])
                .arg(spool.path())
                .arg(&file),
        )
    };
    assert!(produce_id(&id.to_string()).status.success());
    let out = produce_id(&id.to_string().to_uppercase());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("already in the spool"));
    // A file named in capitals by another tool takes the id too.
    let other = JobId::generate();
    std::fs::write(
        spool
            .folder("retry")
            .join(format!("{}.2.1000", other.to_string().to_uppercase())),
        b"x",
    )
    .unwrap();
    let out = produce_id(&other.to_string());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read_dir(spool.folder("new")).unwrap().count(), 1);
}

/// Issue case 6: the counts and words of the report.
#[test]
fn quarantined_files_without_an_id_are_counted() {
    let spool = TempSpool::new();
    let ids = produce(&spool, 1);
    let new = spool.folder("new");
    for junk in ["notes.txt", "core", "README"] {
        std::fs::write(new.join(junk), b"junk").unwrap();
    }
    // A job file under another job's name: quarantined as id_mismatch, naming a job.
    let other = JobId::generate();
    std::fs::copy(new.join(ids[0].to_string()), new.join(other.to_string())).unwrap();
    drain(&spool);
    assert_eq!(
        std::fs::read_dir(spool.folder("failed")).unwrap().count(),
        8
    );
    let (out, report) = audit_json(&[], &spool);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["counts"]["quarantined"], 4);
    let quarantined: u64 = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["quarantined"].as_u64().unwrap())
        .sum();
    assert_eq!(quarantined, 4);
}

#[test]
fn status_trusts_an_id_time_only_near_the_file_time() {
    let spool = TempSpool::new();
    let file = spool.scratch().join("payload");
    std::fs::write(&file, b"x").unwrap();
    // A valid UUID v7 whose time is one millisecond after 1970.
    let chosen = "00000000-0001-7000-8000-000000000000";
    let out = finish(
        spoolq()
            .args(["produce", "--id", chosen, "--spool"])
            .arg(spool.path())
            .arg(&file),
    );
    assert!(out.status.success(), "{out:?}");
    let out = finish(
        spoolq()
            .args(["status", "--json", "--spool"])
            .arg(spool.path()),
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let oldest = &status["oldest_ready"];
    assert_eq!(oldest["name"], chosen);
    assert_eq!(oldest["source"], "mtime_id_implausible");
    assert!(oldest["age_secs"].as_f64().unwrap() < 3600.0, "{oldest}");
    let out = finish(spoolq().args(["status", "--spool"]).arg(spool.path()));
    let human = text(&out.stdout);
    assert!(!human.contains("years"), "{human}");
    assert!(
        human.contains("the time in its id is implausible"),
        "{human}"
    );

    // A job produced with a generated id keeps its id's time.
    produce(&spool, 1);
    std::fs::remove_file(spool.folder("new").join(chosen)).unwrap();
    let out = finish(
        spoolq()
            .args(["status", "--json", "--spool"])
            .arg(spool.path()),
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["oldest_ready"]["source"], "uuid_v7");
}

/// Findings print by the names `--fail-on` takes, and a timeline of a job no journal
/// names exits 1 with a message rather than 0 with an empty table.
#[test]
fn findings_print_as_fail_on_names_and_an_unknown_timeline_exits_1() {
    let spool = TempSpool::new();
    let ids = produce(&spool, 1);
    std::fs::copy(
        spool.folder("new").join(ids[0].to_string()),
        spool.folder("new").join(format!("{}.1", ids[0])),
    )
    .unwrap();
    drain(&spool);
    let out = finish(
        spoolq()
            .args(["audit", "--fail-on", "copied,after-completion", "--spool"])
            .arg(spool.path()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim(), "spoolq audit: findings: copied");

    let unknown = JobId::generate();
    let out = finish(
        spoolq()
            .args(["audit", "timeline", &unknown.to_string(), "--spool"])
            .arg(spool.path()),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("no journal record names job {unknown}")),
        "{err}"
    );
    let out = finish(
        spoolq()
            .args(["audit", "timeline", &ids[0].to_string(), "--spool"])
            .arg(spool.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stdout).contains("COPY: the job's id was claimed in 2 files"));
}

/// Every `spoolq produce` is a process of its own, appending to the host's shared
/// producer journal: thirty calls leave one journal file, not thirty, and the process
/// table groups the producers of a host into one row instead of a row each.
#[test]
fn one_shot_producers_are_one_row_per_host() {
    const PRODUCERS: usize = 30;
    let spool = TempSpool::new();
    for _ in 0..PRODUCERS {
        produce(&spool, 1);
    }
    drain(&spool);
    let (_, report) = audit_json(&[], &spool);
    let rows = report["processes"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let producers = rows.iter().find(|r| r["role"] == "producer").unwrap();
    assert_eq!(producers["processes"], PRODUCERS);
    assert_eq!(producers["produced"], PRODUCERS);
    let host = producers["host"].as_str().unwrap();
    assert_eq!(
        producers["process"],
        format!("{host}: {PRODUCERS} producers")
    );
    let out = finish(spoolq().args(["audit", "--spool"]).arg(spool.path()));
    let human = text(&out.stdout);
    assert!(
        human.contains(&format!("{host}: {PRODUCERS} producers")),
        "{human}"
    );
    // One shared producer journal and the daemon's (where the system has a boot id;
    // without one, each producer journals in a file of its own).
    let files = report["journal_files"].as_array().unwrap().len();
    if spoolq_os::boot_id().is_ok() {
        assert_eq!(files, 2, "{:?}", report["journal_files"]);
    } else {
        assert_eq!(files, PRODUCERS + 1);
    }
}

/// The journal of a real run carries what the auditor's evidence needs: the boot on
/// every record, the claimed file's inode, the outcome time read under the lock. One
/// boot of one host: every verdict by the monotonic clock.
#[test]
fn a_real_run_is_one_clock_domain_with_its_evidence_journaled() {
    let spool = TempSpool::new();
    produce(&spool, 5);
    drain(&spool);
    let (out, report) = audit_json(&[], &spool);
    assert_eq!(out.status.code(), Some(0));
    let domains = report["clock_domains"].as_array().unwrap();
    assert_eq!(domains.len(), 1);
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(domains[0]["boot"], boot.trim());
    assert_eq!(domains[0]["processes"], 2);
    let records = spool.records();
    assert!(
        records
            .iter()
            .all(|r| r.boot.as_deref() == Some(boot.trim()))
    );
    let text = text(&finish(spoolq().args(["audit", "--spool"]).arg(spool.path())).stdout);
    assert!(text.contains("ordering: one clock domain"), "{text}");
}
