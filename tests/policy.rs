//! Security policy, checked on the source and on the running binary:
//! - `unsafe` appears twice: for the documented memory map of safetensors weights in
//!   `src/model/weights.rs`, and for glibc's `mallopt` in `src/util/malloc.rs`;
//! - nothing opens network connections: no socket APIs in the source, and the only
//!   process started is pip, by `r2ec setup` (`src/setup/`);
//! - the commands users run work with no network at all (run in a network namespace
//!   of their own, where one can be made).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (file relative to the crate, line number) of each line of code holding `needle`
/// outside comments.
fn code_lines_with(needle: &str) -> Vec<(String, usize)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    let mut hits = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        for (i, line) in fs::read_to_string(&f).unwrap().lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains(needle) {
                hits.push((rel.clone(), i + 1));
            }
        }
    }
    hits
}

#[test]
fn unsafe_only_for_the_memory_map_and_mallopt() {
    let hits = code_lines_with("unsafe");
    let files: Vec<&str> = hits.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        files,
        ["src/model/weights.rs", "src/util/malloc.rs"],
        "{hits:?}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for ((file, line), what) in hits.iter().zip(["MmapedSafetensors", "libc::mallopt"]) {
        let text = fs::read_to_string(root.join(file)).unwrap();
        let code = text.lines().nth(line - 1).unwrap();
        assert!(code.contains(what), "{file}:{line}: {code}");
    }
}

#[test]
fn no_network_code_and_no_processes_but_setups_pip() {
    for api in [
        "std::net",
        "TcpStream",
        "UdpSocket",
        "TcpListener",
        "ToSocketAddrs",
    ] {
        assert!(
            code_lines_with(api).is_empty(),
            "{api}: {:?}",
            code_lines_with(api)
        );
    }
    let spawns: Vec<_> = code_lines_with("Command::new(")
        .into_iter()
        .filter(|(f, _)| !f.ends_with("/tests.rs"))
        // clap's `Command` builds argument parsers, not processes.
        .filter(|(f, l)| {
            let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap();
            !text
                .lines()
                .nth(l - 1)
                .unwrap()
                .contains("clap::Command::new(")
        })
        .collect();
    assert!(
        spawns.iter().all(|(f, _)| f.starts_with("src/setup/")),
        "processes started outside setup: {spawns:?}"
    );
}

#[test]
fn commands_run_with_no_network() {
    if !Command::new("unshare")
        .args(["-rn", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: cannot make a network namespace here (`unshare -rn`)");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let raw = home.path().join("datasets/raw/ml-100k");
    fs::create_dir_all(&raw).unwrap();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/movielens");
    fs::copy(fx.join("tiny.inter"), raw.join("ml-100k.inter")).unwrap();
    fs::copy(fx.join("tiny.item"), raw.join("ml-100k.item")).unwrap();
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut commands: Vec<Vec<String>> = vec![
        vec!["data".into(), "prepare".into(), "ml-100k".into()],
        vec![
            "eval".into(),
            "--baseline".into(),
            "popular".into(),
            "--split".into(),
            "test".into(),
        ],
    ];
    if model.is_file() {
        let models = home.path().join("assets/models");
        fs::create_dir_all(&models).unwrap();
        std::os::unix::fs::symlink(&model, models.join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
        commands.push(
            [
                "recommend",
                "--split",
                "test",
                "--index",
                "0",
                "--max-new-tokens",
                "4",
            ]
            .map(String::from)
            .to_vec(),
        );
    } else {
        eprintln!(
            "note: {} not present; recommend not run offline",
            model.display()
        );
    }
    for args in commands {
        let out = Command::new("unshare")
            .arg("-rn")
            .arg(env!("CARGO_BIN_EXE_r2ec"))
            .args(&args)
            .env("R2EC_HOME", home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`r2ec {}` without a network: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
