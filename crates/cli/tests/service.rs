//! Running spoolq as a service: the launchd plists and systemd units in deploy/
//! and those rendered by `spoolq service install`, `spoolq init` and `spoolq status`,
//! all through the real binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use plist::Value;
use spoolq_testkit::skip;

const BIN: &str = env!("CARGO_BIN_EXE_spoolq");

fn spoolq(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running spoolq")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn init_spool(dir: &Path) -> PathBuf {
    let path = dir.join("spool");
    ok(&spoolq(&["init", path.to_str().unwrap()]));
    std::fs::canonicalize(&path).unwrap()
}

// ---------------------------------------------------------------- plists

fn string_array(dict: &plist::Dictionary, key: &str) -> Vec<String> {
    let array = dict
        .get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{key} must be an array"));
    array
        .iter()
        .map(|v| {
            v.as_string()
                .unwrap_or_else(|| panic!("{key} must hold strings, found {v:?}"))
                .to_owned()
        })
        .collect()
}

/// Checks the keys every spoolq plist needs, with their types; returns ProgramArguments.
fn check_plist(value: &Value, on_demand: bool, what: &str) -> Vec<String> {
    let dict = value
        .as_dictionary()
        .unwrap_or_else(|| panic!("{what}: the top level must be a dictionary"));
    let label = dict.get("Label").and_then(Value::as_string);
    assert!(
        label.is_some_and(|l| l.starts_with("org.spoolq.")),
        "{what}: Label"
    );
    let args = string_array(dict, "ProgramArguments");
    assert!(Path::new(&args[0]).is_absolute(), "{what}: {args:?}");
    assert_eq!(args[1], "daemon", "{what}");
    let spool_at = args.iter().position(|a| a == "--spool").expect("--spool");
    assert!(Path::new(&args[spool_at + 1]).is_absolute(), "{what}");
    let dashes = args.iter().position(|a| a == "--").expect("-- HANDLER");
    assert!(dashes + 1 < args.len(), "{what}: a handler after --");
    assert!(
        Path::new(&args[dashes + 1]).is_absolute(),
        "{what}: absolute handler"
    );
    assert_eq!(
        args[..dashes].contains(&"--drain".to_owned()),
        on_demand,
        "{what}: --drain exactly when on demand"
    );
    let timeout = dict
        .get("ExitTimeOut")
        .and_then(Value::as_signed_integer)
        .unwrap_or_else(|| panic!("{what}: ExitTimeOut must be an integer"));
    assert!(
        timeout > 30,
        "{what}: ExitTimeOut {timeout} must exceed the 30 s grace"
    );
    let process_type = dict.get("ProcessType").and_then(Value::as_string);
    assert!(
        matches!(
            process_type,
            Some("Standard" | "Background" | "Adaptive" | "Interactive")
        ),
        "{what}: ProcessType {process_type:?}"
    );
    for key in ["StandardOutPath", "StandardErrorPath"] {
        let path = dict.get(key).and_then(Value::as_string);
        assert!(
            path.is_some_and(|p| p.starts_with('/')),
            "{what}: {key} must be an absolute path"
        );
    }
    if on_demand {
        let queues = string_array(dict, "QueueDirectories");
        assert_eq!(queues.len(), 1, "{what}");
        assert_eq!(
            Path::new(&queues[0]),
            Path::new(&args[spool_at + 1]).join("new"),
            "{what}: QueueDirectories watches SPOOL/new"
        );
        assert!(dict.get("KeepAlive").is_none(), "{what}: no KeepAlive");
        let every = dict.get("StartInterval").and_then(Value::as_signed_integer);
        assert!(
            every.is_some_and(|s| s > 0 && s < 300),
            "{what}: StartInterval {every:?}: a drain every few minutes, within the daemon's \
             5 minute drain retry wait"
        );
    } else {
        for key in ["RunAtLoad", "KeepAlive"] {
            assert_eq!(
                dict.get(key).and_then(Value::as_boolean),
                Some(true),
                "{what}: {key} must be <true/>"
            );
        }
        assert!(dict.get("QueueDirectories").is_none(), "{what}");
        assert!(dict.get("StartInterval").is_none(), "{what}");
    }
    args
}

