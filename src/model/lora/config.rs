//! LoRA settings (SPEC §5.6: r = 4, alpha = 128, dropout 0.05 on q, k, v, o, gate, up,
//! down) and their file, PEFT's `adapter_config.json`.
//!
//! The fields written are those of PEFT's `LoraConfig` (peft/tuners/lora/config.py), so
//! `PeftModel.from_pretrained` reads the folder as is. Reading accepts what PEFT writes
//! for a plain LoRA and refuses, naming the field, every setting this project would
//! silently get wrong (rslora scaling, DoRA, trained biases, per-module ranks, ...).

use std::path::Path;

use serde_json::{json, Map, Value};

use super::error::LoraError;
use crate::model::backbone::LoraTarget;

pub const CONFIG_FILE: &str = "adapter_config.json";

#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank of the update `B A`.
    pub r: usize,
    /// PEFT's `lora_alpha`; the update is scaled by `alpha / r`.
    pub alpha: f64,
    /// Dropout on the adapter's input, while training only.
    pub dropout: f64,
    /// Wrapped projections, in [`LoraTarget::ALL`] order.
    pub target_modules: Vec<LoraTarget>,
    /// PEFT's `layers_to_transform`: the decoder layers adapted, ascending (`None`: all).
    /// With only the top layers adapted, nothing below them has a gradient, so the
    /// differentiable pass records and walks back only those layers.
    pub layers: Option<Vec<usize>>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 4,
            alpha: 128.0,
            dropout: 0.05,
            target_modules: LoraTarget::ALL.to_vec(),
            layers: None,
        }
    }
}

impl LoraConfig {
    /// `alpha / r`, PEFT's scaling without rslora.
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    pub fn targets(&self, t: LoraTarget) -> bool {
        self.target_modules.contains(&t)
    }

    /// Whether decoder layer `layer` is adapted.
    pub fn adapts_layer(&self, layer: usize) -> bool {
        self.layers.as_ref().is_none_or(|l| l.contains(&layer))
    }

    /// The top `n` of `num_layers` layers (all of them when `n >= num_layers`).
    pub fn top_layers(n: usize, num_layers: usize) -> Option<Vec<usize>> {
        (n < num_layers).then(|| (num_layers - n..num_layers).collect())
    }

