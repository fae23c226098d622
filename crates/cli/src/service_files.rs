//! Rendering of launchd property lists and systemd units that run `spoolq daemon`.
//!
//! Pure functions from a [`ServiceSpec`] to file contents: no I/O. The files in
//! `deploy/` are these renderings with placeholder paths; a unit test keeps them equal
//! (`SPOOLQ_BLESS=1 cargo test -p spoolq service_files` rewrites them).

use std::fmt::Write as _;
use std::path::Path;

/// The daemon's default `--shutdown-grace`, in seconds.
pub const DEFAULT_GRACE_SECS: u64 = spoolq_daemon::Config::DEFAULT_SHUTDOWN_GRACE.as_secs();
/// How much longer than the grace the service manager waits before SIGKILL: time for the
/// daemon to terminate handlers after the grace, release their jobs and journal that.
pub const STOP_MARGIN_SECS: u64 = 15;

/// How often the on-demand services start a drain besides when new/ is not empty, in
/// seconds: shorter than the daemon's `--drain-retry-wait` (5 minutes) by more than a
/// timer's slack, so some drain starts within the wait before every retry's due time,
/// stays up for it and runs it on time.
pub const PERIODIC_DRAIN_SECS: u64 = 240;

const _: () =
    assert!(PERIODIC_DRAIN_SECS + 30 < spoolq_daemon::Config::DEFAULT_DRAIN_RETRY_WAIT.as_secs());

/// What to run, and where.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Absolute path of the spoolq binary.
    pub spoolq: String,
    /// Absolute path of the spool.
    pub spool: String,
    /// The handler command and its arguments (the first absolute).
    pub handler: Vec<String>,
    /// The user to run as (None: root).
    pub user: Option<String>,
    /// `--shutdown-grace` to pass, if not the default.
    pub grace: Option<String>,
    /// The grace in seconds (for the stop timeouts).
    pub grace_secs: u64,
    /// Base name: systemd units `<name>.service`, `<name>-drain.{service,path}`; launchd
    /// labels `org.spoolq.daemon` for "spoolq", else `org.spoolq.<name>.daemon`.
    pub name: String,
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub file_name: String,
    pub contents: String,
}

/// Where service files are installed by default.
pub const LAUNCHD_DIR: &str = "/Library/LaunchDaemons";
pub const SYSTEMD_DIR: &str = "/etc/systemd/system";

/// A name is used in file names and labels: keep it to a safe alphabet.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        // It appears inside XML comments, where "--" is not allowed.
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl ServiceSpec {
    fn stop_timeout(&self) -> u64 {
        self.grace_secs.saturating_add(STOP_MARGIN_SECS)
    }

    /// The launchd label of the long-running or on-demand job.
    pub fn label(&self, on_demand: bool) -> String {
        let kind = if on_demand { "ondemand" } else { "daemon" };
        if self.name == "spoolq" {
            format!("org.spoolq.{kind}")
        } else {
            format!("org.spoolq.{}.{kind}", self.name)
        }
    }

    /// The systemd unit that runs the daemon (the `.path` unit starts the drain one).
    pub fn unit(&self, on_demand: bool) -> String {
        if on_demand {
            format!("{}-drain.service", self.name)
        } else {
            format!("{}.service", self.name)
        }
    }

    /// The arguments after the binary: `daemon --spool S [--drain] [--shutdown-grace G]
    /// -- HANDLER ARGS...`.
    pub fn daemon_args(&self, on_demand: bool) -> Vec<String> {
        let mut args = vec![
            "daemon".to_owned(),
            "--spool".to_owned(),
            self.spool.clone(),
        ];
        if on_demand {
            args.push("--drain".to_owned());
        }
        if let Some(grace) = &self.grace {
            args.push("--shutdown-grace".to_owned());
            args.push(grace.clone());
        }
        args.push("--".to_owned());
        args.extend(self.handler.iter().cloned());
        args
    }

    /// The directory a queue watcher watches: SPOOL/new.
    pub fn new_dir(&self) -> String {
        Path::new(&self.spool).join("new").display().to_string()
    }
}

/// Escapes text for an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes systemd's specifiers (`%` becomes `%%`) for a setting taken verbatim.
pub fn systemd_verbatim(s: &str) -> String {
    s.replace('%', "%%")
}

