//! The rank trace: the rank of the target and of the final top items after every
//! reasoning step (from the hidden state at that step), on a log scale so rank 1 and
//! rank 1000 both read. The legend sits below the chart, never over its lines.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
use ratatui::Frame;

use super::{block, notice};
use crate::tui::app::State;
use crate::tui::text::{cut, shown_title, width};
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
    let datasets: Vec<Dataset> = trace
        .series
        .iter()
        .zip(&points)
        .enumerate()
        .map(|(i, (_, pts))| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(theme.series[i % theme.series.len()]))
                .data(pts)
        })
        .collect();
    // The legend: one entry per followed item with its final rank, laid out in rows
    // below the chart (as many per row as the width takes).
    let entry_w = (area.width as usize).saturating_sub(2).max(20);
    let entries: Vec<(String, Style)> = trace
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let last = s.points.last().map_or(0.0, |p| p.1);
            let label = if s.is_target {
                s.label.clone()
            } else {
                shown_title(&s.label)
            };
            (
                format!("━ {} (#{last:.0})", cut(&label, entry_w / 2)),
                Style::default().fg(theme.series[i % theme.series.len()]),
            )
        })
        .collect();
    let mut legend: Vec<Line> = vec![Line::default()];
    for (text, style) in entries {
        let used = legend.last().map_or(0, Line::width);
        if used > 0 && used + 3 + width(&text) > entry_w {
            legend.push(Line::default());
        }
        if let Some(l) = legend.last_mut() {
            if l.width() > 0 {
                l.push_span(Span::raw("   "));
            }
            l.push_span(Span::styled(text, style));
        }
    }
    let [chart_area, legend_area] = Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(legend.len() as u16 + 2),
    ])
    .areas(area);
    let y_labels: Vec<Span> = (0..=y_max as i32)
        .map(|e| Span::raw(format!("{}", 10i64.pow(e as u32))))
        .collect();
    let steps = trace.steps.max(1) as f64;
    let chart = Chart::new(datasets)
        .block(block(
            Line::from(format!(
                " Rank trace · {} · rank (log) over tokens · lower is better ",
                last.request.source
            )),
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
        // The built-in legend is drawn over the lines; ours is below the chart.
        .legend_position(None);
    f.render_widget(chart, chart_area);
    f.render_widget(
        ratatui::widgets::Paragraph::new(legend)
            .block(block(" Followed items (final rank) ", theme)),
        legend_area,
    );
}
