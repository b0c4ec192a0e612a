//! One key as the keymap names it: parsed from the TOML spelling (`ctrl-c`, `shift-up`,
//! `G`, `pgdn`) and built from terminal key events, so both compare equal.

use crossterm::event::{KeyCode, KeyModifiers};

/// One key with its modifiers (shift is folded into the character for printable keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyBinding {
    pub code: KeyCodeKey,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

/// The subset of key codes the keymap can name (crossterm's `KeyCode` is not `Ord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeKey {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

impl KeyBinding {
    /// From a terminal key event; `None` for keys the keymap cannot name.
    pub fn from_event(code: KeyCode, mods: KeyModifiers) -> Option<Self> {
        let mut shift = mods.contains(KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                // Terminals report `G` as shift+G; "shift-g" in the map means the same.
                if c.is_ascii_uppercase() {
                    shift = true;
                } else if !c.is_ascii_alphabetic() {
                    shift = false;
                }
                KeyCodeKey::Char(c.to_ascii_lowercase())
            }
            KeyCode::F(n) => KeyCodeKey::F(n),
            KeyCode::Enter => KeyCodeKey::Enter,
            KeyCode::Esc => KeyCodeKey::Esc,
            KeyCode::Tab => KeyCodeKey::Tab,
            KeyCode::BackTab => {
                shift = false;
                KeyCodeKey::BackTab
            }
            KeyCode::Backspace => KeyCodeKey::Backspace,
            KeyCode::Delete => KeyCodeKey::Delete,
            KeyCode::Up => KeyCodeKey::Up,
            KeyCode::Down => KeyCodeKey::Down,
            KeyCode::Left => KeyCodeKey::Left,
            KeyCode::Right => KeyCodeKey::Right,
            KeyCode::Home => KeyCodeKey::Home,
            KeyCode::End => KeyCodeKey::End,
            KeyCode::PageUp => KeyCodeKey::PageUp,
            KeyCode::PageDown => KeyCodeKey::PageDown,
            _ => return None,
        };
        Some(Self {
            code,
            ctrl: mods.contains(KeyModifiers::CONTROL),
            alt: mods.contains(KeyModifiers::ALT),
            shift,
        })
    }

    /// Parse `ctrl-c`, `shift-up`, `G`, `pgdn`, `f1`, `-`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut b = Self {
            code: KeyCodeKey::Esc,
            ctrl: false,
            alt: false,
            shift: false,
        };
        let mut rest = s;
        // A single character is always a key, even `-`.
        while rest.chars().count() > 1 {
            let Some((m, tail)) = rest.split_once('-') else {
                break;
            };
            match m.to_ascii_lowercase().as_str() {
                "ctrl" => b.ctrl = true,
                "alt" => b.alt = true,
                "shift" => b.shift = true,
                other => return Err(format!("unknown modifier `{other}` in `{s}`")),
            }
            rest = tail;
        }
        let lower = rest.to_ascii_lowercase();
        b.code = match lower.as_str() {
            "enter" => KeyCodeKey::Enter,
            "esc" => KeyCodeKey::Esc,
            "tab" => KeyCodeKey::Tab,
            "backtab" => KeyCodeKey::BackTab,
            "backspace" => KeyCodeKey::Backspace,
            "delete" | "del" => KeyCodeKey::Delete,
            "up" => KeyCodeKey::Up,
            "down" => KeyCodeKey::Down,
            "left" => KeyCodeKey::Left,
            "right" => KeyCodeKey::Right,
            "home" => KeyCodeKey::Home,
            "end" => KeyCodeKey::End,
            "pgup" | "pageup" => KeyCodeKey::PageUp,
            "pgdn" | "pagedown" => KeyCodeKey::PageDown,
            "space" => KeyCodeKey::Char(' '),
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeKey::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        if c.is_ascii_uppercase() {
                            b.shift = true;
                        }
                        KeyCodeKey::Char(c.to_ascii_lowercase())
                    }
                    _ => return Err(format!("unknown key `{s}`")),
                }
            }
        };
        Ok(b)
    }

    /// A digit with no modifier: on the Annotate screen such keys tag behaviours.
    pub fn is_plain_digit(&self) -> bool {
        matches!(self.code, KeyCodeKey::Char(c) if c.is_ascii_digit()) && !self.ctrl && !self.alt
    }

    /// Short label for the footer and help: `q`, `^c`, `S-up`, `G`.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeKey::Char(' ') => "space".to_string(),
            KeyCodeKey::Char(c) if self.shift && c.is_ascii_alphabetic() => {
                c.to_ascii_uppercase().to_string()
            }
            KeyCodeKey::Char(c) => c.to_string(),
            KeyCodeKey::F(n) => format!("F{n}"),
            KeyCodeKey::Enter => "enter".into(),
            KeyCodeKey::Esc => "esc".into(),
            KeyCodeKey::Tab => "tab".into(),
            KeyCodeKey::BackTab => "S-tab".into(),
            KeyCodeKey::Backspace => "bksp".into(),
            KeyCodeKey::Delete => "del".into(),
            KeyCodeKey::Up => "↑".into(),
            KeyCodeKey::Down => "↓".into(),
            KeyCodeKey::Left => "←".into(),
            KeyCodeKey::Right => "→".into(),
            KeyCodeKey::Home => "home".into(),
            KeyCodeKey::End => "end".into(),
            KeyCodeKey::PageUp => "pgup".into(),
            KeyCodeKey::PageDown => "pgdn".into(),
        };
        let mut out = String::new();
        if self.ctrl {
            out.push('^');
        }
        if self.alt {
            out.push_str("M-");
        }
        let letter = matches!(self.code, KeyCodeKey::Char(c) if c.is_ascii_alphabetic());
        if self.shift && !letter {
            out.push_str("S-");
        }
        out + &base
    }
}