#[test]
fn deploy_plists_parse_and_have_the_required_keys() {
    let dir = deploy().join("launchd");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("plist") {
            continue;
        }
        let value = Value::from_file(&path)
            .unwrap_or_else(|e| panic!("{} is not a property list: {e}", path.display()));
        let on_demand = path.to_str().unwrap().contains("ondemand");
        check_plist(&value, on_demand, &path.display().to_string());
        seen += 1;
    }
    assert_eq!(seen, 2, "both plists in {}", dir.display());
}

#[test]
fn rendered_plists_parse_and_carry_every_argument_verbatim() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = init_spool(tmp.path());
    let tricky = ["a <b> & \"c\" 'd'", "50%", "$HOME", "--", "x--y"];
    for on_demand in [false, true] {
        let mut args = vec![
            "service",
            "install",
            "--launchd",
            "--print",
            "--user",
            "_spoolq",
            "--spool",
            spool.to_str().unwrap(),
        ];
        if on_demand {
            args.push("--on-demand");
        }
        args.push("--");
        args.push("/bin/sh");
        args.extend(tricky);
        let out = spoolq(&args);
        let xml = ok(&out);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("launchctl bootstrap system /Library/LaunchDaemons/org.spoolq."),
            "the load command is printed: {stderr}"
        );
        let value = Value::from_reader_xml(xml.as_bytes())
            .unwrap_or_else(|e| panic!("not a property list ({e}):\n{xml}"));
        let program = check_plist(&value, on_demand, "rendered plist");
        let mut expected = vec![
            std::fs::canonicalize(BIN).unwrap().display().to_string(),
            "daemon".into(),
            "--spool".into(),
            spool.display().to_string(),
        ];
        if on_demand {
            expected.push("--drain".into());
        }
        expected.push("--".into());
        expected.push("/bin/sh".into());
        expected.extend(tricky.iter().map(|s| s.to_string()));
        assert_eq!(program, expected);
        let user = value.as_dictionary().unwrap().get("UserName");
        assert_eq!(user.and_then(Value::as_string), Some("_spoolq"));
    }
}

#[test]
fn service_install_refuses_a_missing_spool_and_a_missing_handler() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let out = spoolq(&[
        "service",
        "install",
        "--systemd",
        "--print",
        "--spool",
        missing.to_str().unwrap(),
        "--",
        "/bin/sh",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("nope") && err.contains("spoolq init"), "{err}");

    let spool = init_spool(tmp.path());
    let out = spoolq(&[
        "service",
        "install",
        "--systemd",
        "--print",
        "--spool",
        spool.to_str().unwrap(),
        "--",
        "no-such-handler-spoolq",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no-such-handler-spoolq"));
}

// ---------------------------------------------------------------- systemd

/// Runs `systemd-analyze verify` on `units` (all in one directory). Returns None with the
/// reason when the tool cannot run here at all.
fn verify(units: &[PathBuf]) -> Result<(), String> {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .map_err(|e| format!("running systemd-analyze: {e}"))?;
    let stderr = text(&out.stderr);
    // Warnings (an unknown key, say) do not change the exit status: count them too, but
    // only those about our files; anything else is the host's business.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            units.iter().any(|u| {
                let name = u.file_name().unwrap().to_str().unwrap();
                l.contains(name) || l.contains(u.parent().unwrap().to_str().unwrap())
            })
        })
        .collect();
    if !out.status.success() || !ours.is_empty() {
        return Err(format!("exit {:?}\n{stderr}", out.status.code()));
    }
    Ok(())
}

