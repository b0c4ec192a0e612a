//! The header (device, model, adapter, data set) and the row of screen tabs.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::app::{LoadPhase, State, SCREENS};
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let h = &state.header;
    let model = match &state.load {
        LoadPhase::Ready => h.model.clone(),
        LoadPhase::Loading { .. } => format!("{} (loading)", h.model),
        LoadPhase::Failed(_) => format!("{} (failed)", h.model),
    };
    let parts = [
        ("device", &h.device),
        ("model", &model),
        ("adapter", &h.adapter),
        ("data", &h.data),
    ];
    let mut spans = vec![Span::styled(" R²ec ", theme.title)];
    for (k, v) in parts {
        spans.push(Span::styled(format!("│ {k}: "), theme.dim));
        spans.push(Span::raw(format!("{v} ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(theme.header), area);
}

pub fn render_tabs(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut spans = Vec::new();
    for (i, s) in SCREENS.iter().enumerate() {
        let style = if *s == state.screen {
            theme.selected
        } else {
            theme.dim
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, s.title()), style));
        spans.push(Span::raw(" "));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
