//! The peer of `spoolq lab --bench --sections peer`: python-dirq's `QueueSimple` (PyPI
//! `dirq`), another directory queue, installed by the bench into a virtual environment
//! of its own and driven by a small script: add N jobs, then lock, get and remove them.
//!
//! It only sets the peer up and runs it; timing and the comparison are the bench's. When
//! the peer cannot be had (no `python3`, no `venv` module, no way to PyPI), the bench
//! says so and skips the section.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The driver script: `add DIR N SIZE` adds N jobs of SIZE bytes to the queue at DIR;
/// `drain DIR` locks, reads and removes every job there. Each prints how many it did.
const SCRIPT: &str = r#"import sys
from dirq.QueueSimple import QueueSimple

mode, path = sys.argv[1], sys.argv[2]
queue = QueueSimple(path)
done = 0
if mode == "add":
    count, size = int(sys.argv[3]), int(sys.argv[4])
    data = b"x" * size
    for _ in range(count):
        queue.add(data)
        done += 1
else:
    for name in queue:
        if queue.lock(name):
            queue.get(name)
            queue.remove(name)
            done += 1
print(done)
"#;

/// python-dirq, installed and ready to run.
#[derive(Debug)]
pub struct Dirq {
    python: PathBuf,
    script: PathBuf,
    /// The package's version, as pip installed it.
    pub version: String,
}

impl Dirq {
    /// Makes a virtual environment in `work` (`python3 -m venv`), installs `dirq` into it
    /// with pip and writes the driver script beside it. The error says what failed, for
    /// the bench's SKIPPED line.
    pub fn install(work: &Path) -> Result<Dirq, String> {
        let venv = work.join("venv");
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        )?;
        let python = venv.join("bin").join("python");
        run(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "dirq",
            ]),
            "pip install dirq",
        )?;
        let shown = run(
            Command::new(&python).args([
                "-c",
                "import importlib.metadata as m; print(m.version('dirq'))",
            ]),
            "reading dirq's version",
        )?;
        let script = work.join("dirq_peer.py");
        std::fs::write(&script, SCRIPT)
            .map_err(|e| format!("writing {}: {e}", script.display()))?;
        Ok(Dirq {
            python,
            script,
            version: String::from_utf8_lossy(&shown.stdout).trim().to_owned(),
        })
    }

    /// The command that adds `count` jobs of `size` bytes to the queue at `queue`.
    pub fn add(&self, queue: &Path, count: u64, size: usize) -> Command {
        let mut command = Command::new(&self.python);
        command
            .arg(&self.script)
            .arg("add")
            .arg(queue)
            .arg(count.to_string())
            .arg(size.to_string());
        command
    }

    /// The command that locks, reads and removes every job of the queue at `queue`.
    pub fn drain(&self, queue: &Path) -> Command {
        let mut command = Command::new(&self.python);
        command.arg(&self.script).arg("drain").arg(queue);
        command
    }
}

/// Runs `command` to its end; an error names `what` and the tail of its stderr.
fn run(command: &mut Command, what: &str) -> Result<Output, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        return Ok(output);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(2).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{what} exited with {}: {}",
        output.status,
        tail.join(" / ")
    ))
}

/// How many jobs a run of the driver script says it did.
pub fn done_count(output: &Output) -> Option<u64> {
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}
