//! The Annotate screen's state: pick a set (an existing one under
//! `sessions/annotations/`, or an evaluation report opened as a new set), then tag each
//! chain with behaviour keys 1-7, accept the tagger's suggestions, add a note, skip, go
//! back and forth. Every confirmed judgement is saved at once (an effect the runtime
//! carries out with the synced store); reopening resumes at the first untagged chain.
//! Blind mode hides other annotators' tags and the model's reward and rank.

use std::collections::BTreeMap;

use crossterm::event::KeyCode;

use super::{Effect, Screen, State};
use crate::annotate::stats::TAGGER;
use crate::annotate::{Behaviour, Chain, Record};
use crate::tui::keys::Action;
use crate::tui::msg::KeyInput;

/// A set as opened: its chains and every annotator's latest records.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedSet {
    pub name: String,
    pub chains: Vec<Chain>,
    pub records: BTreeMap<String, BTreeMap<String, Record>>,
}

/// What can be opened: existing sets, and evaluation reports not yet turned into sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SetChoices {
    pub sets: Vec<String>,
    pub reports: Vec<String>,
}

#[derive(Debug, Default)]
pub struct AnnotateState {
    pub annotator: String,
    pub choices: SetChoices,
    pub selected: usize,
    pub set: Option<OpenedSet>,
    pub index: usize,
    /// Tags being chosen for the current chain (saved on Enter).
    pub draft: Vec<Behaviour>,
    /// `Some` while a note is typed.
    pub note: Option<String>,
    pub blind: bool,
    pub listing: bool,
}

impl AnnotateState {
    pub fn chain(&self) -> Option<&Chain> {
        self.set.as_ref()?.chains.get(self.index)
    }

    pub fn mine(&self) -> Option<&BTreeMap<String, Record>> {
        self.set.as_ref()?.records.get(&self.annotator)
    }

    /// Chains judged or skipped by this annotator.
    pub fn done(&self) -> usize {
        self.mine().map_or(0, BTreeMap::len)
    }

    pub fn suggestion(&self) -> Option<&Record> {
        self.set
            .as_ref()?
            .records
            .get(TAGGER)?
            .get(&self.chain()?.id)
    }

    /// Load the draft from this annotator's record of the current chain, if any.
    fn load_draft(&mut self) {
        let id = self.chain().map(|c| c.id.clone());
        self.draft = id
            .and_then(|id| self.mine()?.get(&id).map(|r| r.tags.clone()))
            .unwrap_or_default();
    }
}

/// Entering the screen lists the sets (until one is open).
pub fn on_enter(state: &mut State) -> Vec<Effect> {
    if state.screen == Screen::Annotate && state.annotate.set.is_none() && !state.annotate.listing {
        state.annotate.listing = true;
        return vec![Effect::ListAnnotationSets];
    }
    Vec::new()
}

pub fn on_choices(state: &mut State, c: SetChoices) {
    state.annotate.listing = false;
    state.annotate.selected = 0;
    state.annotate.choices = c;
}

pub fn on_opened(state: &mut State, r: Result<OpenedSet, String>) {
    match r {
        Ok(set) => {
            let a = &mut state.annotate;
            let order: Vec<String> = set.chains.iter().map(|c| c.id.clone()).collect();
            let mine = set.records.get(&a.annotator);
            a.index = order
                .iter()
                .position(|id| mine.is_none_or(|m| !m.contains_key(id)))
                .unwrap_or(order.len().saturating_sub(1));
            state.status = format!(
                "set {}: {} chains, resuming at {} as {}",
                set.name,
                set.chains.len(),
                a.index + 1,
                a.annotator
            );
            a.set = Some(set);
            a.load_draft();
        }
        Err(e) => state.status = format!("cannot open the set: {e}"),
    }
}

