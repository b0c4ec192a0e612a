//! `r2ec train`: RecPO with LoRA on a prepared data set, into a run folder
//! (config.json, metrics.jsonl, rollouts.jsonl, checkpoints/, best/). `--resume`
//! continues a run from its latest checkpoint with the run's own settings; `--bench`
//! times one step instead of training.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context};
use clap::Args;

use super::model_opts::{FormatChoice, ModelOpts};
use r2ec::bench::{peak_rss_mib, reset_peak_rss};
use r2ec::model::backbone::{LinearHook, LoraTarget};
use r2ec::model::device::DeviceChoice;
use r2ec::model::lora::{Lora, LoraConfig};
use r2ec::model::lower::LowerStates;
use r2ec::paths::Paths;
use r2ec::rec::items::load_item_table;
use r2ec::train::advantage::AdvantageKind;
use r2ec::train::bench::{bench_step, Preset, PRESETS};
use r2ec::train::checkpoint::{is_compact, list_checkpoints};
use r2ec::train::evaluate::rebuild_table;
use r2ec::train::fork::{fork_run, read_config, users_at_checkpoint};
use r2ec::train::reward::{AnswerBonusOn, RewardKind};
use r2ec::train::{HeadlessReporter, RecPo, RecPoConfig};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Prepared data set under datasets/.
    #[arg(long, default_value = "ml-100k")]
    pub data: String,
    /// The run folder.
    #[arg(long, required_unless_present = "bench")]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its latest checkpoint, with its saved settings
    /// (only --steps and --probe-every may change).
    #[arg(long)]
    pub resume: bool,
    /// Time one training step instead of training: each configuration of the comparison
    /// (recpo-exact, recpo-lora8, wo-reasoning-exact, wo-reasoning-lora8, then the item
    /// table rebuild), one JSON line each with its own peak memory.
    #[arg(long)]
    pub bench: bool,
    /// Only this bench configuration.
    #[arg(long, requires = "bench")]
    pub bench_config: Option<String>,
    /// With --bench: one JSON line per configuration (without: a readable line each).
    #[arg(long, requires = "bench")]
    pub json: bool,
    /// With --bench: untimed steps first, so the timed ones run as a run's later steps
    /// do (memory already mapped, caches warm), as the PyTorch anchor does.
    #[arg(long, requires = "bench", default_value_t = 1)]
    pub bench_warmup: usize,
    /// With --bench: timed steps per configuration; the line reports the median step.
    #[arg(long, requires = "bench", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub bench_repeats: u64,
    /// A .gguf file or a Hugging Face model folder (default: SmolLM2-135M-Instruct).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Weight format of the fast path (rollouts, item table).
    #[arg(long, value_enum, default_value_t = FormatChoice::Auto)]
    pub weights: FormatChoice,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long, default_value_t = 4)]
    pub users_per_step: usize,
    /// G: chains sampled per user.
    #[arg(long, default_value_t = 4)]
    pub group_size: usize,
    #[arg(long, default_value_t = 640)]
    pub max_new_tokens: usize,
    #[arg(long, default_value_t = 2.0)]
    pub temperature: f64,
    /// Rollout top-k (0: all tokens).
    #[arg(long, default_value_t = 50)]
    pub top_k: usize,
    /// fused, ranking (R_d only) or similarity (R_c only).
    #[arg(long, value_parser = parse_reward, default_value = "fused")]
    pub reward: RewardKind,
    #[arg(long, default_value_t = 0.05)]
    pub beta: f64,
    /// Cut-off of the ranking reward's NDCG (`all`: the whole catalogue, a named
    /// setting for small budgets).
    #[arg(long, value_parser = parse_ndcg_k, default_value = "1000")]
    pub ndcg_k: usize,
    /// Added to the reward of a chain that reaches `<answer>` by itself within
    /// --max-new-tokens (default 0: off, the paper's reward). A named format reward.
    #[arg(long)]
    pub answer_bonus: Option<f64>,
    /// Which chains --answer-bonus pays: `written` (default) those that write
    /// `<answer>`, `ended` those that end by themselves either way (ending the turn
    /// counts too, and `<answer>` is placed after them).
    #[arg(long, value_parser = parse_answer_bonus_on)]
    pub answer_bonus_on: Option<AnswerBonusOn>,
    /// Reasoning tokens a chain must write before `<answer>` for --answer-bonus
    /// (default 0: any); a chain that answers sooner loses the bonus instead, so
    /// skipping the reasoning does not pay.
    #[arg(long)]
    pub answer_min_tokens: Option<usize>,
    /// With --answer-min-tokens, `true` grows the bonus with the reasoning written
    /// before `<answer>` (-bonus at none, +bonus at the minimum) instead of taking it
    /// away whole below the minimum (default false).
    #[arg(long)]
    pub answer_min_ramp: Option<bool>,
    /// Subtracted from a chain's reward, times its repeated 4-gram share (default 0:
    /// off, the paper's reward). A named format penalty against chains that loop.
    #[arg(long)]
    pub reward_repeat_penalty: Option<f64>,
    /// Chains of each group decoded greedily, as evaluation decodes, instead of
    /// sampled (0: off, the paper's rollouts). A named approximation that lets the
    /// policy see, and be pushed away from, its greedy loops.
    #[arg(long, default_value_t = 0)]
    pub greedy_chains: usize,
    /// GRPO's std divisor at least this (0: off): reward spreads below it are treated as
    /// noise instead of being blown up to ±1. A named setting.
    #[arg(long, default_value_t = 0.0)]
    pub adv_std_floor: f64,
    /// grpo or rloo.
    #[arg(long, value_parser = parse_advantage, default_value = "grpo")]
    pub advantage: AdvantageKind,
    #[arg(long, default_value_t = 0.2)]
    pub eps_low: f64,
    #[arg(long, default_value_t = 0.28)]
    pub eps_high: f64,
    /// Chains per group trained with the item loss.
    #[arg(long, default_value_t = 1)]
    pub item_top_k: usize,
    /// AdamW's learning rate after warm-up (default 1e-5, the paper's).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 32)]
    pub warmup_steps: usize,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Contrastive item loss only, h_T right after the prompt, no rollouts.
    #[arg(long)]
    pub no_reasoning: bool,
    /// Full evaluation every N steps and at the last step (0: never, the default: the
    /// valid probe watches the run, `r2ec eval` scores whole splits); each rebuilds the
    /// item table and generates for `--eval-limit` examples of valid and test.
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
    /// The valid probe: a fixed, seeded subset of valid scored with greedy decoding
    /// every `--probe-every` steps and at the last one (0: never); it picks the best
    /// checkpoint.
    #[arg(long, default_value_t = 256)]
    pub probe_size: usize,
    /// Steps between valid probes (default 25). The one setting `--resume` may change:
    /// the probe reads the adapter and never feeds the update, so a run resumed with
    /// another interval trains exactly as before.
    #[arg(long)]
    pub probe_every: Option<usize>,
    /// Seed of the probe's draw (default: --seed): keep one probe across runs that
    /// differ in seed.
    #[arg(long)]
    pub probe_seed: Option<u64>,
    /// Rebuild the whole item table through the current adapter every N steps (0:
    /// never; the batch targets' rows are refreshed after every update).
    #[arg(long, default_value_t = 25)]
    pub table_every: usize,
    /// Chains per differentiable forward and backward (memory grows with it).
    #[arg(long, default_value_t = 1)]
    pub micro_batch: usize,
    /// Evaluate on the first N examples of valid and test.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    #[arg(long)]
    pub eval_max_new_tokens: Option<usize>,
    #[arg(long, default_value_t = 10)]
    pub rollout_log_every: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 4)]
    pub lora_r: usize,
    #[arg(long, default_value_t = 128.0)]
    pub lora_alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    pub lora_dropout: f64,
    /// Comma-separated PEFT module names.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    )]
    pub lora_targets: Vec<String>,
    /// LoRA on the top N decoder layers only (PEFT's `layers_to_transform`; the adapter
    /// still loads in PEFT): the layers below have no gradient, so the differentiable
    /// pass records and walks back only the top N. A named approximation for small
    /// hardware, off by default (all layers, SPEC §5.6).
    #[arg(long)]
    pub lora_layers: Option<usize>,
    /// Temperature of the item scores cos / tau in the losses and rewards.
    #[arg(long, default_value_t = r2ec::rec::TAU)]
    pub tau: f32,
    /// A tau schedule (a named setting, off by default): tau moves geometrically from
    /// --tau to this over the first --tau-steps steps, then stays here.
    #[arg(long, requires = "tau_steps")]
    pub tau_end: Option<f32>,
    #[arg(long, default_value_t = 0, requires = "tau_end")]
    pub tau_steps: usize,
    /// Centring: users and items scored after removing the mean of the starting item
    /// table's rows (the base vectors are nearly parallel). Kept with every checkpoint,
    /// so inference scores the same way. A named setting, off by default.
    #[arg(long)]
    pub centre: bool,
    /// The logQ correction of the in-batch negatives in the item loss (popular items
    /// are drawn as negatives more often). A named setting, off by default.
    #[arg(long)]
    pub logq: bool,
    /// Weight of a full-table term in the contrastive step (0: off): each user vector
    /// against every row of the run's item table, history masked, gradient on the
    /// user side only. A named setting for small batches.
    #[arg(long, default_value_t = 0.0)]
    pub table_loss: f64,
    /// Weight of a full-table term in RecPO's item loss (0: off): the top chains' h_T
    /// against every row of the run's item table, history masked, weighted by their
    /// advantage, gradient on the user side only. A named setting for small batches.
    #[arg(long, default_value_t = 0.0)]
    pub recpo_table_loss: f64,
    /// Weight of RecPO's token loss in the total (1: the paper's token + item loss).
    /// Below 1 the item loss steers the top layers more than the chains' policy
    /// gradient. A named setting, 1 by default.
    #[arg(long)]
    pub token_loss_weight: Option<f64>,
    /// Weight of the ending loss (0: off): the `<answer>` appended to each group's best
    /// chain, when that chain ran out of budget, is trained as that chain's own ending,
    /// so a policy that never samples the tag learns to write it. A named setting.
    #[arg(long)]
    pub ending_loss: Option<f64>,
    /// Catalogue items drawn uniformly per contrastive step as extra negatives, encoded
    /// by the current adapter (mixed negative sampling). A named setting, 0 by default.
    #[arg(long, default_value_t = 0)]
    pub uniform_negatives: usize,
    /// Item alignment before RecPO: the first N steps take the w/o-reasoning
    /// contrastive loss on --align-users users each (a w/o-reasoning run given the same
    /// numbers takes the same first steps).
    #[arg(long, default_value_t = 0)]
    pub align_steps: usize,
    #[arg(long, default_value_t = 64)]
    pub align_users: usize,
    /// Learning rate of the alignment steps (default: --lr).
    #[arg(long)]
    pub align_lr: Option<f64>,
    /// Start from this checkpoint (a run's `checkpoints/step-N` or `best`, or an
    /// adapter folder) instead of a fresh adapter: its LoRA weights and, if it has
    /// one, its centre; the optimizer starts fresh. How R²ec and w/o reasoning share
    /// one alignment stage.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Training users the --init checkpoint had already seen, where this run's count of
    /// users seen starts (`plot --x users`). Read from the checkpoint when it is a run's
    /// `checkpoints/step-N` or `best`; an adapter folder needs it given (else 0).
    #[arg(long, requires = "init")]
    pub init_users: Option<usize>,
    /// Continue run RUN_DIR from its newest checkpoint in the new folder --out, with
    /// the settings given here among --answer-bonus, --answer-bonus-on,
    /// --answer-min-tokens, --answer-min-ramp, --reward-repeat-penalty, --lr,
    /// --token-loss-weight and --ending-loss changed from that step.
    /// Everything else carries over: adapter, optimizer, RNG, step, logs; the fork's
    /// config.json records the branch.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["resume", "init"])]
    pub fork: Option<PathBuf>,
}

