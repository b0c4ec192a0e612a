//! The Annotate screen's state: pick a set (an existing one under
//! `sessions/annotations/`, or an evaluation report, from `sessions/eval/` or shipped
//! with a checkpoint, opened as a new set), then tag each chain with behaviour keys
//! 1-7, accept the tagger's suggestions, add a note, skip, go back and forth. Every
//! confirmed judgement is saved at once (an effect the runtime carries out with the
//! synced store); reopening resumes at the first untagged chain. Blind mode hides other
//! annotators' tags and the model's reward and rank.
//!
//! On this screen plain digits belong to tagging and never switch screens (an
//! annotator must not tag by accident when reaching for another screen): 1-7 toggle a
//! behaviour, the other digits only say how to switch (F1-F10, alt-digit, tab).

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyModifiers};

use super::{Effect, Screen, State};
use crate::annotate::stats::TAGGER;
use crate::annotate::store::Span;
use crate::annotate::{Behaviour, Chain, Record};
use crate::tui::keys::Action;
use crate::tui::msg::{KeyInput, OpenedSet, SetChoices};
use crate::tui::text::plural;

/// The set that chains sampled in the TUI (Group screen) are collected into.
pub const LIVE_SET: &str = "live";

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
    /// Spans marked by hand for the current chain.
    pub marked: Vec<Span>,
    /// `Some` while a span is being marked.
    pub marking: Option<Marking>,
}

/// A span being marked: word indices into the chain (inclusive) and the behaviour it
/// shows (one of the chain's current tags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marking {
    pub behaviour: Behaviour,
    pub first: usize,
    pub last: usize,
}

/// Byte ranges of the words of `text` (runs of non-whitespace).
pub fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
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
        let rec = id.and_then(|id| self.mine()?.get(&id).cloned());
        self.draft = rec.as_ref().map(|r| r.tags.clone()).unwrap_or_default();
        self.marked = rec.map(|r| r.spans).unwrap_or_default();
        self.marking = None;
    }

    /// The byte range of the span being marked.
    pub fn marking_range(&self) -> Option<(usize, usize)> {
        let m = self.marking?;
        let w = words(&self.chain()?.text);
        let (a, b) = (m.first.min(m.last), m.first.max(m.last));
        Some((w.get(a)?.0, w.get(b)?.1))
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
                state.status = if rec.skipped {
                    format!("saved {} (skipped)", rec.chain)
                } else {
                    format!(
                        "saved {} ({})",
                        rec.chain,
                        plural(rec.tags.len(), "tag", "tags")
                    )
                };
                set.records
                    .entry(a.annotator.clone())
                    .or_default()
                    .insert(rec.chain.clone(), rec);
            }
        }
        Err(e) => state.status = format!("NOT saved: {e}"),
    }
}

/// How to leave the Annotate screen, for the hint a stray digit gets.
fn switch_hint(state: &State) -> String {
    let jump = state.keys.screen_jump_label();
    let tab = state.keys.label(Action::NextScreen);
    match (jump.is_empty(), tab.is_empty()) {
        (false, false) => format!("{jump} or {tab}"),
        (false, true) => jump,
        (true, false) => tab,
        (true, true) => "the screen keys (see ? help)".into(),
    }
}