pub fn on_saved(state: &mut State, r: Result<Record, String>) {
    match r {
        Ok(rec) => {
            let a = &mut state.annotate;
            if let Some(set) = &mut a.set {
                state.status = format!("saved {} ({} tags)", rec.chain, rec.tags.len());
                set.records
                    .entry(a.annotator.clone())
                    .or_default()
                    .insert(rec.chain.clone(), rec);
            }
        }
        Err(e) => state.status = format!("NOT saved: {e}"),
    }
}

/// Keys the screen takes before any binding: behaviour keys and note typing.
pub fn key_input(state: &mut State, k: KeyInput) -> Option<Vec<Effect>> {
    if state.screen != Screen::Annotate || state.annotate.set.is_none() {
        return None;
    }
    let a = &mut state.annotate;
    if let Some(note) = &mut a.note {
        match k.code {
            KeyCode::Char(c) => note.push(c),
            KeyCode::Backspace => {
                note.pop();
            }
            KeyCode::Esc => a.note = None,
            KeyCode::Enter => return Some(save(state, false)),
            _ => {}
        }
        return Some(Vec::new());
    }
    if let KeyCode::Char(c @ '1'..='7') = k.code {
        if let Some(b) = Behaviour::from_key(c) {
            match a.draft.iter().position(|&x| x == b) {
                Some(i) => {
                    a.draft.remove(i);
                }
                None => {
                    a.draft.push(b);
                    a.draft.sort();
                }
            }
        }
        return Some(Vec::new());
    }
    None
}

/// Save the draft (or a skip) for the current chain, then move on.
fn save(state: &mut State, skipped: bool) -> Vec<Effect> {
    let a = &mut state.annotate;
    let Some(chain) = a.chain().map(|c| c.id.clone()) else {
        return Vec::new();
    };
    let spans = a
        .suggestion()
        .map(|s| {
            s.spans
                .iter()
                .filter(|sp| a.draft.contains(&sp.behaviour))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let rec = Record {
        chain,
        tags: if skipped { Vec::new() } else { a.draft.clone() },
        spans,
        note: a.note.take().unwrap_or_default(),
        skipped,
        time: crate::annotate::store::now(),
    };
    let n = a.set.as_ref().map_or(0, |s| s.chains.len());
    a.index = (a.index + 1).min(n.saturating_sub(1));
    let effects = vec![Effect::SaveTag(rec)];
    a.load_draft();
    effects
}

pub fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    let a = &mut state.annotate;
    if a.set.is_none() {
        let n = a.choices.sets.len() + a.choices.reports.len();
        match action {
            Action::Up => a.selected = a.selected.saturating_sub(1),
            Action::Down => a.selected = (a.selected + 1).min(n.saturating_sub(1)),
            Action::Pick if n > 0 => {
                let i = a.selected.min(n - 1);
                let open = if i < a.choices.sets.len() {
                    Effect::OpenAnnotationSet {
                        name: a.choices.sets[i].clone(),
                        from_report: None,
                    }
                } else {
                    let report = a.choices.reports[i - a.choices.sets.len()].clone();
                    Effect::OpenAnnotationSet {
                        name: report.clone(),
                        from_report: Some(report),
                    }
                };
                return vec![open];
            }
            _ => {}
        }
        return Vec::new();
    }
    let n = a.set.as_ref().map_or(0, |s| s.chains.len());
    match action {
        Action::Down => {
            a.index = (a.index + 1).min(n.saturating_sub(1));
            a.load_draft();
        }
        Action::Up => {
            a.index = a.index.saturating_sub(1);
            a.load_draft();
        }
        Action::Pick => return save(state, false),
        Action::Skip => return save(state, true),
        Action::Accept => {
            if let Some(s) = a.suggestion() {
                let mut tags = s.tags.clone();
                tags.extend(a.draft.iter().copied());
                tags.sort();
                tags.dedup();
                a.draft = tags;
            }
        }
        Action::Blind => a.blind = !a.blind,
        Action::Note => a.note = Some(String::new()),
        Action::Cancel => {
            a.set = None;
            return on_enter(state);
        }
        _ => {}
    }
    Vec::new()
}
