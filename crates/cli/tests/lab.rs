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
