//! Test fixtures of the TUI: a tiny prepared data set held in memory, a seeded item
//! table for it, a state that has finished loading, results built from real rankings
//! of that table (no model needed), and a small annotation set with three annotators.

use std::path::PathBuf;
use std::sync::Arc;

use crate::data::prepared::PreparedDataset;
use crate::data::stats::{DatasetStats, SplitCounts};
use crate::data::{Catalog, Example, Interaction, Item};
use crate::model::generate::{StopReason, Timings};
use crate::rec::testing::FakeEncoder;
use crate::rec::ItemTable;

use super::app::{update, Header, State};
use super::effect::{Effect, RunRequest};
use super::keys::KeyMap;
use super::msg::{KeyInput, Msg, RunResult, WorkerEvent};
use crate::rec::ranking::Ranking;
use crate::rec::trace::rank_trace;

pub const TITLES: [&str; 8] = [
    "Star Wars",
    "Godfather, The",
    "Toy Story",
    "Heat",
    "Fargo",
    "Godfather: Part II, The",
    "Aliens",
    "Casablanca",
];

fn inter(item: usize, ts: i64) -> Interaction {
    Interaction {
        item_id: format!("{item}"),
        rating: 4.0,
        timestamp: ts,
    }
}

fn example(user: &str, items: &[usize], target: usize) -> Example {
    Example {
        user_id: user.into(),
        history: items
            .iter()
            .enumerate()
            .map(|(i, &it)| inter(it, 1000 + i as i64 * 86_400))
            .collect(),
        target: inter(target, 1000 + items.len() as i64 * 86_400),
    }
}

pub fn tiny_data() -> Arc<PreparedDataset> {
    let items = TITLES
        .iter()
        .enumerate()
        .map(|(i, t)| Item {
            item_id: format!("{i}"),
            title: t.to_string(),
            domain: "movies".into(),
            year: Some(1970 + i as i32),
            genres: vec![],
            average_rating: None,
            rating_number: None,
            description: None,
        })
        .collect();
    // Item 0 is the target of 5 training examples (warm); everything else is cold.
    let train = (0..5)
        .map(|u| example(&format!("{u}"), &[1, 2], 0))
        .collect();
    let test = vec![
        example("7", &[1, 2, 3], 0),
        example("8", &[3], 4),
        example("9", &[0, 1, 2, 3, 4, 5], 6),
    ];
    Arc::new(PreparedDataset {
        dir: PathBuf::from("datasets/tiny"),
        catalog: Catalog::new(items),
        train,
        valid: vec![example("7", &[1], 2)],
        test,
        stats: DatasetStats {
            name: "tiny".into(),
            source: "test".into(),
            domain: "movies".into(),
            users: 10,
            items: TITLES.len(),
            items_in_source: TITLES.len(),
            interactions: 30,
            interactions_in_source: 30,
            history_window: 20,
            examples: SplitCounts {
                train: 5,
                valid: 1,
                test: 3,
            },
            time_span: None,
            valid_from: None,
            test_from: None,
            window: None,
            k_core: 0,
            valid_targets_unseen_in_train: 0.0,
            test_targets_unseen_in_train: 0.0,
        },
    })
}

pub const DIM: usize = 8;

pub fn tiny_table() -> ItemTable {
    let rows: Vec<f32> = TITLES
        .iter()
        .flat_map(|t| FakeEncoder::vector_of(t, DIM))
        .collect();
    let ids = (0..TITLES.len()).map(|i| format!("{i}")).collect();
    // Invariant: rows has TITLES.len() * DIM values.
    ItemTable::from_rows(ids, DIM, rows).unwrap()
}

/// A state with the tiny data set and a loaded model.
pub fn ready_state() -> State {
    let mut s = State::new(
        Header {
            device: "CPU".into(),
            model: "tiny".into(),
            adapter: "none".into(),
            data: "tiny".into(),
        },
        KeyMap::default(),
    );
    update(&mut s, Msg::Worker(WorkerEvent::DataReady(tiny_data())));
    update(
        &mut s,
        Msg::Worker(WorkerEvent::ModelReady {
            model: "tiny.gguf".into(),
            device: "CPU (2 threads)".into(),
            table: "item table loaded".into(),
        }),
    );
    s
}

