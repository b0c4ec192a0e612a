//! Item-table timings: encoding item prompts through the backbone (items/s), and
//! scoring one and 32 user vectors against a large random table.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::median;
use crate::data::{Domain, Item};
use crate::model::chat_template::ChatTemplate;
use crate::model::error::ModelError;
use crate::model::loaded::LoadedModel;
use crate::rec::item_table::{ItemEncoder, ItemTable, TableError};
use crate::rec::items::{ModelEncoder, ITEM_BATCH};
use crate::rec::score::{batch_user_scores, user_scores, ScoreError};
use crate::rec::TAU;

#[derive(Debug, Clone, Serialize)]
pub struct ItemFigures {
    pub items: usize,
    pub items_per_sec: f64,
    pub mean_tokens: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoringFigures {
    pub rows: usize,
    pub ms_one: f64,
    pub ms_batch32: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoringBenchError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Score(#[from] ScoreError),
}

/// Movie-like items with the fields MovieLens has, so prompts have realistic lengths.
fn synthetic_items(n: usize) -> Vec<Item> {
    const GENRES: [&str; 8] = [
        "Action",
        "Comedy",
        "Drama",
        "Thriller",
        "Romance",
        "Sci-Fi",
        "Animation",
        "Horror",
    ];
    (0..n)
        .map(|i| Item {
            item_id: i.to_string(),
            title: format!("The {} Story, Part {}", GENRES[i % 8], i + 1),
            domain: "movies".into(),
            year: Some(1950 + (i % 70) as i32),
            genres: vec![GENRES[i % 8].into(), GENRES[(i / 8) % 8].into()],
            average_rating: None,
            rating_number: None,
            description: None,
        })
        .collect()
}

/// Encode `n` item prompts in batches as the item table build does.
pub fn bench_item_table(model: &LoadedModel, n: usize) -> Result<ItemFigures, ModelError> {
    let domain = Domain::movies();
    let template: &ChatTemplate = &model.template;
    let prompts: Vec<String> = synthetic_items(n)
        .iter()
        .map(|it| crate::data::prompt::item_prompt(template, &domain, it))
        .collect();
    let tokens: usize = prompts
        .iter()
        .map(|p| model.tokenizer.encode(p).map(|v| v.len()).unwrap_or(0))
        .sum();
    let mut enc = ModelEncoder::new(model);
    let t = Instant::now();
    for chunk in prompts.chunks(ITEM_BATCH) {
        enc.encode(chunk)?;
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(ItemFigures {
        items: n,
        items_per_sec: n as f64 / secs,
        mean_tokens: tokens as f64 / n.max(1) as f64,
    })
}

/// Milliseconds to score one user vector, and 32 at once, against `rows` random items.
pub fn bench_scoring(
    rows: usize,
    dim: usize,
    repeats: usize,
) -> Result<ScoringFigures, ScoringBenchError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let data: Vec<f32> = (0..rows * dim).map(|_| rng.random::<f32>() - 0.5).collect();
    let ids: Vec<String> = (0..rows).map(|i| i.to_string()).collect();
    let table = ItemTable::from_rows(ids, dim, data)?;
    let users: Vec<Vec<f32>> = (0..32)
        .map(|_| (0..dim).map(|_| rng.random::<f32>() - 0.5).collect())
        .collect();
    let mut one = Vec::new();
    let mut many = Vec::new();
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let s = user_scores(&table, &users[0], TAU)?;
        one.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(s);
        let t = Instant::now();
        let s = batch_user_scores(&table, &users, TAU)?;
        many.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(s);
    }
    Ok(ScoringFigures {
        rows,
        ms_one: median(&one),
        ms_batch32: median(&many),
    })
}
