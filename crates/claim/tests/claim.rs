//! Outcomes of single claims against real files: busy, gone, stale (replaced, moved),
//! rejected (symlink, FIFO, directory, socket, hard link: all but the hard link before
//! any open), and what completing, moving, renaming and dropping a claim leave behind,
//! also when the name no longer names the claimed file.

use std::ffi::OsStr;
use std::os::unix::fs::symlink;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use spoolq_claim::{
    ActError, Claim, Claimer, Dir, FileKind, NameNow, Outcome, RejectReason, StaleReason, Step,
    StepEvent, Strategy,
};

fn setup() -> (tempfile::TempDir, Arc<Dir>) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("new")).unwrap();
    let dir = Arc::new(Dir::open(&tmp.path().join("new")).unwrap());
    (tmp, dir)
}

fn claimed(outcome: Outcome) -> Claim {
    match outcome {
        Outcome::Claimed(c) => c,
        other => panic!("expected Claimed, got {other:?}"),
    }
}

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Runs `claim` with a bound on how long it may take: a claim must never block.
fn claim_within_a_second(claimer: &Claimer, file: &str) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let claimer = claimer.clone();
    let file = file.to_owned();
    thread::spawn(move || {
        let _ = tx.send(claimer.claim(OsStr::new(&file)));
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("claim blocked")
        .unwrap()
}

/// A claimer whose hook stops at AfterOpen until the test lets it go, so the test can
/// change the file system between open and lock.
fn paused_after_open(dir: &Arc<Dir>, strategy: Strategy) -> (Claimer, Arc<Barrier>, Arc<Barrier>) {
    let reached = Arc::new(Barrier::new(2));
    let resume = Arc::new(Barrier::new(2));
    let (r, g) = (reached.clone(), resume.clone());
    let hook = Arc::new(move |ev: &StepEvent<'_>| {
        if ev.step == Step::AfterOpen && ev.result.is_ok() {
            r.wait();
            g.wait();
        }
    });
    (
        Claimer::new(dir.clone(), strategy).with_hook(hook),
        reached,
        resume,
    )
}

#[test]
fn claim_then_complete_unlinks_and_a_second_claimer_is_busy_meanwhile() {
    let (_tmp, dir) = setup();
    std::fs::write(dir.path().join("a"), b"hello").unwrap();
    let first = Claimer::new(dir.clone(), Strategy::Verified);
    let second = Claimer::new(dir.clone(), Strategy::Verified);
    let claim = claimed(first.claim(name("a")).unwrap());
    assert_eq!(claim.read_all().unwrap(), b"hello");
    assert!(matches!(second.claim(name("a")).unwrap(), Outcome::Busy));
    claim.complete().unwrap();
    assert!(!dir.path().join("a").exists());
    assert!(matches!(second.claim(name("a")).unwrap(), Outcome::Gone));
}

#[test]
fn dropping_a_claim_releases_it_and_leaves_the_file() {
    let (_tmp, dir) = setup();
    std::fs::write(dir.path().join("a"), b"x").unwrap();
    let claimer = Claimer::new(dir.clone(), Strategy::Verified);
    let claim = claimed(claimer.claim(name("a")).unwrap());
    let identity = claim.identity();
    drop(claim);
    assert!(dir.path().join("a").exists());
    let again = claimed(claimer.claim(name("a")).unwrap());
    assert_eq!(again.identity(), identity);
}

#[test]
fn replaced_file_is_stale_for_the_waiter_and_the_new_file_is_claimable() {
    let (_tmp, dir) = setup();
    std::fs::write(dir.path().join("a"), b"old").unwrap();
    let (waiter, reached, resume) = paused_after_open(&dir, Strategy::Verified);
    let handle = thread::spawn(move || waiter.claim(OsStr::new("a")).unwrap());
    reached.wait();
    // The waiter holds a descriptor to the old inode; give the name to a new file.
    std::fs::rename(dir.path().join("a"), dir.path().join("a.old")).unwrap();
    std::fs::write(dir.path().join("a"), b"new").unwrap();
    resume.wait();
    match handle.join().unwrap() {
        Outcome::Stale(StaleReason::Replaced) => {}
        other => panic!("expected Stale(Replaced), got {other:?}"),
    }
    let claim = claimed(
        Claimer::new(dir, Strategy::Verified)
            .claim(name("a"))
            .unwrap(),
    );
    assert_eq!(claim.read_all().unwrap(), b"new");
}