/// Set `slot` to `new` where one is given and differs, noting `name: old -> new`.
fn change<T: PartialEq + Copy + std::fmt::Display>(
    changed: &mut Vec<String>,
    name: &str,
    slot: &mut T,
    new: Option<T>,
) {
    if let Some(v) = new.filter(|v| v != slot) {
        changed.push(format!("{name}: {slot} -> {v}"));
        *slot = v;
    }
}

/// The bench configuration that times the item table's rebuild.
const TABLE_BENCH: &str = "table-rebuild";

fn parse_ndcg_k(s: &str) -> Result<usize, String> {
    match s {
        "all" => Ok(0),
        _ => match s.parse::<usize>() {
            Ok(k) if k > 0 => Ok(k),
            _ => Err(format!("`{s}` is not a positive cut-off or `all`")),
        },
    }
}

fn parse_reward(s: &str) -> Result<RewardKind, String> {
    RewardKind::parse(s).ok_or_else(|| format!("unknown reward `{s}` (fused, ranking, similarity)"))
}

fn parse_answer_bonus_on(s: &str) -> Result<AnswerBonusOn, String> {
    AnswerBonusOn::parse(s).ok_or_else(|| format!("unknown `{s}` (written, ended)"))
}

fn parse_advantage(s: &str) -> Result<AdvantageKind, String> {
    AdvantageKind::parse(s).ok_or_else(|| format!("unknown advantage `{s}` (grpo, rloo)"))
}

