//! The Training screen: one field of every loaded run's metrics.jsonl over steps, the
//! smoothed line bright and the raw points faint, zoomable to the latest steps; and the
//! Lengths screen: reasoning length (mean, min, max) over steps beside the length
//! distribution of an evaluation.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Bar, BarChart, BarGroup, Chart, Dataset, GraphType};
use ratatui::Frame;

use super::{block, notice};
use crate::plot::ema;
use crate::tui::app::State;
use crate::tui::theme::Theme;

/// A named line of points (raw, then smoothed, for curves).
type Curve = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);
/// A line of the length chart: its legend name (empty for the dim min/max lines), its
/// run's colour index and its points.
type LengthLine = (String, usize, Vec<(f64, f64)>);

fn bounds(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1e-3) * 0.05
    };
    [lo - pad, hi + pad]
}

fn fmt(v: f64) -> String {
    if v != 0.0 && (v.abs() < 0.01 || v.abs() >= 10_000.0) {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

fn axis_labels(b: [f64; 2]) -> Vec<ratatui::text::Span<'static>> {
    vec![
        fmt(b[0]).into(),
        fmt((b[0] + b[1]) / 2.0).into(),
        fmt(b[1]).into(),
    ]
}

fn waiting(f: &mut Frame, area: Rect, title: &str, state: &State, theme: &Theme) -> bool {
    let t = &state.training;
    match &t.snapshot {
        Some(s) if !s.runs.is_empty() => false,
        Some(s) => {
            let why = if s.errors.is_empty() {
                "no run folders: train one (r2ec train --out runs/NAME) or pass --runs DIR"
                    .to_string()
            } else {
                s.errors.join("; ")
            };
            notice(f, area, title, &why, state, theme);
            true
        }
        None => {
            notice(f, area, title, "reading the runs…", state, theme);
            true
        }
    }
}

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    if waiting(f, area, " Training ", state, theme) {
        return;
    }
    let has_rollouts = state
        .training
        .snapshot
        .as_ref()
        .is_some_and(|s| s.runs.iter().any(|r| !r.rollouts.is_empty()));
    let area = if has_rollouts {
        let [chart, rollouts] =
            Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
        render_rollouts(f, rollouts, state, theme);
        chart
    } else {
        area
    };
    let t = &state.training;
    let Some(snap) = &t.snapshot else { return };
    let Some(field) = t.field_name() else { return };
    let a = t.smoothing();
    let all: Vec<(f64, f64)> = snap
        .runs
        .iter()
        .filter_map(|r| r.series.get(&field))
        .flatten()
        .copied()
        .collect();
    let xb = bounds(all.iter().map(|p| p.0));
    let (x0, x1) = t.x_range(xb[0].max(0.0), xb[1]);
    let lines: Vec<Curve> = snap
        .runs
        .iter()
        .filter_map(|r| {
            let raw: Vec<(f64, f64)> = r.series.get(&field)?.clone();
            let smooth = ema(&raw, a);
            let keep = |v: Vec<(f64, f64)>| v.into_iter().filter(|p| p.0 >= x0).collect::<Vec<_>>();
            Some((r.series.name.clone(), keep(raw), keep(smooth)))
        })
        .collect();
    let yb = bounds(
        lines
            .iter()
            .flat_map(|l| l.1.iter().chain(&l.2).map(|p| p.1)),
    );
    let mut datasets = Vec::new();
    for (i, (name, raw, smooth)) in lines.iter().enumerate() {
        let col = theme.series[i % theme.series.len()];
        let last = smooth
            .last()
            .map_or(String::new(), |p| format!(" = {}", fmt(p.1)));
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(Style::default().fg(col).dim())
                .data(raw),
        );
        datasets.push(
            Dataset::default()
                .name(format!("{name}{last}"))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(col))
                .data(smooth),
        );
    }
    let n = t.fields().len();
    let job = match &t.job {
        Some(dir) => format!(" · training {} (shift-x stops)", dir.display()),
        None => format!(" · shift-s trains {} steps (+/-)", t.settings.steps),
    };
    let title = format!(
        " Training · {field} ({}/{n}, ↑↓) · EMA {a} (m) · zoom 1/{} (z) · runs {}{job} ",
        t.field % n.max(1) + 1,
        1u32 << t.zoom,
        snap.runs.len()
    );
    let chart = Chart::new(datasets)
        .block(block(Line::from(title), theme))
        .x_axis(
            Axis::default()
                .title("step")
                .bounds([x0, x1])
                .labels(axis_labels([x0, x1])),
        )
        .y_axis(Axis::default().bounds(yb).labels(axis_labels(yb)))
        .hidden_legend_constraints((Constraint::Ratio(1, 1), Constraint::Ratio(1, 1)));
    f.render_widget(chart, area);
}