/// A digit with no ctrl or alt: on this screen it tags, never switches screens.
fn plain_digit(k: KeyInput) -> Option<char> {
    match k.code {
        KeyCode::Char(c)
            if c.is_ascii_digit()
                && !k.mods.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

/// Keys the screen takes before any binding: span marking, note typing and digits.
pub fn key_input(state: &mut State, k: KeyInput) -> Option<Vec<Effect>> {
    if state.screen != Screen::Annotate {
        return None;
    }
    if state.annotate.set.is_none() {
        // The chooser has nothing to tag, but a digit still does not switch screens
        // here, so the keys mean the same before and after a set is opened.
        let c = plain_digit(k)?;
        state.status = format!(
            "{c}: open a set first; {} switch screens",
            switch_hint(state)
        );
        return Some(Vec::new());
    }
    let a = &mut state.annotate;
    if let Some(m) = a.marking {
        let n_words = a.chain().map_or(0, |c| words(&c.text).len());
        let last = n_words.saturating_sub(1);
        let mut m = m;
        let shift = k.mods.contains(crossterm::event::KeyModifiers::SHIFT);
        match k.code {
            KeyCode::Right if shift => m.first = (m.first + 1).min(last),
            KeyCode::Left if shift => m.first = m.first.saturating_sub(1),
            KeyCode::Right => m.last = (m.last + 1).min(last),
            KeyCode::Left => m.last = m.last.saturating_sub(1),
            KeyCode::Tab => {
                let i = a.draft.iter().position(|&b| b == m.behaviour).unwrap_or(0);
                m.behaviour = a.draft[(i + 1) % a.draft.len().max(1)];
            }
            KeyCode::Enter => {
                if let Some((start, end)) = a.marking_range() {
                    a.marked
                        .retain(|s| s.behaviour != m.behaviour || s.start != start);
                    a.marked.push(Span {
                        behaviour: m.behaviour,
                        start,
                        end,
                    });
                    state.status = format!("span marked for {}", m.behaviour.name());
                }
                state.annotate.marking = None;
                return Some(Vec::new());
            }
            KeyCode::Esc => {
                a.marking = None;
                return Some(Vec::new());
            }
            _ => return Some(Vec::new()),
        }
        a.marking = Some(m);
        return Some(Vec::new());
    }
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
    let c = plain_digit(k)?;
    match Behaviour::from_key(c) {
        Some(b) => match a.draft.iter().position(|&x| x == b) {
            Some(i) => {
                a.draft.remove(i);
            }
            None => {
                a.draft.push(b);
                a.draft.sort();
            }
        },
        None => {
            state.status = format!("{c}: no behaviour; {} switch screens", switch_hint(state));
        }
    }
    Some(Vec::new())
}

/// Save the draft (or a skip) for the current chain, then move on.
fn save(state: &mut State, skipped: bool) -> Vec<Effect> {
    let a = &mut state.annotate;
    let Some(chain) = a.chain().map(|c| c.id.clone()) else {
        return Vec::new();
    };
    let mut spans: Vec<Span> = a
        .marked
        .iter()
        .filter(|sp| a.draft.contains(&sp.behaviour))
        .cloned()
        .collect();
    let suggested: Vec<Span> = a
        .suggestion()
        .map(|s| {
            s.spans
                .iter()
                .filter(|sp| a.draft.contains(&sp.behaviour))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // A suggested span stands for a behaviour only where none was marked by hand.
    for sp in suggested {
        if !spans.iter().any(|m| m.behaviour == sp.behaviour) {
            spans.push(sp);
        }
    }
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
                        name: report.name,
                        from_report: Some(report.path),
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
        Action::Accept if a.blind => {
            state.status = "blind mode hides the suggestions (b shows them)".into();
        }
        Action::Accept => match a.suggestion().map(|s| s.tags.clone()) {
            Some(suggested) if !suggested.is_empty() => {
                let before = a.draft.len();
                let mut tags = suggested;
                tags.extend(a.draft.iter().copied());
                tags.sort();
                tags.dedup();
                let added = tags.len() - before;
                a.draft = tags;
                state.status = if added == 0 {
                    "the suggested tags are ticked already".into()
                } else {
                    format!(
                        "accepted {} (enter saves)",
                        plural(added, "suggested tag", "suggested tags")
                    )
                };
            }
            _ => {
                state.status =
                    "no suggestions for this chain: the tagger found none of its patterns".into()
            }
        },
        Action::Blind => {
            a.blind = !a.blind;
            state.status = if a.blind {
                "blind: other annotators' tags, the tagger's and the model's figures hidden".into()
            } else {
                "blind mode off".into()
            };
        }
        Action::MarkSpan => {
            match a.draft.first() {
                Some(&behaviour) => {
                    a.marking = Some(Marking {
                        behaviour,
                        first: 0,
                        last: 0,
                    });
                    state.status = "mark a span: ←/→ end, shift-←/→ start, tab behaviour, enter keeps, esc drops".into();
                }
                None => state.status = "tag a behaviour (1-7) before marking its span".into(),
            }
        }
        Action::Note => a.note = Some(String::new()),
        Action::Cancel => {
            a.set = None;
            return on_enter(state);
        }
        _ => {}
    }
    Vec::new()
}