/// Whether `systemd-analyze verify` works here, checked on a trivial unit.
fn systemd_analyze_usable(tmp: &Path) -> Result<(), String> {
    let dir = tmp.join("probe");
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("spoolq-probe.service");
    std::fs::write(&unit, "[Service]\nType=exec\nExecStart=/bin/true\n").unwrap();
    verify(&[unit]).map_err(|e| format!("systemd-analyze verify cannot run here: {e}"))
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let tmp = tempfile::tempdir().unwrap();
    if let Err(why) = systemd_analyze_usable(tmp.path()) {
        return skip(&why);
    }
    let bin = std::fs::canonicalize(BIN).unwrap();

    // deploy/systemd, with the placeholder binary replaced by one that exists (verify
    // checks that ExecStart is executable).
    let copies = tmp.path().join("deploy");
    std::fs::create_dir_all(&copies).unwrap();
    let mut units = Vec::new();
    for entry in std::fs::read_dir(deploy().join("systemd")).unwrap() {
        let path = entry.unwrap().path();
        let unit = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/spoolq", bin.to_str().unwrap())
            .replace("/usr/local/libexec/spoolq-handler", "/bin/true");
        let copy = copies.join(path.file_name().unwrap());
        std::fs::write(&copy, unit).unwrap();
        units.push(copy);
    }
    units.sort();
    assert_eq!(
        units.len(),
        4,
        "spoolq.service, spoolq-drain.service, spoolq-drain.path, spoolq-drain.timer"
    );
    verify(&units).unwrap_or_else(|e| panic!("deploy/systemd: {e}"));

    // Rendered for this machine, with a spool path and arguments that need quoting.
    let spool_parent = tmp.path().join("with space 100%");
    std::fs::create_dir_all(&spool_parent).unwrap();
    let spool = init_spool(&spool_parent);
    for on_demand in [false, true] {
        let out_dir = tmp.path().join(format!("rendered-{on_demand}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let mut args = vec![
            "service",
            "install",
            "--systemd",
            "--spool",
            spool.to_str().unwrap(),
            "--shutdown-grace",
            "1m",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ];
        if on_demand {
            args.push("--on-demand");
        }
        args.extend(["--", "/bin/sh", "-c", "cat > \"/dev/null\"; echo $HOME 50%"]);
        let out = spoolq(&args);
        let stdout = ok(&out);
        let enable = if on_demand {
            "systemctl enable --now spoolq-drain.path spoolq-drain.timer"
        } else {
            "systemctl enable --now spoolq.service"
        };
        assert!(stdout.contains(enable), "{stdout}");
        let mut rendered: Vec<PathBuf> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        rendered.sort();
        assert_eq!(rendered.len(), if on_demand { 3 } else { 1 });
        for unit in &rendered {
            let body = std::fs::read_to_string(unit).unwrap();
            if unit.extension().unwrap() == "timer" {
                assert!(body.contains("Unit=spoolq-drain.service"), "{body}");
                assert!(body.contains("OnUnitInactiveSec=4min"), "{body}");
            }
            if unit.extension().unwrap() == "service" {
                let notify = if on_demand {
                    "Type=exec"
                } else {
                    "Type=notify"
                };
                assert!(body.contains(notify), "{body}");
                assert!(
                    body.contains("TimeoutStopSec=75s"),
                    "grace 60 s + 15: {body}"
                );
                assert!(body.contains("KillMode=mixed"), "{body}");
                assert!(body.contains("--shutdown-grace 1m"), "{body}");
            }
        }
        verify(&rendered).unwrap_or_else(|e| panic!("rendered (on demand {on_demand}): {e}"));
    }
}

#[test]
fn service_install_print_shows_every_systemd_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = init_spool(tmp.path());
    let out = spoolq(&[
        "service",
        "install",
        "--systemd",
        "--on-demand",
        "--print",
        "--spool",
        spool.to_str().unwrap(),
        "--",
        "/bin/true",
    ]);
    let stdout = ok(&out);
    assert!(
        stdout.contains("# ==> spoolq-drain.service <=="),
        "{stdout}"
    );
    assert!(stdout.contains("# ==> spoolq-drain.path <=="), "{stdout}");
    assert!(stdout.contains("# ==> spoolq-drain.timer <=="), "{stdout}");
    assert!(
        stdout.contains(&format!("DirectoryNotEmpty={}/new", spool.display())),
        "{stdout}"
    );
    assert!(stdout.contains(" --drain "), "{stdout}");
    assert!(
        text(&out.stderr)
            .contains("systemctl daemon-reload && sudo systemctl enable --now spoolq-drain.path")
            && text(&out.stderr).contains("spoolq-drain.path spoolq-drain.timer")
    );
}

// ---------------------------------------------------------------- init

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

