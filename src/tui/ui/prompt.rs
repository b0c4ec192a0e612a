//! The raw prompt exactly as the model reads it (chat template included) and the run's
//! JSON record, both highlighted.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{block, notice};
use crate::tui::app::State;
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let r = &state.run;
    let Some(prompt) = &r.prompt_view else {
        notice(
            f,
            area,
            " Prompt ",
            "run a history first (r); its prompt and record show here",
            state,
            theme,
        );
        return;
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    f.render_widget(
        Paragraph::new(prompt.clone())
            .block(block(" Prompt (with chat template) ", theme))
            .wrap(Wrap { trim: false })
            .scroll((r.prompt_scroll, 0)),
        top,
    );
    match &r.record_view {
        Some(rec) => f.render_widget(
            Paragraph::new(rec.clone())
                .block(block(" Record (JSON) ", theme))
                .scroll((r.prompt_scroll, 0)),
            bottom,
        ),
        None => f.render_widget(
            Paragraph::new("the record appears when the run ends")
                .block(block(" Record (JSON) ", theme)),
            bottom,
        ),
    }
}
