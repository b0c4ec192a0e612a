//! The history editor: the history a run will use, taken from an example, a session file
//! or written by hand. Items are added by fuzzy title search over the catalogue,
//! removed, moved (the item moves, the time slots stay, so the history stays in time
//! order), re-rated and re-timed; histories are saved to and opened from `sessions/`.

use std::path::PathBuf;

use crossterm::event::KeyCode;

use super::{Screen, State};
use crate::data::{Example, Interaction};
use crate::tui::effect::Effect;
use crate::tui::fuzzy;
use crate::tui::keys::Action;
use crate::tui::msg::KeyInput;
use crate::tui::session::SessionFile;

const DAY: i64 = 86_400;
/// Matches listed while adding an item.
pub const ADD_HITS: usize = 12;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum EditorMode {
    #[default]
    Normal,
    /// Fuzzy search over catalogue titles; `hits` are catalogue positions.
    Add {
        query: String,
        hits: Vec<usize>,
        selected: usize,
    },
    Save {
        name: String,
    },
    /// `files` arrive with `Msg::SessionList`.
    Open {
        files: Vec<PathBuf>,
        selected: usize,
    },
}

#[derive(Debug, Clone, Default)]
pub struct EditorState {
    pub history: Vec<Interaction>,
    pub target: Option<Interaction>,
    /// When the recommendation is made (the prompt's "time ago" is counted from it).
    pub now: i64,
    pub user_id: Option<String>,
    /// Where the history came from, for the title.
    pub source: String,
    pub selected: usize,
    pub mode: EditorMode,
    /// Edited since it was loaded (a later run is then a counterfactual).
    pub edited: bool,
}

impl EditorState {
    pub fn load_example(&mut self, e: &Example, source: String) {
        self.history = e.history.clone();
        self.target = Some(e.target.clone());
        self.now = e.target.timestamp;
        self.user_id = Some(e.user_id.clone());
        self.source = source;
        self.selected = self.history.len().saturating_sub(1);
        self.mode = EditorMode::Normal;
        self.edited = false;
    }

    pub fn session_file(&self) -> SessionFile {
        SessionFile {
            user_id: self.user_id.clone(),
            history: self.history.clone(),
            target: self.target.clone(),
            now: Some(self.now),
        }
    }

    fn default_name(&self) -> String {
        match &self.user_id {
            Some(u) => format!("user{u}-{}", self.history.len()),
            None => format!("history-{}", self.history.len()),
        }
    }

    fn add(&mut self, item_id: String) {
        let ts = self
            .history
            .last()
            .map_or(self.now - DAY, |h| h.timestamp + DAY);
        self.history.push(Interaction {
            item_id,
            rating: 4.0,
            timestamp: ts,
        });
        self.now = self.now.max(ts + DAY);
        self.selected = self.history.len() - 1;
        self.edited = true;
    }

    /// Swap the items of two slots, keeping each slot's time.
    fn swap(&mut self, a: usize, b: usize) {
        if a >= self.history.len() || b >= self.history.len() {
            return;
        }
        let (ta, tb) = (self.history[a].timestamp, self.history[b].timestamp);
        self.history.swap(a, b);
        self.history[a].timestamp = ta;
        self.history[b].timestamp = tb;
        self.edited = true;
    }
}

pub fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    let ed = &mut state.editor;
    let n = ed.history.len();
    let sel = ed.selected.min(n.saturating_sub(1));
    match action {
        Action::Up => ed.selected = sel.saturating_sub(1),
        Action::Down => ed.selected = (sel + 1).min(n.saturating_sub(1)),
        Action::Top => ed.selected = 0,
        Action::Bottom => ed.selected = n.saturating_sub(1),
        Action::AddItem => {
            ed.mode = EditorMode::Add {
                query: String::new(),
                hits: Vec::new(),
                selected: 0,
            }
        }
        Action::RemoveItem if n > 0 => {
            ed.history.remove(sel);
            ed.selected = sel.min(ed.history.len().saturating_sub(1));
            ed.edited = true;
        }
        Action::MoveUp if sel > 0 => {
            ed.swap(sel, sel - 1);
            ed.selected = sel - 1;
        }
        Action::MoveDown if sel + 1 < n => {
            ed.swap(sel, sel + 1);
            ed.selected = sel + 1;
        }
        Action::RatingUp | Action::RatingDown if n > 0 => {
            let d = if action == Action::RatingUp {
                1.0
            } else {
                -1.0
            };
            let r = &mut ed.history[sel].rating;
            *r = (*r + d).clamp(1.0, 5.0);
            ed.edited = true;
        }
        Action::TimeEarlier | Action::TimeLater if n > 0 => {
            let d = if action == Action::TimeLater {
                DAY
            } else {
                -DAY
            };
            ed.history[sel].timestamp += d;
            ed.now = ed.now.max(ed.history[sel].timestamp);
            ed.edited = true;
        }
        Action::NewHistory => {
            let now = state
                .data
                .as_ref()
                .map_or(0, |d| d.test.last().map_or(0, |e| e.target.timestamp));
            state.editor = EditorState {
                now,
                source: "new history".into(),
                edited: true,
                ..Default::default()
            };
        }
        Action::Save if n > 0 => {
            ed.mode = EditorMode::Save {
                name: ed.default_name(),
            }
        }
        Action::Save => state.status = "nothing to save: the history is empty".into(),
        Action::Open => {
            ed.mode = EditorMode::Open {
                files: Vec::new(),
                selected: 0,
            };
            return vec![Effect::ListSessions];
        }
        _ => {}
    }
    Vec::new()
}

