//! `r2ec bench --suite gpu [--out DIR]`: the GPU check as one command and one JSON record
//! (printed on one line, and written to `DIR/gpu-check.json`):
//! - `parity`: the 343-token bench prompt's logits on the GPU against the CPU with dense
//!   f32 weights (cosine >= 0.9999 over all positions), the same 64 greedy tokens, and
//!   three cuts of the prompt in one left-padded batch giving each one's greedy tokens;
//!   beside it, for information, the same with dense bf16 weights on the GPU and their
//!   decode speed, the numbers `--weights auto` on a GPU is chosen by;
//! - `sampler`: the device sampler on the GPU's logits against the host's argmax, top-k
//!   and nucleus;
//! - `recommend`: test example 0 with the shipped adapter, through the pipeline;
//! - `bench`: prefill and decode tokens/s at batch 1 and `--batch`, item-table items/s,
//!   seconds per recommendation (prompt, `--reasoning-tokens` greedy tokens, h_T) at
//!   batch 1 and batched, as `../shared/bench/hf_generate.py` times Hugging Face;
//! - `recpo`: a short RecPO run with the paper's rollout settings (G = 4, temperature
//!   2.0, top-k 50, 256 tokens, B = 16), its users per hour, checkpointing into
//!   `DIR/recpo` (named in the record).
//!
//! Each part records its own error and the others still run, so one run on a GPU tells
//! as much as it can; `--parts` runs some of them only. Where no CUDA device can be used the check stops with the reason
//! (and writes the record saying so); `--device cpu` runs the same parts on the CPU, a
//! dry run (parity then compares the chosen `--weights` with f32 on the CPU).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::Device;
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{round2, BenchArgs};
use crate::cli::model_opts::{weights_in_use, ModelOpts};
use r2ec::bench::gpu::{
    bench_recommendation, greedy_parity, logit_parity, padded_parity, sampler_check, MIN_COSINE,
};
use r2ec::bench::{anchor_prompt, bench_decode, bench_item_table, bench_prefill};
use r2ec::data::prepared::Split;
use r2ec::data::PreparedDataset;
use r2ec::data::UserHistory;
use r2ec::model::backbone::LoadOptions;
use r2ec::model::device::{pick_device, DeviceChoice};
use r2ec::model::linear::WeightFormat;
use r2ec::model::loaded::LoadedModel;
use r2ec::model::lora::{Lora, LoraConfig};
use r2ec::paths::Paths;
use r2ec::rec::items::load_item_table;
use r2ec::rec::pipeline::UserEncoder;
use r2ec::rec::recommender::{recommend, RecommendOptions};
use r2ec::rec::ItemTable;
use r2ec::train::checkpoint::list_checkpoints;
use r2ec::train::report::CollectingReporter;
use r2ec::train::{RecPo, RecPoConfig};

/// The record's file name under `--out`.
pub const RECORD_FILE: &str = "gpu-check.json";

/// The parts of the GPU check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Parity,
    Sampler,
    Recommend,
    Bench,
    Recpo,
}

impl Part {
    fn key(self) -> &'static str {
        match self {
            Self::Parity => "parity",
            Self::Sampler => "sampler",
            Self::Recommend => "recommend",
            Self::Bench => "bench",
            Self::Recpo => "recpo",
        }
    }
}

/// Settings of `--suite gpu`; the defaults are the and the paper's.
#[derive(Debug, Clone, Args)]
pub struct GpuCheckArgs {
    /// `--suite gpu`: the parts to run, in this order (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "parity,sampler,recommend,bench,recpo"
    )]
    pub parts: Vec<Part>,
    /// `--suite gpu`: prepared data set for `recommend` and the RecPO run.
    #[arg(long, default_value = "ml-100k")]
    pub data: String,
    /// `--suite gpu`: greedy reasoning tokens per timed recommendation.
    #[arg(long, default_value_t = 256)]
    pub reasoning_tokens: usize,
    /// `--suite gpu`: greedy tokens compared between CPU and GPU.
    #[arg(long, default_value_t = 64)]
    pub parity_tokens: usize,
    /// `--suite gpu`: RecPO steps (each checkpoints).
    #[arg(long, default_value_t = 3)]
    pub recpo_steps: usize,
    /// `--suite gpu`: B, users per RecPO step.
    #[arg(long, default_value_t = 16)]
    pub recpo_users: usize,
    /// `--suite gpu`: G, chains per user.
    #[arg(long, default_value_t = 4)]
    pub recpo_group: usize,
    /// `--suite gpu`: rollout token budget.
    #[arg(long, default_value_t = 256)]
    pub recpo_tokens: usize,
}

