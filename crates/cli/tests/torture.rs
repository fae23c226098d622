//! The torture suite: hostile files, path attacks and faults against the real
//! `spoolq daemon` binary, each checked by counts, and the figures written to stderr.
//!
//! Sizes: small by default, so that CI runs the whole file (its run time is in
//! docs/reliability.md); `SPOOLQ_TORTURE=full` runs the full sizes of that page:
//!
//! ```sh
//! cargo test -p spoolq --test torture -- --nocapture                         # CI size
//! SPOOLQ_TORTURE=full cargo test --release -p spoolq --test torture -- --nocapture --test-threads 1
//! ```
//!
//! Nothing here sleeps to synchronise: every wait polls an observable condition (a
//! folder's contents, a journal, a log line) with a deadline. The kill test sleeps a
//! random time between kills on purpose: that is the fault, not a synchronisation.

mod common;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use spoolq_spool::names::printable;
use spoolq_spool::{
    Event, EventKind, FailedEntry, FailedName, JobHeader, JobId, QuarantineCause, Reason,
    ReasonCode, ReleaseCause, RetryName,
};

fn full() -> bool {
    std::env::var("SPOOLQ_TORTURE").is_ok_and(|v| v == "full")
}

/// `small` in CI, `full` with SPOOLQ_TORTURE=full.
fn size(small: usize, full_size: usize) -> usize {
    if full() { full_size } else { small }
}

/// A figure for the CI log and docs/reliability.md.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "torture: {line}");
}

/// A valid job file's bytes.
fn job_bytes(id: JobId, payload: &[u8]) -> Vec<u8> {
    let mut bytes = JobHeader::new(id, payload.len() as u64).render();
    bytes.extend_from_slice(payload);
    bytes
}

/// Writes `bytes` beside the spool and renames the file into new/ as `name`, so the
/// daemon never sees it half-written (the in-place case is tested on purpose, apart).
fn place(spool: &TempSpool, name: &OsStr, bytes: &[u8]) {
    let staging = spool.scratch().join("staging");
    std::fs::write(&staging, bytes).unwrap();
    std::fs::rename(&staging, spool.folder("new").join(name)).unwrap();
}

/// Every reason file in failed/, parsed, keyed by its `original_name`.
fn reasons(spool: &TempSpool) -> HashMap<String, Reason> {
    reasons_in(&spool.folder("failed"))
}

fn reasons_in(dir: &Path) -> HashMap<String, Reason> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if !matches!(
            FailedEntry::parse(&entry.file_name()),
            FailedEntry::Reason(_)
        ) {
            continue;
        }
        let reason = Reason::from_file_bytes(&std::fs::read(entry.path()).unwrap()).unwrap();
        out.insert(reason.original_name.clone(), reason);
    }
    out
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// The peak resident memory of a live process, in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What each hostile file must become: the reason code in failed/.
struct Hostile {
    name: OsString,
    code: QuarantineCause,
    /// What the message must mention, so a person knows what to do.
    says: &'static str,
}

