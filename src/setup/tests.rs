//! Tests of `ensure_with` against a fake `python3` (a shell script that plays pip by
//! copying prepared wheels) and a small catalogue, so no network is needed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::assets::{Destination, Package, Part};
use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    paths: Paths,
    wheels: PathBuf,
    log: PathBuf,
    pip: Pip,
}

/// Writes an executable script from a child process: a file this process had open for
/// writing could be inherited by a concurrent test's fork and make exec fail (ETXTBSY).
fn write_script(path: &Path, body: &str) {
    let ok = Command::new("sh")
        .args(["-c", "printf '%s' \"$1\" > \"$0\" && chmod +x \"$0\""])
        .arg(path)
        .arg(body)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

impl Fixture {
    /// `pip_version_ok`: whether `-m pip --version` succeeds.
    fn new(pip_version_ok: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let wheels = dir.path().join("wheels");
        let log = dir.path().join("calls.log");
        fs::create_dir_all(&wheels).unwrap();
        let version = if pip_version_ok {
            "echo 'pip 0.0 (fake)'; exit 0"
        } else {
            "echo '/usr/bin/python3: No module named pip' >&2; exit 1"
        };
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{log}'\n\
             if [ \"$1 $2 $3\" = '-m pip --version' ]; then {version}; fi\n\
             dir=''; req=''\n\
             while [ $# -gt 0 ]; do case \"$1\" in -d) dir=\"$2\"; shift 2;; *) req=\"$1\"; shift;; esac; done\n\
             if [ -d '{wheels}'/\"$req\" ]; then echo \"Collecting $req\"; cp '{wheels}'/\"$req\"/* \"$dir\"/; echo Saved; exit 0; fi\n\
             echo \"ERROR: No matching distribution found for $req\" >&2; exit 1\n",
            log = log.display(),
            wheels = wheels.display(),
        );
        let python = dir.path().join("python3");
        write_script(&python, &script);
        let paths = Paths::at(dir.path().join("home"));
        Self {
            _dir: dir,
            paths,
            wheels,
            log,
            pip: Pip::new(python),
        }
    }

    /// Makes `pip download <package>` deliver a wheel holding `members`.
    fn serve(&self, package: &Package, members: &[(&str, &[u8])]) {
        let dir = self.wheels.join(package.requirement());
        fs::create_dir_all(&dir).unwrap();
        let file =
            fs::File::create(dir.join(format!("{}py3-none-any.whl", package.wheel_prefix())))
                .unwrap();
        let mut zip = zip::ZipWriter::new(file);
        for (name, bytes) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    /// Makes `pip download <package>` deliver a file that is not a zip.
    fn serve_garbage(&self, package: &Package) {
        let dir = self.wheels.join(package.requirement());
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(format!("{}py3-none-any.whl", package.wheel_prefix())),
            b"not a zip",
        )
        .unwrap();
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn ensure(
        &self,
        catalogue: &[Asset],
        set: AssetSet,
    ) -> (Result<SetupReport, SetupError>, String) {
        let mut lines = String::new();
        let r = ensure_with(&self.paths, catalogue, set, &self.pip, &mut |l: &str| {
            lines.push_str(l);
            lines.push('\n');
        });
        (r, lines)
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn one() -> Package {
    Package::new("fake-one", "1.0")
}
fn two() -> Package {
    Package::new("Fake.Two", "2.0")
}

/// Asset "m.gguf" = one's a.bin + two's b.bin (default); asset "d.inter" from two (not).
fn catalogue(model_bytes: &[u8], data_bytes: &[u8]) -> Vec<Asset> {
    vec![
        Asset {
            name: "model".into(),
            parts: vec![
                Part {
                    package: one(),
                    member: "fake_one/a.bin".into(),
                },
                Part {
                    package: two(),
                    member: "fake_two/b.bin".into(),
                },
            ],
            destination: Destination::Model {
                file: "m.gguf".into(),
            },
            size: model_bytes.len() as u64,
            sha256: sha(model_bytes),
            in_default: true,
        },
        Asset {
            name: "data".into(),
            parts: vec![Part {
                package: two(),
                member: "fake_two/d.inter".into(),
            }],
            destination: Destination::RawData {
                dataset: "toy".into(),
                file: "d.inter".into(),
            },
            size: data_bytes.len() as u64,
            sha256: sha(data_bytes),
            in_default: false,
        },
    ]
}

fn serve_both(fx: &Fixture) {
    fx.serve(&one(), &[("fake_one/a.bin", b"first half,")]);
    fx.serve(
        &two(),
        &[
            ("fake_two/b.bin", b" second half"),
            ("fake_two/d.inter", b"u\ti\n"),
        ],
    );
}

#[test]
fn parts_are_concatenated_and_a_second_run_downloads_nothing() {
    let fx = Fixture::new(true);
    serve_both(&fx);
    let cat = catalogue(b"first half, second half", b"u\ti\n");
    let (report, lines) = fx.ensure(&cat, AssetSet::Default);
    let report = report.unwrap();
    let model = fx.paths.models().join("m.gguf");
    assert_eq!(fs::read(&model).unwrap(), b"first half, second half");
    assert_eq!(report.downloads(), 2);
    assert_eq!(
        report.assets.len(),
        1,
        "the non-default asset is not fetched"
    );
    assert!(!fx.paths.raw_data("toy").exists());
    assert!(lines.contains("pip: Collecting fake-one==1.0"), "{lines}");
    assert_eq!(fx.calls().len(), 3, "pip checked once, then two downloads");

    let (again, lines) = fx.ensure(&cat, AssetSet::Default);
    let again = again.unwrap();
    assert!(again.nothing_done());
    assert!(lines.contains("already present, verified"), "{lines}");
    assert_eq!(fx.calls().len(), 3, "no pip call on the second run");

    let (all, _) = fx.ensure(&cat, AssetSet::All);
    let all = all.unwrap();
    assert_eq!(all.fetched(), 1);
    assert_eq!(all.downloads(), 0, "the cached wheel is reused");
    assert_eq!(
        fs::read(fx.paths.raw_data("toy").join("d.inter")).unwrap(),
        b"u\ti\n"
    );
}

#[test]
fn damaged_destination_and_stale_temp_are_replaced() {
    let fx = Fixture::new(true);
    serve_both(&fx);
    let cat = catalogue(b"first half, second half", b"");
    let model = fx.paths.models().join("m.gguf");
    fs::create_dir_all(fx.paths.models()).unwrap();
    fs::write(&model, b"FIRST HALF, SECOND HALF").unwrap();
    fs::write(fx.paths.models().join(".m.gguf.tmp-99"), b"partial").unwrap();
    let (report, lines) = fx.ensure(&cat, AssetSet::Default);
    assert_eq!(report.unwrap().fetched(), 1);
    assert!(
        lines.contains("is damaged (wrong sha256); replacing it"),
        "{lines}"
    );
    assert_eq!(fs::read(&model).unwrap(), b"first half, second half");
    assert_eq!(fs::read_dir(fx.paths.models()).unwrap().count(), 1);
}

#[test]
fn corrupt_cached_wheel_is_deleted_and_downloaded_again() {
    let fx = Fixture::new(true);
    serve_both(&fx);
    let cache = fx.paths.download_cache();
    fs::create_dir_all(&cache).unwrap();
    fs::write(cache.join("fake_one-1.0-py3-none-any.whl"), b"truncated").unwrap();
    let cat = catalogue(b"first half, second half", b"");
    let (report, lines) = fx.ensure(&cat, AssetSet::Default);
    assert_eq!(
        report.unwrap().downloads(),
        2,
        "fake-two once, the bad fake-one again"
    );
    assert!(lines.contains("is damaged"), "{lines}");
}

#[test]
fn a_wheel_corrupt_twice_is_an_error_and_leaves_no_file() {
    let fx = Fixture::new(true);
    fx.serve_garbage(&one());
    fx.serve(&two(), &[("fake_two/b.bin", b" second half")]);
    let (report, _) = fx.ensure(
        &catalogue(b"first half, second half", b""),
        AssetSet::Default,
    );
    let err = report.unwrap_err();
    assert!(matches!(err, SetupError::WheelCorrupt { .. }), "{err}");
    assert_eq!(
        fx.calls()
            .iter()
            .filter(|c| c.contains("fake-one==1.0"))
            .count(),
        2
    );
    assert_eq!(fs::read_dir(fx.paths.models()).unwrap().count(), 0);
}

#[test]
fn checksum_mismatch_removes_the_file_and_the_wheels() {
    let fx = Fixture::new(true);
    serve_both(&fx);
    let mut cat = catalogue(b"first half, second half", b"");
    cat[0].sha256 = "0".repeat(64);
    let (report, _) = fx.ensure(&cat, AssetSet::Default);
    let err = report.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SetupError::ChecksumMismatch { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "expected {}, got {}",
            "0".repeat(64),
            sha(b"first half, second half")
        )),
        "{text}"
    );
    assert!(text.contains("the file was removed"), "{text}");
    assert_eq!(
        fs::read_dir(fx.paths.models()).unwrap().count(),
        0,
        "no file, no temp"
    );
    assert_eq!(
        fs::read_dir(fx.paths.download_cache()).unwrap().count(),
        0,
        "wheels removed"
    );
}

#[test]
fn size_mismatch_stops_early() {
    let fx = Fixture::new(true);
    serve_both(&fx);
    let mut cat = catalogue(b"first half, second half", b"");
    cat[0].size = 5;
    let (report, _) = fx.ensure(&cat, AssetSet::Default);
    let err = report.unwrap_err();
    assert!(
        matches!(err, SetupError::SizeMismatch { expected: 5, .. }),
        "{err}"
    );
    assert_eq!(fs::read_dir(fx.paths.models()).unwrap().count(), 0);
}

#[test]
fn missing_member_is_named() {
    let fx = Fixture::new(true);
    fx.serve(&one(), &[("fake_one/other.bin", b"x")]);
    fx.serve(&two(), &[("fake_two/b.bin", b"y")]);
    let (report, _) = fx.ensure(&catalogue(b"xy", b""), AssetSet::Default);
    let err = report.unwrap_err();
    assert!(
        matches!(&err, SetupError::MemberMissing { member, .. } if member == "fake_one/a.bin"),
        "{err}"
    );
}

#[test]
fn pip_failure_shows_its_last_lines_and_what_to_do() {
    let fx = Fixture::new(true);
    let cat = catalogue(b"abc", b"");
    let (report, lines) = fx.ensure(&cat, AssetSet::Default);
    let text = report.unwrap_err().to_string();
    assert!(
        text.contains("ERROR: No matching distribution found for fake-one==1.0"),
        "{text}"
    );
    assert!(text.contains("Check the network"), "{text}");
    let dest = fx.paths.models().join("m.gguf");
    assert!(
        text.contains(&format!(
            "place the file by hand at {} (3 bytes, sha256 {})",
            dest.display(),
            sha(b"abc")
        )),
        "{text}"
    );
    assert!(
        lines.contains("downloading fake-one==1.0 with pip"),
        "{lines}"
    );
}

#[test]
fn pip_missing_says_ensurepip() {
    let fx = Fixture::new(false);
    let (report, _) = fx.ensure(&catalogue(b"abc", b""), AssetSet::Default);
    let err = report.unwrap_err();
    assert!(matches!(err, SetupError::PipMissing { .. }), "{err}");
    assert!(err.to_string().contains("-m ensurepip --upgrade"), "{err}");
    assert!(err.to_string().contains("No module named pip"), "{err}");
}

#[test]
fn missing_defaults_checks_presence_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::at(dir.path());
    assert!(missing_defaults(&paths));
    let defaults: Vec<Asset> = super::catalogue()
        .into_iter()
        .filter(|a| a.in_default)
        .collect();
    for a in &defaults {
        let p = a.destination.resolve(&paths);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        // Sparse files of the right size: the cheap check looks at sizes only.
        fs::File::create(&p).unwrap().set_len(a.size).unwrap();
    }
    assert!(!missing_defaults(&paths));
    let last = defaults.last().unwrap().destination.resolve(&paths);
    fs::File::create(&last).unwrap().set_len(1).unwrap();
    assert!(missing_defaults(&paths));
}