/// The CUDA device, or why there is none.
fn cuda_device() -> Result<(Device, String), String> {
    pick_device(DeviceChoice::Cuda).map_err(|e| e.to_string())
}

/// A section's result with `ok`, or its error.
fn section(f: impl FnOnce() -> anyhow::Result<Value>) -> Value {
    match f() {
        Ok(v) => v,
        Err(e) => json!({ "ok": false, "error": format!("{e:#}") }),
    }
}

fn section_ok(v: &Value) -> bool {
    v.get("ok").and_then(Value::as_bool).unwrap_or(false)
}

/// A run folder under `out` that holds no run yet: `recpo`, else `recpo-2`, ...
fn fresh_run_dir(out: &Path) -> PathBuf {
    let mut n = 1;
    loop {
        let dir = if n == 1 {
            out.join("recpo")
        } else {
            out.join(format!("recpo-{n}"))
        };
        if !dir.exists() {
            return dir;
        }
        n += 1;
    }
}

fn load(
    opts: &ModelOpts,
    paths: &Paths,
    device: &Device,
    format: WeightFormat,
    adapter: Option<&Path>,
) -> anyhow::Result<LoadedModel> {
    let path = opts.model_path(paths);
    let load = LoadOptions {
        format,
        ..opts.load_options()
    };
    LoadedModel::load_with_adapter(&path, adapter, device, &load)
        .with_context(|| format!("loading {}", path.display()))
}

/// Writes the record under `out` (when given) and prints it on one line.
fn emit(record: &Value, out: Option<&Path>) -> anyhow::Result<()> {
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(RECORD_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(record)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("record written to {}", path.display());
    }
    println!("{record}");
    Ok(())
}

