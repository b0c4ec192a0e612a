//! Chart files with plotters, as PNG or SVG: the one chart writer of the crate, used by
//! `r2ec plot` (one line chart per training field with several runs overlaid, raw points
//! faint and smoothed line strong; the reasoning-length growth, a mean line inside its
//! min-max band; length histograms), by the charts of an evaluation report folder and
//! by annotation summaries. A `Style` keeps each family's size and look. Written to a
//! temporary file and renamed, so a reader never sees half a chart; where no system font
//! is found the chart is drawn without text rather than not at all.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::lengths::StepLength;
use super::series::Points;

/// Size of `r2ec plot`'s charts (`Style::PLOT`).
pub const SIZE: (u32, u32) = (960, 540);

/// Output format, chosen by the caller (and the file extension follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// One run's line on a chart.
pub struct Line {
    pub name: String,
    pub raw: Points,
    pub smooth: Points,
    /// Index into the palette: a reference line (most popular on a run's probe) takes its
    /// run's colour, so that each pair reads as one run.
    pub colour: usize,
    /// Drawn dashed, without the faint raw line: a reference, not a curve being learned.
    pub dashed: bool,
}

/// What one chart shows.
pub enum Chart<'a> {
    Curves {
        title: &'a str,
        /// What the x axis counts ("step", "users seen").
        x: &'a str,
        y: &'a str,
        lines: &'a [Line],
    },
    Lengths {
        title: &'a str,
        runs: &'a [(String, Vec<StepLength>)],
    },
    Bars {
        title: &'a str,
        labels: &'a [String],
        values: &'a [f64],
        y: &'a str,
    },
}

/// Size, spacing and bar colour of one family of charts, so that every caller shares
/// the writer while its files keep the look they always had.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Width and height in pixels.
    pub size: (u32, u32),
    pub margin: u32,
    /// Font size of the title.
    pub caption: u32,
    /// Width of the y-axis label area (the x-axis one is 40 for all).
    pub y_label_area: u32,
    /// Fill of histogram bars (line charts take `COLORS` in turn).
    pub bar: RGBColor,
}

impl Style {
    /// `r2ec plot` and annotation charts.
    pub const PLOT: Style = Style {
        size: SIZE,
        margin: 14,
        caption: 24,
        y_label_area: 70,
        bar: COLORS[0],
    };
    /// The PNG charts of an evaluation report folder (`ranks.png`, `metrics.png`,
    /// `reasoning_len.png`): smaller, to sit inside `report.md`.
    pub const REPORT: Style = Style {
        size: (800, 480),
        margin: 12,
        caption: 22,
        y_label_area: 60,
        bar: BLUE,
    };
}

/// Draw `chart` to `path` atomically in the `r2ec plot` style; text is dropped silently
/// when drawing it fails (no font). A shorthand of `write_with`.
pub fn write(path: &Path, format: Format, chart: &Chart) -> Result<(), String> {
    write_with(path, format, &Style::PLOT, chart, &mut |_| {})
}

/// Draw `chart` to `path` atomically. When drawing with text fails (no font), `text_failed`
/// is told why and the chart is drawn again without text; the error is the last
/// attempt's. The temporary file sits beside `path` (so the rename stays on one
/// filesystem) and is removed when nothing could be written.
pub fn write_with(
    path: &Path,
    format: Format,
    style: &Style,
    chart: &Chart,
    text_failed: &mut dyn FnMut(String),
) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The extension must stay: plotters' bitmap backend picks the encoder from it.
    let tmp = path.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    let attempt = |text: bool| -> Result<(), String> {
        match format {
            Format::Png => {
                let root = BitMapBackend::new(&tmp, style.size).into_drawing_area();
                draw(&root, style, chart, text)?;
                root.present().map_err(|e| e.to_string())
            }
            Format::Svg => {
                let root = SVGBackend::new(&tmp, style.size).into_drawing_area();
                draw(&root, style, chart, text)?;
                root.present().map_err(|e| e.to_string())
            }
        }
    };
    let result = attempt(true)
        .or_else(|e| {
            text_failed(e);
            attempt(false)
        })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

/// A corner of the plot area for the legend box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corner {
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

impl Corner {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
        }
    }
}