const FOLDERS: [&str; 5] = ["tmp", "new", "retry", "failed", "journal"];

#[test]
fn init_creates_the_layout_with_mode_and_group_and_is_idempotent() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("a/b/spool");
    let gid = std::fs::metadata(tmp.path()).unwrap().gid().to_string();
    let args = [
        "init",
        spool.to_str().unwrap(),
        "--mode",
        "2770",
        "--group",
        gid.as_str(),
    ];
    ok(&spoolq(&args));
    for name in FOLDERS {
        let meta = std::fs::metadata(spool.join(name)).unwrap();
        assert!(meta.is_dir(), "{name}");
        assert_eq!(mode_of(&spool.join(name)), 0o2770, "{name}");
        assert_eq!(meta.gid().to_string(), gid, "{name}");
    }
    assert_eq!(mode_of(&spool), 0o2770);

    // Again, with a job inside and a folder's mode changed: repaired, nothing lost.
    std::fs::write(spool.join("new/job"), b"payload").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(spool.join("retry"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
    }
    std::fs::remove_dir(spool.join("journal")).unwrap();
    let again = ok(&spoolq(&args));
    assert!(again.contains("exists"), "{again}");
    assert_eq!(mode_of(&spool.join("retry")), 0o2770);
    assert_eq!(mode_of(&spool.join("journal")), 0o2770);
    assert_eq!(std::fs::read(spool.join("new/job")).unwrap(), b"payload");

    // The default mode is 0750.
    let plain = tmp.path().join("plain");
    ok(&spoolq(&["init", plain.to_str().unwrap()]));
    for name in FOLDERS {
        assert_eq!(mode_of(&plain.join(name)), 0o750, "{name}");
    }
    // The spool is usable by status right away.
    ok(&spoolq(&["status", "--spool", plain.to_str().unwrap()]));
}

