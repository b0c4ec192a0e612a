//! `r2ec recommend`: one recommendation from the command line. The reasoning streams to
//! stdout as the model writes it, then the top-K items with scores and, for an example,
//! the rank of the true next item. `--json` prints one JSON object instead. Without
//! `--adapter` it runs the shipped checkpoint for the data set, as the TUI does
//! (`--base` for the base model).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use super::checkpoint::Opened;
use super::model_opts::ModelOpts;
use r2ec::data::history::read_history_file;
use r2ec::data::prepared::{PreparedDataset, Split};
use r2ec::data::UserHistory;
use r2ec::model::generate::GenEvent;
use r2ec::paths::Paths;
use r2ec::rec::items::load_item_table;
use r2ec::rec::pipeline::UserEncoder;
use r2ec::rec::recommender::{recommend, RecommendOptions};
use r2ec::rec::UserVectorAt;

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Prepared data set under datasets/ (prepared on the fly when missing).
    #[arg(long, default_value = "ml-100k")]
    pub data: String,
    /// Recommend for this user's latest example (test, else valid, else train).
    #[arg(long, conflicts_with_all = ["index", "history"])]
    pub user: Option<String>,
    /// Which split `--index` counts in.
    #[arg(long, value_parser = parse_split, default_value = "test")]
    pub split: Split,
    /// The N-th example (from 0) of `--split`.
    #[arg(long, conflicts_with = "history")]
    pub index: Option<usize>,
    /// A history file: JSON `{"history": [{"item_id", "rating", "timestamp"}...], "target"?: {...}}`.
    #[arg(long)]
    pub history: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelOpts,
    /// How many items to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Run the base model even when a shipped checkpoint for the data set exists.
    #[arg(long)]
    pub base: bool,
}

pub fn parse_split(s: &str) -> Result<Split, String> {
    match s {
        "train" => Ok(Split::Train),
        "valid" => Ok(Split::Valid),
        "test" => Ok(Split::Test),
        other => Err(format!("unknown split `{other}` (train, valid or test)")),
    }
}

impl RecommendArgs {
    pub fn run(mut self, paths: &Paths) -> anyhow::Result<()> {
        // Like the TUI, the shipped checkpoint for the data set unless another is asked for.
        let opened = Opened::resolve(&self.model, self.base, paths, &self.data);
        self.model.adapter = opened.adapter;
        self.model.max_new_tokens = opened.max_new_tokens;
        let data = super::data::open_prepared(paths, &self.data)?;
        let (example, source) = self.pick_example(&data)?;
        let quiet = self.json;
        let model = self.model.load(paths, quiet)?;
        let mut last = std::time::Instant::now();
        let (table, status) = load_item_table(&model, &data, &self.data, &mut |done, total| {
            if !quiet && (last.elapsed().as_millis() > 500 || done == total) {
                last = std::time::Instant::now();
                eprint!("\rencoding items: {done}/{total}");
                if done == total {
                    eprintln!();
                }
            }
        })?;
        if !quiet {
            eprintln!("{status}");
            eprintln!("{source}");
        }
        let opts = RecommendOptions {
            generate: self.model.generate_options(),
            user_vector: if self.model.no_reasoning {
                UserVectorAt::AfterPrompt
            } else {
                UserVectorAt::AfterReasoning
            },
            top_k: self.top,
        };
        let target = example.target_id();
        let mut stdout = std::io::stdout();
        let mut on_event = |e: GenEvent| {
            if let (false, GenEvent::Text { piece, .. }) = (quiet, e) {
                let _ = write!(stdout, "{piece}");
                let _ = stdout.flush();
            }
        };
        let encoder = UserEncoder::new(&model, &data);
        let rec = recommend(&encoder, &table, &example, &opts, &mut on_event, None)?;
        if let Some(cut) = &rec.history_cut {
            // On stderr in both modes, so `--json` output stays one object.
            if !quiet {
                println!();
            }
            eprintln!("note: {cut}");
        }
        if self.json {
            let out = json!({
                "prompt": rec.prompt,
                "history_cut": rec.history_cut,
                "reasoning": rec.reasoning,
                "reasoning_tokens": rec.reasoning_tokens,
                "stop": rec.stop,
                "top": rec.top,
                "target": rec.target,
                "timing": rec.timing,
                "model": model.name,
                "adapter": self.model.adapter,
                "data": self.data,
                "source": source,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(());
        }
        println!();
        println!();
        let g = &rec.timing.generation;
        println!(
            "reasoning: {} tokens, first token {:.2} s, {:.1} tokens/s; scoring {:.1} ms over {} items",
            rec.reasoning_tokens,
            g.first_token_secs,
            g.decode_tokens_per_sec(),
            rec.timing.scoring_secs * 1000.0,
            table.len()
        );
        println!("top {}:", rec.top.len());
        for (i, it) in rec.top.iter().enumerate() {
            let mark = if Some(it.item_id.as_str()) == target {
                "  <- target"
            } else {
                ""
            };
            println!(
                "{:>4}. {:<50} (item {:>6})  score {:>8.3}{mark}",
                i + 1,
                it.title,
                it.item_id,
                it.score
            );
        }
        if let Some(t) = &rec.target {
            let title = data
                .catalog
                .get(&t.item_id)
                .map(|i| i.title.as_str())
                .unwrap_or("?");
            match t.rank {
                Some(r) => println!(
                    "target: {title} (item {}) ranked {r} of {}",
                    t.item_id,
                    table.len() - example.items().len().min(table.len())
                ),
                None => println!(
                    "target: {title} (item {}) is in the history (masked)",
                    t.item_id
                ),
            }
        }
        Ok(())
    }

    fn pick_example(&self, data: &PreparedDataset) -> anyhow::Result<(UserHistory, String)> {
        if let Some(path) = &self.history {
            return Ok((
                read_history_file(path, &data.catalog)?,
                format!("history from {}", path.display()),
            ));
        }
        if let Some(user) = &self.user {
            for split in [Split::Test, Split::Valid, Split::Train] {
                let examples = data.split(split);
                if let Some((i, ex)) = examples
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, e)| &e.user_id == user)
                {
                    return Ok((
                        UserHistory::of_example(ex, &data.catalog)?,
                        format!("user {user}: {} example {i}", split.name()),
                    ));
                }
            }
            bail!("user `{user}` has no example in data set `{}`", self.data);
        }
        let index = self.index.unwrap_or(0);
        let examples = data.split(self.split);
        let ex = examples.get(index).with_context(|| {
            format!(
                "{} has {} examples; --index {index} is out of range",
                self.split.name(),
                examples.len()
            )
        })?;
        Ok((
            UserHistory::of_example(ex, &data.catalog)?,
            format!("user {}: {} example {index}", ex.user_id, self.split.name()),
        ))
    }
}