pub fn key(s: &mut State, c: char) -> Vec<Effect> {
    update(s, Msg::Key(KeyInput::char(c)))
}

pub fn code(s: &mut State, c: crossterm::event::KeyCode) -> Vec<Effect> {
    update(s, Msg::Key(KeyInput::plain(c)))
}

/// The request of the `Effect::Run` among `effects`.
pub fn run_request(effects: &[Effect]) -> Option<RunRequest> {
    effects.iter().find_map(|e| match e {
        Effect::Run(r) => Some((**r).clone()),
        _ => None,
    })
}

/// A finished run whose user vector is the vector of `like_title` (so that item ranks
/// first unless masked), with a short reasoning trace drifting towards it.
pub fn result_for(req: &RunRequest, like_title: &str, reasoning: &str) -> RunResult {
    let data = tiny_data();
    let table = tiny_table();
    let masked: Vec<usize> = req
        .history
        .iter()
        .filter_map(|h| table.position(&h.item_id))
        .collect();
    let target = req.target.as_ref().map(|t| t.item_id.as_str());
    let uv = FakeEncoder::vector_of(like_title, DIM);
    let ranking = Ranking::of_user_vector(&table, &data.catalog, &uv, &masked, target, 5).unwrap();
    let direct = FakeEncoder::vector_of("something else", DIM);
    let no_reasoning =
        Ranking::of_user_vector(&table, &data.catalog, &direct, &masked, target, 5).unwrap();
    let steps = vec![direct.clone(), uv.clone(), uv];
    let trace = rank_trace(&table, &steps, &ranking, &masked, Some("target".into())).unwrap();
    RunResult {
        request: req.clone(),
        prompt: "<|im_start|>user\nWatched [Heat] (4)<|im_end|>\n<|im_start|>assistant\n".into(),
        reasoning: reasoning.into(),
        tokens: 3,
        stop: StopReason::StopString,
        timings: Timings {
            prompt_tokens: 20,
            prefill_secs: 0.1,
            generated_tokens: 3,
            decode_secs: 0.1,
            first_token_secs: 0.12,
        },
        ranking,
        no_reasoning,
        trace,
        record: "{\n  \"target_rank\": 1\n}".into(),
    }
}

/// An annotation set of three chains: ex0 judged by ann (temporal) and bob (pattern
/// clustering), with the tagger's suggestion (temporal); ex1 and ex2 untouched.
pub fn opened_set() -> crate::tui::msg::OpenedSet {
    use crate::annotate::{Behaviour, Chain, Record};
    let chain = |i: usize, text: &str| Chain {
        id: format!("ex{i}"),
        text: text.into(),
        reward: Some(0.1 * i as f64),
        rank: Some(10 + i as u64),
    };
    let rec = |c: &str, tags: &[Behaviour]| Record {
        chain: c.into(),
        tags: tags.to_vec(),
        spans: crate::annotate::tagger::suggest("Recently they liked comedies"),
        note: String::new(),
        skipped: false,
        time: 1,
    };
    let mut records = std::collections::BTreeMap::new();
    records.insert(
        "tagger".to_string(),
        [("ex0".to_string(), rec("ex0", &[Behaviour::Temporal]))]
            .into_iter()
            .collect(),
    );
    records.insert(
        "bob".to_string(),
        [(
            "ex0".to_string(),
            rec("ex0", &[Behaviour::PatternClustering]),
        )]
        .into_iter()
        .collect(),
    );
    records.insert(
        "ann".to_string(),
        [("ex0".to_string(), rec("ex0", &[Behaviour::Temporal]))]
            .into_iter()
            .collect(),
    );
    crate::tui::msg::OpenedSet {
        name: "r2ec-test".into(),
        chains: vec![
            chain(0, "Recently they liked comedies"),
            chain(1, "A second chain about dramas"),
            chain(2, "A third one"),
        ],
        records,
    }
}
