//! The keymap: every action of the TUI and the keys bound to it, with defaults that can
//! be overridden from a TOML file (`[keys]` table, `action = ["key", ...]`). Key names
//! follow the usual terminal spelling: `q`, `?`, `enter`, `esc`, `tab`, `backtab`,
//! `up`, `pgdn`, `f1`, `ctrl-c`, `shift-up`, `alt-x`. Screens have three keys each
//! (`3`, `f3`, `alt-3`; screen 10 is `0`, `f10`, `alt-0`) because plain digits tag
//! behaviours on the Annotate screen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod binding;

pub use binding::{KeyBinding, KeyCodeKey};

/// What a key does. Text inputs (search boxes) take printable keys before the keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    NextScreen,
    PrevScreen,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Search,
    Pick,
    Run,
    RunGroup,
    Cancel,
    CycleSplit,
    CycleLength,
    CycleCold,
    ClearFilters,
    AddItem,
    RemoveItem,
    MoveUp,
    MoveDown,
    RatingUp,
    RatingDown,
    TimeEarlier,
    TimeLater,
    NewHistory,
    Save,
    Open,
    TempUp,
    TempDown,
    CycleTopK,
    /// More or fewer reasoning tokens (the chain's budget).
    BudgetUp,
    BudgetDown,
    CompareMode,
    Smooth,
    Zoom,
    Reload,
    Skip,
    Accept,
    Blind,
    Note,
    MarkSpan,
    TrainStart,
    TrainStop,
    Collect,
    /// Jump to screen N+1 (`Screen(9)` is screen 10, key `0`).
    Screen(u8),
}

