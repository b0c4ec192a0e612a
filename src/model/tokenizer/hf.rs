//! The tokenizer and chat template of a Hugging Face model folder: `tokenizer.json` as
//! is, BOS/EOS and the Jinja chat template from `tokenizer_config.json` (or a
//! `chat_template.jinja` file next to it, where newer models keep the template).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Tokenizer, TokenizerError};
use crate::model::chat_template::ChatTemplate;

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

/// Load `tokenizer.json` and the chat template from a model folder.
pub fn load_hf_tokenizer(dir: &Path) -> Result<(Tokenizer, ChatTemplate), TokenizerError> {
    let tokenizer_path = dir.join(TOKENIZER_FILE);
    if !tokenizer_path.is_file() {
        return Err(file_error(
            &tokenizer_path,
            "missing: a model folder needs its tokenizer.json",
        ));
    }
    let inner = tokenizers::Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| file_error(&tokenizer_path, &format!("not a valid tokenizer: {e}")))?;

    let config_path = dir.join(TOKENIZER_CONFIG_FILE);
    let config = read_json_if_present(&config_path)?;
    let token_id = |field: &str| -> Result<Option<u32>, TokenizerError> {
        let Some(config) = &config else {
            return Ok(None);
        };
        let Some(token) = special_token_text(config, field) else {
            return Ok(None);
        };
        inner
            .token_to_id(token)
            .map(Some)
            .ok_or_else(|| TokenizerError::Field {
                path: config_path.clone(),
                field: field.to_string(),
                message: format!("token {token:?} is not in {TOKENIZER_FILE}"),
            })
    };
    let bos = token_id("bos_token")?;
    let eos = token_id("eos_token")?;

    let template = read_hf_chat_template(dir)?;
    Ok((Tokenizer::new(inner, bos, eos), template))
}

/// The chat template of a model folder: `tokenizer_config.json`'s `chat_template`
/// (a string, or a list of named templates of which "default" is taken), else
/// `chat_template.jinja`.
pub fn read_hf_chat_template(dir: &Path) -> Result<ChatTemplate, TokenizerError> {
    let config_path = dir.join(TOKENIZER_CONFIG_FILE);
    let jinja_path = dir.join(CHAT_TEMPLATE_FILE);
    let from_config = match read_json_if_present(&config_path)? {
        Some(config) => template_source(&config, &config_path)?,
        None => None,
    };
    let (source, origin) = match from_config {
        Some(s) => (s, config_path),
        None if jinja_path.is_file() => {
            let s = std::fs::read_to_string(&jinja_path)
                .map_err(|e| file_error(&jinja_path, &format!("cannot read: {e}")))?;
            (s, jinja_path)
        }
        None => {
            let msg = format!(
                "no chat template: neither a `chat_template` field here nor a {CHAT_TEMPLATE_FILE} file"
            );
            return Err(file_error(&config_path, &msg));
        }
    };
    ChatTemplate::from_jinja(&source).map_err(|e| TokenizerError::Field {
        path: origin,
        field: "chat_template".into(),
        message: e.to_string(),
    })
}

fn template_source(config: &Value, path: &Path) -> Result<Option<String>, TokenizerError> {
    let field_error = |message: &str| TokenizerError::Field {
        path: path.to_path_buf(),
        field: "chat_template".into(),
        message: message.to_string(),
    };
    match config.get("chat_template") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(named)) => named
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template").and_then(Value::as_str))
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| field_error("a list of templates without one named \"default\"")),
        Some(_) => Err(field_error(
            "expected a string or a list of named templates",
        )),
    }
}

/// `"<|im_end|>"` or `{"content": "<|im_end|>", ...}`.
fn special_token_text<'a>(config: &'a Value, field: &str) -> Option<&'a str> {
    match config.get(field)? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("content").and_then(Value::as_str),
        _ => None,
    }
}

fn read_json_if_present(path: &Path) -> Result<Option<Value>, TokenizerError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| file_error(path, &format!("cannot read: {e}")))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| file_error(path, &format!("invalid JSON: {e}")))
}

fn file_error(path: &Path, message: &str) -> TokenizerError {
    TokenizerError::File {
        path: PathBuf::from(path),
        message: message.to_string(),
    }
}
