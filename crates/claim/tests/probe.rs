//! `Dir::probe_locked`: the read-only lock probe used by `spoolq status` where the kernel
//! has no lock table to read. It must see a held claim, and leave nothing behind.

use std::ffi::OsStr;
use std::sync::Arc;

use spoolq_claim::{Claimer, Dir, Outcome, Strategy};

#[test]
fn probe_sees_a_held_claim_and_leaves_no_lock_behind() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("new")).unwrap();
    std::fs::write(tmp.path().join("new/job"), b"x").unwrap();
    let dir = Arc::new(Dir::open(&tmp.path().join("new")).unwrap());
    let name = OsStr::new("job");

    assert!(!dir.probe_locked(name).unwrap(), "nobody holds it yet");
    // The probe's shared lock is gone with its descriptor: a claim still succeeds.
    let claimer = Claimer::new(dir.clone(), Strategy::Verified);
    let claim = match claimer.claim(name).unwrap() {
        Outcome::Claimed(c) => c,
        other => panic!("expected Claimed after a probe, got {other:?}"),
    };
    assert!(dir.probe_locked(name).unwrap(), "a held claim is seen");
    assert!(
        dir.probe_locked(name).unwrap(),
        "probing twice changes nothing"
    );
    claim.release();
    assert!(!dir.probe_locked(name).unwrap(), "released");
    assert!(matches!(claimer.claim(name).unwrap(), Outcome::Claimed(_)));

    let gone = dir.probe_locked(OsStr::new("missing")).unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    assert!(gone.to_string().contains("missing"), "{gone}");
}
