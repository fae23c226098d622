//! Retries in on-demand mode: the drain the systemd path unit runs (its ExecStart, as
//! `spoolq service install --systemd --on-demand` renders it) stays up for a job that
//! failed once with `--retry-base 1s` and runs it when due, with no new job arriving;
//! with `--drain-retry-wait 0s` it exits and leaves the job waiting in retry/.

mod common;

use std::process::{Command, Stdio};

use common::{PATIENCE, TempSpool, spoolq};
use spoolq_spool::{EventKind, JobId};

/// One ExecStart= line split into its words, undoing `systemd_quote`: double quotes with
/// C escapes, `$$` for `$`, `%%` for `%`.
fn systemd_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return words;
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some(other) => word.push(other),
                        None => {}
                    },
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word.replace("$$", "$").replace("%%", "%"));
    }
}

/// The drain service's ExecStart for `spool` and `handler`, as words.
fn drain_exec_start(spool: &TempSpool, handler: &[&str]) -> Vec<String> {
    let out = spoolq()
        .args(["service", "install", "--systemd", "--on-demand", "--print"])
        .arg("--spool")
        .arg(spool.path())
        .arg("--")
        .args(handler)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let units = String::from_utf8(out.stdout).unwrap();
    let service = units
        .split("# ==> ")
        .find(|unit| unit.starts_with("spoolq-drain.service"))
        .unwrap_or_else(|| panic!("{units}"));
    let line = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    systemd_words(line)
}

/// Runs the drain with `extra` flags after `daemon`; its exit status and log.
fn run_drain(spool: &TempSpool, extra: &[&str]) -> (std::process::ExitStatus, String) {
    let handler = [
        "/bin/sh",
        "-c",
        "cat > /dev/null; [ \"$SPOOLQ_JOB_ATTEMPT\" = 1 ] && exit 75; exit 0",
    ];
    let mut words = drain_exec_start(spool, &handler);
    assert_eq!(words[1], "daemon", "{words:?}");
    assert!(words.contains(&"--drain".to_owned()), "{words:?}");
    let program = words.remove(0);
    words.splice(1..1, extra.iter().map(|s| (*s).to_owned()));
    let log = spool.scratch().join("drain.log");
    let mut child = Command::new(program)
        .args(&words)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the drain did not exit: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

fn attempts(spool: &TempSpool, kind: EventKind, job: JobId) -> Vec<u32> {
    spool
        .events(kind)
        .iter()
        .filter(|r| r.job() == Some(job))
        .filter_map(|r| r.event.attempt())
        .collect()
}

#[test]
fn the_on_demand_drain_stays_up_for_a_retry_and_completes_it_without_new_jobs() {
    let spool = TempSpool::new();
    let job = spool.drop_job("fails once");
    let (status, log) = run_drain(&spool, &["--retry-base", "1s", "--retry-max", "1s"]);
    assert!(status.success(), "{log}");
    assert_eq!(attempts(&spool, EventKind::Retry, job), [1], "{log}");
    assert_eq!(attempts(&spool, EventKind::Done, job), [2], "{log}");
    assert_eq!(spool.events(EventKind::Start).len(), 1, "one start: {log}");
    assert!(spool.names("new").is_empty() && spool.names("retry").is_empty());
    assert!(log.contains("staying up to run it"), "{log}");
}

#[test]
fn a_drain_without_a_retry_wait_leaves_the_retry_waiting() {
    let spool = TempSpool::new();
    let job = spool.drop_job("fails once");
    let (status, log) = run_drain(
        &spool,
        &[
            "--retry-base",
            "1s",
            "--retry-max",
            "1s",
            "--drain-retry-wait",
            "0s",
        ],
    );
    assert!(status.success(), "{log}");
    assert_eq!(attempts(&spool, EventKind::Retry, job), [1], "{log}");
    assert!(attempts(&spool, EventKind::Done, job).is_empty(), "{log}");
    assert_eq!(spool.names("retry").len(), 1);
    assert!(log.contains("do not keep the daemon alive"), "{log}");
}

#[test]
fn systemd_words_undo_the_quoting() {
    assert_eq!(
        systemd_words("/bin/sh -c \"cat > /dev/null; echo $$HOME 50%%\" x"),
        ["/bin/sh", "-c", "cat > /dev/null; echo $HOME 50%", "x"]
    );
}