    /// Checks the settings and puts the targets in canonical order without repeats.
    pub fn validated(mut self) -> Result<Self, LoraError> {
        let bad = |field, reason: String| LoraError::BadSetting { field, reason };
        if self.r == 0 {
            return Err(bad("r", "the rank must be at least 1".into()));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(bad(
                "alpha",
                format!("{} is not a positive number", self.alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(bad("dropout", format!("{} is not in [0, 1)", self.dropout)));
        }
        if self.target_modules.is_empty() {
            return Err(bad("target_modules", "no projection to adapt".into()));
        }
        self.target_modules = LoraTarget::ALL
            .into_iter()
            .filter(|t| self.target_modules.contains(t))
            .collect();
        if let Some(layers) = &mut self.layers {
            layers.sort_unstable();
            layers.dedup();
            if layers.is_empty() {
                return Err(bad("layers", "no layer to adapt".into()));
            }
        }
        Ok(self)
    }

    /// `adapter_config.json` as PEFT writes it (keys sorted, two-space indent).
    pub fn to_peft_json(&self, base_model: Option<&str>) -> String {
        // PEFT types lora_alpha as an int; keep integral values integral for its readers.
        let alpha = if self.alpha.fract() == 0.0 && self.alpha.abs() < 1e15 {
            json!(self.alpha as i64)
        } else {
            json!(self.alpha)
        };
        let targets: Vec<&str> = self.target_modules.iter().map(|t| t.peft_name()).collect();
        let doc = json!({
            "alpha_pattern": {},
            "auto_mapping": null,
            "base_model_name_or_path": base_model,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "layer_replication": null,
            "layers_pattern": null,
            "layers_to_transform": self.layers,
            "loftq_config": {},
            "lora_alpha": alpha,
            "lora_dropout": self.dropout,
            "megatron_config": null,
            "megatron_core": "megatron.core",
            "modules_to_save": null,
            "peft_type": "LORA",
            "r": self.r,
            "rank_pattern": {},
            "revision": null,
            "target_modules": targets,
            "task_type": "CAUSAL_LM",
            "use_dora": false,
            "use_rslora": false,
        });
        // A `json!` object of plain values always serialises.
        let mut s = serde_json::to_string_pretty(&doc).expect("adapter config serialises");
        s.push('\n');
        s
    }

    /// Reads `adapter_config.json`; `path` names the file in errors.
    pub fn from_peft_json(text: &str, path: &Path) -> Result<Self, LoraError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| LoraError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let bad = |field: &str, reason: String| LoraError::BadConfig {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason,
        };
        let Some(obj) = doc.as_object() else {
            return Err(bad("(top level)", "expected a JSON object".into()));
        };
        check_unsupported(obj, &bad)?;
        let r = match obj.get("r") {
            None => return Err(bad("r", "missing".into())),
            Some(v) => v
                .as_u64()
                .filter(|&r| r > 0)
                .ok_or_else(|| bad("r", format!("{v} is not a positive integer")))?,
        };
        let alpha = match obj.get("lora_alpha") {
            None => return Err(bad("lora_alpha", "missing".into())),
            Some(v) => v
                .as_f64()
                .filter(|a| a.is_finite() && *a > 0.0)
                .ok_or_else(|| bad("lora_alpha", format!("{v} is not a positive number")))?,
        };
        let dropout = match obj.get("lora_dropout") {
            None | Some(Value::Null) => 0.0,
            Some(v) => v
                .as_f64()
                .filter(|d| (0.0..1.0).contains(d))
                .ok_or_else(|| bad("lora_dropout", format!("{v} is not in [0, 1)")))?,
        };
        let target_modules = parse_targets(obj.get("target_modules"), &bad)?;
        let layers = parse_layers(obj.get("layers_to_transform"), &bad)?;
        Self {
            r: r as usize,
            alpha,
            dropout,
            target_modules,
            layers,
        }
        .validated()
        .map_err(|e| bad("(settings)", e.to_string()))
    }

    /// Reads `dir/adapter_config.json`.
    pub fn read(dir: &Path) -> Result<Self, LoraError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LoraError::MissingFile {
                    path: path.clone(),
                    what: "LoRA adapter config",
                }
            } else {
                LoraError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        Self::from_peft_json(&text, &path)
    }
}

/// Refuses PEFT settings that change what the adapter computes in ways not implemented.
fn check_unsupported(
    obj: &Map<String, Value>,
    bad: &dyn Fn(&str, String) -> LoraError,
) -> Result<(), LoraError> {
    match obj.get("peft_type").and_then(Value::as_str) {
        Some("LORA") => {}
        Some(other) => return Err(bad("peft_type", format!("`{other}` is not LORA"))),
        None => return Err(bad("peft_type", "missing (expected \"LORA\")".into())),
    }
    if let Some(t) = obj.get("task_type").and_then(Value::as_str) {
        if t != "CAUSAL_LM" {
            return Err(bad("task_type", format!("`{t}` is not CAUSAL_LM")));
        }
    }
    if let Some(b) = obj.get("bias").filter(|v| !v.is_null()) {
        if b.as_str() != Some("none") {
            return Err(bad("bias", format!("{b} is not supported (only \"none\")")));
        }
    }
    for flag in ["use_rslora", "use_dora", "fan_in_fan_out"] {
        if obj.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(bad(flag, "true is not supported".into()));
        }
    }
    for field in ["rank_pattern", "alpha_pattern"] {
        if obj
            .get(field)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            return Err(bad(
                field,
                "per-module ranks and alphas are not supported".into(),
            ));
        }
    }
    // Layer indices are found under `model.layers.N`: PEFT's default pattern.
    match obj.get("layers_pattern") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p == "layers" => {}
        Some(v) => return Err(bad("layers_pattern", format!("{v} is not supported"))),
    }
    for field in ["layer_replication", "modules_to_save"] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(v) => return Err(bad(field, format!("{v} is not supported"))),
        }
    }
    Ok(())
}

/// `layers_to_transform`: null or `[]` (every layer), one index, or a list of them.
fn parse_layers(
    value: Option<&Value>,
    bad: &dyn Fn(&str, String) -> LoraError,
) -> Result<Option<Vec<usize>>, LoraError> {
    let field = "layers_to_transform";
    let index = |v: &Value| {
        v.as_u64()
            .map(|i| i as usize)
            .ok_or_else(|| bad(field, format!("{v} is not a layer index")))
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        Some(Value::Array(a)) => a.iter().map(index).collect::<Result<_, _>>().map(Some),
        Some(v) => Ok(Some(vec![index(v)?])),
    }
}

