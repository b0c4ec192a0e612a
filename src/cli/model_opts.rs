//! Options shared by every command that runs the model: which model, where, in which
//! weight format, how it samples (with repetition control for demos). Flattened into
//! `recommend`, `generate`, `eval`, `bench` and `tui`; `train` fills one in.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use r2ec::model::backbone::LoadOptions;
use r2ec::model::device::{pick_device, DeviceChoice};
use r2ec::model::generate::GenerateOptions;
use r2ec::model::linear::WeightFormat;
use r2ec::model::loaded::LoadedModel;
use r2ec::model::sampling::repetition::Repetition;
use r2ec::model::sampling::Sampling;
use r2ec::paths::Paths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum FormatChoice {
    /// On the CPU, keep quantized weights quantized, in the fastest kernel format; on a
    /// GPU, dense f32.
    #[default]
    Auto,
    /// Dequantize everything to f32.
    F32,
    /// Dense bf16 matrices (activations rounded to bf16 for each product).
    Bf16,
    /// Quantize every matrix to Q8_0.
    Q8_0,
    /// Exactly as stored in the file, whatever the kernel's speed.
    Stored,
}

#[derive(Debug, Clone, Args)]
pub struct ModelOpts {
    /// A .gguf file or a Hugging Face model folder (default: SmolLM2-135M-Instruct).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A LoRA adapter folder (PEFT layout: adapter_config.json, adapter_model.safetensors),
    /// merged into the model's weights.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Weight format of the fast path.
    #[arg(long, value_enum, default_value_t = FormatChoice::Auto)]
    pub weights: FormatChoice,
    /// Take the user vector straight after the prompt (no reasoning chain).
    #[arg(long)]
    pub no_reasoning: bool,
    /// Token budget of the reasoning chain.
    #[arg(long, default_value_t = 640)]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy (the evaluation setting).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample only among the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Sample only among the most likely tokens that reach this probability.
    #[arg(long)]
    pub top_p: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Repetition penalty, as transformers' `repetition_penalty`: the logit of every
    /// token already in the prompt or chain is divided by it when positive and multiplied
    /// by it when negative. 1 is off (the evaluation and training setting).
    #[arg(long, default_value_t = 1.0, value_parser = parse_penalty)]
    pub repetition_penalty: f32,
    /// Never repeat an n-gram of the prompt or chain, as transformers'
    /// `no_repeat_ngram_size`. 0 is off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub no_repeat_ngram: usize,
}

fn parse_penalty(s: &str) -> Result<f32, String> {
    let p: f32 = s.parse().map_err(|e| format!("`{s}`: {e}"))?;
    let r = Repetition {
        penalty: p,
        no_repeat_ngram: 0,
    };
    r.validate().map_err(|e| e.to_string())?;
    Ok(p)
}

/// How a loaded model's fast path holds its matrices: `f32 x31` or
/// `q8_0+pad x30, q8_0 x1` (storage and count; `+pad` is the CPU's VNNI padding).
pub fn weights_in_use(model: &LoadedModel) -> String {
    model
        .backbone
        .weight_storage()
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ModelOpts {
    pub fn model_path(&self, paths: &Paths) -> PathBuf {
        self.model.clone().unwrap_or_else(|| paths.default_model())
    }

    pub fn weight_format(&self) -> WeightFormat {
        match self.weights {
            FormatChoice::Auto => WeightFormat::Auto,
            FormatChoice::F32 => WeightFormat::F32,
            FormatChoice::Bf16 => WeightFormat::Bf16,
            FormatChoice::Q8_0 => WeightFormat::Q8_0,
            FormatChoice::Stored => WeightFormat::Stored,
        }
    }

    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            format: self.weight_format(),
            ..Default::default()
        }
    }

    pub fn repetition(&self) -> Repetition {
        Repetition {
            penalty: self.repetition_penalty,
            no_repeat_ngram: self.no_repeat_ngram,
        }
    }

    /// Load the model on the chosen device, saying what is loaded unless `quiet`.
    pub fn load(&self, paths: &Paths, quiet: bool) -> anyhow::Result<LoadedModel> {
        let (device, label) = pick_device(self.device)?;
        let path = self.model_path(paths);
        let t = std::time::Instant::now();
        let adapter = self.adapter.as_deref();
        let model = LoadedModel::load_with_adapter(&path, adapter, &device, &self.load_options())
            .with_context(|| match adapter {
            Some(a) => format!(
                "loading model {} with adapter {}",
                path.display(),
                a.display()
            ),
            None => format!("loading model {}", path.display()),
        })?;
        if !quiet {
            let with = adapter
                .map(|a| format!(" + adapter {}", a.display()))
                .unwrap_or_default();
            eprintln!(
                "model: {}{with} on {label}, weights {} ({}), loaded in {:.1} s",
                model.name,
                self.weight_format().on(&device).name(),
                weights_in_use(&model),
                t.elapsed().as_secs_f64()
            );
        }
        Ok(model)
    }

    pub fn sampling(&self) -> Sampling {
        let t = self.temperature;
        if t <= 0.0 {
            return Sampling::ArgMax;
        }
        match (self.top_k, self.top_p) {
            (None, None) => Sampling::All { temperature: t },
            (Some(k), None) => Sampling::TopK { k, temperature: t },
            (None, Some(p)) => Sampling::TopP { p, temperature: t },
            (Some(k), Some(p)) => Sampling::TopKThenTopP {
                k,
                p,
                temperature: t,
            },
        }
    }

    pub fn generate_options(&self) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens: self.max_new_tokens,
            sampling: self.sampling(),
            seed: self.seed,
            repetition: self.repetition(),
            ..Default::default()
        }
    }
}
