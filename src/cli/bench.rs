//! `r2ec bench`: speed figures of the model core on this machine (see `r2ec::bench`), or
//! with `--suite gpu` the prepared GPU check (`bench/gpu.rs`).

mod gpu;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::model_opts::{weights_in_use, ModelOpts};
use r2ec::bench::{
    anchor_prompt, bench_decode, bench_item_table, bench_prefill, bench_scoring, peak_rss_mib,
};
use r2ec::paths::Paths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Suite {
    /// The model core's speed figures.
    #[default]
    Core,
    /// The GPU check: CPU/GPU parity, the device sampler, `recommend` with the shipped
    /// adapter, speed figures, a short RecPO run; one JSON record.
    Gpu,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// What to run.
    #[arg(long, value_enum, default_value_t = Suite::Core)]
    pub suite: Suite,
    /// `--suite gpu`: folder for its record (`gpu-check.json`) and its RecPO run.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub gpu: gpu::GpuCheckArgs,
    /// Repeats of each timing (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Greedy steps per decode timing.
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Batch size of the batched decode timing.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Items encoded for the item-table timing.
    #[arg(long, default_value_t = 128)]
    pub items: usize,
    /// Rows of the random item table for the scoring timing.
    #[arg(long, default_value_t = 1_000_000)]
    pub score_rows: usize,
    /// Print one JSON object only.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    pub fn run(self, paths: &Paths) -> anyhow::Result<()> {
        if self.suite == Suite::Gpu {
            return gpu::run(&self, paths);
        }
        let model = self.model.load(paths, self.json)?;
        let say = |s: &str| {
            if !self.json {
                eprintln!("{s}");
            }
        };
        let ids = model.tokenizer.encode(&anchor_prompt())?;
        say(&format!(
            "prefill: {} prompt tokens x {}",
            ids.len(),
            self.repeats
        ));
        let prefill = bench_prefill(&model, &ids, self.repeats)?;
        say(&format!("  {:.1} tokens/s", prefill.tok_s));
        say(&format!(
            "decode, batch 1: {} greedy steps x {}",
            self.new_tokens, self.repeats
        ));
        let decode1 = bench_decode(&model, &ids, 1, self.new_tokens, self.repeats)?;
        say(&format!(
            "  {:.1} tokens/s ({:.2} ms/token)",
            decode1.tok_s, decode1.ms_per_step
        ));
        say(&format!(
            "decode, batch {}: {} greedy steps x 1",
            self.batch, self.new_tokens
        ));
        let decode_b = bench_decode(&model, &ids, self.batch, self.new_tokens, 1)?;
        say(&format!(
            "  {:.1} tokens/s ({:.1} ms/step)",
            decode_b.tok_s, decode_b.ms_per_step
        ));
        say(&format!("item table: encoding {} item prompts", self.items));
        let items = bench_item_table(&model, self.items)?;
        say(&format!("  {:.1} items/s", items.items_per_sec));
        say(&format!(
            "scoring: {} random item vectors of dim {}",
            self.score_rows,
            model.config().hidden_size
        ));
        let scoring = bench_scoring(self.score_rows, model.config().hidden_size, self.repeats)?;
        say(&format!(
            "  {:.1} ms per user, {:.1} ms for 32 users",
            scoring.ms_one, scoring.ms_batch32
        ));
        let out = json!({
            "engine": "r2ec",
            "model": model.name,
            "device": format!("{:?}", model.device().location()),
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "weights": self.model.weight_format().on(model.device()).name(),
            "weights_in_use": weights_in_use(&model),
            "prompt_tokens": prefill.prompt_tokens,
            "new_tokens": self.new_tokens,
            "prefill_tok_s": round2(prefill.tok_s),
            "decode_tok_s": round2(decode1.tok_s),
            "ms_per_token": round2(decode1.ms_per_step),
            "decode_batch": self.batch,
            "decode_batch_tok_s": round2(decode_b.tok_s),
            "item_table_items_s": round2(items.items_per_sec),
            "item_prompt_tokens_mean": round2(items.mean_tokens),
            "score_rows": self.score_rows,
            "score_ms_one_user": round2(scoring.ms_one),
            "score_ms_32_users": round2(scoring.ms_batch32),
            "peak_rss_mib": peak_rss_mib().map(round2),
            "prefill_runs": prefill.runs.iter().copied().map(round2).collect::<Vec<_>>(),
            "decode_runs": decode1.runs.iter().copied().map(round2).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            if self.json {
                out.to_string()
            } else {
                serde_json::to_string_pretty(&out)?
            }
        );
        Ok(())
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