fn parse_targets(
    value: Option<&Value>,
    bad: &dyn Fn(&str, String) -> LoraError,
) -> Result<Vec<LoraTarget>, LoraError> {
    let field = "target_modules";
    match value {
        None | Some(Value::Null) => Err(bad(field, "missing".into())),
        // PEFT's shorthand for every linear layer but the head: all seven here.
        Some(Value::String(s)) if s == "all-linear" => Ok(LoraTarget::ALL.to_vec()),
        Some(Value::String(s)) => Err(bad(
            field,
            format!(
                "the pattern `{s}` is not supported; list the modules (q_proj, ..., down_proj)"
            ),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                let name = v.as_str().unwrap_or_default();
                LoraTarget::from_peft_name(name).ok_or_else(|| {
                    let known: Vec<_> = LoraTarget::ALL.iter().map(|t| t.peft_name()).collect();
                    bad(
                        field,
                        format!("unknown module {v} (known: {})", known.join(", ")),
                    )
                })
            })
            .collect(),
        Some(v) => Err(bad(field, format!("{v} is not a list of module names"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<LoraConfig, LoraError> {
        LoraConfig::from_peft_json(text, Path::new("adapter/adapter_config.json"))
    }

    #[test]
    fn round_trips_and_writes_what_peft_needs() {
        let cfg = LoraConfig {
            r: 8,
            alpha: 16.0,
            dropout: 0.1,
            target_modules: vec![LoraTarget::Q, LoraTarget::Down],
            layers: None,
        };
        let text = cfg.to_peft_json(Some("SmolLM2-135M-Instruct"));
        assert_eq!(read(&text).unwrap(), cfg);
        // The top layers only: PEFT's layers_to_transform, read back the same.
        let top = LoraConfig {
            layers: LoraConfig::top_layers(2, 30),
            ..cfg.clone()
        };
        let text_top = top.to_peft_json(None);
        let doc_top: Value = serde_json::from_str(&text_top).unwrap();
        assert_eq!(doc_top["layers_to_transform"], json!([28, 29]));
        assert_eq!(read(&text_top).unwrap(), top);
        assert!(top.adapts_layer(29) && !top.adapts_layer(27) && cfg.adapts_layer(0));
        assert_eq!(LoraConfig::top_layers(30, 30), None);
        let one = text.replace(
            "\"layers_to_transform\": null",
            "\"layers_to_transform\": 3",
        );
        assert_eq!(read(&one).unwrap().layers, Some(vec![3]));
        let odd = text.replace("\"layers_pattern\": null", "\"layers_pattern\": \"h\"");
        assert!(read(&odd)
            .unwrap_err()
            .to_string()
            .contains("layers_pattern"));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["peft_type"], "LORA");
        assert_eq!(doc["task_type"], "CAUSAL_LM");
        assert_eq!(doc["lora_alpha"], json!(16));
        assert_eq!(doc["target_modules"], json!(["q_proj", "down_proj"]));
        assert_eq!(doc["bias"], "none");
        assert_eq!(doc["use_rslora"], false);
        assert_eq!(doc["base_model_name_or_path"], "SmolLM2-135M-Instruct");
        assert_eq!(LoraConfig::default().scale(), 32.0);
    }

    #[test]
    fn reads_all_linear_and_keeps_canonical_order() {
        let text = r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8,
            "target_modules": ["down_proj", "q_proj", "q_proj"]}"#;
        let cfg = read(text).unwrap();
        assert_eq!(cfg.target_modules, vec![LoraTarget::Q, LoraTarget::Down]);
        assert_eq!(cfg.dropout, 0.0);
        let text =
            r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "all-linear"}"#;
        assert_eq!(read(text).unwrap().target_modules, LoraTarget::ALL.to_vec());
    }

    #[test]
    fn bad_fields_are_named() {
        let base = r#""peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]"#;
        let cases = [
            (
                r#"{"peft_type": "LORA", "lora_alpha": 8, "target_modules": ["q_proj"]}"#
                    .to_string(),
                "`r`: missing",
            ),
            (format!("{{{base}, \"use_rslora\": true}}"), "`use_rslora`"),
            (format!("{{{base}, \"use_dora\": true}}"), "`use_dora`"),
            (format!("{{{base}, \"bias\": \"all\"}}"), "`bias`"),
            (
                format!("{{{base}, \"rank_pattern\": {{\"q_proj\": 8}}}}"),
                "`rank_pattern`",
            ),
            (
                format!("{{{base}, \"lora_dropout\": 1.5}}"),
                "`lora_dropout`",
            ),
            (r#"{"peft_type": "IA3", "r": 4}"#.to_string(), "`peft_type`"),
            (
                r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["qkv_proj"]}"#
                    .to_string(),
                "unknown module \"qkv_proj\"",
            ),
            (
                r#"{"peft_type": "LORA", "r": 0, "lora_alpha": 8, "target_modules": ["q_proj"]}"#
                    .to_string(),
                "`r`: 0 is not a positive integer",
            ),
        ];
        for (text, want) in cases {
            let err = read(&text).unwrap_err().to_string();
            assert!(err.contains("adapter/adapter_config.json"), "{err}");
            assert!(err.contains(want), "{err} should mention {want}");
        }
        let err = read("{\n\"r\": }").unwrap_err().to_string();
        assert!(err.contains("adapter_config.json:2:"), "{err}");
    }

    #[test]
    fn settings_are_checked() {
        let bad = LoraConfig {
            r: 0,
            ..Default::default()
        };
        assert!(bad.validated().unwrap_err().to_string().contains("`r`"));
        let bad = LoraConfig {
            target_modules: vec![],
            ..Default::default()
        };
        assert!(bad.validated().is_err());
    }
}
