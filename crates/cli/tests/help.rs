//! `--help` shows the defaults the libraries define (the daemon's `Config`, the lab's
//! `LabConfig` and `BenchConfig`, the producer's, the spool's mode, the auditor's
//! findings), read from the real binary's help.

use std::process::Command;
use std::time::Duration;

use spoolq_daemon::Config;
use spoolq_lab::LabConfig;
use spoolq_lab::bench::BenchConfig;

fn help(subcommand: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spoolq"))
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout).unwrap()
}

/// The help of `--flag`: its line and the wrapped lines below it (indented deeper than
/// any flag's line), whitespace collapsed.
fn flag_help(help: &str, flag: &str) -> String {
    let is_flag_line = |line: &str| {
        let indent = line.len() - line.trim_start().len();
        indent <= 6 && line.trim_start().starts_with('-')
    };
    let mut lines = help.lines().skip_while(|line| {
        !(is_flag_line(line)
            && line
                .split_whitespace()
                .any(|word| word.trim_end_matches(',') == format!("--{flag}")))
    });
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("--{flag} is not in the help:\n{help}"));
    std::iter::once(first)
        .chain(lines.take_while(|line| !is_flag_line(line) && !line.trim().is_empty()))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn assert_defaults(subcommand: &str, expected: &[(&str, String)]) {
    let help = help(subcommand);
    for (flag, default) in expected {
        let text = flag_help(&help, flag);
        assert!(
            text.ends_with(&format!("[default: {default}]"))
                || text.contains(&format!("[default: {default}] ")),
            "spoolq {subcommand} --help: --{flag} should show [default: {default}]: {text}"
        );
    }
}

#[test]
fn daemon_help_shows_the_daemon_librarys_defaults() {
    assert_defaults(
        "daemon",
        &[
            // The library's 0 (one per CPU) is spelled auto on the command line.
            (
                "workers",
                match Config::DEFAULT_WORKERS {
                    0 => "auto".to_owned(),
                    n => n.to_string(),
                },
            ),
            (
                "claim",
                Config::DEFAULT_STRATEGY.map_or_else(|| "auto".to_owned(), |s| s.to_string()),
            ),
            ("job-timeout", duration(Config::DEFAULT_JOB_TIMEOUT)),
            ("kill-grace", duration(Config::DEFAULT_KILL_GRACE)),
            ("retry-base", duration(Config::DEFAULT_RETRY_BASE)),
            ("retry-max", duration(Config::DEFAULT_RETRY_MAX)),
            ("max-attempts", Config::DEFAULT_MAX_ATTEMPTS.to_string()),
            ("rescan-interval", duration(Config::DEFAULT_RESCAN_INTERVAL)),
            ("shutdown-grace", duration(Config::DEFAULT_SHUTDOWN_GRACE)),
            ("tmp-max-age", duration(Config::DEFAULT_TMP_MAX_AGE)),
            (
                "journal-max-age",
                duration(spoolq_spool::journal::retention::Retention::DEFAULT_MAX_AGE),
            ),
            ("journal-max-bytes", "1G".to_owned()),
        ],
    );
}

#[test]
fn lab_help_shows_the_lab_librarys_defaults() {
    let strategies: Vec<String> = LabConfig::DEFAULT_STRATEGIES
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_defaults(
        "lab",
        &[
            ("jobs", LabConfig::DEFAULT_JOBS.to_string()),
            ("consumers", LabConfig::DEFAULT_CONSUMERS.to_string()),
            ("work", duration(LabConfig::DEFAULT_WORK)),
            ("strategy", strategies.join(",")),
            ("timeout", duration(LabConfig::DEFAULT_RUN_TIMEOUT)),
            ("bench-jobs", BenchConfig::DEFAULT_E2E_JOBS.to_string()),
            ("scale-jobs", BenchConfig::DEFAULT_SCALE_JOBS.to_string()),
            ("idle-for", duration(BenchConfig::DEFAULT_IDLE_FOR)),
        ],
    );
}

#[test]
fn lab_help_shows_the_lab_and_bench_defaults_of_flags_both_take() {
    let help = help("lab");
    for (flag, lab, bench) in [
        (
            "workers",
            LabConfig::DEFAULT_WORKERS,
            BenchConfig::DEFAULT_WORKERS,
        ),
        (
            "repeat",
            LabConfig::DEFAULT_REPEAT,
            BenchConfig::DEFAULT_REPEAT,
        ),
    ] {
        let expected = if lab == bench {
            format!("[default: {lab}]")
        } else {
            format!("[default: {lab}; with --bench: {bench}]")
        };
        let text = flag_help(&help, flag);
        assert!(text.ends_with(&expected), "--{flag}: {text}");
    }
}

#[test]
fn produce_init_and_audit_help_show_their_librarys_defaults() {
    assert_defaults(
        "produce",
        &[
            ("size", spoolq_producer::Generate::DEFAULT_SIZE.to_string()),
            ("sync", spoolq_producer::SyncMode::default().to_string()),
        ],
    );
    assert_defaults(
        "init",
        &[("mode", format!("{:o}", spoolq_spool::layout::DEFAULT_MODE))],
    );
    // The auditor's default findings, by their flag names.
    let defaults = spoolq_auditor::Finding::DEFAULT;
    let help = help("audit");
    let listed = flag_help(&help, "fail-on");
    let shown = listed
        .split("[default: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("--fail-on shows no default: {listed}"));
    let parsed: Vec<spoolq_auditor::Finding> =
        shown.split(',').map(|name| name.parse().unwrap()).collect();
    assert_eq!(parsed, defaults);
}