pub fn run(args: &BenchArgs, paths: &Paths) -> anyhow::Result<()> {
    let started = Instant::now();
    let g = &args.gpu;
    let out = args.out.clone();
    let mut record = Map::new();
    record.insert("suite".into(), json!("gpu"));
    record.insert("r2ec".into(), json!(env!("CARGO_PKG_VERSION")));
    let say = |s: &str| eprintln!("gpu check: {s}");

    // Where it runs: CUDA unless the CPU is asked for; no silent fallback.
    let (device, label) = match args.model.device {
        DeviceChoice::Cpu => {
            let d = pick_device(DeviceChoice::Cpu)?;
            let why = cuda_device().err().unwrap_or_default();
            record.insert(
                "cuda".into(),
                json!({ "available": why.is_empty(), "reason": why, "used": false }),
            );
            say("--device cpu: running every part on the CPU (a dry run of the GPU check)");
            d
        }
        _ => match cuda_device() {
            Ok(d) => {
                record.insert("cuda".into(), json!({ "available": true, "used": true }));
                d
            }
            Err(why) => {
                record.insert(
                    "cuda".into(),
                    json!({ "available": false, "reason": why, "used": false }),
                );
                record.insert("ok".into(), json!(false));
                emit(&Value::Object(record), out.as_deref())?;
                bail!(
                    "the GPU check needs a CUDA device, and none can be used: {why}\n\
                     Run it with a `--features cuda` build on a machine with an NVIDIA GPU, \
                     or add `--device cpu` for a dry run of the same parts on the CPU."
                );
            }
        },
    };
    record.insert("device".into(), json!(label));
    let format = args.model.weight_format();
    record.insert(
        "weights".into(),
        json!({ "asked": format.name(), "on_device": format.on(&device).name() }),
    );

    say(&format!("loading the model on {label}"));
    let t = Instant::now();
    let tested = load(&args.model, paths, &device, format, None)?;
    record.insert("model".into(), json!(tested.name));
    record.insert(
        "load".into(),
        json!({ "secs": round2(t.elapsed().as_secs_f64()), "weights_in_use": weights_in_use(&tested) }),
    );
    let ids = tested.tokenizer.encode(&anchor_prompt())?;

    for &part in &g.parts {
        say(match part {
            Part::Parity => "parity with the CPU (dense f32)",
            Part::Sampler => "device sampler against the host",
            Part::Recommend => "recommend: test example 0 with the shipped adapter",
            Part::Bench => "speed figures",
            Part::Recpo => "RecPO: a short run",
        });
        let t = Instant::now();
        let mut v = section(|| match part {
            Part::Parity => parity(args, paths, &device, &tested, &ids),
            Part::Sampler => {
                let s = sampler_check(&tested, &ids, 256)?;
                Ok(json!({ "ok": s.ok, "check": s }))
            }
            Part::Recommend => recommend_example(args, paths, &device, format),
            Part::Bench => speed(args, &tested, &ids),
            Part::Recpo => recpo(args, paths, &tested, out.as_deref()),
        });
        if let Value::Object(m) = &mut v {
            m.insert("secs".into(), json!(round2(t.elapsed().as_secs_f64())));
        }
        record.insert(part.key().into(), v);
    }
    let ok = g
        .parts
        .iter()
        .all(|p| record.get(p.key()).is_some_and(section_ok));
    record.insert("ok".into(), json!(ok));
    record.insert(
        "total_secs".into(),
        json!(round2(started.elapsed().as_secs_f64())),
    );
    emit(&Value::Object(record), out.as_deref())
}

/// The tested model against the CPU with f32 weights; then, when the tested weights
/// are not bf16 already, bf16 on the same device against the same reference, with its
/// decode speed (information: what `--weights auto` on a GPU is chosen by).
fn parity(
    args: &BenchArgs,
    paths: &Paths,
    device: &Device,
    tested: &LoadedModel,
    ids: &[u32],
) -> anyhow::Result<Value> {
    let g = &args.gpu;
    let reference = load(&args.model, paths, &Device::Cpu, WeightFormat::F32, None)?;
    let logits = logit_parity(&reference, tested, ids)?;
    let greedy = greedy_parity(&reference, tested, ids, g.parity_tokens)?;
    // The bench prompt cut to three lengths, so the batch is left-padded.
    let prompts: Vec<Vec<u32>> = [ids.len(), ids.len() * 2 / 3, ids.len() / 3]
        .iter()
        .map(|&n| ids[..n.max(1)].to_vec())
        .collect();
    let padded = padded_parity(&reference, tested, &prompts, g.parity_tokens.min(16))?;
    let ok = logits.cosine >= MIN_COSINE && greedy.same && padded.same;
    let mut v = json!({
        "ok": ok,
        "reference": "cpu, weights f32",
        "min_cosine": MIN_COSINE,
        "prompt_tokens": ids.len(),
        "logits": logits,
        "greedy": greedy,
        "padded_batch": padded,
    });
    if args.model.weight_format().on(device) != WeightFormat::Bf16 {
        let bf16 = section(|| {
            let m = load(&args.model, paths, device, WeightFormat::Bf16, None)?;
            let logits = logit_parity(&reference, &m, ids)?;
            let greedy = greedy_parity(&reference, &m, ids, g.parity_tokens)?;
            let d1 = bench_decode(&m, ids, 1, args.new_tokens, 1)?;
            let db = bench_decode(&m, ids, args.batch, args.new_tokens, 1)?;
            Ok(json!({
                "ok": logits.cosine >= MIN_COSINE && greedy.same,
                "logits": logits,
                "greedy_same": greedy.same,
                "greedy_first_difference": greedy.first_difference,
                "decode_tok_s": round2(d1.tok_s),
                "decode_batch_tok_s": round2(db.tok_s),
            }))
        });
        v["bf16"] = bf16;
    }
    Ok(v)
}

