//! `r2ec eval`: evaluate the model (greedy reasoning, or `--no-reasoning`) or a baseline
//! (`--baseline popular|sasrec`) on a split, full ranking with history masking, and
//! write the report folder (report.json, report.md, examples.jsonl, charts).
//! `r2ec eval --compare DIR...` prints several report folders as one Markdown table and,
//! for two or more, a paired bootstrap test of the first against each other one.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;

use super::model_opts::ModelOpts;
use super::recommend::parse_split;
use r2ec::data::prompt::HISTORY_WINDOW;
use r2ec::data::{Example, PreparedDataset, Split};
use r2ec::eval::baselines::sasrec::{SasRecScorer, CONFIG_FILE};
use r2ec::eval::baselines::{Popularity, SasRec, SasRecConfig};
use r2ec::eval::bootstrap::DEFAULT_SEED;
use r2ec::eval::coldwarm::SeenInTrain;
use r2ec::eval::model_scorer::ModelScorer;
use r2ec::eval::protocol::{leave_one_out, Protocol};
use r2ec::eval::report::{summary_json, write_report, ReportMeta};
use r2ec::eval::{evaluate, select_examples, EvalOptions, EvalRun, Scorer};
use r2ec::paths::Paths;
use r2ec::rec::items::load_item_table;
use r2ec::rec::pipeline::UserEncoder;
use r2ec::rec::UserVectorAt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The LLM recommender (with reasoning unless --no-reasoning).
    Model,
    /// Most popular items of the train split.
    Popular,
    /// SASRec trained with full-softmax cross-entropy (trained here, or reloaded).
    Sasrec,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Prepared data set under datasets/ (prepared on the fly when missing).
    #[arg(long, default_value = "ml-100k")]
    pub data: String,
    #[arg(long, value_parser = parse_split, default_value = "test")]
    pub split: Split,
    /// What to evaluate.
    #[arg(long, value_enum, default_value_t = Method::Model)]
    pub baseline: Method,
    #[command(flatten)]
    pub model: ModelOpts,
    /// Evaluate N examples spread evenly over the split (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Examples per batch (generation and scoring).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Examples scored again one at a time to measure seconds per sample at batch 1.
    #[arg(long, default_value_t = 4)]
    pub batch1_samples: usize,
    /// Report folder (default: sessions/eval/<data>-<split>-<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name of this run in reports and comparison tables.
    #[arg(long)]
    pub name: Option<String>,
    /// Print report.json to stdout.
    #[arg(long)]
    pub json: bool,
    /// Bootstrap resamples for the 95% intervals.
    #[arg(long, default_value_t = r2ec::eval::bootstrap::DEFAULT_RESAMPLES)]
    pub bootstrap: usize,
    /// Which examples are trained and tested on: SPEC §3's temporal split, or per-user
    /// leave-one-out (the protocol of published SASRec figures).
    #[arg(long, value_enum, default_value_t = Protocol::Temporal)]
    pub protocol: Protocol,
    /// SASRec: longest input sequence (default 200 for ml-1m, else 50).
    #[arg(long)]
    pub sasrec_max_len: Option<usize>,
    /// SASRec: training windows per optimizer step.
    #[arg(long, default_value_t = 256)]
    pub sasrec_batch: usize,
    /// SASRec: most training epochs.
    #[arg(long, default_value_t = 200)]
    pub sasrec_epochs: usize,
    /// SASRec: epochs without a better valid NDCG@10 before stopping.
    #[arg(long, default_value_t = 5)]
    pub sasrec_patience: usize,
    /// SASRec: train again even when the report folder holds a trained model.
    #[arg(long)]
    pub retrain: bool,
    /// SASRec: use the model trained in this report folder (no training).
    #[arg(long, conflicts_with = "retrain")]
    pub sasrec_model: Option<PathBuf>,
    /// Print the reports in these folders as one Markdown table, and nothing else; with two
    /// or more, also a paired bootstrap test (N@10, H@10) of the first against each other
    /// one on the same examples (10000 resamples, seed 17).
    #[arg(long, num_args = 1..)]
    pub compare: Vec<PathBuf>,
}

