//! The reason file's format, pinned: `fixtures/reason-*.json` are reason files exactly as
//! the daemon writes them. Each must read into the typed reason spelled out here and be
//! written again byte for byte, so that the format cannot drift unnoticed.

use std::path::PathBuf;

use spoolq_spool::failed::{FoundIn, Reason, ReasonCode};
use spoolq_spool::{DeadCause, JobId, QuarantineCause};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn base(reason: ReasonCode, message: &str, name: &str, failed_at: &str, daemon: &str) -> Reason {
    let mut r = Reason::new(reason, message, name.as_ref());
    r.stored_as = name.to_owned();
    r.failed_at = failed_at.to_owned();
    r.daemon = daemon.to_owned();
    r
}

fn times(r: &mut Reason, created: &str, started: &str, ended: &str) {
    r.created = Some(created.to_owned());
    r.last_attempt_started = Some(started.to_owned());
    r.last_attempt_ended = Some(ended.to_owned());
}

fn golden() -> Vec<(&'static str, Reason)> {
    let job = |id: &str| Some(id.parse::<JobId>().unwrap());

    let id = "01a2338f-5697-77d7-9bba-c589bb549db7";
    let mut permanent = base(
        ReasonCode::Dead(DeadCause::PermanentFailure),
        "the handler exited with 100: permanent failure, not retried",
        id,
        "2026-12-01T21:42:41.578Z",
        "vm:17548",
    );
    permanent.job = job(id);
    permanent.attempts = Some(1);
    permanent.exit_status = Some(100);
    permanent.stderr_tail = vec!["cannot parse record 3".to_owned()];
    times(
        &mut permanent,
        "2026-12-01T21:42:41.559Z",
        "2026-12-01T21:42:41.575Z",
        "2026-12-01T21:42:41.577Z",
    );

    let id = "01a2338f-569a-701f-a8f1-1427733c89a3";
    let mut exhausted = base(
        ReasonCode::Dead(DeadCause::AttemptsExhausted),
        "attempt 2 of 2 failed (exit 75): attempts exhausted",
        &format!("{id}.1"),
        "2026-12-01T21:42:41.604Z",
        "vm:17548",
    );
    exhausted.job = job(id);
    exhausted.attempts = Some(2);
    exhausted.exit_status = Some(75);
    times(
        &mut exhausted,
        "2026-12-01T21:42:41.563Z",
        "2026-12-01T21:42:41.600Z",
        "2026-12-01T21:42:41.603Z",
    );

    let id = "01a233a6-e917-73eb-9fef-09e405227fd5";
    let mut timed_out = base(
        ReasonCode::Dead(DeadCause::AttemptsExhausted),
        "attempt 1 of 1 failed (timed out (killed by signal 15)): attempts exhausted",
        id,
        "2026-12-01T22:08:26.603Z",
        "vm:1304",
    );
    timed_out.job = job(id);
    timed_out.attempts = Some(1);
    timed_out.signal = Some(15);
    timed_out.timed_out = true;
    times(
        &mut timed_out,
        "2026-12-01T22:08:26.391Z",
        "2026-12-01T22:08:26.399Z",
        "2026-12-01T22:08:26.603Z",
    );

    let mut hidden = base(
        ReasonCode::HiddenInNew,
        "hidden file in new/: names starting with '.' are never jobs; it was moved here so \
         that an on-demand daemon (launchd QueueDirectories, systemd DirectoryNotEmpty=) is \
         not relaunched for it forever",
        ".DS_Store",
        "2026-12-01T21:44:01.408Z",
        "vm:20785",
    );
    hidden.stored_as = "DS_Store.hidden.1796161441408".to_owned();

    let mut stray = base(
        ReasonCode::Quarantined(QuarantineCause::NotARetryName),
        "stray is not a retry name (<id>.<attempts>.<due ms>): only the daemon puts files \
         in retry/",
        "stray",
        "2026-12-01T21:43:31.383Z",
        "vm:20785",
    );
    stray.found_in = FoundIn::Retry;

    let fifo = base(
        ReasonCode::Quarantined(QuarantineCause::NotRegular),
        "fifo is a fifo, not a regular file; only regular job files belong in the spool",
        "fifo",
        "2026-12-01T21:42:41.584Z",
        "vm:17548",
    );

    vec![
        ("reason-permanent-failure.json", permanent),
        ("reason-attempts-exhausted.json", exhausted),
        ("reason-timed-out.json", timed_out),
        ("reason-hidden-in-new.json", hidden),
        ("reason-not-a-retry-name.json", stray),
        ("reason-not-regular.json", fifo),
    ]
}

#[test]
fn golden_reason_files_read_as_the_typed_reasons_and_are_written_byte_for_byte() {
    for (file, want) in golden() {
        let bytes = fixture(file);
        let read = Reason::from_file_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(read, want, "{file}");
        assert_eq!(
            String::from_utf8(want.to_file_bytes()).unwrap(),
            String::from_utf8(bytes).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_reason_file_with_an_unknown_code_is_an_error_not_a_guess() {
    let text = String::from_utf8(fixture("reason-not-regular.json"))
        .unwrap()
        .replace("not_regular", "teleported");
    assert!(Reason::from_file_bytes(text.as_bytes()).is_err());
}