/// A short RecPO run from the base weights into a fresh folder under `--out` (else
/// under `runs/`).
fn recpo(
    args: &BenchArgs,
    paths: &Paths,
    tested: &LoadedModel,
    out: Option<&Path>,
) -> anyhow::Result<Value> {
    let g = &args.gpu;
    let data = crate::cli::data::open_prepared(paths, &g.data)?;
    let (table, status) = load_item_table(tested, &data, &g.data, &mut |_, _| {})?;
    eprintln!("gpu check: {status}");
    let root = out.map(Path::to_path_buf).unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        paths.root.join("runs").join(format!("gpu-check-{stamp}"))
    });
    let run_dir = fresh_run_dir(&root);
    let cfg = RecPoConfig {
        steps: g.recpo_steps,
        users_per_step: g.recpo_users,
        group_size: g.recpo_group,
        max_new_tokens: g.recpo_tokens,
        // A speed run: no evaluation, and no valid probe (greedy chains for 256 valid
        // examples before the first step and after the last).
        eval_every: 0,
        probe_every: 0,
        rollout_log_every: 1,
        ..RecPoConfig::default()
    };
    let f = recpo_run(tested, &data, table, cfg, &run_dir)?;
    Ok(json!({
        "ok": f.steps == g.recpo_steps && f.checkpoint.is_some(),
        "resume": format!(
            "r2ec train --data {} --out {} --resume --steps N",
            g.data,
            run_dir.display()
        ),
        "figures": f,
    }))
}

/// `recommend` on test example 0 of `--data` with the adapter a model command opens (the
/// shipped one unless `--adapter` or `--model` says otherwise).
fn recommend_example(
    args: &BenchArgs,
    paths: &Paths,
    device: &Device,
    format: WeightFormat,
) -> anyhow::Result<Value> {
    let g = &args.gpu;
    let data = crate::cli::data::open_prepared(paths, &g.data)?;
    let adapter = crate::cli::checkpoint::Opened::adapter(&args.model, false, paths, &g.data);
    let model = load(&args.model, paths, device, format, adapter.as_deref())?;
    let (table, status) = load_item_table(&model, &data, &g.data, &mut |_, _| {})?;
    let example = data
        .split(Split::Test)
        .first()
        .context("the test split is empty")?;
    let history = UserHistory::of_example(example, &data.catalog)?;
    let opts = RecommendOptions {
        generate: args.model.generate_options(),
        top_k: 10,
        ..Default::default()
    };
    let encoder = UserEncoder::new(&model, &data);
    let rec = recommend(&encoder, &table, &history, &opts, &mut |_| {}, None)?;
    Ok(json!({
        "ok": !rec.top.is_empty(),
        "adapter": adapter,
        "item_table": status.to_string(),
        "user": example.user_id,
        "reasoning_tokens": rec.reasoning_tokens,
        "stop": rec.stop,
        "reasoning": rec.reasoning,
        "top": rec.top,
        "target": rec.target,
        "timing": rec.timing,
    }))
}