pub fn render_lengths(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let t = &state.training;
    let evals = t
        .snapshot
        .as_ref()
        .map(|s| s.evals.as_slice())
        .unwrap_or(&[]);
    let [top, bottom] = if evals.is_empty() {
        [area, Rect::default()]
    } else {
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area)
    };
    if !waiting(f, top, " Reasoning length ", state, theme) {
        if let Some(snap) = &t.snapshot {
            let pts = || snap.runs.iter().flat_map(|r| r.lengths.iter());
            let xb = bounds(pts().map(|l| l.step));
            let (x0, x1) = t.x_range(xb[0].max(0.0), xb[1]);
            let yb = bounds(pts().flat_map(|l| [l.min, l.max]).chain([0.0]));
            let series: Vec<LengthLine> = snap
                .runs
                .iter()
                .enumerate()
                .flat_map(|(i, r)| {
                    let keep = |f: fn(&crate::plot::lengths::StepLength) -> f64| {
                        r.lengths
                            .iter()
                            .filter(|l| l.step >= x0)
                            .map(|l| (l.step, f(l)))
                            .collect::<Vec<_>>()
                    };
                    let last = r.lengths.last().map_or(String::new(), |l| {
                        format!(" mean {:.1} [{:.0}, {:.0}]", l.mean, l.min, l.max)
                    });
                    [
                        (format!("{}{last}", r.series.name), i, keep(|l| l.mean)),
                        (String::new(), i, keep(|l| l.min)),
                        (String::new(), i, keep(|l| l.max)),
                    ]
                })
                .collect();
            let datasets: Vec<Dataset> = series
                .iter()
                .map(|(name, i, pts)| {
                    let col = theme.series[i % theme.series.len()];
                    let d = Dataset::default().graph_type(GraphType::Line).data(pts);
                    if name.is_empty() {
                        d.marker(Marker::Dot).style(Style::default().fg(col).dim())
                    } else {
                        d.name(name.clone())
                            .marker(Marker::Braille)
                            .style(Style::default().fg(col))
                    }
                })
                .collect();
            let chart = Chart::new(datasets)
                .block(block(
                    Line::from(
                        " Reasoning length over training steps · mean (bright), min and max (dim) ",
                    ),
                    theme,
                ))
                .x_axis(
                    Axis::default()
                        .title("step")
                        .bounds([x0, x1])
                        .labels(axis_labels([x0, x1])),
                )
                .y_axis(
                    Axis::default()
                        .title("tokens")
                        .bounds(yb)
                        .labels(axis_labels(yb)),
                )
                .hidden_legend_constraints((Constraint::Ratio(1, 1), Constraint::Ratio(1, 1)));
            f.render_widget(chart, top);
        }
    }
    if let Some((name, lengths)) = evals.get(t.eval % evals.len().max(1)) {
        let (labels, counts) = crate::plot::lengths::length_bins(lengths, 10);
        let bars: Vec<Bar> = labels
            .iter()
            .zip(&counts)
            .map(|(l, &c)| Bar::default().label(Line::from(l.clone())).value(c as u64))
            .collect();
        let mean = lengths.iter().sum::<usize>() as f64 / lengths.len() as f64;
        let title = format!(
            " Evaluation {name} ({}/{}, ↑↓) · {} chains · mean {mean:.1} tokens ",
            t.eval % evals.len() + 1,
            evals.len(),
            lengths.len()
        );
        let width = ((bottom.width.saturating_sub(2)) / labels.len().max(1) as u16)
            .saturating_sub(1)
            .clamp(3, 12);
        let chart = BarChart::default()
            .block(block(Line::from(title), theme))
            .data(BarGroup::default().bars(&bars))
            .bar_width(width)
            .bar_gap(1)
            .bar_style(Style::default().fg(theme.series[0]));
        f.render_widget(chart, bottom);
    }
}

/// One sampled group of a run's rollouts.jsonl: every chain with its reward, advantage,
/// target rank and length, the chain that received the item loss marked.
fn render_rollouts(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let t = &state.training;
    let Some(snap) = &t.snapshot else { return };
    let all: Vec<(&str, &crate::train::report::RolloutSample)> = snap
        .runs
        .iter()
        .flat_map(|r| r.rollouts.iter().map(move |s| (r.series.name.as_str(), s)))
        .collect();
    let Some((run, s)) = all.get(t.rollout.min(all.len().saturating_sub(1))) else {
        return;
    };
    let title = format!(
        " Rollouts {}/{} (pgdn/pgup) · {run} · step {} · user {} · target {} ",
        t.rollout.min(all.len() - 1) + 1,
        all.len(),
        s.step,
        s.user_id,
        s.target
    );
    let w = area.width.saturating_sub(60) as usize;
    let lines: Vec<Line> = s
        .chains
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let rank = c.rank.map_or("-".to_string(), |r| r.to_string());
            let text: String = c.text.replace('\n', " ");
            Line::styled(
                format!(
                    "{}{k} reward {:.4} adv {:+.2} rank {:>5} {:>3} tok  {}",
                    if c.top { "*" } else { " " },
                    c.reward,
                    c.advantage,
                    rank,
                    c.tokens,
                    super::cut(&text, w.max(10))
                ),
                if c.top { theme.selected } else { theme.text },
            )
        })
        .collect();
    f.render_widget(
        ratatui::widgets::Paragraph::new(lines).block(block(Line::from(title), theme)),
        area,
    );
}