#[test]
fn file_moved_under_lock_is_stale_for_the_waiter() {
    let (tmp, dir) = setup();
    std::fs::create_dir(tmp.path().join("retry")).unwrap();
    let retry = Dir::open(&tmp.path().join("retry")).unwrap();
    std::fs::write(dir.path().join("a"), b"x").unwrap();
    let owner = claimed(
        Claimer::new(dir.clone(), Strategy::Verified)
            .claim(name("a"))
            .unwrap(),
    );
    let (waiter, reached, resume) = paused_after_open(&dir, Strategy::Verified);
    let handle = thread::spawn(move || waiter.claim(OsStr::new("a")).unwrap());
    reached.wait();
    owner.move_to(&retry, name("a.1")).unwrap();
    resume.wait();
    match handle.join().unwrap() {
        Outcome::Stale(StaleReason::NameGone) => {}
        other => panic!("expected Stale(NameGone), got {other:?}"),
    }
    assert!(tmp.path().join("retry/a.1").exists());
}

#[test]
fn naive_claims_the_moved_file_anyway() {
    // The same schedule as above shows what the naive strategy misses.
    let (tmp, dir) = setup();
    std::fs::create_dir(tmp.path().join("retry")).unwrap();
    let retry = Dir::open(&tmp.path().join("retry")).unwrap();
    std::fs::write(dir.path().join("a"), b"x").unwrap();
    let owner = claimed(
        Claimer::new(dir.clone(), Strategy::Naive)
            .claim(name("a"))
            .unwrap(),
    );
    let (waiter, reached, resume) = paused_after_open(&dir, Strategy::Naive);
    let handle = thread::spawn(move || waiter.claim(OsStr::new("a")).unwrap());
    reached.wait();
    owner.move_to(&retry, name("a.1")).unwrap();
    resume.wait();
    assert!(matches!(handle.join().unwrap(), Outcome::Claimed(_)));
}

#[test]
fn move_never_replaces_and_hands_the_claim_back_locked() {
    let (tmp, dir) = setup();
    std::fs::create_dir(tmp.path().join("failed")).unwrap();
    let failed = Dir::open(&tmp.path().join("failed")).unwrap();
    std::fs::write(dir.path().join("a"), b"mine").unwrap();
    std::fs::write(tmp.path().join("failed/a"), b"theirs").unwrap();
    let claimer = Claimer::new(dir.clone(), Strategy::Verified);
    let claim = claimed(claimer.claim(name("a")).unwrap());
    let failed_move = claim.move_to(&failed, name("a")).unwrap_err();
    assert!(
        failed_move.error.is_already_exists(),
        "{}",
        failed_move.error
    );
    assert_eq!(
        std::fs::read(tmp.path().join("failed/a")).unwrap(),
        b"theirs"
    );
    // Still locked: another claimer is refused.
    assert!(matches!(claimer.claim(name("a")).unwrap(), Outcome::Busy));
    failed_move.claim.move_to(&failed, name("a.2")).unwrap();
    assert_eq!(
        std::fs::read(tmp.path().join("failed/a.2")).unwrap(),
        b"mine"
    );
}

