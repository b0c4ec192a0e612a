//! The header (device, model, adapter, data set) and the row of screen tabs. Both fit
//! the terminal's width: the header drops its labels and shortens names when narrow,
//! the tabs abbreviate their titles, so all ten screens are always listed.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::app::{LoadPhase, State, SCREENS};
use crate::tui::text::{cut, width};
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let h = &state.header;
    let model = match &state.load {
        LoadPhase::Ready => h.model.clone(),
        LoadPhase::Loading { .. } => format!("{} (loading)", h.model),
        LoadPhase::Failed(_) => format!("{} (failed)", h.model),
    };
    let parts = [
        ("device", h.device.as_str()),
        ("model", model.as_str()),
        ("adapter", h.adapter.as_str()),
        ("data", h.data.as_str()),
    ];
    let full: usize = 6 + parts
        .iter()
        .map(|(k, v)| width(k) + width(v) + 5)
        .sum::<usize>();
    let avail = area.width as usize;
    let mut spans = vec![Span::styled(" R²ec ", theme.title)];
    if full <= avail {
        for (k, v) in parts {
            spans.push(Span::styled(format!("│ {k}: "), theme.dim));
            spans.push(Span::raw(format!("{v} ")));
        }
    } else {
        // Narrow: values only. The device and the data set are short and say the most,
        // so they stay whole (up to 16 cells); the model and adapter names share the rest.
        let short = |v: &str| width(v).min(16);
        let room = avail.saturating_sub(6 + 3 * parts.len());
        let rest = room.saturating_sub(short(parts[0].1) + short(parts[3].1));
        let rooms = [
            short(parts[0].1),
            rest / 2,
            rest - rest / 2,
            short(parts[3].1),
        ];
        for ((_, v), room) in parts.iter().zip(rooms) {
            spans.push(Span::styled("│ ", theme.dim));
            spans.push(Span::raw(format!("{} ", cut(v, room.max(4)))));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(theme.header), area);
}

/// The tab labels at one level of abbreviation: 0 full titles, 1 full titles with
/// only the current tab padded, 2 short titles, 3 numbers only. The current screen
/// always shows its full title.
fn tab_labels(state: &State, level: u8) -> Vec<String> {
    SCREENS
        .iter()
        .map(|s| match level {
            _ if *s == state.screen => format!(" {} {} ", s.key(), s.title()),
            0 => format!(" {} {} ", s.key(), s.title()),
            1 => format!("{} {}", s.key(), s.title()),
            2 => format!("{} {}", s.key(), s.short_title()),
            _ => s.key().to_string(),
        })
        .collect()
}

pub fn render_tabs(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let avail = area.width as usize;
    // The least abbreviated labels that fit, one cell between tabs.
    let labels = (0..=3)
        .map(|level| tab_labels(state, level))
        .find(|l| l.iter().map(|t| width(t)).sum::<usize>() + l.len() - 1 <= avail)
        .unwrap_or_else(|| tab_labels(state, 3));
    let mut spans = Vec::new();
    for (i, (s, label)) in SCREENS.iter().zip(labels).enumerate() {
        let style = if *s == state.screen {
            theme.selected
        } else {
            theme.dim
        };
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(label, style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