/// Quotes one word for a systemd command line (`ExecStart=`) or a space-separated list
/// of paths (`ReadWritePaths=`): plain words stay as they are; anything else is put in
/// double quotes with C-style escapes. `%` (specifiers) becomes `%%` and `$` (variable
/// expansion) becomes `$$` either way.
pub fn systemd_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b));
    if plain {
        return word.replace('%', "%%");
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const PROCESS_TYPE_COMMENT: &str =
    "\t<!-- Standard: the light resource limits of a normal daemon. Not Background: it
	     throttles CPU and above all disk I/O, so the queue could stall behind interactive
	     work. Not Adaptive: it only lifts those limits during XPC activity, and spoolq has
	     none, so it would behave as Background. Choose Background if your jobs may wait. -->
";

/// The launchd property list: long-running (RunAtLoad, KeepAlive) or on-demand
/// (QueueDirectories on SPOOL/new, the daemon in drain mode).
pub fn launchd_plist(spec: &ServiceSpec, on_demand: bool) -> Rendered {
    let label = spec.label(on_demand);
    let log = format!("/var/log/{label}.log");
    let mut program = String::new();
    for arg in std::iter::once(spec.spoolq.clone()).chain(spec.daemon_args(on_demand)) {
        let _ = writeln!(program, "\t\t<string>{}</string>", xml_escape(&arg));
    }
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
    );
    if on_demand {
        let _ = write!(
            s,
            "<!--
  spoolq, on demand: launchd starts the daemon in drain mode whenever SPOOL/new is not
  empty; the daemon processes every job and exits once nothing is left to claim. launchd
  relaunches it (at most every ThrottleInterval, 10 s) for as long as new/ is not empty,
  so the drain mode leaves new/ empty: invalid files go to failed/, jobs waiting for a
  retry wait in retry/, outside the watched folder, and StartInterval starts a drain
  that stays up for them when due. See docs/operations.md.
  Written by spoolq service install; load it with
    sudo launchctl bootstrap system {LAUNCHD_DIR}/{label}.plist
-->
"
        );
    } else {
        let _ = write!(
            s,
            "<!--
  spoolq, long-running: one daemon serves the spool for as long as the machine is up.
  See docs/operations.md. Written by spoolq service install; load it with
    sudo launchctl bootstrap system {LAUNCHD_DIR}/{label}.plist
  and stop it (in-flight jobs finish within the grace, or are released) with
    sudo launchctl bootout system/{label}
-->
"
        );
    }
    s.push_str("<plist version=\"1.0\">\n<dict>\n");
    let _ = write!(
        s,
        "\t<key>Label</key>\n\t<string>{}</string>\n\
         \t<key>ProgramArguments</key>\n\t<array>\n{program}\t</array>\n",
        xml_escape(&label)
    );
    if let Some(user) = &spec.user {
        let _ = write!(
            s,
            "\t<key>UserName</key>\n\t<string>{}</string>\n",
            xml_escape(user)
        );
    }
    if on_demand {
        let _ = write!(
            s,
            "\t<!-- Start whenever this folder is not empty. No KeepAlive: the drain exits
	     when done and launchd starts it again when new jobs arrive. -->
	<key>QueueDirectories</key>
	<array>
		<string>{}</string>
	</array>
	<!-- And every {PERIODIC_DRAIN_SECS} s besides: a drain stays up for a job in retry/ due
	     within its drain retry wait (5 minutes), so every retry runs when due without
	     new jobs. -->
	<key>StartInterval</key>
	<integer>{PERIODIC_DRAIN_SECS}</integer>
",
            xml_escape(&spec.new_dir())
        );
    } else {
        s.push_str(
            "\t<key>RunAtLoad</key>\n\t<true/>\n\
             \t<!-- Restarted whenever it exits, after a crash too. -->\n\
             \t<key>KeepAlive</key>\n\t<true/>\n",
        );
    }
    let _ = write!(
        s,
        "\t<!-- launchd sends SIGTERM, then SIGKILL after ExitTimeOut seconds. The daemon
	     needs its shutdown grace ({grace} s) and a little more to stop its handlers and
	     release their jobs, so this stays {margin} s longer than the grace. -->
	<key>ExitTimeOut</key>
	<integer>{timeout}</integer>
{PROCESS_TYPE_COMMENT}\t<key>ProcessType</key>
	<string>Standard</string>
	<key>StandardOutPath</key>
	<string>{log}</string>
	<key>StandardErrorPath</key>
	<string>{log}</string>
</dict>
</plist>
",
        grace = spec.grace_secs,
        margin = STOP_MARGIN_SECS,
        timeout = spec.stop_timeout(),
        log = xml_escape(&log),
    );
    Rendered {
        file_name: format!("{label}.plist"),
        contents: s,
    }
}

