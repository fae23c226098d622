//! `spoolq service install --launchd|--systemd --spool DIR [--on-demand] [--print]
//! [--user U] -- HANDLER ARGS...`: write (or print) the files that run the daemon.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::output::{self, Stdout};
use crate::service_files::{
    self, DEFAULT_GRACE_SECS, LAUNCHD_DIR, Rendered, SYSTEMD_DIR, ServiceSpec,
};
use crate::{Error, Exit};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  spoolq service install --systemd --spool /var/spool/jobs --print -- /usr/local/libexec/handle-job\n  spoolq service install --help"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: ServiceCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ServiceCommand {
    /// Write a launchd plist or systemd unit(s) for this machine's paths.
    Install(InstallArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Renders the service files with this machine's paths (this spoolq binary, the absolute spool
and handler paths), writes them to /Library/LaunchDaemons or /etc/systemd/system (or
--output-dir), and prints the exact command that loads them. --on-demand starts the daemon
in drain mode only while SPOOL/new holds files (launchd QueueDirectories; a systemd .path
unit with DirectoryNotEmpty=), and every 4 minutes besides (launchd StartInterval; a systemd
.timer), so that a job waiting in retry/ runs when due: the drain stays up for a retry due
within --drain-retry-wait (5 minutes).

Examples:
  sudo spoolq service install --systemd --spool /var/spool/jobs --user spoolq -- /usr/local/libexec/handle-job
  sudo spoolq service install --launchd --on-demand --spool /var/spool/jobs --user _spoolq -- /usr/local/libexec/handle-job
  spoolq service install --systemd --spool /var/spool/jobs --print -- /usr/local/libexec/handle-job > spoolq.service")]
pub struct InstallArgs {
    /// A launchd property list (macOS).
    #[arg(long, conflicts_with = "systemd", required_unless_present = "systemd")]
    pub launchd: bool,
    /// systemd unit(s) (Linux).
    #[arg(long)]
    pub systemd: bool,
    /// The spool directory (must exist: create it with `spoolq init`).
    #[arg(long, value_name = "DIR")]
    pub spool: PathBuf,
    /// Start the daemon in drain mode only while SPOOL/new is not empty.
    #[arg(long)]
    pub on_demand: bool,
    /// Print the file(s) to stdout instead of writing them; the load command goes to stderr.
    #[arg(long)]
    pub print: bool,
    /// The user the daemon runs as (default: root). It needs rwx on the spool's folders.
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
    /// The daemon's --shutdown-grace (e.g. 30s, 2m); the service manager's stop timeout
    /// is set 15 s longer.
    #[arg(long, value_name = "D")]
    pub shutdown_grace: Option<String>,
    /// Base name of the units (NAME.service, NAME-drain.path) and launchd labels
    /// (org.spoolq.NAME.daemon), for several spools on one machine.
    #[arg(long, value_name = "NAME", default_value = "spoolq")]
    pub name: String,
    /// Write into this directory instead of the system's (for review or packaging).
    #[arg(long, value_name = "DIR", conflicts_with = "print")]
    pub output_dir: Option<PathBuf>,
    /// The handler command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "HANDLER ARGS")]
    pub handler: Vec<OsString>,
}

pub fn run(args: Args) -> Result<Exit, Error> {
    match args.command {
        ServiceCommand::Install(args) => install(args)?,
    }
    Ok(Exit::Ok)
}

fn utf8(path: &Path, what: &str) -> Result<String, String> {
    let s = path
        .to_str()
        .ok_or_else(|| format!("{what} {} is not valid UTF-8", path.display()))?;
    if s.chars().any(char::is_control) {
        return Err(format!(
            "{what} {s:?} contains control characters; service files cannot hold it"
        ));
    }
    Ok(s.to_owned())
}

/// The handler as an absolute path: the daemon may run with another working directory
/// and a minimal PATH (launchd: /usr/bin:/bin:/usr/sbin:/sbin). Symlinks are kept as
/// they are (`/usr/bin/python3` must not become `python3.11`, nor `sh` become `dash`).
fn resolve_handler(program: &OsString) -> Result<PathBuf, String> {
    let path = Path::new(program);
    let absolute = |p: &Path| -> Result<PathBuf, String> {
        if p.is_absolute() {
            return Ok(p.to_owned());
        }
        std::env::current_dir().map(|cwd| cwd.join(p)).map_err(|e| {
            format!(
                "handler {}: finding the current directory: {e}",
                p.display()
            )
        })
    };
    if path.is_absolute() || path.components().count() > 1 {
        let full = absolute(path)?;
        if !full.is_file() {
            if !path.is_absolute() {
                return Err(format!(
                    "handler {} is not a file; give its absolute path",
                    full.display()
                ));
            }
            output::eprint_line(&format!(
                "spoolq service install: warning: handler {} does not exist (yet); \
                 install it before loading the service",
                full.display()
            ));
        }
        return Ok(full);
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&search) {
        let candidate = dir.join(path);
        if candidate.is_file() {
            return absolute(&candidate);
        }
    }
    Err(format!(
        "handler {path:?} was not found in PATH; give its absolute path"
    ))
}

