//! The Training screen: one field of every loaded run's metrics.jsonl over steps (reward
//! first), the smoothed line bright and the raw points faint, zoomable to the latest
//! steps, with whole steps on the x axis; below it the sampled rollout groups, `*`
//! marking the chain that got the item loss. The Lengths screen: reasoning length
//! (mean, min, max) over steps beside the length distribution of an evaluation.

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

/// First, middle and last value of an axis of whole numbers (steps, tokens); the
/// middle is rounded down when the span is odd.
fn step_labels(b: (f64, f64)) -> Vec<ratatui::text::Span<'static>> {
    let (a, z) = (b.0.round() as i64, b.1.round() as i64);
    vec![
        a.to_string().into(),
        ((a + z) / 2).to_string().into(),
        z.to_string().into(),
    ]
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
    let (lo, hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let (x0, x1) = t.step_range(lo.max(0.0), hi);
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
    let mut legend = Vec::new();
    for (i, (name, raw, smooth)) in lines.iter().enumerate() {
        let col = theme.series[i % theme.series.len()];
        let last = smooth
            .last()
            .map_or(String::new(), |p| format!(" = {}", fmt(p.1)));
        // Two entries to a row even on a narrow terminal: long run names are cut.
        let name_room = ((area.width as usize).saturating_sub(8) / 2)
            .saturating_sub(crate::tui::text::width(&last) + 2)
            .max(8);
        legend.push((
            format!("━ {}{last}", crate::tui::text::cut_middle(name, name_room)),
            Style::default().fg(col),
        ));
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(Style::default().fg(col).dim())
                .data(raw),
        );
        datasets.push(
            Dataset::default()
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
        t.field_index() + 1,
        1u32 << t.zoom,
        snap.runs.len()
    );
    // Narrow: the field and its keys first, the rest as room allows.
    let title = if crate::tui::text::width(&title) + 2 > area.width as usize {
        format!(
            " {field} ({}/{n}, ↑↓) · EMA {a} · zoom 1/{} · runs {} ",
            t.field_index() + 1,
            1u32 << t.zoom,
            snap.runs.len()
        )
    } else {
        title
    };
    let chart = Chart::new(datasets)
        .block(block(Line::from(title), theme))
        .x_axis(
            Axis::default()
                .title("step")
                .bounds([x0, x1])
                .labels(step_labels((x0, x1))),
        )
        .y_axis(Axis::default().bounds(yb).labels(axis_labels(yb)))
        // The built-in legend is drawn over the lines; ours is a row below the chart.
        .legend_position(None);
    render_with_legend(f, area, chart, &legend);
}

/// A chart with its legend in rows just below its frame: one entry per run, as many
/// per row as the width takes.
fn render_with_legend(f: &mut Frame, area: Rect, chart: Chart, legend: &[(String, Style)]) {
    let inner = (area.width as usize).saturating_sub(2);
    let mut rows: Vec<Line> = vec![Line::default()];
    for (text, style) in legend {
        let used = rows.last().map_or(0, Line::width);
        if used > 0 && used + 3 + crate::tui::text::width(text) > inner {
            rows.push(Line::default());
        }
        if let Some(l) = rows.last_mut() {
            if l.width() > 0 {
                l.push_span(ratatui::text::Span::raw("   "));
            }
            l.push_span(ratatui::text::Span::styled(text.clone(), *style));
        }
    }
    let n = if legend.is_empty() {
        0
    } else {
        rows.len() as u16
    };
    let [chart_area, legend_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(n)]).areas(area);
    f.render_widget(chart, chart_area);
    if n > 0 {
        let legend_area = Rect {
            x: legend_area.x + 1,
            width: legend_area.width.saturating_sub(2),
            ..legend_area
        };
        f.render_widget(ratatui::widgets::Paragraph::new(rows), legend_area);
    }
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
            let (lo, hi) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), l| {
                (a.min(l.step), b.max(l.step))
            });
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let (x0, x1) = t.step_range(lo.max(0.0), hi);
            // Token counts: from 0 to an even number of tokens above the longest chain,
            // so the middle label is a whole number too.
            let longest = (pts().fold(1.0f64, |m, l| m.max(l.max)) * 1.05)
                .ceil()
                .max(2.0);
            let yb = [0.0, longest + (longest as i64 % 2) as f64];
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
                        (
                            // Two entries to a row: long run names are cut.
                            format!(
                                "{}{last}",
                                crate::tui::text::cut_middle(
                                    &r.series.name,
                                    ((top.width as usize).saturating_sub(8) / 2)
                                        .saturating_sub(crate::tui::text::width(&last) + 2)
                                        .max(8)
                                )
                            ),
                            i,
                            keep(|l| l.mean),
                        ),
                        (String::new(), i, keep(|l| l.min)),
                        (String::new(), i, keep(|l| l.max)),
                    ]
                })
                .collect();
            let legend: Vec<(String, Style)> = series
                .iter()
                .filter(|(name, ..)| !name.is_empty())
                .map(|(name, i, _)| {
                    (
                        format!("━ {name}"),
                        Style::default().fg(theme.series[i % theme.series.len()]),
                    )
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
                        d.marker(Marker::Braille).style(Style::default().fg(col))
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
                        .labels(step_labels((x0, x1))),
                )
                .y_axis(
                    Axis::default()
                        .title("tokens")
                        .bounds(yb)
                        .labels(step_labels((yb[0], yb[1]))),
                )
                .legend_position(None);
            render_with_legend(f, top, chart, &legend);
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
        // Narrow: the report's name is cut in the middle (its end tells the data set),
        // then the title between words, never inside one.
        let name = crate::tui::text::cut_middle(name, (bottom.width as usize / 3).max(12));
        let title = super::fit_title(
            &format!(
                "Evaluation {name} ({}/{}, ↑↓) · {} chains · mean {mean:.1} tokens",
                t.eval % evals.len() + 1,
                evals.len(),
                lengths.len()
            ),
            bottom.width as usize,
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
    let run = crate::tui::text::cut_middle(run, (area.width as usize / 3).max(12));
    let title = super::fit_title(
        &format!(
            "Rollouts {}/{} (pgdn/pgup) · {run} · step {} · user {} · target {}",
            t.rollout.min(all.len() - 1) + 1,
            all.len(),
            s.step,
            s.user_id,
            s.target
        ),
        area.width as usize,
    );
    // The figures before the text take 47 cells, the borders 2.
    let w = area.width.saturating_sub(49) as usize;
    let mut lines: Vec<Line> = vec![Line::styled(
        "* marks the chain given the item loss (its group's best)",
        theme.dim,
    )];
    lines.extend(s.chains.iter().enumerate().map(|(k, c)| {
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
    }));
    f.render_widget(
        ratatui::widgets::Paragraph::new(lines).block(block(Line::from(title), theme)),
        area,
    );
}