/// The sandbox. PrivateTmp and ProtectHome would hide a spool kept under /tmp or a
/// home directory from the daemon itself, so they are relaxed for such a spool.
fn hardening(spool: &str) -> String {
    let under = |dirs: &[&str]| dirs.iter().any(|d| Path::new(spool).starts_with(d));
    let private_tmp = if under(&["/tmp", "/var/tmp"]) {
        "# PrivateTmp=no: the spool lives under a temporary folder.\nPrivateTmp=no\n"
    } else {
        "PrivateTmp=yes\n"
    };
    let protect_home = if under(&["/home", "/root", "/run/user"]) {
        "# ProtectHome=no: the spool lives under a home directory.\nProtectHome=no\n"
    } else {
        "ProtectHome=yes\n"
    };
    format!(
        "\
# Hardening. The handler runs in the same sandbox: loosen what it needs (for instance
# ProtectHome=read-only, or more ReadWritePaths=), nothing else.
NoNewPrivileges=yes
ProtectSystem=strict
{private_tmp}{protect_home}PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
"
    )
}

fn systemd_service(spec: &ServiceSpec, on_demand: bool) -> Rendered {
    let unit = spec.unit(on_demand);
    let exec = std::iter::once(spec.spoolq.clone())
        .chain(spec.daemon_args(on_demand))
        .map(|w| systemd_quote(&w))
        .collect::<Vec<_>>()
        .join(" ");
    let spool_word = systemd_quote(&spec.spool);
    let spool_text = systemd_verbatim(&spec.spool);
    let mut s = String::new();
    if on_demand {
        let _ = write!(
            s,
            "# spoolq, on demand: started by {name}-drain.path whenever SPOOL/new is not empty,
# and by {name}-drain.timer every few minutes; processes every job (staying up for a retry
# due within --drain-retry-wait), then exits. systemd starts it again while new/ is not
# empty.
# Written by spoolq service install; see docs/operations.md. Logs: journalctl -u {unit}

[Unit]
Description=spoolq drain of {spool_text}
RequiresMountsFor={spool_word}

[Service]
# exec: the drain is a plain process that exits when done (a oneshot would hold
# systemctl start until then). systemd gives an exec unit no NOTIFY_SOCKET, so the
# daemon's readiness messages are not sent.
Type=exec
",
            name = spec.name
        );
    } else {
        let _ = write!(
            s,
            "# spoolq, long-running: one daemon serves the spool until stopped.
# Written by spoolq service install; see docs/operations.md. Logs: journalctl -u {unit}

[Unit]
Description=spoolq daemon for {spool_text}
RequiresMountsFor={spool_word}

[Service]
# notify: started once the daemon says READY=1, which it does when it watches new/ and
# has listed it; STOPPING=1 when it stops claiming. Only the daemon's own messages
# count (NotifyAccess=main): a handler inheriting NOTIFY_SOCKET changes nothing.
Type=notify
NotifyAccess=main
# The daemon pings the watchdog at half this interval from its runtime; if the pings
# stop (a wedged runtime) systemd kills it and Restart= starts it again.
WatchdogSec=30s
"
        );
    }
    if let Some(user) = &spec.user {
        let _ = writeln!(s, "User={}", systemd_verbatim(user));
    }
    let _ = write!(
        s,
        "ExecStart={exec}
# SIGTERM goes to the daemon alone: it stops claiming, lets in-flight handlers finish
# within its grace ({grace} s), then stops them and releases their jobs. Whatever is left
# after TimeoutStopSec is killed; it stays {margin} s longer than the grace.
KillMode=mixed
TimeoutStopSec={timeout}s
",
        grace = spec.grace_secs,
        margin = STOP_MARGIN_SECS,
        timeout = spec.stop_timeout(),
    );
    if !on_demand {
        s.push_str("Restart=on-failure\nRestartSec=2s\n");
    }
    let _ = write!(
        s,
        "# Files the daemon creates stay within its user and group.
UMask=0007
{hardening}ReadWritePaths={spool_word}
",
        hardening = hardening(&spec.spool),
    );
    if !on_demand {
        s.push_str("\n[Install]\nWantedBy=multi-user.target\n");
    }
    Rendered {
        file_name: unit,
        contents: s,
    }
}

fn systemd_path(spec: &ServiceSpec) -> Rendered {
    let service = spec.unit(true);
    let new_dir = systemd_verbatim(&spec.new_dir());
    let contents = format!(
        "# Starts {service} whenever the spool's new/ folder is not empty, and again after
# it exits while new/ still is not (names starting with '.' count too: see
# docs/operations.md). Enable this unit, not the service.

[Unit]
Description=spoolq: jobs waiting in {new_dir}

[Path]
DirectoryNotEmpty={new_dir}
Unit={service}

[Install]
WantedBy=paths.target
"
    );
    Rendered {
        file_name: format!("{}-drain.path", spec.name),
        contents,
    }
}