/// Every action with its name in the TOML file, its default keys and a help line.
pub const ACTIONS: &[(Action, &str, &[&str], &str)] = &[
    (Action::Quit, "quit", &["q", "ctrl-c"], "quit"),
    // F1 is screen 1: F1-F10 switch screens on every screen, Annotate included.
    (Action::Help, "help", &["?"], "help"),
    (Action::NextScreen, "next_screen", &["tab"], "next screen"),
    (
        Action::PrevScreen,
        "prev_screen",
        &["backtab"],
        "previous screen",
    ),
    (Action::Up, "up", &["up", "k"], "up"),
    (Action::Down, "down", &["down", "j"], "down"),
    (Action::PageUp, "page_up", &["pgup"], "page up"),
    (Action::PageDown, "page_down", &["pgdn"], "page down"),
    (Action::Top, "top", &["home", "g"], "first"),
    (Action::Bottom, "bottom", &["end", "shift-g"], "last"),
    (Action::Search, "search", &["/"], "search"),
    (Action::Pick, "pick", &["enter"], "pick / edit"),
    (Action::Run, "run", &["r"], "run"),
    (
        Action::RunGroup,
        "run_group",
        &["shift-r"],
        "sample a group",
    ),
    (Action::Cancel, "cancel", &["esc"], "cancel / close"),
    (Action::CycleSplit, "cycle_split", &["s"], "split"),
    (
        Action::CycleLength,
        "cycle_length",
        &["l"],
        "history length",
    ),
    (Action::CycleCold, "cycle_cold", &["c"], "cold / warm"),
    (
        Action::ClearFilters,
        "clear_filters",
        &["x"],
        "clear filters",
    ),
    (Action::AddItem, "add_item", &["a"], "add item"),
    (
        Action::RemoveItem,
        "remove_item",
        &["d", "delete"],
        "remove",
    ),
    (
        Action::MoveUp,
        "move_up",
        &["shift-up", "shift-k"],
        "move up",
    ),
    (
        Action::MoveDown,
        "move_down",
        &["shift-down", "shift-j"],
        "move down",
    ),
    (Action::RatingUp, "rating_up", &["+", "="], "rating +"),
    (Action::RatingDown, "rating_down", &["-"], "rating -"),
    (Action::TimeEarlier, "time_earlier", &["["], "a day earlier"),
    (Action::TimeLater, "time_later", &["]"], "a day later"),
    (Action::NewHistory, "new_history", &["n"], "new history"),
    (Action::Save, "save", &["w"], "save to sessions/"),
    (Action::Open, "open", &["o"], "open from sessions/"),
    (Action::TempUp, "temperature_up", &["t"], "temperature +"),
    (
        Action::TempDown,
        "temperature_down",
        &["shift-t"],
        "temperature -",
    ),
    (Action::CycleTopK, "cycle_top_k", &["p"], "top-k sampling"),
    (
        Action::BudgetUp,
        "budget_up",
        &[">"],
        "reasoning budget + (max new tokens)",
    ),
    (
        Action::BudgetDown,
        "budget_down",
        &["<"],
        "reasoning budget -",
    ),
    (
        Action::CompareMode,
        "compare_mode",
        &["v"],
        "w/o reasoning | previous run",
    ),
    (Action::Smooth, "smooth", &["m"], "smoothing"),
    (Action::Zoom, "zoom", &["z"], "zoom to latest steps"),
    (Action::Reload, "reload", &["e"], "re-read runs"),
    (Action::Skip, "skip", &["space"], "skip chain"),
    (Action::Accept, "accept", &["shift-a"], "accept suggestions"),
    (Action::Blind, "blind", &["b"], "blind mode"),
    (Action::Note, "note", &["shift-n"], "add a note"),
    (Action::MarkSpan, "mark_span", &["shift-m"], "mark a span"),
    (
        Action::TrainStart,
        "train_start",
        &["shift-s"],
        "start training",
    ),
    (
        Action::TrainStop,
        "train_stop",
        &["shift-x"],
        "stop training",
    ),
    (
        Action::Collect,
        "collect",
        &["shift-c"],
        "add the chains to the live annotation set",
    ),
    // Digits jump to screens except on Annotate, where they tag behaviours; F-keys and
    // alt-digits jump everywhere.
    (
        Action::Screen(0),
        "screen_1",
        &["1", "f1", "alt-1"],
        "screen 1",
    ),
    (
        Action::Screen(1),
        "screen_2",
        &["2", "f2", "alt-2"],
        "screen 2",
    ),
    (
        Action::Screen(2),
        "screen_3",
        &["3", "f3", "alt-3"],
        "screen 3",
    ),
    (
        Action::Screen(3),
        "screen_4",
        &["4", "f4", "alt-4"],
        "screen 4",
    ),
    (
        Action::Screen(4),
        "screen_5",
        &["5", "f5", "alt-5"],
        "screen 5",
    ),
    (
        Action::Screen(5),
        "screen_6",
        &["6", "f6", "alt-6"],
        "screen 6",
    ),
    (
        Action::Screen(6),
        "screen_7",
        &["7", "f7", "alt-7"],
        "screen 7",
    ),
    (
        Action::Screen(7),
        "screen_8",
        &["8", "f8", "alt-8"],
        "screen 8",
    ),
    (
        Action::Screen(8),
        "screen_9",
        &["9", "f9", "alt-9"],
        "screen 9",
    ),
    (
        Action::Screen(9),
        "screen_10",
        &["0", "f10", "alt-0"],
        "screen 10",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}:{line}: field `keys.{field}`: {message}")]
    Field {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
}

/// Keys to actions, and actions back to their keys for the footer and the help overlay.
#[derive(Debug, Clone)]
pub struct KeyMap {
    by_key: BTreeMap<KeyBinding, Action>,
    by_action: BTreeMap<Action, Vec<KeyBinding>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let mut map = Self {
            by_key: BTreeMap::new(),
            by_action: BTreeMap::new(),
        };
        for (action, _, keys, _) in ACTIONS {
            let bindings = keys
                .iter()
                // Invariant: the default key names above are all valid (a test parses them).
                .filter_map(|k| KeyBinding::parse(k).ok())
                .collect();
            map.bind(*action, bindings);
        }
        map
    }
}

impl KeyMap {
    fn bind(&mut self, action: Action, keys: Vec<KeyBinding>) {
        if let Some(old) = self.by_action.remove(&action) {
            for k in old {
                self.by_key.remove(&k);
            }
        }
        for k in &keys {
            // A key taken over from another action leaves that action's list.
            if let Some(prev) = self.by_key.insert(*k, action) {
                if let Some(list) = self.by_action.get_mut(&prev) {
                    list.retain(|x| x != k);
                }
            }
        }
        self.by_action.insert(action, keys);
    }

