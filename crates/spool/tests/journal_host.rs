//! `JournalWriter::create` on a host whose name cannot name a journal file: the test
//! runs itself again in a new UTS namespace (`unshare --uts`, root) whose host name it
//! sets to bytes that are not UTF-8, through /proc/sys/kernel/hostname.

use std::process::Command;
use std::sync::Arc;

use spoolq_claim::Dir;
use spoolq_spool::journal::Role;
use spoolq_spool::{JournalError, JournalWriter, WriterOptions};

/// Set in the re-run inside the namespace.
const INSIDE: &str = "SPOOLQ_TEST_INSIDE_UTS_NAMESPACE";
/// Printed by the re-run once it checked the error, so the outer run knows the test ran.
const CHECKED: &str = "journal host error checked";

#[test]
fn a_host_name_that_is_not_utf8_is_a_typed_error() {
    if std::env::var_os(INSIDE).is_some() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Arc::new(Dir::open(tmp.path()).unwrap());
        let options = WriterOptions {
            fsync: false,
            rotate_bytes: None,
        };
        match JournalWriter::create(dir, Role::Daemon, options) {
            Err(JournalError::Host(e)) => {
                assert!(e.to_string().contains(r"\xe9"), "{e}");
            }
            other => panic!("expected JournalError::Host, got {other:?}"),
        }
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "no file left"
        );
        println!("{CHECKED}");
        return;
    }

    let test = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--uts", "sh", "-c"])
        .arg(r#"printf 'caf\351' > /proc/sys/kernel/hostname && exec "$0" "$@""#)
        .arg(&test)
        .args([
            "--exact",
            "a_host_name_that_is_not_utf8_is_a_typed_error",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => return cannot_run(&format!("unshare: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("unshare failed") {
        return cannot_run(&stderr);
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(CHECKED), "{stdout}\n{stderr}");
}

/// A new UTS namespace needs root (CAP_SYS_ADMIN): skipped without it, except in CI.
fn cannot_run(why: &str) {
    assert!(
        std::env::var_os("CI").is_none_or(|ci| ci != "true"),
        "cannot make a UTS namespace in CI: {why}"
    );
    eprintln!("SKIPPED: cannot make a UTS namespace here: {why}");
}
