//! The example picker: the examples of one split, filtered by history length, cold or
//! warm target and a search (user id, or words of the target's or history's titles).
//! Enter copies the example into the history editor; `r` (and `R`) run the highlighted
//! example straight away (see `run::start`).

use std::collections::HashMap;

use crossterm::event::KeyCode;

use super::{Screen, State};
use crate::data::prepared::{PreparedDataset, Split};
use crate::data::Example;
use crate::tui::effect::Effect;
use crate::tui::keys::Action;
use crate::tui::msg::KeyInput;

/// A target item with fewer training interactions than this is "cold".
pub const COLD_BELOW: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthFilter {
    #[default]
    Any,
    /// Fewer than 5 items.
    Short,
    /// 5 to 19 items.
    Medium,
    /// A full window of 20 or more.
    Full,
}

impl LengthFilter {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Self::Any => true,
            Self::Short => n < 5,
            Self::Medium => (5..20).contains(&n),
            Self::Full => n >= 20,
        }
    }
    fn next(self) -> Self {
        match self {
            Self::Any => Self::Short,
            Self::Short => Self::Medium,
            Self::Medium => Self::Full,
            Self::Full => Self::Any,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Any => "any length",
            Self::Short => "history <5",
            Self::Medium => "history 5-19",
            Self::Full => "history 20+",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColdFilter {
    #[default]
    Any,
    Cold,
    Warm,
}

impl ColdFilter {
    fn next(self) -> Self {
        match self {
            Self::Any => Self::Cold,
            Self::Cold => Self::Warm,
            Self::Warm => Self::Any,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Any => "cold+warm",
            Self::Cold => "cold target",
            Self::Warm => "warm target",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PickerState {
    pub split: Split,
    pub length: LengthFilter,
    pub cold: ColdFilter,
    pub query: String,
    pub searching: bool,
    /// Indices into the split's examples that pass the filters.
    pub matches: Vec<usize>,
    pub selected: usize,
    /// Training interactions per item (targets of train examples).
    pub train_counts: HashMap<String, usize>,
}

impl Default for PickerState {
    fn default() -> Self {
        Self {
            split: Split::Test,
            length: LengthFilter::Any,
            cold: ColdFilter::Any,
            query: String::new(),
            searching: false,
            matches: Vec::new(),
            selected: 0,
            train_counts: HashMap::new(),
        }
    }
}

impl PickerState {
    pub fn set_data(&mut self, data: &PreparedDataset) {
        self.train_counts.clear();
        for e in &data.train {
            *self
                .train_counts
                .entry(e.target.item_id.clone())
                .or_default() += 1;
        }
        self.refilter(data);
    }

    pub fn is_cold(&self, item_id: &str) -> bool {
        self.train_counts.get(item_id).copied().unwrap_or(0) < COLD_BELOW
    }

    fn accepts(&self, e: &Example, data: &PreparedDataset, query: &str) -> bool {
        if !self.length.accepts(e.history.len()) {
            return false;
        }
        let cold = self.is_cold(&e.target.item_id);
        match self.cold {
            ColdFilter::Cold if !cold => return false,
            ColdFilter::Warm if cold => return false,
            _ => {}
        }
        if query.is_empty() || e.user_id == query {
            return true;
        }
        let has = |id: &str| {
            data.catalog
                .get(id)
                .is_some_and(|i| i.title.to_lowercase().contains(query))
        };
        has(&e.target.item_id) || e.history.iter().any(|h| has(&h.item_id))
    }

    pub fn refilter(&mut self, data: &PreparedDataset) {
        let q = self.query.trim().to_lowercase();
        self.matches = data
            .split(self.split)
            .iter()
            .enumerate()
            .filter(|(_, e)| self.accepts(e, data, &q))
            .map(|(i, _)| i)
            .collect();
        self.selected = self.selected.min(self.matches.len().saturating_sub(1));
    }
}

/// Keys typed into the search box; `None` when the box is closed.
pub fn text_input(state: &mut State, k: KeyInput) -> Option<Vec<Effect>> {
    if state.screen != Screen::Picker || !state.picker.searching {
        return None;
    }
    match k.code {
        KeyCode::Char(c) => state.picker.query.push(c),
        KeyCode::Backspace => {
            state.picker.query.pop();
        }
        KeyCode::Enter => state.picker.searching = false,
        KeyCode::Esc => {
            state.picker.searching = false;
            state.picker.query.clear();
        }
        _ => return Some(Vec::new()),
    }
    if let Some(data) = state.data.clone() {
        state.picker.refilter(&data);
    }
    Some(Vec::new())
}

pub fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    let Some(data) = state.data.clone() else {
        return Vec::new();
    };
    let p = &mut state.picker;
    let last = p.matches.len().saturating_sub(1);
    match action {
        Action::Up => p.selected = p.selected.saturating_sub(1),
        Action::Down => p.selected = (p.selected + 1).min(last),
        Action::PageUp => p.selected = p.selected.saturating_sub(10),
        Action::PageDown => p.selected = (p.selected + 10).min(last),
        Action::Top => p.selected = 0,
        Action::Bottom => p.selected = last,
        Action::Search => p.searching = true,
        Action::CycleSplit => {
            p.split = match p.split {
                Split::Test => Split::Train,
                Split::Train => Split::Valid,
                Split::Valid => Split::Test,
            };
            p.selected = 0;
            p.refilter(&data);
        }
        Action::CycleLength => {
            p.length = p.length.next();
            p.refilter(&data);
        }
        Action::CycleCold => {
            p.cold = p.cold.next();
            p.refilter(&data);
        }
        Action::ClearFilters => {
            p.length = LengthFilter::Any;
            p.cold = ColdFilter::Any;
            p.query.clear();
            p.refilter(&data);
        }
        Action::Pick if load_selected(state) => state.screen = Screen::Editor,
        _ => {}
    }
    Vec::new()
}

/// Copy the highlighted example (history, time of the recommendation, target) into the
/// editor, where runs take their history from; false when no example is highlighted.
pub fn load_selected(state: &mut State) -> bool {
    let Some(data) = state.data.clone() else {
        return false;
    };
    let p = &state.picker;
    let Some(&i) = p.matches.get(p.selected) else {
        return false;
    };
    let split = p.split;
    let e = &data.split(split)[i];
    state
        .editor
        .load_example(e, format!("{} #{i}, user {}", split.name(), e.user_id));
    true
}
