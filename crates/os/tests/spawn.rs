//! `spawn::spawn_linked`: handlers started with clone(CLONE_VM | CLONE_VFORK), run as real
//! processes and inspected through /proc.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use spoolq_os::Errno;
use spoolq_os::spawn::{self, LinkedChild, SpawnError};

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The daemon's environment, as `spawn_linked` expects it: complete, as C strings.
fn environment(extra: &[&str]) -> Vec<CString> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.into_encoded_bytes();
            e.push(b'=');
            e.extend(v.into_encoded_bytes());
            CString::new(e).unwrap()
        })
        .chain(extra.iter().map(|e| c(e)))
        .collect()
}

fn as_c_strs(strings: &[CString]) -> Vec<&std::ffi::CStr> {
    strings.iter().map(CString::as_c_str).collect()
}

struct Pipes {
    stdin: std::fs::File,
    stdout: std::fs::File,
    stderr: std::fs::File,
    child_ends: [OwnedFd; 3],
}

fn pipes() -> Pipes {
    let (stdin_child, stdin) = spawn::pipe().unwrap();
    let (stdout, stdout_child) = spawn::pipe().unwrap();
    let (stderr, stderr_child) = spawn::pipe().unwrap();
    Pipes {
        stdin: stdin.into(),
        stdout: stdout.into(),
        stderr: stderr.into(),
        child_ends: [stdin_child, stdout_child, stderr_child],
    }
}

fn spawn_sh(script: &str, pipes: [OwnedFd; 3]) -> LinkedChild {
    spawn::spawn_linked(
        &c("/bin/sh"),
        &[c("sh"), c("-c"), c(script)],
        &as_c_strs(&environment(&["SPOOLQ_TEST_VARIABLE=present"])),
        pipes,
    )
    .unwrap()
}

/// Blocks until the child exits (this test has no event loop: poll its pidfd state).
fn wait(child: &mut LinkedChild) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the child did not exit");
        std::thread::yield_now();
    }
}

/// Field `name` of /proc/PID/status.
fn proc_status(pid: u32, name: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap()
        .trim()
        .to_owned()
}

/// The process group id of `pid` (field 5 of /proc/PID/stat, after the comm).
fn pgrp(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    after_comm.split(' ').nth(2).unwrap().parse().unwrap()
}

#[test]
fn stdin_stdout_stderr_environment_and_exit_status_reach_the_handler() {
    let mut p = pipes();
    let mut child = spawn_sh(
        "read line; echo \"got $line $SPOOLQ_TEST_VARIABLE\"; echo oops >&2; exit 3",
        p.child_ends,
    );
    p.stdin.write_all(b"payload\n").unwrap();
    drop(p.stdin);
    let mut out = String::new();
    p.stdout.read_to_string(&mut out).unwrap();
    let mut err = String::new();
    p.stderr.read_to_string(&mut err).unwrap();
    assert_eq!(out, "got payload present\n");
    assert_eq!(err, "oops\n");
    let status = wait(&mut child);
    assert!(libc_exited_with(status, 3), "raw status {status:#x}");
}

fn libc_exited_with(status: i32, code: i32) -> bool {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(status).code() == Some(code)
}

#[test]
fn the_handler_leads_its_own_group_with_a_clean_signal_state() {
    let mut p = pipes();
    // `cat` blocks on its stdin until we close it: time to look at it from outside.
    let mut child = spawn::spawn_linked(
        &c("/bin/cat"),
        &[c("cat")],
        &as_c_strs(&environment(&[])),
        p.child_ends,
    )
    .unwrap();
    let pid = child.id();
    assert_eq!(
        pgrp(pid),
        pid,
        "the handler is its own process group leader"
    );
    assert_eq!(
        proc_status(pid, "SigBlk"),
        "0000000000000000",
        "no signal blocked"
    );
    let ignored = u64::from_str_radix(&proc_status(pid, "SigIgn"), 16).unwrap();
    assert_eq!(ignored & (1 << (13 - 1)), 0, "SIGPIPE is back to default");
    drop(p.stdin);
    let mut out = String::new();
    p.stdout.read_to_string(&mut out).unwrap();
    assert!(libc_exited_with(wait(&mut child), 0));
}

#[test]
fn the_handler_dies_when_the_spawning_thread_does() {
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let spawner = std::thread::spawn(move || {
        let p = pipes();
        let child = spawn_sh("exec sleep 30", p.child_ends);
        pid_tx.send(child.id()).unwrap();
        // Keep the child (not dropped: dropping kills it anyway) past the thread's end.
        std::mem::forget(child);
        done_rx.recv().unwrap();
    });
    let pid = pid_rx.recv().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    done_tx.send(()).unwrap();
    spawner.join().unwrap();
    // The kernel sends SIGKILL at the thread's exit; the zombie is ours to reap.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s[s.rfind(')').unwrap() + 2..].chars().next().unwrap_or('?'))
            .unwrap_or('X');
        if state == 'Z' || state == 'X' {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the handler outlived its spawning thread"
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_missing_program_is_an_error_and_leaves_no_child() {
    let p = pipes();
    let err = spawn::spawn_linked(
        &c("/no/such/handler"),
        &[c("handler")],
        &as_c_strs(&environment(&[])),
        p.child_ends,
    )
    .unwrap_err();
    assert_eq!(err, SpawnError::Failed(Errno::ENOENT));
    // The failed child was reaped: this thread has no child left, not even a zombie.
    let children = std::fs::read_to_string("/proc/thread-self/children").unwrap();
    assert_eq!(children.trim(), "", "children of the spawning thread");
}

#[test]
fn dropping_an_unwaited_handler_kills_it() {
    let p = pipes();
    let child = spawn_sh("exec sleep 30", p.child_ends);
    let pid = child.id();
    drop(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z") && !s.contains(") X"))
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "the dropped handler still runs");
        std::thread::yield_now();
    }
}
