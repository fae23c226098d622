//! `spoolq completions` and `spoolq man`, generated from the clap definitions: the bash
//! script passes `bash -n` and offers every subcommand; every subcommand, nested ones
//! included, has a man page.

mod common;

use std::process::Command;

use common::{TempSpool, skip, spoolq};

/// The subcommands listed in `spoolq <path> --help` ("Commands:" section, without help).
fn subcommands(path: &[String]) -> Vec<String> {
    let out = spoolq().args(path).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{path:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's name starts its line; its wrapped help is indented deeper.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command path below `spoolq`, depth first: `["audit"]`, `["audit", "timeline"]`...
fn every_command(path: Vec<String>, into: &mut Vec<Vec<String>>) {
    for sub in subcommands(&path) {
        let mut deeper = path.clone();
        deeper.push(sub);
        into.push(deeper.clone());
        every_command(deeper, into);
    }
}

#[test]
fn every_subcommand_has_a_man_page() {
    let spool = TempSpool::new();
    let dir = spool.scratch().join("man");
    let out = spoolq().arg("man").arg("--out").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut commands = Vec::new();
    every_command(Vec::new(), &mut commands);
    assert!(commands.len() >= 10, "{commands:?}");
    assert!(commands.contains(&vec!["audit".to_owned(), "timeline".to_owned()]));
    for command in std::iter::once(Vec::new()).chain(commands) {
        let name = std::iter::once("spoolq".to_owned())
            .chain(command.iter().cloned())
            .collect::<Vec<_>>()
            .join("-");
        let page = dir.join(format!("{name}.1"));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{}: {e} (listed: {listed:?})", page.display()));
        assert!(text.contains(&format!(".TH {name} 1")), "{name}: {text}");
        assert!(
            listed.contains(&page.display().to_string()),
            "{name} not printed"
        );
    }

    let json = spoolq()
        .args(["man", "--json", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["pages"].as_array().unwrap().len(), listed.len());
}

#[test]
fn man_into_a_folder_it_cannot_make_is_an_error() {
    let spool = TempSpool::new();
    let file = spool.scratch().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let out = spoolq()
        .arg("man")
        .arg("--out")
        .arg(file.join("man"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spoolq man: writing man pages"));
}

#[test]
fn the_bash_completion_script_is_valid_bash_and_offers_every_subcommand() {
    let spool = TempSpool::new();
    let out = spoolq().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let script = spool.scratch().join("spoolq.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    match Command::new("bash").arg("-n").arg(&script).output() {
        Ok(checked) => assert!(
            checked.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&checked.stderr)
        ),
        Err(_) => skip("bash"),
    }
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in subcommands(&[]) {
        assert!(
            text.contains(&format!("spoolq,{sub})")),
            "{sub} in the script"
        );
    }
    // zsh and fish scripts come from the same definitions.
    for shell in ["zsh", "fish"] {
        let out = spoolq().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in subcommands(&[]) {
            assert!(text.contains(&sub), "{shell}: {sub}");
        }
    }
    let bad = spoolq().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
