//! The atomic drop of a new job, with and without fsync, against a raw floor doing the
//! same system calls in a plain loop (create in tmp/, write, [fsync], rename into new/
//! without replacing, [fsync new/], close). On tmpfs (/dev/shm) when it exists and on
//! the disk (the system temp folder), in the same run.
//!
//!     cargo bench -p spoolq-spool --bench drop

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spoolq_spool::{CreateOptions, Durability, JobHeader, JobId, Spool};

const PAYLOAD: [u8; 200] = [b'x'; 200];

fn places() -> Vec<(&'static str, PathBuf)> {
    let mut places = Vec::new();
    if Path::new("/dev/shm").is_dir() {
        places.push(("tmpfs", PathBuf::from("/dev/shm")));
    }
    places.push(("disk", std::env::temp_dir()));
    places
}

fn fresh_spool(base: &Path) -> (tempfile::TempDir, Spool) {
    let tmp = tempfile::Builder::new()
        .prefix("spoolq-bench-")
        .tempdir_in(base)
        .unwrap();
    let spool = Spool::create(tmp.path(), CreateOptions::default()).unwrap();
    (tmp, spool)
}

fn floor(base: &Path, iters: u64, durability: Durability) -> Duration {
    let (_tmp, spool) = fresh_spool(base);
    let ids: Vec<JobId> = (0..iters).map(|_| JobId::generate()).collect();
    let start = Instant::now();
    for id in ids {
        let name = id.to_string();
        let name = OsStr::new(&name);
        let mut file = spool.tmp().create_new(name, 0o640).unwrap();
        let mut bytes = JobHeader::new(id, PAYLOAD.len() as u64).render();
        bytes.extend_from_slice(&PAYLOAD);
        file.write_all(&bytes).unwrap();
        if durability.fsync_file {
            file.sync_all().unwrap();
        }
        spool
            .tmp()
            .rename_noreplace(name, spool.new_dir(), name)
            .unwrap();
        if durability.fsync_dir {
            spool.new_dir().sync().unwrap();
        }
    }
    start.elapsed()
}

fn spoolq(base: &Path, iters: u64, durability: Durability) -> Duration {
    let (_tmp, spool) = fresh_spool(base);
    let ids: Vec<JobId> = (0..iters).map(|_| JobId::generate()).collect();
    let start = Instant::now();
    for id in ids {
        spool.drop_job(id, &mut &PAYLOAD[..], durability).unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    for (place, base) in places() {
        for (sync, durability) in [("nosync", Durability::NEVER), ("fsync", Durability::ALWAYS)] {
            if place == "tmpfs" && sync == "fsync" {
                // fsync on tmpfs is a no-op: nothing to learn.
                continue;
            }
            let mut group = c.benchmark_group(format!("drop/{place}/{sync}"));
            if sync == "fsync" {
                group
                    .sample_size(10)
                    .measurement_time(Duration::from_secs(5));
            } else {
                group
                    .sample_size(30)
                    .measurement_time(Duration::from_secs(3));
            }
            group.bench_function("floor", |b| b.iter_custom(|n| floor(&base, n, durability)));
            group.bench_function("spoolq", |b| {
                b.iter_custom(|n| spoolq(&base, n, durability))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