/// Prints the item encoding's progress every 5 seconds and at the end.
fn encoding_progress() -> impl FnMut(usize, usize) {
    let mut last = std::time::Instant::now();
    move |done, total| {
        if last.elapsed().as_secs() >= 5 || done == total {
            last = std::time::Instant::now();
            eprintln!("encoding items: {done}/{total}");
        }
    }
}

/// The timed step of median length (the upper one of an even count).
fn median_step(steps: &mut [r2ec::train::bench::StepBench]) -> r2ec::train::bench::StepBench {
    steps.sort_by(|a, b| a.step_secs.total_cmp(&b.step_secs));
    steps[steps.len() / 2].clone()
}

/// A bench JSON line as one readable line: the figures a reader compares.
fn readable_bench(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
    let name = v.get("config").and_then(|c| c.as_str()).unwrap_or("?");
    let mut parts = vec![name.to_string()];
    let mut add = |label: &str, key: &str, digits: usize| {
        if let Some(x) = num(key) {
            parts.push(format!("{label} {x:.digits$}"));
        }
    };
    add("users/h", "users_per_hour", 0);
    add("step s", "step_secs", 1);
    add("rollout s", "rollout_secs", 1);
    add("prompt s", "prompt_secs", 1);
    add("chains s", "chains_secs", 1);
    add("items s", "items_secs", 1);
    add("fwd+bwd tok/s", "fwd_bwd_tok_s", 0);
    add("peak MiB", "peak_rss_mib", 0);
    add("table rebuild s", "table_rebuild_secs", 1);
    add("items/s", "items_per_sec", 1);
    parts.join(" | ")
}