    pub fn action(&self, key: &KeyBinding) -> Option<Action> {
        self.by_key.get(key).copied()
    }

    /// The first key of an action, for the footer ("" when it has none).
    pub fn label(&self, action: Action) -> String {
        self.by_action
            .get(&action)
            .and_then(|v| v.first())
            .map(|k| k.label())
            .unwrap_or_default()
    }

    /// The keys of the screen actions that still switch screens on Annotate (where
    /// plain digits tag): "F1-F10" with the default keys, "" when there are none.
    pub fn screen_jump_label(&self) -> String {
        let non_digit = |a| {
            self.by_action.get(&a).and_then(|v: &Vec<KeyBinding>| {
                v.iter()
                    .find(|k| !k.is_plain_digit())
                    .map(KeyBinding::label)
            })
        };
        match (non_digit(Action::Screen(0)), non_digit(Action::Screen(9))) {
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => String::new(),
        }
    }

    /// All keys of an action, for the help overlay.
    pub fn labels(&self, action: Action) -> String {
        self.by_action
            .get(&action)
            .map(|v| v.iter().map(|k| k.label()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// The defaults with the `[keys]` table of a TOML file laid over them.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self, KeysError> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| KeysError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let line_of = |needle: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(needle))
                .map_or(0, |i| i + 1)
        };
        let mut map = Self::default();
        let Some(keys) = doc.get("keys") else {
            return Ok(map);
        };
        let field_err = |field: &str, message: String| KeysError::Field {
            path: path.to_path_buf(),
            line: line_of(field),
            field: field.to_string(),
            message,
        };
        let keys = keys
            .as_table()
            .ok_or_else(|| field_err("keys", "must be a table".into()))?;
        for (name, value) in keys {
            let action = ACTIONS
                .iter()
                .find(|(_, n, _, _)| n == name)
                .map(|(a, ..)| *a)
                .ok_or_else(|| field_err(name, "no such action".into()))?;
            let list: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| field_err(name, "keys must be strings".into()))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(field_err(name, "give a key or a list of keys".into())),
            };
            let bindings = list
                .iter()
                .map(|k| KeyBinding::parse(k).map_err(|m| field_err(name, m)))
                .collect::<Result<Vec<_>, _>>()?;
            map.bind(action, bindings);
        }
        Ok(map)
    }

    /// Read a keymap file.
    pub fn load(path: &Path) -> Result<Self, KeysError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeysError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_toml(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    #[test]
    fn defaults_parse_and_do_not_collide() {
        let mut seen = std::collections::HashSet::new();
        for (_, _, keys, _) in ACTIONS {
            for k in *keys {
                let b = KeyBinding::parse(k).unwrap();
                assert!(seen.insert(b), "key {k} bound twice");
            }
        }
    }

    #[test]
    fn events_match_parsed_names() {
        let m = KeyMap::default();
        let ev = |c, mods| KeyBinding::from_event(c, mods).unwrap();
        assert_eq!(
            m.action(&ev(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Up, KeyModifiers::SHIFT)),
            Some(Action::MoveUp)
        );
        assert_eq!(m.labels(Action::Bottom), "end G");
        assert_eq!(m.label(Action::MoveUp), "S-↑");
    }

    #[test]
    fn toml_overrides_and_reports_bad_fields() {
        let p = Path::new("keys.toml");
        let m = KeyMap::from_toml(p, "[keys]\nquit = [\"ctrl-q\"]\nrun = \"q\"\n").unwrap();
        let q = KeyBinding::parse("q").unwrap();
        assert_eq!(m.action(&q), Some(Action::Run));
        assert_eq!(m.label(Action::Quit), "^q");
        let err = KeyMap::from_toml(p, "[keys]\n\nfly = \"z\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "keys.toml:3: field `keys.fly`: no such action"
        );
        let err = KeyMap::from_toml(p, "[keys]\nrun = \"hyper-x\"\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown modifier `hyper`"),
            "{err}"
        );
    }
}