fn systemd_timer(spec: &ServiceSpec) -> Rendered {
    let service = spec.unit(true);
    let spool_text = systemd_verbatim(&spec.spool);
    let contents = format!(
        "# Starts {service} every {minutes} minutes besides the path unit's starts: a drain
# stays up for a job in retry/ due within its --drain-retry-wait (5 minutes), so every
# retry runs when due although no new job arrives. A drain with nothing to do exits at
# once. Enable this unit with the path unit.

[Unit]
Description=spoolq: periodic drain of {spool_text} (retries falling due)

[Timer]
OnBootSec={minutes}min
OnUnitInactiveSec={minutes}min
AccuracySec=15s
Unit={service}

[Install]
WantedBy=timers.target
",
        minutes = PERIODIC_DRAIN_SECS / 60
    );
    Rendered {
        file_name: format!("{}-drain.timer", spec.name),
        contents,
    }
}

/// The systemd units: `<name>.service`, or for on-demand `<name>-drain.service`,
/// `<name>-drain.path` and `<name>-drain.timer`.
pub fn systemd_units(spec: &ServiceSpec, on_demand: bool) -> Vec<Rendered> {
    if on_demand {
        vec![
            systemd_service(spec, true),
            systemd_path(spec),
            systemd_timer(spec),
        ]
    } else {
        vec![systemd_service(spec, false)]
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn sandbox_never_hides_the_spool_from_the_daemon() {
        assert!(hardening("/var/spool/jobs").contains("PrivateTmp=yes\nProtectHome=yes\n"));
        assert!(hardening("/tmp/jobs").contains("PrivateTmp=no\n"));
        assert!(hardening("/home/ops/jobs").contains("ProtectHome=no\n"));
        assert!(hardening("/tmpfoo/jobs").contains("PrivateTmp=yes\n"));
    }

    use super::*;

    /// The placeholder spec the files in deploy/ are rendered from.
    fn placeholder() -> ServiceSpec {
        ServiceSpec {
            spoolq: "/usr/local/bin/spoolq".into(),
            spool: "/var/spool/spoolq".into(),
            handler: vec!["/usr/local/libexec/spoolq-handler".into()],
            user: Some("spoolq".into()),
            grace: None,
            grace_secs: DEFAULT_GRACE_SECS,
            name: "spoolq".into(),
        }
    }

    #[test]
    fn deploy_files_are_the_placeholder_renderings() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let mut launchd_spec = placeholder();
        launchd_spec.user = Some("_spoolq".into());
        let mut files = vec![
            ("launchd", launchd_plist(&launchd_spec, false)),
            ("launchd", launchd_plist(&launchd_spec, true)),
        ];
        for r in systemd_units(&placeholder(), false)
            .into_iter()
            .chain(systemd_units(&placeholder(), true))
        {
            files.push(("systemd", r));
        }
        let bless = std::env::var_os("SPOOLQ_BLESS").is_some();
        for (dir, r) in files {
            let path = deploy.join(dir).join(&r.file_name);
            if bless {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &r.contents).unwrap();
            }
            let on_disk = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                on_disk,
                r.contents,
                "{} differs from its rendering; run SPOOLQ_BLESS=1 cargo test -p spoolq \
                 service_files, then review the diff",
                path.display()
            );
        }
    }

    #[test]
    fn systemd_words_are_quoted_and_specifiers_escaped() {
        assert_eq!(systemd_quote("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(systemd_quote("50%"), "50%%");
        assert_eq!(systemd_quote("a b"), "\"a b\"");
        assert_eq!(systemd_quote("$HOME"), "\"$$HOME\"");
        assert_eq!(systemd_quote("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
        assert_eq!(systemd_quote("it's"), "\"it's\"");
        assert_eq!(systemd_quote("a\nb"), "\"a\\nb\"");
        assert_eq!(systemd_quote(""), "\"\"");
        assert_eq!(systemd_quote(";"), "\";\"");
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }

    #[test]
    fn names_and_labels() {
        let mut spec = placeholder();
        assert_eq!(spec.label(false), "org.spoolq.daemon");
        assert_eq!(spec.label(true), "org.spoolq.ondemand");
        spec.name = "mail".into();
        assert_eq!(spec.label(true), "org.spoolq.mail.ondemand");
        assert_eq!(spec.unit(true), "mail-drain.service");
        assert!(valid_name("mail-out_2"));
        assert!(!valid_name("../x") && !valid_name("") && !valid_name("a b"));
    }
}
