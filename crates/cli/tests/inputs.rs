//! What the binary does with bad input before any work: flags outside the values the
//! daemon accepts, producer settings that cannot be honoured, spool modes and mounts
//! that would break the removal of jobs, and the messages that name the fix.

mod common;

use std::time::Duration;

use common::*;
use spoolq_spool::EventKind;

/// Runs `spoolq daemon --drain --spool SPOOL ARGS...` to its end; a daemon that does
/// not end (one that deadlocked on its flags) fails the test instead of hanging it.
fn daemon_exit(spool: &TempSpool, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["--drain"];
    all.extend_from_slice(args);
    let mut daemon = spool.daemon(&all, &[]);
    let status = daemon.wait(PATIENCE);
    (status.code(), daemon.log_text())
}

#[test]
fn daemon_flags_outside_their_range_are_refused_at_parse_time_naming_the_range() {
    let spool = TempSpool::new();
    spool.drop_jobs(3);
    for (args, range) in [
        // 600 inline workers would hold every thread of the blocking pool: deadlock.
        (&["--workers", "600"][..], "from 1 to 256"),
        (&["--workers", "100000000"], "from 1 to 256"),
        // 0 silently meant one per CPU: auto says so.
        (&["--workers", "0"], "auto"),
        // 1ns makes the rescan spin.
        (&["--rescan-interval", "1ns"], "from 10ms to 1day"),
        (
            &["--rescan-interval", "500000000000years"],
            "from 10ms to 1day",
        ),
        (&["--job-timeout", "0s"], "from 1ms to 1year"),
        (&["--retry-base", "500000000000years"], "from 0s to 1year"),
        (&["--max-attempts", "0"], "from 1 to 1000"),
        (&["--tmp-max-age", "0s"], "from 1s to 1year"),
    ] {
        let (code, log) = daemon_exit(&spool, args);
        assert_eq!(code, Some(2), "{args:?}: {log}");
        assert!(log.contains(range), "{args:?} names {range:?}: {log}");
        assert!(log.contains(args[0]), "{args:?} names its flag: {log}");
        assert!(log.contains("--help"), "{args:?} points to --help: {log}");
    }
    // Nothing started: no journal, every job still waiting.
    assert!(spool.events(EventKind::Start).is_empty());
    assert_eq!(spool.names("new").len(), 3);

    // The bounds themselves and auto are accepted, and the daemon runs.
    let (code, log) = daemon_exit(
        &spool,
        &[
            "--workers",
            "256",
            "--rescan-interval",
            "10ms",
            "--max-attempts",
            "1000",
        ],
    );
    assert_eq!(code, Some(0), "{log}");
    assert!(spool.names("new").is_empty(), "{log}");
    let (code, log) = daemon_exit(&spool, &["--workers", "auto"]);
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn the_library_refuses_what_the_command_line_refuses() {
    let mut config = spoolq_daemon::Config::new("/nonexistent");
    assert!(config.check().is_ok(), "the defaults are accepted");
    config.workers = 600;
    let e = config.check().unwrap_err().to_string();
    assert!(
        e.contains("workers 600") && e.contains("from 1 to 256"),
        "{e}"
    );
    config.workers = 0;
    config.rescan_interval = Duration::from_nanos(1);
    let e = config.check().unwrap_err().to_string();
    assert!(
        e.contains("rescan interval 1ns") && e.contains("10ms"),
        "{e}"
    );
}

#[test]
fn init_refuses_a_sticky_mode_and_explains_a_group_that_cannot_remove_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let sticky = dir.path().join("sticky");
    // In a sticky new/ only a file's owner may unlink or rename it: a daemon running as
    // another user could never complete the jobs producers own.
    let out = spoolq()
        .arg("init")
        .arg(&sticky)
        .args(["--mode", "3770"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sticky"), "{stderr}");
    assert!(
        stderr.contains("2770"),
        "names the mode that works: {stderr}"
    );
    assert!(!sticky.exists(), "nothing created");

    // A group that may read but not write: said, not refused (readers are a use).
    let readers = dir.path().join("readers");
    let out = spoolq()
        .arg("init")
        .arg(&readers)
        .args(["--mode", "2750", "--group", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains("may not drop jobs") && stdout.contains("--mode 2770"),
        "{stdout}"
    );

    // A spool made sticky by hand: the daemon says so at start, naming the fix.
    let spool = TempSpool::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(spool.folder("new"), std::fs::Permissions::from_mode(0o1750)).unwrap();
    let (code, log) = daemon_exit(&spool, &[]);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("sticky bit") && log.contains("/new") && log.contains("chmod -t"),
        "{log}"
    );
}

/// A bind mount of `from` at `at` (a second mount of the same file system), unmounted
/// when dropped.
struct BindMount(std::path::PathBuf);

impl BindMount {
    fn mount(from: &std::path::Path, at: &std::path::Path) -> Result<BindMount, String> {
        let out = std::process::Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(at)
            .output()
            .map_err(|e| format!("running mount(8): {e}"))?;
        if out.status.success() {
            Ok(BindMount(at.to_owned()))
        } else {
            Err(format!(
                "bind mounts are not permitted here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn the_daemon_refuses_to_start_when_job_folders_are_on_different_mounts() {
    // retry/ on its own file system: every move to retry/ would fail with EXDEV.
    let spool = TempSpool::new();
    spool.drop_jobs(2);
    let _retry = match TmpfsMount::mount(&spool.folder("retry"), "1m") {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    let (code, log) = daemon_exit(&spool, &[]);
    assert_eq!(code, Some(2), "{log}");
    assert_eq!(log.lines().count(), 1, "one line: {log}");
    assert!(
        log.contains("/retry")
            && log.contains("another file system")
            && log.contains("one file system"),
        "{log}"
    );
    assert!(spool.events(EventKind::Start).is_empty(), "nothing started");
    assert_eq!(spool.names("new").len(), 2, "nothing claimed");

    // failed/ a bind mount of the same file system: same device, but a rename across
    // two mounts fails with EXDEV all the same.
    let spool = TempSpool::new();
    let elsewhere = spool.scratch().join("failed-elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let _failed = match BindMount::mount(&elsewhere, &spool.folder("failed")) {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    let (code, log) = daemon_exit(&spool, &[]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("/failed"), "{log}");

    // journal/ on its own file system is fine: no job moves through it.
    let spool = TempSpool::new();
    spool.drop_jobs(2);
    let _journal = TmpfsMount::mount(&spool.folder("journal"), "1m").unwrap();
    let (code, log) = daemon_exit(&spool, &[]);
    assert_eq!(code, Some(0), "{log}");
    assert!(spool.names("new").is_empty(), "{log}");
}

/// The names in `folder` of `spool`, as a set.
fn name_set(spool: &TempSpool, folder: &str) -> std::collections::BTreeSet<String> {
    spool.names(folder).into_iter().collect()
}

/// The ids a producer printed, as a set.
fn printed(stdout: &[u8]) -> std::collections::BTreeSet<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn produce_refuses_rates_and_sizes_it_cannot_honour_before_publishing() {
    let spool = TempSpool::new();
    for (flag, value, says) in [
        // 1e-300 jobs/s: the second job's due time is no representable duration.
        ("--rate", "1e-300", "from 0.001 to 1000000"),
        ("--rate", "0", "from 0.001"),
        ("--rate", "-5", "from 0.001"),
        ("--rate", "NaN", "from 0.001"),
        ("--rate", "inf", "from 0.001"),
        // Writes until the disk is full.
        ("--size", "2G", "larger than 1G"),
    ] {
        let out = spoolq()
            .args([
                "produce",
                "--count",
                "3",
                &format!("{flag}={value}"),
                "--spool",
            ])
            .arg(spool.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    assert!(spool.names("new").is_empty(), "nothing published");
    assert!(spool.names("tmp").is_empty());
}

#[test]
fn a_producer_stopped_by_a_signal_has_printed_every_id_it_published() {
    use std::io::BufRead;
    let spool = TempSpool::new();
    let mut producer = spoolq()
        .args([
            "produce", "--count", "100000", "--rate", "50", "--sync", "never", "--spool",
        ])
        .arg(spool.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Each id as its job is published: read three while it still runs.
    let (lines, seen) = std::sync::mpsc::channel();
    let stdout = producer.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let _ = lines.send(line.clone());
            all.push(line);
        }
        all
    });
    for _ in 0..3 {
        seen.recv_timeout(PATIENCE)
            .expect("an id printed while the producer runs");
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &producer.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = producer.wait_with_output().unwrap();
    let ids: std::collections::BTreeSet<String> = reader.join().unwrap().into_iter().collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + 15), "{stderr}");
    assert!(stderr.contains("stopped by signal 15"), "{stderr}");
    assert!(ids.len() >= 3, "{ids:?}");
    assert_eq!(
        ids,
        name_set(&spool, "new"),
        "every published job's id, and no other"
    );
    assert!(spool.names("tmp").is_empty(), "{:?}", spool.names("tmp"));
}

#[test]
fn a_producer_interrupted_mid_payload_removes_its_partial_file() {
    use std::io::Write;
    let spool = TempSpool::new();
    let mut producer = spoolq()
        .args(["produce", "--spool"])
        .arg(spool.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // More than fits in one write with the header, then silence: the writer stays open.
    let mut stdin = producer.stdin.take().unwrap();
    stdin.write_all(&vec![b'x'; 100 * 1024]).unwrap();
    wait_until("the partial file is in tmp/", PATIENCE, || {
        !spool.names("tmp").is_empty()
    });
    let int = std::process::Command::new("kill")
        .args(["-INT", &producer.id().to_string()])
        .status()
        .unwrap();
    assert!(int.success());
    let out = producer.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + 2), "{stderr}");
    assert!(stderr.contains("partial file was removed"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(spool.names("tmp").is_empty(), "{:?}", spool.names("tmp"));
    assert!(spool.names("new").is_empty());
}

#[test]
fn a_producer_on_a_full_disk_prints_the_ids_it_published_and_says_what_filled() {
    let spool = TempSpool::new();
    let _small = match TmpfsMount::mount(&spool.scratch().join("small"), "2m") {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    let path = spool.scratch().join("small/spool");
    let out = spoolq().arg("init").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    // Five jobs of 600 KiB on 2 MiB: the first ones fit, then the disk is full.
    let out = spoolq()
        .args(["produce", "--count", "5", "--size", "600k", "--spool"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let published: std::collections::BTreeSet<String> = std::fs::read_dir(path.join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !published.is_empty() && published.len() < 5,
        "{published:?}"
    );
    assert_eq!(
        printed(&out.stdout),
        published,
        "every published id printed"
    );
    assert!(stderr.contains("file system is full"), "{stderr}");
    assert!(
        stderr.contains(&format!("{} job(s) were published", published.len())),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot read standard input"), "{stderr}");
    assert_eq!(std::fs::read_dir(path.join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_missing_folder_and_a_spool_that_is_a_file_are_answered_with_the_fix_that_works() {
    // journal/ removed by hand: the answer is `spoolq init SPOOL`, never SPOOL/journal
    // (which would nest a second spool inside the first).
    let spool = TempSpool::new();
    spool.drop_jobs(2);
    std::fs::remove_dir(spool.folder("journal")).unwrap();
    let (code, log) = daemon_exit(&spool, &[]);
    assert_eq!(code, Some(2), "{log}");
    let fix = format!("`spoolq init {}`", spool.path().display());
    assert!(log.contains(&fix) && log.contains("journal/"), "{log}");
    assert!(!log.contains("init {}/journal"), "{log}");
    // The fix works: init makes the missing folder, the jobs stay, the daemon runs.
    let out = spoolq().arg("init").arg(spool.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(spool.names("new").len(), 2);
    let (code, log) = daemon_exit(&spool, &[]);
    assert_eq!(code, Some(0), "{log}");
    assert!(spool.names("new").is_empty());

    // A --spool that is a regular file is called one, not a symbolic link.
    let file = spool.scratch().join("not-a-spool");
    std::fs::write(&file, b"").unwrap();
    for command in ["daemon", "status", "produce"] {
        let out = spoolq()
            .arg(command)
            .arg("--spool")
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("is a regular file, not a directory"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("symbolic link"), "{command}: {stderr}");
    }
}

#[test]
fn a_read_only_spool_is_told_to_remount_not_to_fix_owner_or_mode() {
    let scratch = tempfile::tempdir().unwrap();
    let at = scratch.path().join("ro");
    let _mount = match TmpfsMount::mount(&at, "1m") {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    let path = at.join("spool");
    assert!(spoolq().arg("init").arg(&path).status().unwrap().success());
    let produced = spoolq()
        .args(["produce", "--spool"])
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(produced.status.code(), Some(0));
    let remount = |mode: &str| {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&at)
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    };
    remount("ro");
    for command in [&["daemon", "--drain"][..], &["produce"]] {
        let out = spoolq()
            .args(command)
            .arg("--spool")
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("read-only file system") && stderr.contains("remount"),
            "{command:?}: {stderr}"
        );
        assert!(!stderr.contains("owner or mode"), "{command:?}: {stderr}");
    }
    // The fix works.
    remount("rw");
    let out = spoolq()
        .args(["daemon", "--drain", "--spool"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read_dir(path.join("new")).unwrap().count(), 0);
}

/// Fills the file system of `path` with one file there.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [64 * 1024, 4096, 512, 64, 8, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
}

#[test]
fn log_lines_name_a_job_by_its_id_not_by_a_debug_form() {
    // A journal file system full from the start: each claim's record fails and its job
    // is released unprocessed; the first failure is an error, the next ones are logged
    // at debug, naming their job.
    let spool = TempSpool::new();
    let _journal = match TmpfsMount::mount(&spool.folder("journal"), "256k") {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    let ids = spool.drop_jobs(3);
    let filler = spool.folder("journal").join("filler");
    fill(&filler);
    let mut daemon = spool.daemon_with_env(
        &["--workers", "1", "--rescan-interval", "50ms"],
        &[("SPOOLQ_LOG", "debug")],
        &["sh", "-c", "cat > /dev/null"],
    );
    wait_until(
        "a claim after the first failed and named its job",
        PATIENCE,
        || daemon.log_text().contains("claimed record not journaled"),
    );
    std::fs::remove_file(&filler).unwrap();
    wait_until("every job done once space is back", PATIENCE, || {
        spool.names("new").is_empty()
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    let log = daemon.log_text();
    let named: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("claimed record not journaled"))
        .collect();
    assert!(!named.is_empty());
    for line in named {
        assert!(
            ids.iter().any(|id| line.contains(&format!("job={id}"))),
            "{line}"
        );
    }
    assert!(!log.contains("Some("), "{log}");
    assert!(!log.contains("JobId("), "{log}");
}