#[test]
fn hostile_files_are_quarantined_and_the_valid_jobs_beside_them_complete() {
    let valid_count = size(200, 5000);
    let spool = TempSpool::new();
    let new = spool.folder("new");
    let scratch = spool.scratch();

    // The secret outside the spool, with its access time set before its modification
    // time: on a relatime mount any read of it moves the access time.
    let secret = scratch.join("secret.txt");
    std::fs::write(&secret, b"the secret\n").unwrap();
    let set_old_atime = |path: &Path| {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600 * 48);
        f.set_times(std::fs::FileTimes::new().set_accessed(old))
            .unwrap();
    };
    set_old_atime(&secret);
    let secret_before = std::fs::metadata(&secret).unwrap();
    // Calibration: does reading a file move its access time on this mount?
    let calibration = scratch.join("calibration.txt");
    std::fs::write(&calibration, b"x").unwrap();
    set_old_atime(&calibration);
    let cal_before = std::fs::metadata(&calibration).unwrap().atime();
    let _ = std::fs::read(&calibration).unwrap();
    let atime_works = std::fs::metadata(&calibration).unwrap().atime() != cal_before;

    let mut daemon = spool.daemon(&["--workers", "2", "--rescan-interval", "200ms"], &[]);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    let mut valid = spool.drop_jobs(valid_count / 2);

    let mut hostile = Vec::new();
    let mut add = |name: OsString, code, says| {
        hostile.push(Hostile { name, code, says });
    };

    // 1. A symlink to the secret.
    std::os::unix::fs::symlink(&secret, new.join("link-to-secret")).unwrap();
    add(
        "link-to-secret".into(),
        QuarantineCause::Symlink,
        "symbolic link",
    );
    // 2. A hard link to a (valid) job file outside the spool.
    let outside = scratch.join("outside-job");
    let linked_id = JobId::generate();
    std::fs::write(&outside, job_bytes(linked_id, b"linked\n")).unwrap();
    std::fs::hard_link(&outside, new.join(linked_id.to_string())).unwrap();
    add(
        linked_id.to_string().into(),
        QuarantineCause::HardLinked,
        "hard links",
    );
    // 3. A FIFO with no writer.
    let status = Command::new("mkfifo")
        .arg(new.join("a-fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    add("a-fifo".into(), QuarantineCause::NotRegular, "fifo");
    // 4. A UNIX socket, still listening.
    let _listener = std::os::unix::net::UnixListener::bind(new.join("a-socket")).unwrap();
    add("a-socket".into(), QuarantineCause::NotRegular, "socket");
    // 5. A directory, with a file in it.
    std::fs::create_dir(scratch.join("a-directory")).unwrap();
    std::fs::write(scratch.join("a-directory").join("inside"), b"inside\n").unwrap();
    std::fs::rename(scratch.join("a-directory"), new.join("a-directory")).unwrap();
    add(
        "a-directory".into(),
        QuarantineCause::NotRegular,
        "directory",
    );
    // 6. A zero-byte file named like a job.
    let empty_id = JobId::generate();
    place(&spool, empty_id.to_string().as_ref(), b"");
    add(empty_id.to_string().into(), QuarantineCause::Empty, "empty");
    // 7. A 1 GiB file (sparse: zeros, costs no disk), named like a job.
    let big_id = JobId::generate();
    let big_path = scratch.join("big");
    let big = std::fs::File::create(&big_path).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);
    std::fs::rename(&big_path, new.join(big_id.to_string())).unwrap();
    add(
        big_id.to_string().into(),
        QuarantineCause::NotAJob,
        "not a spoolq job",
    );
    // 8. A header only: no blank line ends it.
    let header_only = JobId::generate();
    let mut text = JobHeader::new(header_only, 5).render();
    text.truncate(text.len() - 1);
    place(&spool, header_only.to_string().as_ref(), &text);
    add(
        header_only.to_string().into(),
        QuarantineCause::UnterminatedHeader,
        "no blank line",
    );
    // 9. A garbage header.
    let garbage = JobId::generate();
    place(
        &spool,
        garbage.to_string().as_ref(),
        b"spoolq-job 1\nid: not-a-uuid\ncreated: yesterday\nlength: -1\n\nx",
    );
    add(
        garbage.to_string().into(),
        QuarantineCause::BadId,
        "not a UUID",
    );
    // 10. A name that is not UTF-8 (a valid job inside).
    let non_utf8 = OsStr::from_bytes(b"job-\xff\xfe-\x80").to_owned();
    place(&spool, &non_utf8, &job_bytes(JobId::generate(), b"x"));
    add(non_utf8, QuarantineCause::NotAJobName, "not a job name");
    // 11. A 255-byte name (NAME_MAX): its reason file's name would be too long.
    let long: OsString = "n".repeat(255).into();
    place(&spool, &long, &job_bytes(JobId::generate(), b"x"));
    add(long.clone(), QuarantineCause::NotAJobName, "not a job name");
    // 12. A name with a newline.
    let newline: OsString = "bad\nname".into();
    place(&spool, &newline, &job_bytes(JobId::generate(), b"x"));
    add(newline, QuarantineCause::NotAJobName, "not a job name");
    // 13. A job still being written: the header declares 1000 bytes, 100 are there,
    // the writer keeps its descriptor open. The first 100 bytes are written before the
    // file is renamed in: the running daemon may look at a name the instant it appears,
    // and a file created empty in new/ can be quarantined as `empty` before its header
    // lands (also nothing lost, but not the case this one is about).
    let partial_id = JobId::generate();
    let staging = spool.scratch().join("partial");
    let mut writer = std::fs::File::create(&staging).unwrap();
    writer
        .write_all(&JobHeader::new(partial_id, 1000).render())
        .unwrap();
    writer.write_all(&[b'p'; 100]).unwrap();
    std::fs::rename(&staging, new.join(partial_id.to_string())).unwrap();
    add(
        partial_id.to_string().into(),
        QuarantineCause::LengthMismatch,
        "rename them in",
    );
    // 14. A header id that differs from the name.
    let named = JobId::generate();
    place(
        &spool,
        named.to_string().as_ref(),
        &job_bytes(JobId::generate(), b"x"),
    );
    add(
        named.to_string().into(),
        QuarantineCause::IdMismatch,
        "authority",
    );

    valid.extend(spool.drop_jobs(valid_count - valid.len()));
    let started = Instant::now();
    let deadline = Duration::from_secs(if full() { 300 } else { 60 });
    wait_until(
        "every valid job done and every hostile file in failed/",
        deadline,
        || {
            spool.count_per_job(EventKind::Done).len() >= valid.len()
                && reasons(&spool).len() >= hostile.len()
        },
    );
    let elapsed = started.elapsed();
    // The in-place writer finishes its job after the daemon moved the file: the bytes
    // land in failed/, nothing is lost.
    writer.write_all(&[b'p'; 900]).unwrap();
    drop(writer);
    let rss = peak_rss_kib(daemon.pid());
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    let log = daemon.log_text();

    // Every valid job done exactly once.
    let done = spool.count_per_job(EventKind::Done);
    for id in &valid {
        assert_eq!(
            done.get(id),
            Some(&1),
            "valid job {id} not done exactly once"
        );
    }
    assert_eq!(done.len(), valid.len(), "only the valid jobs ran: {done:?}");
    // Every hostile file in failed/ with its reason; nothing left in new/.
    let reasons = reasons(&spool);
    let mut moved = 0;
    for h in &hostile {
        let key = printable(&h.name);
        let reason = reasons
            .get(&key)
            .unwrap_or_else(|| panic!("no reason for {key:?}; reasons: {reasons:?}\n{log}"));
        assert_eq!(
            reason.reason,
            ReasonCode::Quarantined(h.code),
            "{key:?}: {reason:?}"
        );
        let message = &reason.message;
        assert!(
            message.contains(h.says),
            "{key:?}: the message {message:?} should mention {:?}",
            h.says
        );
        // stored_as is printable (escaped); when it is the original name, use the bytes.
        let stored_as = reason.stored_as.as_str();
        let stored = if stored_as == key {
            spool.folder("failed").join(&h.name)
        } else {
            spool.folder("failed").join(stored_as)
        };
        assert!(
            std::fs::symlink_metadata(&stored).is_ok(),
            "{key:?} is not at {}",
            stored.display()
        );
        moved += 1;
    }
    assert!(
        spool.names("new").is_empty(),
        "left in new/: {:?}",
        spool.names("new")
    );
    assert_eq!(spool.events(EventKind::Quarantined).len(), hostile.len());

    // The symlink itself moved; the secret untouched, never read.
    let link = spool.folder("failed").join("link-to-secret");
    assert_eq!(std::fs::read_link(&link).unwrap(), secret);
    let secret_after = std::fs::metadata(&secret).unwrap();
    assert_eq!(std::fs::read(&secret).unwrap(), b"the secret\n");
    assert_eq!(secret_after.mtime(), secret_before.mtime());
    assert_eq!(secret_after.ino(), secret_before.ino());
    if atime_works {
        assert_eq!(
            secret_after.atime(),
            secret_before.atime(),
            "the secret was read"
        );
    } else {
        report("access times do not move on this mount: the no-read check is by content only");
    }
    // The hard-linked file still has both names (outside and in failed/).
    assert_eq!(std::fs::metadata(&outside).unwrap().nlink(), 2);
    // The FIFO, socket and directory are still what they were.
    let kind = |name: &str| {
        std::fs::symlink_metadata(spool.folder("failed").join(name))
            .unwrap()
            .file_type()
    };
    assert!(kind("a-fifo").is_fifo());
    assert!(kind("a-socket").is_socket());
    assert!(kind("a-directory").is_dir());
    assert!(
        spool
            .folder("failed")
            .join("a-directory")
            .join("inside")
            .exists()
    );
    // The 1 GiB file is whole and was not read into memory.
    assert_eq!(
        std::fs::metadata(spool.folder("failed").join(big_id.to_string()))
            .unwrap()
            .len(),
        1 << 30
    );
    if let Some(rss) = rss {
        assert!(
            rss < 256 * 1024,
            "the daemon's peak memory was {rss} KiB: did it read the 1 GiB file?"
        );
    }
    // The in-place write completed inside failed/.
    let partial = std::fs::read(spool.folder("failed").join(partial_id.to_string())).unwrap();
    assert!(spoolq_spool::Job::parse(&partial).is_ok());
    // The 255-byte name got a generated name; the real one is in the reason.
    let long_reason = &reasons[&printable(&long)];
    assert!(
        FailedName::parse(long_reason.stored_as.as_ref())
            .is_some_and(|stored| stored.is_generated()),
        "{long_reason:?}"
    );

    report(&format!(
        "hostile files: {} in new/, {moved} in failed/ with reasons, 0 deleted, {}/{} valid \
         completed in {:.1} s, daemon peak RSS {} KiB, secret atime check {}",
        hostile.len(),
        valid.len(),
        valid.len(),
        elapsed.as_secs_f64(),
        rss.unwrap_or(0),
        if atime_works { "on" } else { "unavailable" }
    ));
}