impl EvalArgs {
    pub fn run(self, paths: &Paths) -> anyhow::Result<()> {
        if !self.compare.is_empty() {
            print!("{}", r2ec::eval::compare::compare_table(&self.compare)?);
            return Ok(());
        }
        let data = super::data::open_prepared(paths, &self.data)?;
        let loo = (self.protocol == Protocol::LeaveOneOut).then(|| leave_one_out(&data));
        let (train, valid, all): (&[Example], &[Example], &[Example]) = match &loo {
            None => (&data.train, &data.valid, data.split(self.split)),
            Some(s) => {
                let all = match self.split {
                    Split::Test => &s.test,
                    Split::Valid => &s.valid,
                    Split::Train => anyhow::bail!(
                        "--split train has no examples under --protocol leave-one-out \
                         (it holds one training sequence per user); use valid or test"
                    ),
                };
                (&s.train, &s.valid, all)
            }
        };
        let chosen: Vec<(usize, &Example)> = select_examples(all.len(), self.limit)
            .into_iter()
            .map(|i| (i, &all[i]))
            .collect();
        let quiet = self.json;
        let mut notes = Vec::new();
        if loo.is_some() {
            notes.push(format!(
                "leave-one-out protocol: per user, the last interaction is tested, the second to last \
                 validated, the rest trained on ({} users with at least 3 interactions)",
                all.len()
            ));
        }
        if chosen.len() < all.len() {
            notes.push(format!(
                "{} of the split's {} examples, spread evenly over it (--limit)",
                chosen.len(),
                all.len()
            ));
        }
        let name = self.name.clone().unwrap_or_else(|| self.default_name());
        // The name becomes the report folder's name under sessions/eval/.
        r2ec::util::names::check("evaluation name", &name).map_err(anyhow::Error::msg)?;
        let out = self.out.clone().unwrap_or_else(|| {
            let split = self.split.name();
            let mut dir = format!("{}-{split}-{name}", self.data);
            if loo.is_some() {
                dir.push_str("-loo");
            }
            if let Some(n) = self.limit {
                dir.push_str(&format!("-n{n}"));
            }
            paths.sessions().join("eval").join(dir)
        });
        let opts = EvalOptions {
            batch: self.batch,
            batch1_samples: self.batch1_samples,
        };
        let mut last = Instant::now();
        let mut progress = |done: usize, total: usize| {
            if !quiet && (last.elapsed().as_secs_f64() > 2.0 || done == total) {
                last = Instant::now();
                eprint!("\revaluating: {done}/{total}");
                if done == total {
                    eprintln!();
                }
            }
        };
        let (run, model_name, settings) = match self.baseline {
            Method::Popular => {
                notes.push("item counts over the train split's interactions".into());
                let mut scorer = Popularity::from_train(train, &data.catalog);
                let run = evaluate(&data.catalog, &chosen, &mut scorer, &opts, &mut progress)?;
                (run, None, json!({"counts": "train interactions"}))
            }
            Method::Sasrec => {
                let splits = (train, valid);
                self.run_sasrec(
                    &data,
                    splits,
                    &chosen,
                    &opts,
                    &out,
                    &mut notes,
                    &mut progress,
                )?
            }
            Method::Model => {
                self.run_model(paths, &data, &chosen, &opts, &mut notes, &mut progress)?
            }
        };
        let meta = ReportMeta {
            name,
            method: format!("{:?}", self.baseline).to_lowercase(),
            data: self.data.clone(),
            split: self.split.name().into(),
            model: model_name,
            settings,
            notes,
        };
        let seen = SeenInTrain::from_train(train);
        let summary = summary_json(&meta, &run, &seen, self.bootstrap, DEFAULT_SEED);
        let mut warn = |w: String| eprintln!("warning: {w}");
        write_report(&out, &summary, &run, &data.catalog, &seen, &mut warn)
            .with_context(|| format!("writing the report to {}", out.display()))?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print!("{}", r2ec::eval::compare::compare_summaries(&[summary]));
            println!("report: {}", out.display());
        }
        Ok(())
    }

    fn default_name(&self) -> String {
        match self.baseline {
            Method::Popular => "popular".into(),
            Method::Sasrec => "sasrec".into(),
            Method::Model => {
                let path = self.model.model.clone().unwrap_or_default();
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "SmolLM2-135M-Instruct".into());
                let stem = stem.split('.').next().unwrap_or(&stem).to_string();
                if self.model.no_reasoning {
                    format!("{stem}-no-reasoning")
                } else {
                    format!("{stem}-t{}", self.model.max_new_tokens)
                }
            }
        }
    }

    fn run_model(
        &self,
        paths: &Paths,
        data: &PreparedDataset,
        chosen: &[(usize, &Example)],
        opts: &EvalOptions,
        notes: &mut Vec<String>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> anyhow::Result<(EvalRun, Option<String>, serde_json::Value)> {
        let model = self.model.load(paths, self.json)?;
        let quiet = self.json;
        let mut last = Instant::now();
        let (table, status) = load_item_table(&model, data, &self.data, &mut |done, total| {
            if !quiet && (last.elapsed().as_secs_f64() > 1.0 || done == total) {
                last = Instant::now();
                eprint!("\rencoding items: {done}/{total}");
                if done == total {
                    eprintln!();
                }
            }
        })?;
        if !self.json {
            eprintln!("{status}");
        }
        let user_vector = if self.model.no_reasoning {
            notes.push("no reasoning: user vector read straight after the prompt".into());
            UserVectorAt::AfterPrompt
        } else {
            if self.model.max_new_tokens != 640 {
                notes.push(format!(
                    "reasoning cut at {} new tokens (paper: 640)",
                    self.model.max_new_tokens
                ));
            }
            UserVectorAt::AfterReasoning
        };
        let generate = self.model.generate_options();
        if !generate.repetition.is_off() {
            notes.push(format!(
                "repetition control on (penalty {}, no repeated {}-grams): not SPEC decoding",
                generate.repetition.penalty, generate.repetition.no_repeat_ngram
            ));
        }
        let mut scorer = ModelScorer::new(
            UserEncoder::new(&model, data),
            &table,
            generate.clone(),
            user_vector,
        );
        let run = evaluate(
            &data.catalog,
            chosen,
            &mut scorer as &mut dyn Scorer,
            opts,
            progress,
        )?;
        let settings = json!({
            "max_new_tokens": generate.max_new_tokens,
            "sampling": format!("{:?}", generate.sampling),
            "repetition_penalty": generate.repetition.penalty,
            "no_repeat_ngram": generate.repetition.no_repeat_ngram,
            "user_vector": format!("{user_vector:?}"),
            "history_window": HISTORY_WINDOW,
            "tau": r2ec::rec::TAU,
            "model_path": model.path.display().to_string(),
        });
        Ok((run, Some(model.name.clone()), settings))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_sasrec(
        &self,
        data: &PreparedDataset,
        (train, valid): (&[Example], &[Example]),
        chosen: &[(usize, &Example)],
        opts: &EvalOptions,
        out: &std::path::Path,
        notes: &mut Vec<String>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> anyhow::Result<(EvalRun, Option<String>, serde_json::Value)> {
        let (device, _) = r2ec::model::device::pick_device(self.model.device)?;
        let ml1m = self.data.starts_with("ml-1m");
        let t = Instant::now();
        let (sasrec, trained) = if let Some(dir) = &self.sasrec_model {
            let s = SasRec::load(dir, &data.catalog, &device)?;
            // The report folder keeps the model it was made with.
            s.save(out, &data.catalog)?;
            (s, false)
        } else if !self.retrain && out.join(CONFIG_FILE).is_file() {
            (SasRec::load(out, &data.catalog, &device)?, false)
        } else {
            let cfg = SasRecConfig {
                max_len: self.sasrec_max_len.unwrap_or(if ml1m { 200 } else { 50 }),
                max_epochs: self.sasrec_epochs,
                batch: self.sasrec_batch,
                patience: self.sasrec_patience,
                seed: self.model.seed,
                ..Default::default()
            };
            let quiet = self.json;
            let s = r2ec::eval::baselines::sasrec::train_sasrec(
                &cfg,
                train,
                valid,
                &data.catalog,
                &device,
                &mut |e| {
                    if !quiet {
                        eprintln!(
                            "sasrec epoch {:>3}: loss {:.4}, valid NDCG@10 {:.4} (best epoch {}), {:.1} s",
                            e.epoch, e.loss, e.valid_ndcg10, e.best_epoch, e.secs
                        );
                    }
                },
            )?;
            s.save(out, &data.catalog)?;
            (s, true)
        };
        let train_secs = t.elapsed().as_secs_f64();
        let input = match self.protocol {
            Protocol::Temporal => format!(
                "each example's history (up to {HISTORY_WINDOW} items, as the LLM reads it)"
            ),
            Protocol::LeaveOneOut => format!(
                "the user's whole sequence before the target (last {} items)",
                sasrec.model.cfg.max_len
            ),
        };
        notes.push(format!(
            "SASRec trained on the train split only, early stopping on valid NDCG@10 (best epoch {}); \
             input = {input}",
            sasrec.best_epoch
        ));
        if ml1m {
            notes.push(published_sasrec_note(self.protocol));
        }
        let mut scorer = SasRecScorer {
            sasrec: &sasrec,
            catalog: &data.catalog,
        };
        let run = evaluate(&data.catalog, chosen, &mut scorer, opts, progress)?;
        let mut settings = serde_json::to_value(&sasrec.model.cfg)?;
        settings["best_epoch"] = json!(sasrec.best_epoch);
        settings["best_valid_ndcg@10"] = json!(sasrec.best_valid_ndcg10);
        settings["loss"] = json!("full-softmax cross-entropy over all items");
        settings["protocol"] = json!(self.protocol.name());
        settings["optimizer"] = json!("Adam, no weight decay");
        if trained {
            settings["train_secs"] = json!(train_secs);
        }
        Ok((run, None, settings))
    }
}

/// Published SASRec figures on ML-1M (leave-one-out, full ranking) to set beside ours.
fn published_sasrec_note(protocol: Protocol) -> String {
    let published = "published on ML-1M, leave-one-out, full ranking: SASRec+ (full-softmax CE, \
        max length 200) HR@10 0.3152, NDCG@10 0.1821 (Klenitskiy & Vasilev, RecSys 2023, \
        arXiv 2309.07602, Table 2); SASRec with BCE and one negative NDCG@10 0.1259, Recall@10 \
        0.2392 (Petrov & Macdonald, gSASRec, RecSys 2023, their released ML-1M checkpoint)";
    match protocol {
        Protocol::LeaveOneOut => format!(
            "{published}; this run uses the same protocol on the raw ML-1M ratings (all 3706 rated \
             items, no 5-core filter, history items masked from the ranking)"
        ),
        Protocol::Temporal => format!(
            "{published}; this run uses SPEC §3's global temporal 80/10/10 split, so it is not \
             comparable (run with --protocol leave-one-out for that)"
        ),
    }
}
