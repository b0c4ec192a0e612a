//! Where r2ec keeps things: the project root (the current directory, or `R2EC_HOME`),
//! and below it `assets/models`, `datasets/raw/<name>`, `datasets/<name>` and `sessions`.

use std::path::{Path, PathBuf};

/// The folders r2ec reads and writes, all below one root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    /// The root is `$R2EC_HOME` when set, else the current directory.
    pub fn from_env() -> Self {
        let root = std::env::var_os("R2EC_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        Self { root }
    }

    pub fn at(root: impl AsRef<Path>) -> Self {
        Self {
            root: root.as_ref().to_path_buf(),
        }
    }

    pub fn models(&self) -> PathBuf {
        self.root.join("assets").join("models")
    }

    /// Raw downloaded data sets: `datasets/raw/<name>/`.
    pub fn raw_data(&self, name: &str) -> PathBuf {
        self.root.join("datasets").join("raw").join(name)
    }

    /// A prepared data set: `datasets/<name>/`.
    pub fn prepared(&self, name: &str) -> PathBuf {
        self.root.join("datasets").join(name)
    }

    pub fn sessions(&self) -> PathBuf {
        self.root.join("sessions")
    }

    /// Where downloaded wheels are kept between runs, so setup does not fetch twice.
    pub fn download_cache(&self) -> PathBuf {
        self.root.join("assets").join(".downloads")
    }

    /// The default model file (SmolLM2-135M-Instruct, Q4_1 GGUF).
    pub fn default_model(&self) -> PathBuf {
        self.models().join("SmolLM2-135M-Instruct.Q4_1.gguf")
    }
}
