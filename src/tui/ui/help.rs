//! The help overlay: every action with all its keys (as configured), over the body.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::block;
use crate::tui::app::State;
use crate::tui::keys::ACTIONS;
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let rows = ACTIONS.len().div_ceil(2);
    // Two columns when the actions do not fit one below the other.
    let two = area.height.saturating_sub(4) < ACTIONS.len() as u16;
    let width = if two { 96 } else { 52 };
    let [_, mid, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Max(width),
        Constraint::Fill(1),
    ])
    .areas(area);
    let mut lines = vec![
        Line::styled("1-7 jump to a screen; the mouse wheel scrolls", theme.dim),
        Line::styled(
            "keys can be changed in a TOML file: r2ec tui --keys FILE",
            theme.dim,
        ),
    ];
    let entry = |i: usize| -> Vec<Span<'static>> {
        ACTIONS
            .get(i)
            .map_or_else(Vec::new, |(action, _, _, text)| {
                vec![
                    Span::styled(format!("{:>12}  ", state.keys.labels(*action)), theme.key),
                    Span::raw(format!("{text:<32}")),
                ]
            })
    };
    if two {
        for i in 0..rows {
            let mut spans = entry(i);
            spans.extend(entry(i + rows));
            lines.push(Line::from(spans));
        }
    } else {
        lines.extend((0..ACTIONS.len()).map(|i| Line::from(entry(i))));
    }
    f.render_widget(Clear, mid);
    f.render_widget(
        Paragraph::new(lines).block(block(" Help (? or esc closes) ", theme)),
        mid,
    );
}