#[test]
fn init_refuses_foreign_content_and_bad_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("used");
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let out = spoolq(&["init", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("notes.txt (regular file)"), "{err}");
    assert!(err.contains(dir.to_str().unwrap()), "{err}");
    assert!(!dir.join("tmp").exists(), "nothing was created");

    // A file where a folder belongs is foreign too.
    let dir = tmp.path().join("clash");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("new"), b"").unwrap();
    let out = spoolq(&["init", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("new (regular file)"));

    // A file where the spool belongs.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let out = spoolq(&["init", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a directory"));

    for bad in ["999", "0640", "abc"] {
        let out = spoolq(&[
            "init",
            tmp.path().join("m").to_str().unwrap(),
            "--mode",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "--mode {bad}");
    }
    let out = spoolq(&[
        "init",
        tmp.path().join("g").to_str().unwrap(),
        "--group",
        "no-such-group-spoolq",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no-such-group-spoolq"));
}

// ---------------------------------------------------------------- status

/// A UUID v7 string for a time `ms` milliseconds after the epoch.
fn v7(ms: u64, n: u64) -> String {
    format!("{:08x}-{:04x}-7000-8000-{:012x}", ms >> 16, ms & 0xffff, n)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Another process holding an exclusive flock on `path` until dropped.
struct Holder {
    child: std::process::Child,
}

impl Holder {
    fn lock(path: &Path) -> Option<Holder> {
        let script = "import fcntl, sys\n\
                      f = open(sys.argv[1], 'rb')\n\
                      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n\
                      print('locked', flush=True)\n\
                      sys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "locked",
            "the helper could not lock {}",
            path.display()
        );
        Some(Holder { child })
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn status_counts_a_seeded_spool_including_a_job_locked_by_another_process() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = init_spool(tmp.path());
    let now = now_ms();
    let oldest = v7(now - 120_000, 1);
    let younger = v7(now - 10_000, 2);
    let locked = v7(now - 600_000, 3); // older still, but in flight: not "oldest ready"
    for (name, ago) in [(&oldest, 120), (&younger, 10), (&locked, 600)] {
        // Written when its id was made, as a producer writes it (status checks the id's
        // time against the file's).
        let file = spool.join("new").join(name);
        std::fs::write(&file, b"job").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(ago))
            .unwrap();
    }
    std::fs::write(spool.join("new/.DS_Store"), b"").unwrap();
    let later = now + 3_600_000;
    std::fs::write(
        spool
            .join("retry")
            .join(format!("{}.1.{later}", v7(now, 4))),
        b"",
    )
    .unwrap();
    std::fs::write(
        spool
            .join("retry")
            .join(format!("{}.2.{}", v7(now, 5), now - 1000)),
        b"",
    )
    .unwrap();
    for n in 6..8 {
        let name = v7(now, n);
        std::fs::write(spool.join("failed").join(&name), b"").unwrap();
        std::fs::write(
            spool.join("failed").join(format!("{name}.reason.json")),
            b"{}",
        )
        .unwrap();
    }
    std::fs::write(spool.join("tmp/leftover.1.2"), b"").unwrap();
    let fresh = format!("daemon-test-host-4242-{now}-0000.jsonl");
    std::fs::write(spool.join("journal").join(&fresh), b"{}\n").unwrap();
    let stale = spool.join("journal/producer-test-host-7-1-0000.jsonl");
    std::fs::write(&stale, b"{}\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(600))
        .unwrap();

    let job = spool.join("new").join(&locked);
    let _holder = match Holder::lock(&job) {
        Some(h) => Some(h),
        None => {
            skip(
                "python3, to hold the lock from another process (the job is locked by this test process instead)",
            );
            None
        }
    };
    let _own = if _holder.is_none() {
        let f = std::fs::File::open(&job).unwrap();
        f.try_lock().unwrap();
        Some(f)
    } else {
        None
    };

    let out = spoolq(&["status", "--spool", spool.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(json["ready"], 2, "{json:#}");
    assert_eq!(json["in_flight"], 1, "{json:#}");
    if cfg!(target_os = "linux") {
        assert_eq!(json["in_flight_method"], "proc_locks");
    }
    assert_eq!(json["hidden_in_new"], 1);
    assert_eq!(json["retry"]["waiting"], 2);
    assert_eq!(json["retry"]["due_now"], 1);
    assert_eq!(json["retry"]["unparsable"], 0);
    assert!(json["retry"]["next_due"].is_string());
    assert_eq!(json["failed"], 2);
    assert_eq!(json["tmp"], 1);
    assert_eq!(json["oldest_ready"]["name"], oldest.as_str());
    assert_eq!(json["oldest_ready"]["source"], "uuid_v7");
    let age = json["oldest_ready"]["age_secs"].as_f64().unwrap();
    assert!((119.0..180.0).contains(&age), "age {age}");
    let procs = json["recent_processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "only the fresh journal: {procs:?}");
    assert_eq!(procs[0]["role"], "daemon");
    assert_eq!(procs[0]["host"], "test-host");
    assert_eq!(procs[0]["pid"], 4242);

    // The status took nothing: the job is still there and still held by its holder.
    assert!(job.exists());
    let probe = std::fs::File::open(&job).unwrap();
    assert!(probe.try_lock_shared().is_err(), "the holder still has it");
    drop(probe);

    let human = ok(&spoolq(&["status", "--spool", spool.to_str().unwrap()]));
    for line in [
        "ready      2",
        "in flight  1",
        "retry      2 (1 due now)",
        "failed     2",
    ] {
        assert!(human.contains(line), "{line:?} in:\n{human}");
    }
    assert!(human.contains("daemon    test-host:4242"), "{human}");

    // Released: nothing in flight.
    drop(_holder);
    drop(_own);
    let out = spoolq(&["status", "--spool", spool.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(
        (json["ready"].clone(), json["in_flight"].clone()),
        (3.into(), 0.into())
    );
    assert_eq!(json["oldest_ready"]["name"], locked.as_str());
}

#[test]
fn status_of_a_missing_spool_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = spoolq(&["status", "--spool", tmp.path().join("x").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("spoolq init"));
}

#[test]
fn every_new_command_has_help_with_an_example() {
    for args in [
        &["init", "--help"][..],
        &["status", "--help"],
        &["service", "--help"],
        &["service", "install", "--help"],
    ] {
        let help = ok(&spoolq(args));
        assert!(help.contains("Examples:"), "{args:?}: {help}");
    }
}
