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
    let [_, mid, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Max(64),
        Constraint::Fill(1),
    ])
    .areas(area);
    let mut lines = vec![Line::styled(
        "1-7 jump to a screen; the mouse wheel scrolls",
        theme.dim,
    )];
    for (action, _, _, text) in ACTIONS {
        lines.push(Line::from(vec![
            Span::styled(format!("{:>16}  ", state.keys.labels(*action)), theme.key),
            Span::raw(*text),
        ]));
    }
    lines.push(Line::styled(
        "keys can be changed in a TOML file: r2ec tui --keys FILE",
        theme.dim,
    ));
    f.render_widget(Clear, mid);
    f.render_widget(
        Paragraph::new(lines).block(block(" Help (? or esc closes) ", theme)),
        mid,
    );
}