/// The adapter folder of `--init`: a checkpoint's `adapter/`, or the folder itself.
fn init_adapter_dir(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    let inner = path.join("adapter");
    let dir = if inner.join("adapter_config.json").is_file() {
        inner
    } else {
        path.to_path_buf()
    };
    if !dir.join("adapter_config.json").is_file() {
        bail!(
            "--init {}: neither it nor its `adapter/` holds an adapter_config.json",
            path.display()
        );
    }
    Ok(dir)
}

impl TrainArgs {
    fn config(&self) -> RecPoConfig {
        let d = RecPoConfig::default();
        RecPoConfig {
            steps: self.steps.unwrap_or(d.steps),
            users_per_step: self.users_per_step,
            group_size: self.group_size,
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            top_k: self.top_k,
            greedy_chains: self.greedy_chains,
            reward: r2ec::train::reward::RewardConfig {
                kind: self.reward,
                beta: self.beta,
                ndcg_k: self.ndcg_k,
                answer_bonus: self.answer_bonus.unwrap_or(0.0),
                answer_bonus_on: self.answer_bonus_on.unwrap_or_default(),
                answer_min_tokens: self.answer_min_tokens.unwrap_or(0),
                answer_min_ramp: self.answer_min_ramp.unwrap_or(false),
                repeat_penalty: self.reward_repeat_penalty.unwrap_or(0.0),
            },
            advantage: self.advantage,
            adv_std_floor: self.adv_std_floor,
            eps_low: self.eps_low,
            eps_high: self.eps_high,
            item_top_k: self.item_top_k,
            lr: self.lr.unwrap_or(d.lr),
            warmup_steps: self.warmup_steps,
            weight_decay: self.weight_decay,
            max_grad_norm: self.max_grad_norm,
            no_reasoning: self.no_reasoning,
            eval_every: self.eval_every,
            eval_limit: self.eval_limit,
            eval_max_new_tokens: self.eval_max_new_tokens.unwrap_or(self.max_new_tokens),
            rollout_log_every: self.rollout_log_every,
            probe_size: self.probe_size,
            probe_every: self
                .probe_every
                .unwrap_or(RecPoConfig::default().probe_every),
            probe_seed: self.probe_seed,
            table_every: self.table_every,
            train_micro_batch: self.micro_batch,
            tau: self.tau,
            tau_end: self.tau_end,
            tau_steps: self.tau_steps,
            centre: self.centre,
            logq: self.logq,
            table_loss: self.table_loss,
            recpo_table_loss: self.recpo_table_loss,
            token_loss_weight: self.token_loss_weight.unwrap_or(d.token_loss_weight),
            ending_loss: self.ending_loss.unwrap_or(d.ending_loss),
            uniform_negatives: self.uniform_negatives,
            align_steps: self.align_steps,
            align_users_per_step: self.align_users,
            align_lr: self.align_lr,
            init: self.init.clone(),
            init_users: self.init_users.unwrap_or(0),
            seed: self.seed,
            ..d
        }
    }

