//! The key of an item table cache: everything the table's rows depend on. The model
//! and data files are identified by content (SHA-256), not by modification time, so a
//! replaced file with the same size and time still invalidates the cache.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::CacheError;
use crate::data::prompt::PROMPT_VERSION;
use crate::model::chat_template::ANSWER_TAG;
use crate::model::chat_template::{ChatTemplate, Message};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// `<file name>:<size>:<sha256>` of the model file.
    pub model: String,
    /// Fingerprint of the LoRA adapter's files; `None` for the base model.
    pub adapter: Option<String>,
    /// `<data set name>:<sha256 of items.jsonl>`.
    pub dataset: String,
    /// `crate::data::prompt::PROMPT_VERSION` when the table was built.
    pub prompt_version: u32,
    /// Fingerprint of the chat template's rendering (see `template_fingerprint`).
    pub template: String,
}

impl CacheKey {
    /// The key for a model file, optional adapter files, a prepared data set's
    /// `items.jsonl` and a chat template, at the current prompt version. Hashes the
    /// files (about a second per 500 MB).
    pub fn for_files(
        model_file: &Path,
        adapter_files: Option<&[&Path]>,
        dataset: &str,
        items_file: &Path,
        template: &ChatTemplate,
    ) -> Result<Self, CacheError> {
        Ok(Self {
            model: file_fingerprint(model_file)?,
            adapter: adapter_files.map(files_fingerprint).transpose()?,
            dataset: format!("{dataset}:{}", sha256_file(items_file)?),
            prompt_version: PROMPT_VERSION,
            template: template_fingerprint(template),
        })
    }

    /// SHA-256 (hex) of the key's JSON; the cache file name starts with it.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.to_json().as_bytes()))
    }

    /// Names of the fields where `other` differs from `self`.
    pub fn differing_fields(&self, other: &CacheKey) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.model != other.model {
            out.push("model");
        }
        if self.adapter != other.adapter {
            out.push("adapter");
        }
        if self.dataset != other.dataset {
            out.push("dataset");
        }
        if self.prompt_version != other.prompt_version {
            out.push("prompt_version");
        }
        if self.template != other.template {
            out.push("template");
        }
        out
    }

    pub(super) fn to_json(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string(self).expect("CacheKey serialises")
    }

    pub(super) fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// `<file name>:<size>:<sha256>` of one file.
pub fn file_fingerprint(path: &Path) -> Result<String, CacheError> {
    let io = |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!("{name}:{size}:{}", sha256_file(path)?))
}

/// One fingerprint for several files (an adapter's config and weights), independent
/// of the order they are given in.
pub fn files_fingerprint(paths: &[&Path]) -> Result<String, CacheError> {
    let mut parts = paths
        .iter()
        .map(|p| file_fingerprint(p))
        .collect::<Result<Vec<_>, _>>()?;
    parts.sort();
    Ok(hex(&Sha256::digest(parts.join("\n").as_bytes())))
}

/// Fingerprint of how a template renders an item prompt, so any change to the
/// template's text (system message, turn markers) changes it.
pub fn template_fingerprint(template: &ChatTemplate) -> String {
    let probe = template.render_prefilled(&[Message::user("{item}")], ANSWER_TAG);
    hex(&Sha256::digest(probe.as_bytes()))[..16].to_string()
}

fn sha256_file(path: &Path) -> Result<String, CacheError> {
    let io = |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_follow_file_content_and_template() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("model.gguf");
        std::fs::write(&a, b"weights one").unwrap();
        let f1 = file_fingerprint(&a).unwrap();
        assert!(f1.starts_with("model.gguf:11:"), "{f1}");
        std::fs::write(&a, b"weights two").unwrap();
        assert_ne!(file_fingerprint(&a).unwrap(), f1, "same size, new content");

        let b = dir.path().join("adapter.json");
        std::fs::write(&b, b"{}").unwrap();
        assert_eq!(
            files_fingerprint(&[&a, &b]).unwrap(),
            files_fingerprint(&[&b, &a]).unwrap()
        );

        assert_ne!(
            template_fingerprint(&ChatTemplate::smollm2()),
            template_fingerprint(&ChatTemplate::qwen25())
        );
        assert_ne!(
            template_fingerprint(&ChatTemplate::smollm2()),
            template_fingerprint(&ChatTemplate::Gemma)
        );

        let missing = file_fingerprint(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
