//! Journal retention on real files and real locks: files a live writer holds stay
//! whatever their age; old and oversized ones go, oldest first, after a `pruned` record
//! with their horizon; a dry run changes nothing; one-shot processes share one journal
//! file per host and boot, and a file at its name that is not a regular file of one link
//! is never written.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use spoolq_claim::Dir;
use spoolq_spool::journal::retention::{Retention, prune};
use spoolq_spool::journal::{JournalName, Produced, Role};
use spoolq_spool::{Event, JobId, JournalWriter, Record, WriterOptions};

fn dir() -> (tempfile::TempDir, Arc<Dir>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Arc::new(Dir::open(tmp.path()).unwrap());
    (tmp, dir)
}

/// A writer of its own process's file, with `n` records written.
fn writer(dir: &Arc<Dir>, role: Role, n: usize) -> JournalWriter {
    // Two writers of one process in one millisecond would share a name.
    std::thread::sleep(Duration::from_millis(2));
    let w = JournalWriter::create(dir.clone(), role, WriterOptions::default()).unwrap();
    for _ in 0..n {
        w.write(Record::new(Produced {
            job: JobId::generate(),
        }))
        .unwrap();
    }
    w
}

fn set_age(path: &std::path::Path, age: Duration) {
    std::fs::File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

fn names(dir: &Arc<Dir>) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn old_files_go_after_a_pruned_record_and_live_ones_stay_whatever_their_age() {
    let (_tmp, dir) = dir();
    let live = writer(&dir, Role::Daemon, 3);
    let closed = writer(&dir, Role::Daemon, 3);
    let closed_path = closed.path();
    drop(closed);
    set_age(&live.path(), 40 * DAY);
    set_age(&closed_path, 40 * DAY);
    std::fs::write(dir.path().join("notes.txt"), b"not a journal").unwrap();
    set_age(&dir.path().join("notes.txt"), 400 * DAY);
    let pruner = writer(&dir, Role::Producer, 0);

    // A dry run says what it would do and does nothing.
    let dry = prune(
        &dir,
        &Retention::default(),
        SystemTime::now(),
        &pruner,
        true,
    )
    .unwrap();
    assert_eq!((dry.removed.len(), dry.kept_live), (1, 1), "{dry:?}");
    assert!(closed_path.exists());

    let report = prune(
        &dir,
        &Retention::default(),
        SystemTime::now(),
        &pruner,
        false,
    )
    .unwrap();
    assert_eq!(report.removed.len(), 1, "{report:?}");
    assert_eq!(report.removed[0].why, "age");
    assert_eq!(report.kept_live, 1, "the live daemon's, however old");
    assert!(!closed_path.exists());
    assert!(live.path().exists());
    assert!(
        dir.path().join("notes.txt").exists(),
        "not a journal: left alone"
    );

    // The horizon is journaled, and it is no earlier than the removed file's last record
    // (written just now, whatever its modification time says).
    let (entries, _) = spoolq_spool::journal::read_all(&[pruner.path()]).unwrap();
    let horizons: Vec<u64> = entries
        .iter()
        .filter_map(|e| match &e.record.event {
            Event::Pruned(p) => Some(p.horizon_ns),
            _ => None,
        })
        .collect();
    assert_eq!(horizons.len(), 1);
    let written = live
        .write(Record::new(Produced {
            job: JobId::generate(),
        }))
        .unwrap();
    assert!(horizons[0] <= written.wall_ns().unwrap() as u64);
    assert!(
        horizons[0]
            >= (SystemTime::now() - DAY)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
    );

    // Once its writer is gone, the old file goes too.
    let live_path = live.path();
    drop(live);
    set_age(&live_path, 40 * DAY);
    let report = prune(
        &dir,
        &Retention::default(),
        SystemTime::now(),
        &pruner,
        false,
    )
    .unwrap();
    assert_eq!(report.removed.len(), 1);
    assert!(!live_path.exists());
}

#[test]
fn over_the_size_limit_the_oldest_closed_files_go_first() {
    let (_tmp, dir) = dir();
    let mut paths = Vec::new();
    for age_days in [5, 4, 3, 2] {
        let w = writer(&dir, Role::Daemon, 100);
        let path = w.path();
        drop(w);
        set_age(&path, age_days * DAY);
        paths.push(path);
    }
    let size = std::fs::metadata(&paths[0]).unwrap().len();
    let pruner = writer(&dir, Role::Producer, 0);
    let retention = Retention {
        max_age: None,
        max_bytes: Some(2 * size + size / 2),
    };
    let report = prune(&dir, &retention, SystemTime::now(), &pruner, false).unwrap();
    let removed: Vec<&str> = report.removed.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(removed.len(), 2, "{report:?}");
    assert!(!paths[0].exists() && !paths[1].exists());
    assert!(paths[2].exists() && paths[3].exists());
    assert!(report.removed.iter().all(|f| f.why == "size"));
    assert!(report.bytes_after <= 2 * size + size / 2);
}

#[test]
fn one_shot_writers_share_one_file_per_boot_and_refuse_a_strange_one() {
    if spoolq_os::boot_id().is_err() {
        // Without a boot id each process journals in a file of its own (tested above).
        return;
    }
    let (_tmp, dir) = dir();
    let options = WriterOptions::default();
    let a = JournalWriter::open_shared(dir.clone(), Role::Producer, options).unwrap();
    let b = JournalWriter::open_shared(dir.clone(), Role::Producer, options).unwrap();
    assert_eq!(a.path(), b.path());
    let name = JournalName::parse(a.path().file_name().unwrap()).unwrap();
    assert!(name.is_shared());
    for w in [&a, &b, &a] {
        w.write(Record::new(Produced {
            job: JobId::generate(),
        }))
        .unwrap();
    }
    let (entries, aside) = spoolq_spool::journal::read_all(&[a.path()]).unwrap();
    assert_eq!((entries.len(), aside.problem_count), (3, 0));
    // While they hold it, retention keeps it, however old.
    set_age(&a.path(), 40 * DAY);
    let pruner = writer(&dir, Role::Daemon, 0);
    let report = prune(
        &dir,
        &Retention::default(),
        SystemTime::now(),
        &pruner,
        false,
    )
    .unwrap();
    assert!(report.removed.is_empty() && a.path().exists(), "{report:?}");
    drop((a, b));

    // A full file moves on to the next sequence.
    let small = WriterOptions {
        rotate_bytes: Some(1),
        ..options
    };
    let c = JournalWriter::open_shared(dir.clone(), Role::Producer, small).unwrap();
    assert_eq!(
        JournalName::parse(c.path().file_name().unwrap())
            .unwrap()
            .sequence,
        1
    );
    drop(c);

    // A link at the shared name is never written through: a file of its own instead.
    let (_tmp2, other) = self::dir();
    let shared = JournalWriter::open_shared(other.clone(), Role::Producer, options).unwrap();
    let shared_path = shared.path();
    drop(shared);
    std::fs::remove_file(&shared_path).unwrap();
    let target = other.path().join("target");
    std::fs::write(&target, b"").unwrap();
    std::fs::hard_link(&target, &shared_path).unwrap();
    let w = JournalWriter::open_shared(other.clone(), Role::Producer, options).unwrap();
    assert_ne!(w.path(), shared_path);
    assert!(
        !JournalName::parse(w.path().file_name().unwrap())
            .unwrap()
            .is_shared()
    );
    w.write(Record::new(Produced {
        job: JobId::generate(),
    }))
    .unwrap();
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"",
        "the linked file stays empty"
    );
    assert_eq!(names(&other).len(), 3, "{:?}", names(&other));
}