    fn lora_config(&self, num_layers: usize) -> anyhow::Result<LoraConfig> {
        let targets = self
            .lora_targets
            .iter()
            .map(|n| {
                LoraTarget::from_peft_name(n.trim())
                    .with_context(|| format!("--lora-targets: unknown module `{n}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(LoraConfig {
            r: self.lora_r,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            target_modules: targets,
            layers: self
                .lora_layers
                .and_then(|n| LoraConfig::top_layers(n, num_layers)),
        })
    }

    /// The base model's item table, from the data set's cache or encoded and cached.
    fn base_table(
        &self,
        model: &r2ec::model::loaded::LoadedModel,
        data: &r2ec::data::PreparedDataset,
    ) -> anyhow::Result<r2ec::rec::ItemTable> {
        let (table, status) = load_item_table(model, data, &self.data, &mut encoding_progress())?;
        eprintln!("{status}");
        Ok(table)
    }

    /// One bench configuration in this process: a step of a preset, or the item table
    /// rebuilt through a fresh top-8-layer adapter. Returns its JSON line.
    fn bench_one(
        &self,
        name: &str,
        model: &r2ec::model::loaded::LoadedModel,
        data: &r2ec::data::PreparedDataset,
        table: &r2ec::rec::ItemTable,
    ) -> anyhow::Result<String> {
        let layers = model.config().num_hidden_layers;
        if name == TABLE_BENCH {
            let lora = LoraConfig {
                layers: LoraConfig::top_layers(8, layers),
                ..self.lora_config(layers)?
            };
            let adapter = Lora::new(lora, model.config(), model.device(), 0)?;
            // As a run rebuilds: the first time computes the base model's lower 22
            // layers and keeps them, every later time runs the adapted 8 only.
            let lower = LowerStates::new(adapter.first_adapted_layer(), 4 << 30);
            let rebuild = || -> anyhow::Result<(usize, f64)> {
                let t = std::time::Instant::now();
                let table = rebuild_table(
                    model,
                    Some(&adapter),
                    Some(&lower),
                    data,
                    16,
                    &mut |_, _| {},
                )?;
                Ok((table.len(), t.elapsed().as_secs_f64()))
            };
            let (_, first) = rebuild()?;
            let (items, secs) = rebuild()?;
            eprintln!(
                "{name}: {items} items, first rebuild {first:.1} s, later ones {secs:.1} s \
                 ({:.0} MiB of lower-layer states kept)",
                lower.bytes() as f64 / 1048576.0
            );
            return Ok(serde_json::to_string(&serde_json::json!({
                "config": name,
                "items": items,
                "table_rebuild_secs": secs,
                "items_per_sec": items as f64 / secs,
                "first_rebuild_secs": first,
                "lower_states_mib": lower.bytes() as f64 / 1048576.0,
                "peak_rss_mib": peak_rss_mib(),
            }))?);
        }
        let preset = Preset::find(name).with_context(|| {
            let known: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
            format!(
                "--bench-config: unknown `{name}` ({}, {TABLE_BENCH})",
                known.join(", ")
            )
        })?;
        let cfg = preset.config(&self.config());
        let lora = LoraConfig {
            layers: preset
                .lora_layers
                .and_then(|n| LoraConfig::top_layers(n, layers)),
            ..self.lora_config(layers)?
        };
        let adapter = Lora::new(lora, model.config(), model.device(), cfg.seed)?;
        let step = || bench_step(name, model, &adapter, data, table, &cfg, preset.lora_layers);
        for _ in 0..self.bench_warmup {
            let w = step()?;
            eprintln!("{name}: warm-up step {:.1} s", w.step_secs);
        }
        let mut timed = (0..self.bench_repeats)
            .map(|_| step())
            .collect::<Result<Vec<_>, _>>()?;
        let mut b = median_step(&mut timed);
        b.peak_rss_mib = peak_rss_mib();
        eprintln!(
            "{name}: {:.0} users/h, step {:.1} s (median of {}, after {} warm-up), \
             forward+backward {:.1} tok/s, peak {:.0} MiB",
            b.users_per_hour,
            b.step_secs,
            self.bench_repeats,
            self.bench_warmup,
            b.fwd_bwd_tok_s,
            b.peak_rss_mib.unwrap_or(0.0)
        );
        Ok(serde_json::to_string(&b)?)
    }

    /// The settings of a resumed run: its config.json, `--steps` applied.
    /// What can be told about the run folder before the model is loaded (minutes on a
    /// CPU): a resumed run has its config and a whole checkpoint, a new one an empty
    /// folder.
    fn check_run_folder(&self, out: &std::path::Path) -> anyhow::Result<()> {
        let checkpoints = list_checkpoints(out)?;
        if self.resume {
            self.resumed_config(out)?;
            if let Some((_, dir)) = checkpoints.last() {
                r2ec::train::checkpoint::verify_checkpoint(dir)?;
            }
        } else if !checkpoints.is_empty() || out.join(r2ec::train::trainer::METRICS_FILE).exists() {
            bail!(
                "{} already holds a run; pass --resume to continue it or choose another folder",
                out.display()
            );
        }
        Ok(())
    }

    fn resumed_config(&self, out: &std::path::Path) -> anyhow::Result<RecPoConfig> {
        let mut cfg = read_config(out)?;
        if let Some(s) = self.steps {
            cfg.steps = s;
        }
        if let Some(every) = self.probe_every {
            cfg.probe_every = every;
        }
        Ok(cfg)
    }

    /// The settings a fork may change, as given on the command line, applied to the
    /// parent's: the reward's format terms, the learning rate, the token loss's weight
    /// and the ending loss's. One `name: old -> new` per setting that changes.
    fn fork_changes(&self, cfg: &mut RecPoConfig) -> Vec<String> {
        let mut changed = Vec::new();
        let r = &mut cfg.reward;
        change(
            &mut changed,
            "reward.answer_bonus",
            &mut r.answer_bonus,
            self.answer_bonus,
        );
        change(
            &mut changed,
            "reward.answer_bonus_on",
            &mut r.answer_bonus_on,
            self.answer_bonus_on,
        );
        change(
            &mut changed,
            "reward.answer_min_tokens",
            &mut r.answer_min_tokens,
            self.answer_min_tokens,
        );
        change(
            &mut changed,
            "reward.answer_min_ramp",
            &mut r.answer_min_ramp,
            self.answer_min_ramp,
        );
        change(
            &mut changed,
            "reward.repeat_penalty",
            &mut r.repeat_penalty,
            self.reward_repeat_penalty,
        );
        change(&mut changed, "lr", &mut cfg.lr, self.lr);
        change(
            &mut changed,
            "token_loss_weight",
            &mut cfg.token_loss_weight,
            self.token_loss_weight,
        );
        change(
            &mut changed,
            "ending_loss",
            &mut cfg.ending_loss,
            self.ending_loss,
        );
        changed
    }

    pub fn run(mut self, paths: &Paths) -> anyhow::Result<()> {
        if let (Some(from), Some(out), false) = (&self.fork, &self.out, self.bench) {
            let cfg = fork_run(from, out, |cfg| self.fork_changes(cfg))?;
            let record = cfg.forks.last().map(|f| f.changed.join(", "));
            eprintln!(
                "forked {} at its step {} into {} ({})",
                from.display(),
                cfg.forks.last().map_or(0, |f| f.step),
                out.display(),
                match record.as_deref() {
                    None | Some("") => "nothing changed",
                    Some(r) => r,
                }
            );
            // From here on the fork is a run to resume.
            self.resume = true;
        }
        if let (Some(out), false) = (&self.out, self.bench) {
            self.check_run_folder(out)?;
        }
        let data = super::data::open_prepared(paths, &self.data)?;
        let opts = ModelOpts {
            model: self.model.clone(),
            // Training starts from the base weights; a resumed run reads its adapter
            // from its checkpoint.
            adapter: None,
            device: self.device,
            weights: self.weights,
            no_reasoning: self.no_reasoning,
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            top_k: Some(self.top_k),
            top_p: None,
            seed: self.seed,
            // Rollouts sample as SPEC §5 says: no repetition control.
            repetition_penalty: 1.0,
            no_repeat_ngram: 0,
        };
        let model = opts.load(paths, false)?;
        if self.bench {
            let table = self.base_table(&model, &data)?;
            // Every configuration in turn (or the one asked for), the peak memory
            // restarted before each, one JSON line each as it finishes.
            let all: Vec<&str> = PRESETS
                .iter()
                .map(|p| p.name)
                .chain([TABLE_BENCH])
                .collect();
            let names = match self.bench_config.as_deref() {
                Some(name) => vec![name],
                None => all,
            };
            for name in names {
                if !reset_peak_rss() {
                    eprintln!("note: peak memory cannot be restarted here; peaks accumulate");
                }
                let line = self.bench_one(name, &model, &data, &table)?;
                if self.json {
                    println!("{line}");
                } else {
                    println!("{}", readable_bench(&line));
                }
            }
            return Ok(());
        }
        let Some(out) = self.out.clone() else {
            bail!("--out RUN_DIR is required");
        };
        let mut cfg = if self.resume {
            self.resumed_config(&out)?
        } else {
            self.config()
        };
        if let (Some(path), None) = (&self.init, self.init_users) {
            match users_at_checkpoint(path)? {
                Some(users) => cfg.init_users = users,
                None => eprintln!(
                    "{} does not say how many users trained it; this run counts users \
                     seen from 0 (--init-users N counts them)",
                    path.display()
                ),
            }
        }
        // A resumed run takes its LoRA settings from its own checkpoint.
        let init = self.init.as_deref().map(init_adapter_dir).transpose()?;
        // Read with the adapter, not after the table is encoded (minutes later, by when a
        // running run may have pruned that checkpoint).
        let init_centre = match &init {
            Some(dir) => r2ec::rec::Centre::load(dir)?,
            None => None,
        };
        let adapter = match (list_checkpoints(&out)?.last(), &init) {
            (Some((step, dir)), _) if self.resume => {
                if is_compact(dir) {
                    eprintln!(
                        "checkpoint step-{step} left its item table out (it was just rebuilt); \
                         rebuilding it through the adapter, a few minutes on a CPU"
                    );
                }
                // `check_run_folder` verified it before the model was loaded.
                Lora::from_dir(&dir.join("adapter"), model.config(), model.device())?
            }
            (_, Some(dir)) => Lora::from_dir(dir, model.config(), model.device())
                .with_context(|| format!("--init {}", dir.display()))?,
            _ => Lora::new(
                self.lora_config(model.config().num_hidden_layers)?,
                model.config(),
                model.device(),
                cfg.seed,
            )?
            .with_base_model(model.name.clone()),
        };
        // The table the run starts from: encoded through the --init adapter (with its
        // centre), else the base model's (a resumed run reads its own from its
        // checkpoint and takes only the ids from this one).
        let table = match &init {
            Some(dir) => {
                eprintln!(
                    "starting from {}; encoding the item table through it",
                    dir.display()
                );
                rebuild_table(
                    &model,
                    Some(&adapter),
                    None,
                    &data,
                    16,
                    &mut encoding_progress(),
                )?
                .with_centre(init_centre)?
            }
            None => self.base_table(&model, &data)?,
        };
        let mut trainer = RecPo::open(&model, &adapter, &data, cfg, &out, table, self.resume)?;
        let stop = AtomicBool::new(false);
        let mut reporter = HeadlessReporter {
            total_steps: trainer.config().steps,
        };
        eprintln!(
            "training {} from step {} to {} in {}",
            model.name,
            trainer.state().step,
            trainer.config().steps,
            out.display()
        );
        trainer.run(&mut reporter, &stop)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use r2ec::train::trainer::CONFIG_FILE;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        train: TrainArgs,
    }

    fn resumed(run: &std::path::Path, extra: &[&str]) -> RecPoConfig {
        let mut argv = vec!["r2ec", "--out", run.to_str().unwrap(), "--resume"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).train.resumed_config(run).unwrap()
    }

    #[test]
    fn a_start_from_an_adapter_folder_counts_the_users_given() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["r2ec", "--out", "new"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|c| c.train.config())
        };
        let cfg = parse(&["--init", "adapter", "--init-users", "4480"]).unwrap();
        assert_eq!((cfg.init_users, cfg.users_seen(2)), (4480, 4480 + 2 * 4));
        assert_eq!(parse(&["--init", "adapter"]).unwrap().init_users, 0);
        // Users of a start only mean something with a start.
        assert!(parse(&["--init-users", "4480"]).is_err());
    }

