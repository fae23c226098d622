//! `spoolq lab` end to end, at small sizes: real consumer processes racing over a spool.

use std::process::Command;

fn lab(args: &[&str]) -> (std::process::ExitStatus, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spoolq"))
        .arg("lab")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("lab output is not JSON ({e}); stderr:\n{stderr}"));
    (out.status, json, stderr)
}

fn summary<'a>(report: &'a serde_json::Value, strategy: &str) -> &'a serde_json::Value {
    report["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["strategy"] == strategy)
        .unwrap_or_else(|| panic!("no {strategy} row in {report}"))
}

/// With the race window widened through the step hook, naive processes some job again
/// after another consumer completed it, and verified never does; exit 0 because the
/// verified run was clean.
#[test]
fn race_window_shows_naive_duplicates_and_none_for_verified() {
    let (status, report, stderr) = lab(&[
        "--jobs",
        "300",
        "--consumers",
        "3",
        "--workers",
        "1",
        "--work",
        "1ms",
        "--race-window",
        "3ms",
    ]);
    assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
    let naive = summary(&report, "naive");
    let verified = summary(&report, "verified");
    assert!(
        naive["dup_after_completion"].as_u64().unwrap() >= 1,
        "naive showed no after-completion duplicate: {naive}"
    );
    for column in ["dup_after_completion", "dup_concurrent", "lost"] {
        assert_eq!(verified[column], 0, "verified {column}: {verified}");
    }
    assert_eq!(verified["completed"], 300, "{verified}");
    assert_eq!(report["safe_clean"], true);
    assert!(
        report["timeline"]
            .as_str()
            .unwrap()
            .contains("AFTER COMPLETION")
    );
}

/// The exit status ignores naive's failures: a naive-only run exits 0 even with
/// duplicates.
#[test]
fn naive_alone_never_fails_the_lab() {
    let (status, report, stderr) = lab(&[
        "--jobs",
        "100",
        "--consumers",
        "2",
        "--workers",
        "1",
        "--work",
        "1ms",
        "--race-window",
        "2ms",
        "--strategy",
        "naive",
    ]);
    assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
    assert_eq!(report["summary"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_flag_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_spoolq"))
        .args(["lab", "--strategy", "optimistic"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("naive"));
}

/// The bench's drain and e2e sections, at tiny sizes, report what each process spends per
/// job beside the rates: a row in us of CPU per job for spoolq and for the floor, each
/// measured in every run (the children's CPU read across each one's wait).
#[test]
fn bench_drain_and_e2e_report_the_cpu_each_process_spends_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let (status, report, stderr) = lab(&[
        "--bench",
        "--sections",
        "drain,e2e",
        "--repeat",
        "1",
        "--drain-jobs",
        "300",
        "--bench-jobs",
        "300",
        "--bench-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
    let rows = report["rows"].as_array().unwrap();
    for section in ["drain", "e2e"] {
        let cpu = rows
            .iter()
            .find(|r| r["section"] == section && r["unit"] == "us CPU/job")
            .unwrap_or_else(|| panic!("no CPU row for {section} in {report}"));
        for side in ["value", "floor"] {
            let us = cpu[side].as_f64().unwrap();
            // A job costs a process at least a microsecond of CPU and far less than a
            // second, at any load.
            assert!((1.0..1e6).contains(&us), "{section} {side} {us}: {cpu}");
        }
        assert_eq!(cpu["runs"].as_array().unwrap().len(), 1, "{cpu}");
        assert_eq!(cpu["floor_runs"].as_array().unwrap().len(), 1, "{cpu}");
    }
}