/// A file without read permission. As root permissions do not stop a read, so the
/// daemon runs as `nobody` (via setpriv) when the test runs as root; otherwise it runs
/// as the test's own user, for whom mode 000 is unreadable.
#[test]
fn a_file_without_read_permission_is_quarantined_as_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    let spool = TempSpool::new();
    let root = effective_uid() == 0;
    let valid = spool.drop_job("beside it\n");
    let locked = JobId::generate();
    let path = spool.folder("new").join(locked.to_string());
    std::fs::write(&path, job_bytes(locked, b"secret payload\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();

    let mut cmd = if root {
        // The spool belongs to nobody; the locked file stays root's, mode 000.
        give_spool_to_nobody(&spool, &[]);
        std::os::unix::fs::chown(
            spool.folder("new").join(valid.to_string()),
            Some(NOBODY),
            Some(NOBODY),
        )
        .unwrap();
        spoolq_as_nobody()
    } else {
        spoolq()
    };
    let out = cmd
        .args(["daemon", "--drain", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(spool.count_per_job(EventKind::Done).get(&valid), Some(&1));
    let reasons = reasons(&spool);
    let reason = &reasons[&locked.to_string()];
    assert_eq!(
        reason.reason,
        ReasonCode::Quarantined(QuarantineCause::Unreadable),
        "{reason:?}"
    );
    assert!(
        reason.message.contains("readable by the daemon's user"),
        "{reason:?}"
    );
    assert!(spool.folder("failed").join(locked.to_string()).exists());
    assert!(spool.names("new").is_empty());
    report(&format!(
        "unreadable file: daemon as {}: 1 in failed/ as unreadable, 0 deleted, 1/1 valid completed",
        if root {
            "nobody (setpriv)"
        } else {
            "the test user"
        }
    ));
}

/// new/, retry/ or failed/ replaced by a symlink while the daemon runs.
fn folder_replaced_by_a_symlink(folder: &str) {
    let spool = TempSpool::new();
    let scratch = spool.scratch();
    // Jobs already in the folder before the swap.
    let mut before = Vec::new();
    match folder {
        "retry" => {
            for id in spool.drop_jobs(3) {
                let due = SystemTime::now() + Duration::from_secs(3600);
                let name = RetryName::new(id, 1, due).to_string();
                std::fs::rename(
                    spool.folder("new").join(id.to_string()),
                    spool.folder("retry").join(&name),
                )
                .unwrap();
                before.push(name);
            }
        }
        "failed" => {
            std::fs::write(spool.folder("failed").join("dead-letter"), b"dead\n").unwrap();
            before.push("dead-letter".to_owned());
        }
        _ => {}
    }
    let mut daemon = spool.daemon(&["--rescan-interval", "50ms", "--workers", "2"], &[]);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    let moved_away = scratch.join(format!("old-{folder}"));
    let elsewhere = scratch.join(format!("elsewhere-{folder}"));
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::rename(spool.folder(folder), &moved_away).unwrap();
    std::os::unix::fs::symlink(&elsewhere, spool.folder(folder)).unwrap();
    // Bait behind the symlink: a valid job (new/), a due retry (retry/).
    let bait = JobId::generate();
    let bait_name = match folder {
        "retry" => RetryName::new(bait, 1, SystemTime::now()).to_string(),
        _ => bait.to_string(),
    };
    std::fs::write(elsewhere.join(&bait_name), job_bytes(bait, b"bait\n")).unwrap();
    wait_until("the daemon reports the replaced folder", PATIENCE, || {
        let log = daemon.log_text();
        log.contains("moved away or replaced") && log.contains(&format!("/{folder}"))
    });
    // The daemon keeps serving what it still can: new jobs (unless new/ is the one
    // replaced), and quarantines into the failed/ it opened at start, not the symlink.
    let mut later = Vec::new();
    if folder != "new" {
        later = spool.drop_jobs(3);
        std::fs::write(spool.folder("new").join("garbage"), b"garbage").unwrap();
        wait_until("the later jobs are done", PATIENCE, || {
            let done = spool.count_per_job(EventKind::Done);
            later.iter().all(|id| done.contains_key(id))
        });
        let failed_dir = if folder == "failed" {
            moved_away.clone()
        } else {
            spool.folder("failed")
        };
        wait_until("the garbage is quarantined", PATIENCE, || {
            reasons_in(&failed_dir).contains_key("garbage")
        });
    }
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    let log = daemon.log_text();

    // Nothing followed: the bait is where it was, never claimed, nothing else there.
    assert_eq!(
        std::fs::read_dir(&elsewhere)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        vec![bait_name.clone()],
        "{log}"
    );
    assert!(!spool.count_per_job(EventKind::Claimed).contains_key(&bait));
    // Nothing lost: what was in the folder is still in the moved-away folder.
    for name in &before {
        assert!(moved_away.join(name).exists(), "{name} lost:\n{log}");
    }
    let error_lines = log
        .lines()
        .filter(|l| l.contains("moved away or replaced"))
        .count();
    assert_eq!(error_lines, 1, "reported once:\n{log}");
    report(&format!(
        "{folder}/ replaced by a symlink: refused and logged once, bait behind the symlink \
         untouched (0 claimed), {}/{} jobs that were in it still there, {}/{} later jobs done",
        before.len(),
        before.len(),
        later.len(),
        later.len()
    ));
}

#[test]
fn new_replaced_by_a_symlink_is_refused_and_loses_nothing() {
    folder_replaced_by_a_symlink("new");
}

#[test]
fn retry_replaced_by_a_symlink_is_refused_and_loses_nothing() {
    folder_replaced_by_a_symlink("retry");
}

#[test]
fn failed_replaced_by_a_symlink_is_refused_and_loses_nothing() {
    folder_replaced_by_a_symlink("failed");
}

/// A small deterministic generator (xorshift64*), seeded from the clock and printed.
struct Rng(u64);

impl Rng {
    fn from_clock() -> Rng {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        let seed = std::env::var("SPOOLQ_TORTURE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(seed);
        report(&format!(
            "seed {seed} (SPOOLQ_TORTURE_SEED={seed} repeats it)"
        ));
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn audit(spool: &TempSpool) -> spoolq_auditor::Report {
    spoolq_auditor::audit(&spoolq_auditor::AuditInput {
        spool: Some(spool.path()),
        journals: Vec::new(),
        ..spoolq_auditor::AuditInput::default()
    })
    .unwrap()
}

/// One kill -9 run: three daemons with `args` (and `handler`, if any) consume `jobs`
/// produced at `rate` a second while a random one is killed and restarted `kills` times
/// (at least); returns the audit of the spool once every job is done.
fn kill_9_run(
    spool: &TempSpool,
    args: &[&str],
    handler: &[&str],
    jobs: usize,
    kills: usize,
    rate: f64,
) -> (spoolq_auditor::Report, usize, Vec<JobId>) {
    let mut daemons: Vec<Daemon> = (0..3).map(|_| spool.daemon(args, handler)).collect();
    wait_until("three daemons started", PATIENCE, || {
        spool.events(EventKind::Start).len() == 3
    });
    let producer = {
        let spool = spoolq_spool::Spool::open(&spool.path()).unwrap();
        std::thread::spawn(move || {
            let journal = spoolq_producer::open_journal(&spool).unwrap();
            let opts = spoolq_producer::Generate {
                count: jobs as u64,
                size: 64,
                rate: Some(rate),
                sync: spoolq_producer::SyncMode::Never,
            };
            spoolq_producer::produce_generated(&spool, &opts, Some(&journal), &mut |_| {}).unwrap()
        })
    };
    // Kills spread over the production time, at random moments, random victims.
    let production = Duration::from_secs_f64(jobs as f64 / rate);
    let mean_gap_ms = (production.as_millis() as u64 / kills as u64).max(20);
    let mut rng = Rng::from_clock();
    let mut killed = 0;
    while killed < kills || !producer.is_finished() {
        let gap = mean_gap_ms / 2 + rng.below(mean_gap_ms);
        std::thread::sleep(Duration::from_millis(gap));
        let victim = rng.below(3) as usize;
        daemons[victim].signal("KILL");
        daemons[victim].wait(PATIENCE);
        killed += 1;
        daemons[victim] = spool.daemon(args, handler);
    }
    let ids = producer.join().unwrap();
    assert_eq!(ids.len(), jobs);
    wait_until(
        "new/ and retry/ are empty",
        Duration::from_secs(if full() { 600 } else { 120 }),
        || spool.names("new").is_empty() && spool.names("retry").is_empty(),
    );
    // A daemon restarted a moment ago may not have installed its signal handlers yet.
    wait_until("every restarted daemon started", PATIENCE, || {
        spool.events(EventKind::Start).len() == 3 + killed
    });
    for daemon in &daemons {
        daemon.signal("TERM");
    }
    for daemon in &mut daemons {
        let status = daemon.wait(PATIENCE);
        assert_eq!(status.code(), Some(0), "{status:?}\n{}", daemon.log_text());
    }
    (audit(spool), killed, ids)
}

/// What a kill -9 run must show: every job produced, none lost, none run twice at once or
/// after its completion, each done (or completed by a daemon killed before it journaled
/// that: unconfirmed). Prints the figures first, and a lost job's story.
fn assert_kill_9_run(
    what: &str,
    spool: &TempSpool,
    (report_, killed, ids): &(spoolq_auditor::Report, usize, Vec<JobId>),
    kills: usize,
) {
    let jobs = ids.len();
    let d = &report_.duplicate_counts;
    report(&format!(
        "kill -9{what}: {killed} kills, {jobs} jobs, 3 daemons: produced {}, completed {}, lost {:?}, \
         unconfirmed {:?}, concurrent {}, after-completion {}, redelivered {}, unfinished claims {}, \
         journal problems {}",
        report_.counts.produced,
        report_.counts.completed,
        report_.counts.lost,
        report_.counts.unconfirmed,
        d.concurrent,
        d.after_completion,
        d.redelivery,
        report_.unfinished_claims,
        report_.problems.len()
    ));
    // A lost job's story, from every journal, before the assertion fails.
    for id in &report_.lost_jobs {
        if let Ok(timeline) = spoolq_auditor::timeline(&[spool.folder("journal")], *id) {
            report(&format!(
                "lost job {id}:\n{}",
                spoolq_auditor::render_timeline(&timeline)
            ));
        }
    }
    assert_eq!(report_.counts.produced, jobs as u64);
    assert_eq!(
        report_.counts.lost,
        Some(0),
        "lost: {:?}",
        report_.lost_jobs
    );
    assert_eq!(d.concurrent, 0);
    assert_eq!(d.after_completion, 0);
    let done = spool.count_per_job(EventKind::Done);
    // Every job was journaled done, or completed by a daemon killed before it could
    // journal that (unconfirmed: the file is gone and only its claimer could remove it).
    assert!(
        ids.iter()
            .all(|id| done.contains_key(id) || report_.unconfirmed_jobs.contains(id)),
        "a job never done"
    );
    assert!(*killed >= kills);
}

#[test]
fn kill_9_of_consumers_during_a_run_loses_nothing_and_runs_nothing_twice() {
    let (jobs, kills) = (size(2_000, 20_000), size(5, 25));
    let spool = TempSpool::new();
    let args = [
        "--workers",
        "2",
        "--claim",
        "verified",
        "--simulate-work",
        "2ms",
        "--rescan-interval",
        "500ms",
    ];
    let run = kill_9_run(&spool, &args, &[], jobs, kills, 1_000.0);
    assert_kill_9_run("", &spool, &run, kills);
}

/// The kill -9 run with an external handler that forks: each run of a job starts a child,
/// which starts a grandchild in a session of its own (`setsid`), and both run part of the
/// job holding it (their stdin, handed on explicitly: sh gives a background command
/// /dev/null otherwise): the grandchild reads the payload, the child waits for it and
/// then works a while longer. Killed with its daemon, the handler dies (the parent-death
/// signal) and they do not; a grandchild that finds its daemon gone (`kill -0` of the
/// shell's `$PPID`) works a second longer, so that a run started too early overlaps it. The child marks the job running with an exclusive create for
/// as long as either runs, and records an overlap if the mark is there already: no run
/// of a job may start while a process of an earlier run still holds it.
#[test]
fn kill_9_of_consumers_with_forking_handlers_runs_no_job_twice_at_once() {
    let (jobs, kills) = (size(300, 3_000), size(5, 25));
    let spool = TempSpool::new();
    let scratch = spool.scratch();
    let (marks, overlaps) = (scratch.join("running"), scratch.join("overlaps"));
    std::fs::create_dir(&marks).unwrap();
    let script = format!(
        "exec 3<&0; \
         ( set -C; mark='{marks}'/$SPOOLQ_JOB_ID; \
           true > \"$mark\" || echo $SPOOLQ_JOB_ID >> '{overlaps}'; \
           daemon=$PPID setsid sh -c 'cat > /dev/null; sleep 0.1; \
             kill -0 $daemon 2> /dev/null || sleep 1' <&3 & \
           wait; sleep 0.1; rm -f \"$mark\" ) <&3 2> /dev/null & \
         wait",
        marks = marks.display(),
        overlaps = overlaps.display(),
    );
    let args = [
        "--workers",
        "4",
        "--rescan-interval",
        "500ms",
        // Kills cut attempts short, and each counts: keep the jobs out of failed/.
        "--max-attempts",
        "1000",
    ];
    let run = kill_9_run(&spool, &args, &["sh", "-c", &script], jobs, kills, 60.0);
    let overlapping = std::fs::read_to_string(&overlaps).unwrap_or_default();
    report(&format!(
        "kill -9 with forking handlers: {} overlapping runs, {} marks left",
        overlapping.lines().count(),
        std::fs::read_dir(&marks).unwrap().count()
    ));
    assert_kill_9_run(" with forking handlers", &spool, &run, kills);
    assert_eq!(overlapping, "", "runs of a job overlapped");
    assert_eq!(std::fs::read_dir(&marks).unwrap().count(), 0);
}

#[test]
fn a_burst_past_the_inotify_queue_is_all_completed_and_the_overflow_logged() {
    let jobs = size(20_000, 100_000);
    let max_queued: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384);
    let spool = TempSpool::new();
    let mut daemon = spool.daemon(&["--workers", "2"], &[]);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    // The daemon is stopped (SIGSTOP) for the burst, as a loaded machine would leave it
    // unscheduled: every event waits in the kernel queue, so more jobs than the queue
    // holds overflow it for certain. Then it continues.
    daemon.signal("STOP");
    let started = Instant::now();
    let ids = spool.drop_jobs(jobs);
    daemon.signal("CONT");
    let dropped_in = started.elapsed();
    wait_until(
        "new/ is empty",
        Duration::from_secs(if full() { 900 } else { 180 }),
        || count_files(&spool.folder("new")) == 0,
    );
    let elapsed = started.elapsed();
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    let log = daemon.log_text();
    let done = spool.count_per_job(EventKind::Done);
    let missing = ids.iter().filter(|id| !done.contains_key(id)).count();
    let twice = done.values().filter(|n| **n != 1).count();
    let overflow_lines = log.lines().filter(|l| l.contains("overflow")).count();
    report(&format!(
        "burst: {jobs} jobs dropped in {:.1} s (kernel queue {max_queued}), all {} done in \
         {:.1} s, {missing} missing, {twice} done twice, {} left in new/, overflow logged {} times",
        dropped_in.as_secs_f64(),
        done.len(),
        elapsed.as_secs_f64(),
        count_files(&spool.folder("new")),
        overflow_lines
    ));
    assert_eq!(missing, 0);
    assert_eq!(twice, 0);
    if jobs > max_queued {
        assert!(overflow_lines > 0, "no overflow logged:\n{log}");
    }
}

/// Fills the file system holding `path` with one file, until ENOSPC.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [64 * 1024, 4096, 512, 64, 8, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
}

/// Waits until the daemon logs one of `signs` of the full journal file system, notes how
/// many files are left in new/, frees the space (removes `filler`), waits until new/ is
/// empty and stops the daemon (exit 0). Returns the count and the daemon's log.
fn free_space_and_drain(
    spool: &TempSpool,
    daemon: &mut Daemon,
    filler: &Path,
    signs: &[&str],
) -> (usize, String) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = daemon.log_text();
        if signs.iter().any(|sign| log.contains(sign)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not report the full journal; df: {}\nits log:\n{log}",
            String::from_utf8_lossy(
                &Command::new("df")
                    .arg(filler.parent().unwrap())
                    .output()
                    .unwrap()
                    .stdout
            )
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let left_when_full = count_files(&spool.folder("new"));
    std::fs::remove_file(filler).unwrap();
    wait_until("new/ is empty", Duration::from_secs(120), || {
        count_files(&spool.folder("new")) == 0
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    (left_when_full, daemon.log_text())
}

#[test]
fn a_full_file_system_runs_nothing_unjournaled_and_resumes_when_space_returns() {
    let jobs = size(300, 3000);
    let spool = TempSpool::new();
    // journal/ is its own small file system: filling it blocks journal writes only
    // (completed jobs free no space there, as they would on a shared file system).
    let journal_dir = spool.folder("journal");
    let _mount = match TmpfsMount::mount(&journal_dir, if full() { "8m" } else { "2m" }) {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    let reopened = spoolq_spool::Spool::open(&spool.path()).unwrap();
    let journal = spoolq_producer::open_journal(&reopened).unwrap();
    let opts = spoolq_producer::Generate {
        count: jobs as u64,
        size: 64,
        rate: None,
        sync: spoolq_producer::SyncMode::Never,
    };
    let ids =
        spoolq_producer::produce_generated(&reopened, &opts, Some(&journal), &mut |_| {}).unwrap();
    drop(journal);
    let mut daemon = spool.daemon(
        &[
            "--workers",
            "2",
            "--simulate-work",
            "10ms",
            "--rescan-interval",
            "200ms",
        ],
        &[],
    );
    // Fill the file system once a tenth of the jobs are done, while jobs are in flight.
    wait_until("some jobs are done", PATIENCE, || {
        spool.count_per_job(EventKind::Done).len() >= jobs / 10
    });
    let filler = journal_dir.join(".filler");
    fill(&filler);
    // Workers with a job in flight wait to journal its outcome; a worker that claims
    // meanwhile cannot journal the claim and releases the job.
    let (left_when_full, log) = free_space_and_drain(
        &spool,
        &mut daemon,
        &filler,
        &["waiting for space", "cannot write the claimed record"],
    );
    assert!(
        log.contains("space is back") || log.contains("claiming resumes"),
        "{log}"
    );
    let released_unprocessed = spool
        .events(EventKind::Released)
        .iter()
        .filter(|r| {
            matches!(&r.event, Event::Released(released)
                if released.result == ReleaseCause::JournalFailed)
        })
        .count();
    let audit = audit(&spool);
    let d = &audit.duplicate_counts;
    report(&format!(
        "full file system (tmpfs): filled with {left_when_full} of {jobs} jobs left; \
         completed {}, lost {:?}, concurrent {}, after-completion {}, redelivered {}, \
         unfinished claims {}, released-unjournaled records that made it {}, outcome waits \
         logged {}, claims refused logged {}, journal problems {} (torn lines of failed writes)",
        audit.counts.completed,
        audit.counts.lost,
        d.concurrent,
        d.after_completion,
        d.redelivery,
        audit.unfinished_claims,
        released_unprocessed,
        log.matches("waiting for space").count(),
        log.matches("cannot write the claimed record").count(),
        audit.problems.len()
    ));
    assert_eq!(audit.counts.produced, jobs as u64);
    assert_eq!(audit.counts.lost, Some(0), "{:?}", audit.lost_jobs);
    assert_eq!(d.concurrent, 0);
    assert_eq!(d.after_completion, 0);
    // Every completion in the journal follows a journaled claim, and every job is done.
    let done = spool.count_per_job(EventKind::Done);
    let claimed = spool.count_per_job(EventKind::Claimed);
    for id in &ids {
        assert_eq!(done.get(id), Some(&1), "{id}");
        assert!(
            claimed.contains_key(id),
            "{id} done without a claimed record"
        );
    }
    assert_eq!(audit.unfinished_claims, 0);
}

#[test]
fn a_full_file_system_with_the_built_in_handler_runs_nothing_unjournaled() {
    // The built-in handler journals the claims of a batch of jobs in one write: a full
    // file system may cut that write between lines. Jobs whose claimed record made it
    // run (their done record waits for space); the others are released unprocessed.
    let jobs = size(300, 3000);
    let spool = TempSpool::new();
    let journal_dir = spool.folder("journal");
    let _mount = match TmpfsMount::mount(&journal_dir, "2m") {
        Ok(mount) => mount,
        Err(why) => return skip(&why),
    };
    let mut daemon = spool.daemon(&["--workers", "2", "--rescan-interval", "200ms"], &[]);
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    let filler = journal_dir.join(".filler");
    fill(&filler);
    // The jobs arrive while the daemon is stopped, so that its first batches are large:
    // their claimed records rarely fit in what is left of the journal file's last page.
    daemon.signal("STOP");
    let ids = spool.drop_jobs(jobs);
    daemon.signal("CONT");
    // Which write meets the full file system first depends on the room left in the
    // journal file's last page (a small first batch's claimed records may still fit)
    // and on the batches: a batch's claimed records, refused (its jobs released), or
    // their done records, which wait for space (and with both workers waiting, nothing
    // is claimed meanwhile). Either way the daemon must say so, and recover.
    let (left_when_full, log) = free_space_and_drain(
        &spool,
        &mut daemon,
        &filler,
        &["cannot write the claimed record", "waiting for space"],
    );
    if log.contains("cannot write the claimed record") {
        assert!(log.contains("claiming resumes"), "{log}");
    }
    if log.contains("waiting for space") {
        assert!(log.contains("space is back"), "{log}");
    }
    let audit = audit(&spool);
    let d = &audit.duplicate_counts;
    report(&format!(
        "full file system, built-in handler: filled with {left_when_full} of {jobs} jobs left; \
         claims refused logged {}, outcome waits logged {}; completed {}, concurrent {}, \
         after-completion {}, redelivered {}, unfinished claims {}, released records that \
         made it {}, journal problems {}",
        log.matches("cannot write the claimed record").count(),
        log.matches("waiting for space").count(),
        audit.counts.completed,
        d.concurrent,
        d.after_completion,
        d.redelivery,
        audit.unfinished_claims,
        audit.counts.released,
        audit.problems.len()
    ));
    assert_eq!(d.concurrent, 0);
    assert_eq!(d.after_completion, 0);
    assert_eq!(audit.unfinished_claims, 0);
    // Each job done once, after a claimed record of the same attempt.
    let records = spool.records();
    let mut claimed_attempts: HashMap<JobId, Vec<u32>> = HashMap::new();
    let mut done: HashMap<JobId, usize> = HashMap::new();
    for r in &records {
        let Some(id) = r.job() else { continue };
        match &r.event {
            Event::Claimed(claimed) => claimed_attempts
                .entry(id)
                .or_default()
                .push(claimed.attempt),
            Event::Done(d) => {
                *done.entry(id).or_default() += 1;
                let claims = claimed_attempts.get(&id).map(Vec::as_slice).unwrap_or(&[]);
                assert!(
                    claims.last().is_some_and(|a| *a == d.attempt),
                    "{id} done without a claimed record before it"
                );
            }
            _ => {}
        }
    }
    for id in &ids {
        assert_eq!(done.get(id), Some(&1), "{id}");
    }
}

/// How long ago `path`'s content or inode last changed (the later of mtime and ctime),
/// as the daemon's tmp/ sweep judges it; None once it is gone.
fn unchanged_for(path: &Path) -> Option<Duration> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let time = |secs: i64, nanos: i64| {
        SystemTime::UNIX_EPOCH
            + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32)
    };
    let last = time(meta.mtime(), meta.mtime_nsec()).max(time(meta.ctime(), meta.ctime_nsec()));
    Some(SystemTime::now().duration_since(last).unwrap_or_default())
}

/// Sets `path`'s modification time `ago` into the past, as `cp -p` or `rsync -a` leave a
/// copy of an old file (its ctime stays the time of the copy: no program can set it).
fn preserve_old_mtime(path: &Path, ago: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - ago)
        .unwrap();
}

#[test]
fn leftovers_in_tmp_are_removed_once_old_and_never_while_fresh() {
    // A producer killed mid-write leaves nothing in new/: see
    // producer_killed_mid_write_leaves_nothing_in_new in produce_audit.rs. Its
    // leftover in tmp/ is what this test is about.
    let spool = TempSpool::new();
    let tmp = spool.folder("tmp");
    let old = tmp.join(format!("{}.4242.0", JobId::generate()));
    std::fs::write(&old, b"spoolq-job 1\nid: half-writ").unwrap();
    let fresh = tmp.join(format!("{}.4243.0", JobId::generate()));
    std::fs::write(&fresh, b"spoolq-job 1\nid: still bei").unwrap();
    // Copied in a moment ago with its times preserved (cp -p, rsync -a, tar x): its
    // mtime says two hours, its ctime says now.
    let copied = tmp.join(format!("{}.4244.0", JobId::generate()));
    std::fs::write(&copied, b"spoolq-job 1\nid: copied wi").unwrap();
    preserve_old_mtime(&copied, Duration::from_secs(2 * 3600));

    // Nothing here is an hour old: nothing is removed, the copy included.
    let out = spoolq()
        .args(["daemon", "--drain", "--tmp-max-age", "1h", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    for kept in [&old, &fresh, &copied] {
        assert!(kept.exists(), "{} was removed:\n{log}", kept.display());
    }
    assert!(!log.contains("removed a leftover"), "{log}");

    // Once a file is older than --tmp-max-age by both of its times, a sweep at start
    // removes it.
    wait_until("the leftover is older than a second", PATIENCE, || {
        unchanged_for(&old) > Some(Duration::from_secs(1))
    });
    let out = spoolq()
        .args(["daemon", "--drain", "--tmp-max-age", "1s", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(!old.exists(), "the old leftover is still there:\n{log}");
    assert!(log.contains("removed a leftover in tmp/"), "{log}");

    // A running daemon sweeps at each rescan: a leftover appearing later goes too, once
    // it is old.
    let mut daemon = spool.daemon(&["--rescan-interval", "100ms", "--tmp-max-age", "1s"], &[]);
    wait_until("the daemon started", PATIENCE, || {
        spool.events(EventKind::Start).len() == 3
    });
    let later = tmp.join(format!("{}.4245.0", JobId::generate()));
    std::fs::write(&later, b"partial").unwrap();
    wait_until("the later leftover is swept", PATIENCE, || !later.exists());
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    report(
        "tmp/ sweep: a copy with an mtime two hours old kept under --tmp-max-age 1h (its ctime is \
         fresh); leftovers older than --tmp-max-age removed at start and at a rescan",
    );
}

#[test]
fn a_tmp_folder_moved_away_is_never_swept() {
    let spool = TempSpool::new();
    let mut daemon = spool.daemon_with_env(
        &["--rescan-interval", "50ms", "--tmp-max-age", "1s"],
        &[("SPOOLQ_LOG", "info,spoolq_daemon::tmp=debug")],
        &[],
    );
    wait_until("the daemon started", PATIENCE, || {
        !spool.events(EventKind::Start).is_empty()
    });
    // tmp/ moved away while the daemon holds it open, and a new folder in its place.
    let moved = spool.scratch().join("moved-tmp");
    std::fs::rename(spool.folder("tmp"), &moved).unwrap();
    std::fs::create_dir(spool.folder("tmp")).unwrap();
    let theirs = moved.join("someone-elses-file");
    std::fs::write(&theirs, b"not a leftover of this spool any more").unwrap();
    let replacement = spool.folder("tmp").join("in-the-replacement");
    std::fs::write(&replacement, b"not the folder the daemon opened").unwrap();
    // (A file that is gone ends the wait too: the assertions below say which.)
    let aged = |path: &Path| unchanged_for(path).is_none_or(|d| d > Duration::from_secs(1));
    wait_until("both files are older than --tmp-max-age", PATIENCE, || {
        aged(&theirs) && aged(&replacement)
    });
    // A sweep turn after that: it must have left both alone.
    let skipped = |log: &str| log.matches("tmp/ was moved away or replaced").count();
    let before = skipped(&daemon.log_text());
    wait_until("a sweep turn after the files aged", PATIENCE, || {
        skipped(&daemon.log_text()) > before || !theirs.exists()
    });
    assert!(
        theirs.exists(),
        "the moved folder was swept:\n{}",
        daemon.log_text()
    );
    assert!(replacement.exists(), "the replacement was swept");
    assert!(
        daemon.log_text().contains("moved away or replaced"),
        "{}",
        daemon.log_text()
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait(PATIENCE).code(), Some(0));
    report("tmp/ moved away: the file in the moved folder and the one in its replacement kept");
}
