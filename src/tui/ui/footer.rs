//! The status bar (last event, time to first token, tokens/s, sampling, key-to-frame
//! latency) and the footer with the current screen's keys.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{loading_line, Extras};
use crate::tui::app::run::sampling_label;
use crate::tui::app::{LoadPhase, State};
use crate::tui::keys::{Action, ACTIONS};
use crate::tui::theme::Theme;

pub fn render_status(f: &mut Frame, area: Rect, state: &State, theme: &Theme, extras: &Extras) {
    let left = match &state.load {
        LoadPhase::Loading { stage, done, total } => {
            loading_line(stage, *done, *total, state.spinner)
        }
        _ if state.run.live.is_some() => {
            format!("{} {}", super::spinner(state.spinner), state.status)
        }
        _ => state.status.clone(),
    };
    let mut right = Vec::new();
    if let Some(s) = &state.run.speed {
        right.push(format!("TTFT {:.2} s", s.first_token_secs));
        right.push(format!("{:.1} tok/s", s.tokens_per_sec));
        right.push(format!("{} tok", s.tokens));
    }
    right.push(sampling_label(state));
    if extras.latency.count > 0 {
        right.push(format!("key→frame p95 {:.1} ms", extras.latency.p95));
    }
    let right = right.join(" · ");
    let [l, r] = Layout::horizontal([
        Constraint::Min(10),
        Constraint::Length(right.chars().count() as u16 + 1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(left).style(theme.warn), l);
    f.render_widget(Paragraph::new(right).style(theme.dim), r);
}

fn help_text(a: Action) -> &'static str {
    ACTIONS.iter().find(|x| x.0 == a).map_or("", |x| x.3)
}

pub fn render_keys(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut spans = Vec::new();
    let actions = state
        .screen
        .footer_actions()
        .iter()
        .chain(&[Action::Help, Action::Quit]);
    for a in actions {
        let key = state.keys.label(*a);
        if key.is_empty() {
            continue;
        }
        spans.push(Span::styled(key, theme.key));
        spans.push(Span::raw(format!(" {}  ", help_text(*a))));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
