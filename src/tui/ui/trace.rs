//! The rank trace: the rank of the target and of the final top items after every
//! reasoning step (from the hidden state at that step), on a log scale so rank 1 and
//! rank 1000 both read.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
use ratatui::Frame;

use super::{block, cut, notice};
use crate::tui::app::State;
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(last) = &state.run.last else {
        notice(
            f,
            area,
            " Rank trace ",
            "run a history first (r); the trace follows every reasoning step",
            state,
            theme,
        );
        return;
    };
    let trace = &last.trace;
    if trace.series.iter().all(|s| s.points.is_empty()) {
        notice(
            f,
            area,
            " Rank trace ",
            "this run has no reasoning steps to trace",
            state,
            theme,
        );
        return;
    }
    let points: Vec<Vec<(f64, f64)>> = trace
        .series
        .iter()
        .map(|s| s.points.iter().map(|(x, r)| (*x, r.log10())).collect())
        .collect();
    let max_rank = trace
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let y_max = max_rank.log10().ceil().max(1.0);
    let w = (area.width as usize / 4).max(10);
    let datasets: Vec<Dataset> = trace
        .series
        .iter()
        .zip(&points)
        .enumerate()
        .map(|(i, (s, pts))| {
            let last = s.points.last().map_or(0.0, |p| p.1);
            Dataset::default()
                .name(format!("{} (#{last:.0})", cut(&s.label, w)))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(theme.series[i % theme.series.len()]))
                .data(pts)
        })
        .collect();
    let y_labels: Vec<Span> = (0..=y_max as i32)
        .map(|e| Span::raw(format!("{}", 10i64.pow(e as u32))))
        .collect();
    let steps = trace.steps.max(1) as f64;
    let chart = Chart::new(datasets)
        .block(block(
            Line::from(" Rank trace · rank (log) over reasoning tokens · lower is better "),
            theme,
        ))
        .x_axis(
            Axis::default()
                .title("token")
                .bounds([0.0, steps])
                .labels(vec![
                    Span::raw("0"),
                    Span::raw(format!("{}", trace.steps / 2)),
                    Span::raw(format!("{}", trace.steps)),
                ]),
        )
        .y_axis(
            Axis::default()
                .title("rank")
                .bounds([0.0, y_max])
                .labels(y_labels),
        )
        .legend_position(Some(ratatui::widgets::LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(3, 4)));
    f.render_widget(chart, area);
}
