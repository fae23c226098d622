//! Claim and complete, naive and verified, against a raw floor: the same system calls
//! in a plain loop (open, flock, [fstat, fstatat], read, unlink, close) with no
//! abstraction. Run on tmpfs (/dev/shm) when it exists and on the disk (the system temp
//! folder), in the same run, so the ratios compare like with like.
//!
//!     cargo bench -p spoolq-claim --bench claim
//!
//! Each iteration claims one 200-byte job file created beforehand (untimed).

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spoolq_claim::{Claimer, Dir, Outcome, Strategy};
use spoolq_os::fs;

const PAYLOAD: [u8; 200] = [b'x'; 200];

fn places() -> Vec<(&'static str, PathBuf)> {
    let mut places = Vec::new();
    if Path::new("/dev/shm").is_dir() {
        places.push(("tmpfs", PathBuf::from("/dev/shm")));
    }
    places.push(("disk", std::env::temp_dir()));
    places
}

fn make_files(dir: &Path, n: u64) -> Vec<OsString> {
    (0..n)
        .map(|i| {
            let name = OsString::from(format!("job-{i}"));
            std::fs::write(dir.join(&name), PAYLOAD).unwrap();
            name
        })
        .collect()
}

fn timed(base: &Path, iters: u64, run: impl FnOnce(&Path, &[OsString])) -> Duration {
    let tmp = tempfile::Builder::new()
        .prefix("spoolq-bench-")
        .tempdir_in(base)
        .unwrap();
    let names = make_files(tmp.path(), iters);
    let start = Instant::now();
    run(tmp.path(), &names);
    start.elapsed()
}

/// The floor: what a C loop would do, through the thinnest wrappers there are.
fn raw_loop(dir: &Path, names: &[OsString], verify: bool) {
    let dir = Dir::open(dir).unwrap();
    let c_names: Vec<CString> = names
        .iter()
        .map(|n| CString::new(n.as_encoded_bytes()).unwrap())
        .collect();
    let mut buf = [0u8; 4096];
    for name in &c_names {
        let fd = fs::open_job_at(dir.as_fd(), name, true).unwrap();
        if !fs::LOCK_IN_OPEN {
            fs::flock_exclusive_nonblocking(fd.as_fd()).unwrap();
        }
        if verify {
            let st = fs::fstat(fd.as_fd()).unwrap();
            let there = fs::fstatat_nofollow(dir.as_fd(), name).unwrap();
            assert_eq!((st.ino, st.nlink), (there.ino, 1));
        }
        let mut file = std::fs::File::from(fd);
        let n = file.read(&mut buf).unwrap();
        assert_eq!(n, PAYLOAD.len());
        fs::unlinkat(dir.as_fd(), name).unwrap();
        drop(file);
    }
}

fn claim_loop(dir: &Path, names: &[OsString], strategy: Strategy) {
    let claimer = Claimer::new(Arc::new(Dir::open(dir).unwrap()), strategy);
    let mut buf = [0u8; 4096];
    for name in names {
        let Outcome::Claimed(claim) = claimer.claim(OsStr::new(name)).unwrap() else {
            panic!("not claimed");
        };
        let n = claim.file().read(&mut buf).unwrap();
        assert_eq!(n, PAYLOAD.len());
        claim.complete().unwrap();
    }
}

fn bench(c: &mut Criterion) {
    for (place, base) in places() {
        let mut group = c.benchmark_group(format!("claim_complete/{place}"));
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(3));
        group.bench_function("floor_naive", |b| {
            b.iter_custom(|iters| timed(&base, iters, |d, n| raw_loop(d, n, false)))
        });
        group.bench_function("naive", |b| {
            b.iter_custom(|iters| timed(&base, iters, |d, n| claim_loop(d, n, Strategy::Naive)))
        });
        group.bench_function("floor_verified", |b| {
            b.iter_custom(|iters| timed(&base, iters, |d, n| raw_loop(d, n, true)))
        });
        group.bench_function("verified", |b| {
            b.iter_custom(|iters| timed(&base, iters, |d, n| claim_loop(d, n, Strategy::Verified)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
