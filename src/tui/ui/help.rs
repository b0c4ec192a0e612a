//! The help overlay over the body: how screens are switched (and why digits tag on
//! Annotate), the ten screens, what the marks on screen mean, the columns of the
//! agreement table, then every action with all its keys (as configured). Two columns
//! when the terminal is wide enough; it scrolls (↑/↓, pgup/pgdn, the wheel) when it
//! does not fit.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::tui::app::{State, SCREENS};
use crate::tui::keys::{Action, ACTIONS};
use crate::tui::text::pad;
use crate::tui::theme::Theme;

/// Cells of one column of actions (keys, then what they do).
const KEYS_W: usize = 14;
const TEXT_W: usize = 36;
/// Rows above and below the body: header, tabs, status bar, footer.
const CHROME_ROWS: u16 = 4;

/// Whether the actions are shown in two columns at this terminal width.
fn two_columns(cols: u16) -> bool {
    cols as usize >= 2 * (KEYS_W + TEXT_W) + 4
}

/// The actions listed one by one (screen jumps are summed up at the top instead).
fn listed() -> Vec<&'static (Action, &'static str, &'static [&'static str], &'static str)> {
    ACTIONS
        .iter()
        .filter(|(a, ..)| !matches!(a, Action::Screen(_)))
        .collect()
}

/// The lines of the overlay, for a terminal `cols` wide.
pub fn lines(state: &State, cols: u16, theme: &Theme) -> Vec<Line<'static>> {
    let jump = state.keys.screen_jump_label();
    let tab = state.keys.label(Action::NextScreen);
    let screens: Vec<String> = SCREENS
        .iter()
        .map(|s| format!("{} {}", s.key(), s.title()))
        .collect();
    let mut out = vec![
        Line::styled("Screens", theme.title),
        Line::from(format!(
            "  keys 1-9 and 0 (screen 10), {jump}, alt-1…alt-0; {tab} / S-tab cycle"
        )),
        Line::from(format!("  {}", screens[..5].join(" · "))),
        Line::from(format!("  {}", screens[5..].join(" · "))),
        Line::styled(
            format!("  on 0 Annotate digits only tag (1-7): switch with {jump} or {tab}"),
            theme.warn,
        ),
        Line::styled("Marks", theme.title),
        Line::from("  ◀ target: the item the user rated next · struck-through: history"),
        Line::from(format!(
            "  {}: the data has no real title (ml-100k item 267 is `unkonwn`)",
            crate::tui::text::NO_TITLE_MARK.trim()
        )),
        Line::from("  * on Training's rollouts: the chain of its group given the item loss"),
        Line::styled("Agreement table (Annotate)", theme.title),
        Line::from("  mine: share of your judged chains showing the behaviour"),
        Line::from("  maj.: share of chains the people's majority tagged with it"),
        Line::from("  kappa: agreement between people (Cohen for two, Fleiss for more)"),
        Line::from("  tagger: mean Cohen's kappa of the pattern tagger against each person"),
        Line::styled(
            "Keys (change them with r2ec tui --keys FILE.toml; the wheel scrolls)",
            theme.title,
        ),
    ];
    // One column: the text takes the width the keys leave.
    let text_w = if two_columns(cols) {
        TEXT_W
    } else {
        (cols as usize).saturating_sub(KEYS_W + 2).max(10)
    };
    let entry = |e: Option<&&(Action, &str, &[&str], &str)>| -> Vec<Span<'static>> {
        e.map_or_else(Vec::new, |(action, _, _, text)| {
            vec![
                Span::styled(
                    format!("{} ", pad(&state.keys.labels(*action), KEYS_W - 1)),
                    theme.key,
                ),
                Span::raw(crate::tui::text::cut(text, text_w)),
            ]
        })
    };
    let actions = listed();
    if two_columns(cols) {
        let rows = actions.len().div_ceil(2);
        for i in 0..rows {
            let mut spans = entry(actions.get(i));
            // The left column is padded so the right one lines up.
            if let Some(last) = spans.last_mut() {
                *last = Span::raw(pad(&last.content, TEXT_W));
            }
            spans.push(Span::raw("  "));
            spans.extend(entry(actions.get(i + rows)));
            out.push(Line::from(spans));
        }
    } else {
        out.extend((0..actions.len()).map(|i| Line::from(entry(actions.get(i)))));
    }
    out
}

/// The overlay's area within the body.
fn overlay(body: Rect) -> Rect {
    let width = if two_columns(body.width) {
        (2 * (KEYS_W + TEXT_W) + 6) as u16
    } else {
        body.width
    };
    let [_, mid, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Max(width),
        Constraint::Fill(1),
    ])
    .areas(body);
    mid
}

/// How far the overlay scrolls at the current terminal size (the state machine keeps
/// the scroll within it).
pub fn max_scroll(state: &State) -> u16 {
    let (cols, rows) = state.viewport;
    let body = Rect::new(0, 0, cols, rows.saturating_sub(CHROME_ROWS));
    let area = overlay(body);
    let total = rows_of(
        &lines(state, cols, &Theme::default()),
        area.width.saturating_sub(2),
    );
    total.saturating_sub(area.height.saturating_sub(2))
}

/// Rows `text` takes wrapped at `width` cells (lines are short, so wrapping at a cell
/// and at a word boundary agree on terminals of 40 columns and more).
fn rows_of(text: &[Line], width: u16) -> u16 {
    let w = usize::from(width.max(1));
    text.iter()
        .map(|l| l.width().div_ceil(w).max(1))
        .sum::<usize>()
        .min(usize::from(u16::MAX)) as u16
}

pub fn render(f: &mut Frame, body: Rect, state: &State, theme: &Theme) {
    let area = overlay(body);
    let text = lines(state, f.area().width, theme);
    let visible = area.height.saturating_sub(2);
    let max = rows_of(&text, area.width.saturating_sub(2)).saturating_sub(visible);
    let scroll = state.help_scroll.min(max);
    let title = if max > 0 {
        format!(
            " Help · ↑↓ pgup pgdn scroll ({}/{}) · ? or esc closes ",
            scroll + 1,
            max + 1
        )
    } else {
        " Help (? or esc closes) ".to_string()
    };
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(text)
            .block(block(title, theme))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}