/// Keys typed into the editor's add, save and open boxes; `None` in normal mode.
pub fn text_input(state: &mut State, k: KeyInput) -> Option<Vec<Effect>> {
    if state.screen != Screen::Editor {
        return None;
    }
    let data = state.data.clone();
    let ed = &mut state.editor;
    match &mut ed.mode {
        EditorMode::Normal => None,
        EditorMode::Add {
            query,
            hits,
            selected,
        } => {
            match k.code {
                KeyCode::Esc => ed.mode = EditorMode::Normal,
                KeyCode::Up => *selected = selected.saturating_sub(1),
                KeyCode::Down => *selected = (*selected + 1).min(hits.len().saturating_sub(1)),
                KeyCode::Enter => {
                    let pick = hits.get(*selected).copied();
                    ed.mode = EditorMode::Normal;
                    if let (Some(pos), Some(d)) = (pick, data) {
                        ed.add(d.catalog.items()[pos].item_id.clone());
                    }
                }
                KeyCode::Char(_) | KeyCode::Backspace => {
                    if let KeyCode::Char(c) = k.code {
                        query.push(c);
                    } else {
                        query.pop();
                    }
                    *hits = data.map_or_else(Vec::new, |d| {
                        fuzzy::search(
                            query,
                            d.catalog.items().iter().map(|i| i.title.as_str()),
                            ADD_HITS,
                        )
                    });
                    *selected = 0;
                }
                _ => {}
            }
            Some(Vec::new())
        }
        EditorMode::Save { name } => {
            match k.code {
                KeyCode::Esc => ed.mode = EditorMode::Normal,
                KeyCode::Char(c) => name.push(c),
                KeyCode::Backspace => {
                    name.pop();
                }
                KeyCode::Enter => {
                    let name = std::mem::take(name);
                    ed.mode = EditorMode::Normal;
                    return Some(vec![Effect::SaveSession {
                        name,
                        file: ed.session_file(),
                    }]);
                }
                _ => {}
            }
            Some(Vec::new())
        }
        EditorMode::Open { files, selected } => {
            match k.code {
                KeyCode::Esc => ed.mode = EditorMode::Normal,
                KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => {
                    *selected = (*selected + 1).min(files.len().saturating_sub(1))
                }
                KeyCode::Enter => {
                    let pick = files.get(*selected).cloned();
                    ed.mode = EditorMode::Normal;
                    if let Some(p) = pick {
                        return Some(vec![Effect::OpenSession(p)]);
                    }
                }
                _ => {}
            }
            Some(Vec::new())
        }
    }
}

pub fn on_session_list(state: &mut State, list: Vec<PathBuf>) {
    if let EditorMode::Open { files, selected } = &mut state.editor.mode {
        if list.is_empty() {
            state.status = "sessions/ holds no saved histories yet".into();
            state.editor.mode = EditorMode::Normal;
            return;
        }
        *files = list;
        *selected = 0;
    }
}

pub fn on_session_opened(state: &mut State, r: Result<(PathBuf, SessionFile), String>) {
    match r {
        Ok((path, f)) => {
            let ed = &mut state.editor;
            ed.now = f
                .now
                .or(f.target.as_ref().map(|t| t.timestamp))
                .or(f.history.iter().map(|h| h.timestamp).max())
                .unwrap_or(0);
            ed.history = f.history;
            ed.target = f.target;
            ed.user_id = f.user_id;
            ed.source = path.display().to_string();
            ed.selected = ed.history.len().saturating_sub(1);
            ed.edited = false;
            state.status = format!("opened {}", path.display());
        }
        Err(e) => state.status = format!("not opened: {e}"),
    }
}
