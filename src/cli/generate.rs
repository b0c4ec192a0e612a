//! `r2ec generate`: chat with the backbone, no recommendation: the message goes through
//! the model's chat template and the answer streams until the end of the turn. A quick
//! way to see that a model file loads and writes sensible text.

use std::io::Write;

use clap::Args;

use super::model_opts::ModelOpts;
use r2ec::model::chat_template::Message;
use r2ec::model::generate::{generate_batch, GenEvent, GenerateRequest};
use r2ec::paths::Paths;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The user message.
    #[arg(long)]
    pub prompt: String,
    /// An optional system message (else the template's default, if any).
    #[arg(long)]
    pub system: Option<String>,
    #[command(flatten)]
    pub model: ModelOpts,
}

impl GenerateArgs {
    pub fn run(self, paths: &Paths) -> anyhow::Result<()> {
        let model = self.model.load(paths, false)?;
        let mut messages = Vec::new();
        if let Some(s) = &self.system {
            messages.push(Message::system(s.clone()));
        }
        messages.push(Message::user(self.prompt.clone()));
        let text = model.template.render(&messages, true);
        let ids = model.tokenizer.encode(&text)?;
        let mut opts = self.model.generate_options();
        opts.stop.clear();
        opts.force_answer = false;
        let mut stdout = std::io::stdout();
        let req = [GenerateRequest {
            prompt_ids: ids,
            samples: 1,
        }];
        let (chains, timings) = generate_batch(
            &model.backbone,
            &model.tokenizer,
            &req,
            &opts,
            &mut |e| {
                if let GenEvent::Text { piece, .. } = e {
                    let _ = write!(stdout, "{piece}");
                    let _ = stdout.flush();
                }
            },
            None,
        )?;
        println!();
        let stop = chains
            .first()
            .map(|c| format!("{:?}", c.stop))
            .unwrap_or_default();
        eprintln!(
            "{} prompt tokens at {:.1} tokens/s; {} new tokens at {:.1} tokens/s; first token {:.2} s; stop: {stop}",
            timings.prompt_tokens,
            timings.prefill_tokens_per_sec(),
            timings.generated_tokens,
            timings.decode_tokens_per_sec(),
            timings.first_token_secs
        );
        Ok(())
    }
}