    #[test]
    fn a_resumed_run_keeps_its_settings_but_steps_and_probe_interval() {
        let dir = tempfile::tempdir().unwrap();
        let saved = RecPoConfig {
            probe_every: 10,
            table_every: 5,
            lr: 3e-4,
            steps: 100,
            ..RecPoConfig::default()
        };
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            serde_json::to_string(&saved).unwrap(),
        )
        .unwrap();
        let same = resumed(dir.path(), &[]);
        assert_eq!((same.probe_every, same.steps), (10, 100));
        // Flags that shape the update are ignored on resume: the saved ones stand.
        let changed = resumed(
            dir.path(),
            &[
                "--probe-every",
                "20",
                "--steps",
                "300",
                "--lr",
                "1",
                "--table-every",
                "1",
            ],
        );
        assert_eq!((changed.probe_every, changed.steps), (20, 300));
        assert_eq!((changed.lr, changed.table_every), (3e-4, 5));
    }

    #[test]
    fn a_fork_changes_only_the_settings_given_and_says_how() {
        let parent = RecPoConfig {
            reward: r2ec::train::reward::RewardConfig {
                answer_bonus: 0.05,
                answer_bonus_on: AnswerBonusOn::Ended,
                repeat_penalty: 0.1,
                ..Default::default()
            },
            ..RecPoConfig::default()
        };
        let args = |extra: &[&str]| {
            let mut argv = vec!["r2ec", "--out", "new", "--fork", "old"];
            argv.extend_from_slice(extra);
            Cli::parse_from(argv).train
        };
        let mut same = parent.clone();
        assert!(args(&[]).fork_changes(&mut same).is_empty());
        assert_eq!(same, parent);
        // A value equal to the parent's is no change.
        assert!(args(&["--reward-repeat-penalty", "0.1"])
            .fork_changes(&mut same)
            .is_empty());
        let mut cfg = parent.clone();
        let changed = args(&[
            "--answer-bonus-on",
            "written",
            "--answer-bonus",
            "0.1",
            "--answer-min-tokens",
            "16",
        ])
        .fork_changes(&mut cfg);
        assert_eq!(
            changed,
            [
                "reward.answer_bonus: 0.05 -> 0.1",
                "reward.answer_bonus_on: ended -> written",
                "reward.answer_min_tokens: 0 -> 16"
            ]
        );
        assert_eq!(cfg.reward.answer_min_tokens, 16);
        assert_eq!(cfg.reward.answer_bonus_on, AnswerBonusOn::Written);
        assert_eq!(
            (cfg.reward.answer_bonus, cfg.reward.repeat_penalty),
            (0.1, 0.1)
        );
        assert_eq!(
            RecPoConfig {
                reward: parent.reward,
                ..cfg.clone()
            },
            parent
        );
        // The learning rate and the token loss's weight change the same way, and a
        // setting not given keeps the parent's value, not the command line's default.
        let mut tuned = RecPoConfig {
            lr: 1e-4,
            token_loss_weight: 0.1,
            ..cfg.clone()
        };
        let changed = args(&["--lr", "3e-4"]).fork_changes(&mut tuned);
        assert_eq!(changed, ["lr: 0.0001 -> 0.0003"]);
        assert_eq!((tuned.lr, tuned.token_loss_weight), (3e-4, 0.1));
        let changed = args(&["--token-loss-weight", "1", "--lr", "3e-4"]).fork_changes(&mut tuned);
        assert_eq!(changed, ["token_loss_weight: 0.1 -> 1"]);
        assert_eq!(
            RecPoConfig {
                lr: 1e-4,
                token_loss_weight: 0.1,
                ..tuned.clone()
            },
            RecPoConfig {
                lr: 1e-4,
                token_loss_weight: 0.1,
                ..cfg
            }
        );
        let changed =
            args(&["--ending-loss", "0.2", "--answer-min-ramp", "true"]).fork_changes(&mut tuned);
        assert_eq!(
            changed,
            [
                "reward.answer_min_ramp: false -> true",
                "ending_loss: 0 -> 0.2"
            ]
        );
        assert!(tuned.reward.answer_min_ramp);
        assert_eq!(tuned.ending_loss, 0.2);
        // A fork is not a resume nor a start from another adapter.
        let argv = ["r2ec", "--out", "new", "--fork", "old", "--resume"];
        assert!(Cli::try_parse_from(argv).is_err());
    }
}