#[test]
fn symlink_is_rejected_without_following_it() {
    let (tmp, dir) = setup();
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, b"do not read").unwrap();
    symlink(&secret, dir.path().join("link")).unwrap();
    for strategy in [Strategy::Verified, Strategy::Naive] {
        let claimer = Claimer::new(dir.clone(), strategy);
        match claim_within_a_second(&claimer, "link") {
            Outcome::Rejected(r) => {
                assert_eq!(r.reason(), RejectReason::Symlink);
                assert!(!r.is_locked(), "a symlink is never opened");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
    // Quarantining moves the link itself; the target stays where it is.
    std::fs::create_dir(tmp.path().join("failed")).unwrap();
    let failed = Dir::open(&tmp.path().join("failed")).unwrap();
    let Outcome::Rejected(r) = Claimer::new(dir, Strategy::Verified)
        .claim(name("link"))
        .unwrap()
    else {
        panic!("expected Rejected")
    };
    r.move_to(&failed, name("link")).unwrap();
    assert!(
        tmp.path()
            .join("failed/link")
            .symlink_metadata()
            .unwrap()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&secret).unwrap(), b"do not read");
}

/// The file is rejected before it is opened (so it is not locked either), whichever
/// strategy claims it and whatever kind a listing claimed to have seen.
fn assert_rejected_not_regular(dir: &Arc<Dir>, file: &str, kind: FileKind) {
    for strategy in [Strategy::Verified, Strategy::Naive] {
        let claimer = Claimer::new(dir.clone(), strategy);
        for seen in [None, Some(kind)] {
            let outcome = if seen.is_none() {
                claim_within_a_second(&claimer, file)
            } else {
                claimer.claim_seen(name(file), seen).unwrap()
            };
            match outcome {
                Outcome::Rejected(r) => {
                    assert_eq!(r.reason(), RejectReason::NotRegular(kind), "{file}");
                    assert!(!r.is_locked(), "{file} was opened");
                }
                other => panic!("{file}: expected Rejected, got {other:?}"),
            }
        }
    }
}

#[test]
fn fifo_is_rejected_without_blocking() {
    let (_tmp, dir) = setup();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_rejected_not_regular(&dir, "fifo", FileKind::Fifo);
}

#[test]
fn directory_is_rejected() {
    let (_tmp, dir) = setup();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    assert_rejected_not_regular(&dir, "sub", FileKind::Directory);
}

#[test]
fn socket_is_rejected() {
    let (_tmp, dir) = setup();
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    // A socket cannot be opened at all (ENXIO): rejected by name, unlocked.
    let claimer = Claimer::new(dir.clone(), Strategy::Verified);
    match claim_within_a_second(&claimer, "sock") {
        Outcome::Rejected(r) => {
            assert_eq!(r.reason(), RejectReason::NotRegular(FileKind::Socket));
            assert!(!r.is_locked());
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[test]
fn hard_linked_file_is_rejected() {
    let (tmp, dir) = setup();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"x").unwrap();
    std::fs::hard_link(&outside, dir.path().join("hard")).unwrap();
    for strategy in [Strategy::Verified, Strategy::Naive] {
        match Claimer::new(dir.clone(), strategy)
            .claim(name("hard"))
            .unwrap()
        {
            Outcome::Rejected(r) => {
                assert_eq!(r.reason(), RejectReason::HardLinked { nlink: 2 })
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
}

#[test]
fn missing_file_is_gone_and_a_nul_in_a_name_is_an_error() {
    let (_tmp, dir) = setup();
    let claimer = Claimer::new(dir, Strategy::Verified);
    assert!(matches!(
        claimer.claim(name("nope")).unwrap(),
        Outcome::Gone
    ));
    let nul = OsStr::new("a\0b");
    assert!(claimer.claim(nul).is_err());
}

#[test]
fn directory_open_refuses_a_symlink() {
    let (tmp, _dir) = setup();
    symlink(tmp.path().join("new"), tmp.path().join("alias")).unwrap();
    let err = Dir::open(&tmp.path().join("alias")).unwrap_err();
    assert!(err.to_string().contains("alias"), "{err}");
    let parent = Dir::open(tmp.path()).unwrap();
    assert!(parent.open_subdir(OsStr::new("alias")).is_err());
    let new = parent.open_subdir(OsStr::new("new")).unwrap();
    assert!(new.still_at(&parent, OsStr::new("new")).unwrap());
    std::fs::rename(tmp.path().join("new"), tmp.path().join("moved")).unwrap();
    assert!(!new.still_at(&parent, OsStr::new("new")).unwrap());
}

#[test]
fn hook_sees_every_step_in_order() {
    let (_tmp, dir) = setup();
    std::fs::write(dir.path().join("a"), b"x").unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let hook = Arc::new(move |ev: &StepEvent<'_>| {
        let _ = tx
            .lock()
            .unwrap()
            .send((ev.claimer, ev.step, ev.result.is_ok()));
    });
    let claimer = Claimer::new(dir, Strategy::Verified)
        .with_id(7)
        .with_hook(hook);
    claimed(claimer.claim(name("a")).unwrap())
        .complete()
        .unwrap();
    let steps: Vec<_> = rx.try_iter().collect();
    let expected: Vec<_> = Step::ALL.iter().map(|&s| (7, s, true)).collect();
    assert_eq!(steps, expected);
}

#[test]
fn entries_lists_names_without_dots() {
    let (_tmp, dir) = setup();
    for n in ["b", "a", ".hidden"] {
        std::fs::write(dir.path().join(n), b"").unwrap();
    }
    let mut names: Vec<_> = dir.entries().unwrap().map(|n| n.unwrap()).collect();
    names.sort();
    assert_eq!(names, [".hidden", "a", "b"]);
}

/// What an act on a claim (complete, move, rename) did, given what happened to the name.
fn act(act: &str, claim: Claim, retry: &Dir) -> Result<(), ActError> {
    match act {
        "complete" => claim.complete(),
        "move" => claim
            .move_to(retry, name("a.1.0"))
            .map_err(|failed| failed.error),
        "rename" => {
            let mut claim = claim;
            claim.rename(name("a.1"))
        }
        other => unreachable!("{other}"),
    }
}

#[test]
fn a_name_replaced_or_removed_under_the_claim_is_left_alone() {
    for what in ["complete", "move", "rename"] {
        let (tmp, dir) = setup();
        std::fs::create_dir(tmp.path().join("retry")).unwrap();
        let retry = Dir::open(&tmp.path().join("retry")).unwrap();
        std::fs::write(dir.path().join("a"), b"claimed").unwrap();
        let claim = claimed(
            Claimer::new(dir.clone(), Strategy::Verified)
                .claim(name("a"))
                .unwrap(),
        );
        // A careless producer's `mv -f` over the name of the job in flight.
        std::fs::write(tmp.path().join("newer"), b"newer").unwrap();
        std::fs::rename(tmp.path().join("newer"), dir.path().join("a")).unwrap();
        let error = act(what, claim, &retry).unwrap_err();
        assert_eq!(error.name_now(), Some(NameNow::Replaced), "{what}: {error}");
        assert_eq!(
            std::fs::read(dir.path().join("a")).unwrap(),
            b"newer",
            "{what}"
        );
        assert!(!dir.path().join("a.1").exists(), "{what}");
        assert!(
            std::fs::read_dir(tmp.path().join("retry"))
                .unwrap()
                .next()
                .is_none()
        );

        // Removed by hand: nothing there to act on, nothing created.
        std::fs::write(dir.path().join("b"), b"claimed").unwrap();
        let claim = claimed(
            Claimer::new(dir.clone(), Strategy::Verified)
                .claim(name("b"))
                .unwrap(),
        );
        std::fs::remove_file(dir.path().join("b")).unwrap();
        std::fs::rename(dir.path().join("a"), dir.path().join("b")).unwrap();
        std::fs::remove_file(dir.path().join("b")).unwrap();
        let error = match what {
            "complete" => claim.complete().unwrap_err(),
            "move" => claim.move_to(&retry, name("b.1.0")).unwrap_err().error,
            _ => {
                let mut claim = claim;
                claim.rename(name("b.1")).unwrap_err()
            }
        };
        assert_eq!(error.name_now(), Some(NameNow::Gone), "{what}: {error}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{what}"
        );
    }
}

#[test]
fn rename_keeps_the_claim_under_its_new_name_and_never_replaces() {
    let (_tmp, dir) = setup();
    std::fs::write(dir.path().join("a"), b"job").unwrap();
    std::fs::write(dir.path().join("a.2"), b"another").unwrap();
    let other = Claimer::new(dir.clone(), Strategy::Verified);
    let mut claim = claimed(
        Claimer::new(dir.clone(), Strategy::Verified)
            .claim(name("a"))
            .unwrap(),
    );
    let taken = claim.rename(name("a.2")).unwrap_err();
    assert!(taken.is_already_exists(), "{taken}");
    assert_eq!(std::fs::read(dir.path().join("a.2")).unwrap(), b"another");
    claim.rename(name("a.1")).unwrap();
    assert_eq!(claim.name(), name("a.1"));
    assert!(!dir.path().join("a").exists());
    // Still held under the new name: nobody else claims it.
    assert!(matches!(other.claim(name("a.1")).unwrap(), Outcome::Busy));
    claim.complete().unwrap();
    assert!(!dir.path().join("a.1").exists());
    assert_eq!(std::fs::read(dir.path().join("a.2")).unwrap(), b"another");
}