/// Prefill, decode at batch 1 and `--batch`, item-table items/s, seconds per
/// recommendation at batch 1 and `--batch`.
fn speed(args: &BenchArgs, model: &LoadedModel, ids: &[u32]) -> anyhow::Result<Value> {
    let g = &args.gpu;
    let prefill = bench_prefill(model, ids, args.repeats)?;
    let decode1 = bench_decode(model, ids, 1, args.new_tokens, args.repeats)?;
    let decode_b = bench_decode(model, ids, args.batch, args.new_tokens, args.repeats)?;
    let items = bench_item_table(model, args.items)?;
    let rec1 = bench_recommendation(model, ids, 1, g.reasoning_tokens, args.repeats)?;
    let rec_b = bench_recommendation(model, ids, args.batch, g.reasoning_tokens, args.repeats)?;
    Ok(json!({
        "ok": true,
        "prompt_tokens": prefill.prompt_tokens,
        "prefill_tok_s": round2(prefill.tok_s),
        "decode_tokens": args.new_tokens,
        "decode_tok_s": round2(decode1.tok_s),
        "decode_batch": args.batch,
        "decode_batch_tok_s": round2(decode_b.tok_s),
        "item_table_items_s": round2(items.items_per_sec),
        "item_prompt_tokens_mean": round2(items.mean_tokens),
        "reasoning_tokens": g.reasoning_tokens,
        "s_per_recommendation_b1": rec1.secs_per_recommendation,
        "s_per_recommendation_batched": rec_b.secs_per_recommendation,
        "batch": args.batch,
        "runs": {
            "prefill_tok_s": prefill.runs,
            "decode_tok_s": decode1.runs,
            "decode_batch_tok_s": decode_b.runs,
            "s_per_recommendation_b1": rec1.runs,
            "s_per_recommendation_batched": rec_b.runs,
        },
    }))
}

#[derive(Debug, Clone, Serialize)]
struct RecPoFigures {
    pub steps: usize,
    pub users_per_step: usize,
    pub group_size: usize,
    pub max_new_tokens: usize,
    pub temperature: f64,
    pub top_k: usize,
    /// Users trained on per hour of step time (rollout, scoring, backward, update,
    /// checkpoint).
    pub users_per_hour: f64,
    pub step_secs: Vec<f64>,
    pub rollout_secs: Vec<f64>,
    pub backward_secs: Vec<f64>,
    pub rollout_tokens: Vec<usize>,
    pub run_dir: PathBuf,
    /// The latest checkpoint written (what `r2ec train --resume --out RUN_DIR` continues).
    pub checkpoint: Option<PathBuf>,
}

/// `cfg.steps` RecPO steps from `model`'s base weights with a fresh LoRA adapter
/// (`r2ec train`'s defaults), into `run_dir`, which must not hold a run yet.
fn recpo_run(
    model: &LoadedModel,
    data: &PreparedDataset,
    table: ItemTable,
    cfg: RecPoConfig,
    run_dir: &Path,
) -> anyhow::Result<RecPoFigures> {
    let adapter = Lora::new(
        LoraConfig::default(),
        model.config(),
        model.device(),
        cfg.seed,
    )?
    .with_base_model(model.name.clone());
    let figures_cfg = cfg.clone();
    let mut trainer = RecPo::open(model, &adapter, data, cfg, run_dir, table, false)?;
    let mut reporter = CollectingReporter::default();
    let stop = std::sync::atomic::AtomicBool::new(false);
    trainer.run(&mut reporter, &stop)?;
    let steps = &reporter.steps;
    let secs: f64 = steps.iter().map(|m| m.step_secs).sum();
    let users = (figures_cfg.users_per_step * steps.len()) as f64;
    Ok(RecPoFigures {
        steps: steps.len(),
        users_per_step: figures_cfg.users_per_step,
        group_size: figures_cfg.group_size,
        max_new_tokens: figures_cfg.max_new_tokens,
        temperature: figures_cfg.temperature,
        top_k: figures_cfg.top_k,
        users_per_hour: if secs > 0.0 {
            users / secs * 3600.0
        } else {
            0.0
        },
        step_secs: steps.iter().map(|m| m.step_secs).collect(),
        rollout_secs: steps.iter().map(|m| m.rollout_secs).collect(),
        backward_secs: steps.iter().map(|m| m.backward_secs).collect(),
        rollout_tokens: steps.iter().map(|m| m.rollout_tokens).collect(),
        run_dir: run_dir.to_path_buf(),
        checkpoint: list_checkpoints(run_dir)?.last().map(|(_, d)| d.clone()),
    })
}