fn install(args: InstallArgs) -> Result<(), Error> {
    if !service_files::valid_name(&args.name) {
        return Err(Error::Usage(format!(
            "--name {:?}: use letters, digits, '-', '_' and '.' only (no leading '.' or '-', \
             no \"--\")",
            args.name
        )));
    }
    let spool = spoolq_spool::Spool::open(&args.spool)?;
    let spool_path = utf8(spool.path(), "spool path")?;
    let binary = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| format!("finding this spoolq binary: {e}"))?;
    let spoolq = utf8(&binary, "spoolq binary path")?;
    let mut handler = Vec::with_capacity(args.handler.len());
    let program = args
        .handler
        .first()
        .ok_or_else(|| Error::Usage("a handler is required after --".into()))?;
    handler.push(utf8(&resolve_handler(program)?, "handler path")?);
    for arg in &args.handler[1..] {
        let s = arg
            .to_str()
            .ok_or_else(|| format!("handler argument {arg:?} is not valid UTF-8"))?;
        if s.contains('\0') {
            return Err(Error::Usage(format!(
                "handler argument {s:?} contains a NUL byte"
            )));
        }
        handler.push(s.to_owned());
    }
    let grace_secs = match &args.shutdown_grace {
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| {
                Error::Usage(format!(
                    "--shutdown-grace {text:?}: {e} (write it like 30s or 2m)"
                ))
            })?
            .as_secs_f64()
            .ceil() as u64,
        None => DEFAULT_GRACE_SECS,
    };
    if let Some(user) = &args.user
        && (user.is_empty() || user.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        return Err(Error::Usage(format!("--user {user:?} is not a user name")));
    }
    let spec = ServiceSpec {
        spoolq,
        spool: spool_path,
        handler,
        user: args.user.clone(),
        grace: args.shutdown_grace.clone(),
        grace_secs,
        name: args.name.clone(),
    };
    let files: Vec<Rendered> = if args.launchd {
        vec![service_files::launchd_plist(&spec, args.on_demand)]
    } else {
        service_files::systemd_units(&spec, args.on_demand)
    };
    let system_dir = if args.launchd {
        LAUNCHD_DIR
    } else {
        SYSTEMD_DIR
    };
    let dir = args
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(system_dir));

    let mut out = Stdout::new();
    if args.print {
        let several = files.len() > 1;
        for (i, file) in files.iter().enumerate() {
            if several {
                // A comment line naming each unit, so the output can be split.
                let sep = if i > 0 { "\n" } else { "" };
                out.line(&format!("{sep}# ==> {} <==", file.file_name))?;
            }
            out.print(&file.contents)?;
        }
    } else {
        for file in &files {
            let path = dir.join(&file.file_name);
            write_file(&path, &file.contents)?;
            out.line(&format!("wrote {}", path.display()))?;
        }
    }

    // The exact commands, with where the files are meant to live.
    let installed = |name: &str| Path::new(system_dir).join(name).display().to_string();
    let mut lines = Vec::new();
    if args.print
        || args
            .output_dir
            .as_deref()
            .is_some_and(|d| d != Path::new(system_dir))
    {
        let names: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
        lines.push(format!(
            "install as: {}",
            names
                .iter()
                .map(|n| installed(n))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if args.launchd {
        let label = spec.label(args.on_demand);
        lines.push(format!(
            "load with:  sudo launchctl bootstrap system {}",
            installed(&files[0].file_name)
        ));
        lines.push(format!("stop with:  sudo launchctl bootout system/{label}"));
        lines.push(format!("logs:       /var/log/{label}.log"));
    } else {
        let enable = if args.on_demand {
            format!("{0}-drain.path {0}-drain.timer", spec.name)
        } else {
            spec.unit(false)
        };
        lines.push(format!(
            "load with:  sudo systemctl daemon-reload && sudo systemctl enable --now {enable}"
        ));
        lines.push(format!(
            "logs:       journalctl -u {}",
            spec.unit(args.on_demand)
        ));
    }
    if args.user.is_none() {
        lines.push("note:       no --user: the daemon and its handler run as root".to_owned());
    }
    for line in lines {
        if args.print {
            output::eprint_line(&line);
        } else {
            out.line(&line)?;
        }
    }
    Ok(())
}

/// Writes `contents` to `path` atomically (temp file beside it, then rename), mode 0644
/// as both launchd and systemd expect (not writable by group or others).
fn write_file(path: &Path, contents: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("spoolq"),
        std::process::id()
    ));
    let fail = |what: &str, p: &Path, e: std::io::Error| {
        format!(
            "{what} {}: {e}; run as root for the system directory, or pass --output-dir or --print",
            p.display()
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(|e| fail("creating", &tmp, e))?;
    let result = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("writing", &tmp, e))
        .and_then(|()| {
            // The umask may have removed bits; make it exactly 0644.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| fail("setting the mode of", &tmp, e))
        })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| fail("renaming to", path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