/// The corner whose box (the outer 45% of the width, 35% of the height) holds the fewest
/// of `points`, so the legend hides as little of the lines as it can; ties go to the
/// first of upper right, upper left, lower right, lower left. A run that covers only
/// part of the x range (one started from another's checkpoint) keeps its line visible.
pub(crate) fn legend_corner(
    points: impl Iterator<Item = (f64, f64)>,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Corner {
    let (w, h) = ((x1 - x0) * 0.45, (y1 - y0) * 0.35);
    let mut counts = [0usize; 4];
    for (x, y) in points.filter(|p| p.0.is_finite() && p.1.is_finite()) {
        let (right, left) = (x >= x1 - w, x <= x0 + w);
        let (upper, lower) = (y >= y1 - h, y <= y0 + h);
        for (i, inside) in [right && upper, left && upper, right && lower, left && lower]
            .into_iter()
            .enumerate()
        {
            counts[i] += usize::from(inside);
        }
    }
    let corners = [
        Corner::UpperRight,
        Corner::UpperLeft,
        Corner::LowerRight,
        Corner::LowerLeft,
    ];
    // `min_by_key` keeps the first of equal minima: the order above breaks ties.
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    corners[best]
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    style: &Style,
    chart: &Chart,
    text: bool,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut b = ChartBuilder::on(root);
    b.margin(style.margin);
    let title = match chart {
        Chart::Curves { title, .. } | Chart::Lengths { title, .. } | Chart::Bars { title, .. } => {
            *title
        }
    };
    if text {
        b.caption(title, ("sans-serif", style.caption))
            .x_label_area_size(40)
            .y_label_area_size(style.y_label_area);
    }
    match chart {
        Chart::Curves { x, y, lines, .. } => {
            let pts = || lines.iter().flat_map(|l| l.raw.iter().chain(&l.smooth));
            let (x0, x1) = range(pts().map(|p| p.0));
            let (y0, y1) = range(pts().map(|p| p.1));
            let mut c = b.build_cartesian_2d(x0..x1, y0..y1).map_err(|x| e(&x))?;
            if text {
                c.configure_mesh()
                    .x_desc(*x)
                    .y_desc(*y)
                    .draw()
                    .map_err(|x| e(&x))?;
            }
            for l in lines.iter() {
                let col = COLORS[l.colour % COLORS.len()];
                let s = if l.dashed {
                    c.draw_series(DashedLineSeries::new(
                        l.smooth.iter().copied(),
                        8,
                        6,
                        col.stroke_width(2),
                    ))
                    .map_err(|x| e(&x))?
                } else {
                    c.draw_series(LineSeries::new(l.raw.iter().copied(), col.mix(0.25)))
                        .map_err(|x| e(&x))?;
                    c.draw_series(LineSeries::new(
                        l.smooth.iter().copied(),
                        col.stroke_width(2),
                    ))
                    .map_err(|x| e(&x))?
                };
                if text {
                    let dashed = l.dashed;
                    s.label(l.name.clone()).legend(move |(x, y)| {
                        // Two strokes, with a gap when dashed: the legend's own dash.
                        let (end, start) = if dashed { (7, 11) } else { (9, 9) };
                        let style = col.stroke_width(2);
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (end, 0)], style)
                            + PathElement::new(vec![(start, 0), (18, 0)], style)
                    });
                }
            }
            if text && !lines.is_empty() {
                let corner = legend_corner(pts().copied(), (x0, x1), (y0, y1));
                c.configure_series_labels()
                    .position(corner.position())
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|x| e(&x))?;
            }
        }
        Chart::Lengths { runs, .. } => {
            let all = || runs.iter().flat_map(|(_, l)| l.iter());
            let (x0, x1) = range(all().map(|l| l.step));
            let (y0, y1) = range(all().flat_map(|l| [l.min, l.max]));
            let mut c = b
                .build_cartesian_2d(x0..x1, y0.min(0.0)..y1)
                .map_err(|x| e(&x))?;
            if text {
                c.configure_mesh()
                    .x_desc("step")
                    .y_desc("reasoning tokens")
                    .draw()
                    .map_err(|x| e(&x))?;
            }
            for (i, (name, l)) in runs.iter().enumerate() {
                let col = COLORS[i % COLORS.len()];
                // The band: max forwards, then min backwards, as one closed polygon.
                let band: Vec<(f64, f64)> = l
                    .iter()
                    .map(|p| (p.step, p.max))
                    .chain(l.iter().rev().map(|p| (p.step, p.min)))
                    .collect();
                c.draw_series(std::iter::once(Polygon::new(band, col.mix(0.15))))
                    .map_err(|x| e(&x))?;
                let s = c
                    .draw_series(LineSeries::new(
                        l.iter().map(|p| (p.step, p.mean)),
                        col.stroke_width(2),
                    ))
                    .map_err(|x| e(&x))?;
                if text {
                    s.label(format!("{name} (mean, band = min..max)"))
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2))
                        });
                }
            }
            if text && !runs.is_empty() {
                let points =
                    all().flat_map(|l| [(l.step, l.min), (l.step, l.mean), (l.step, l.max)]);
                let corner = legend_corner(points, (x0, x1), (y0.min(0.0), y1));
                c.configure_series_labels()
                    .position(corner.position())
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|x| e(&x))?;
            }
        }
        Chart::Bars {
            labels, values, y, ..
        } => {
            let top = values.iter().copied().fold(0.0f64, f64::max);
            let n = labels.len().max(1);
            let mut c = b
                .build_cartesian_2d(
                    (0..n).into_segmented(),
                    0f64..if top > 0.0 { top * 1.1 } else { 1.0 },
                )
                .map_err(|x| e(&x))?;
            if text {
                c.configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n)
                    .x_label_formatter(&|v| match v {
                        SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                        _ => String::new(),
                    })
                    .y_desc(*y)
                    .draw()
                    .map_err(|x| e(&x))?;
            }
            c.draw_series(values.iter().enumerate().map(|(i, &v)| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), v),
                    ],
                    style.bar.mix(0.7).filled(),
                );
                bar.set_margin(0, 0, 6, 6);
                bar
            }))
            .map_err(|x| e(&x))?;
        }
    }
    Ok(())
}
