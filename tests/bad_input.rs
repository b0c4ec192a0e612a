//! The bad-input suite: the real binary given broken model files, data files, session
//! files and arguments. Every case must end with a non-zero exit and an error that
//! names what is wrong and where (file, and line or field where one applies), without
//! a panic, and must leave the files that were there before unchanged.
//!
//! Each case is a row of `cases()`: how to damage a fresh home, the command, and the
//! pieces its error must contain. The homes hold the tiny MovieLens fixture; model
//! cases use tiny model folders written here, or a copy of the real SmolLM2 GGUF when
//! `r2ec setup` has fetched it (cases that need it are skipped with a notice).

#[path = "bad_input/cases.rs"]
mod cases;
#[path = "bad_input/home.rs"]
mod home;
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Every file below `dir` with its bytes (symlinks to the model are not followed).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                out.insert(p.clone(), fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn every_bad_input_gets_a_clear_error_and_changes_nothing() {
    let real = support::model::real_model_for_some_cases();
    let mut ran = 0;
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for case in cases::cases() {
        if case.needs_real_model && real.is_none() {
            skipped.push(case.name);
            continue;
        }
        let home = support::home::tiny_prepared(real.as_deref());
        let args = (case.setup)(home.path());
        let before = snapshot(home.path());
        let mut cmd = support::bin::cmd(home.path(), &args);
        cmd.current_dir(home.path()).stdin(Stdio::null());
        if case.stdout_full {
            cmd.stdout(
                fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            );
        }
        let out = cmd.output().unwrap();
        ran += 1;
        let err = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.success() {
            problems.push("exit status 0".to_string());
        }
        if err.contains("panicked") || out.status.code() == Some(101) {
            problems.push("panicked".to_string());
        }
        let root = home.path().to_string_lossy();
        for want in case.expect {
            let want = want.replace("{home}", &root);
            if !err.contains(&want) {
                problems.push(format!("no `{want}` in the error"));
            }
        }
        if std::env::var_os("BAD_INPUT_SHOW").is_some() {
            // `BAD_INPUT_SHOW=1 cargo test --test bad_input -- --nocapture` lists them.
            eprintln!(
                "[{}] exit {:?}\n    {}",
                case.name,
                out.status.code(),
                err.trim()
            );
        }
        let after = snapshot(home.path());
        for (p, bytes) in &before {
            if after.get(p) != Some(bytes) {
                problems.push(format!("{} changed or vanished", p.display()));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    args: {args:?}\n    stderr: {}",
                case.name,
                problems.join("; "),
                err.trim()
            ));
        }
    }
    eprintln!(
        "bad-input cases: {ran} ran, {} passed, {} skipped (no real model){}",
        ran - failures.len(),
        skipped.len(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(": {}", skipped.join(", "))
        }
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran + skipped.len() >= 30, "the suite has at least 30 cases");
}
