//! `plot` end to end on a fixture run: one chart per field, runs overlaid, the length
//! chart and histogram, as PNG (checked through its header) and SVG.

use super::*;

fn fixture_run(dir: &Path, name: &str, shift: f64) -> PathBuf {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    let mut m = String::new();
    let mut r = String::new();
    for s in 1..=6 {
        let x = s as f64;
        m.push_str(&format!(
            "{{\"step\":{s},\"reward\":{},\"loss\":{},\"lr\":0.0001,\"reasoning_len\":{}}}\n",
            0.1 * x + shift,
            -x,
            20.0 + x
        ));
        r.push_str(&format!(
            "{{\"step\":{s},\"user_id\":\"u\",\"target\":\"t\",\"chains\":[{{\"tokens\":{}}},{{\"tokens\":{}}}]}}\n",
            10 + s,
            30 + s
        ));
    }
    m.push_str("{\"step\":6,\"eval\":{\"valid\":{\"ndcg@10\":0.05}},\"reasoning_len\":{\"valid\":25.0},\"eval_secs\":1.0}\n");
    std::fs::write(run.join("metrics.jsonl"), m).unwrap();
    std::fs::write(run.join("rollouts.jsonl"), r).unwrap();
    run
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn every_field_gets_a_chart_with_runs_overlaid() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixture_run(dir.path(), "r2ec", 0.0);
    let b = fixture_run(dir.path(), "wo-reasoning", 0.5);
    let ex = dir.path().join("examples.jsonl");
    std::fs::write(
        &ex,
        "{\"reasoning_tokens\":12}\n{\"reasoning_tokens\":40}\n{\"rank\":3}\n",
    )
    .unwrap();
    let out = dir.path().join("plots");
    let files = plot(&PlotRequest {
        runs: &[a, b],
        out: &out,
        format: Format::Png,
        smooth: 0.6,
        examples: &[ex],
        x: XAxis::Step,
    })
    .unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "curve-reward.png",
        "curve-loss.png",
        "curve-lr.png",
        "curve-reasoning_len.png",
        "curve-valid-ndcg10.png",
        "curve-valid-reasoning_len.png",
        "reasoning-length.png",
        "length-hist-1.png",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
    for f in &files {
        assert!(
            std::fs::metadata(f).unwrap().len() > 1000,
            "{} is nearly empty",
            f.display()
        );
        assert_eq!(png_size(f), charts::SIZE);
    }
    // Nothing half-written is left beside the charts.
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".tmp")));
}

#[test]
fn svg_output_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixture_run(dir.path(), "run-a", 0.0);
    let out = dir.path().join("svg");
    let files = plot(&PlotRequest {
        runs: std::slice::from_ref(&a),
        out: &out,
        format: Format::Svg,
        smooth: 0.0,
        examples: &[],
        x: XAxis::Step,
    })
    .unwrap();
    let svg = std::fs::read_to_string(out.join("curve-reward.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("960"),
        "not an SVG of the chart size"
    );
    assert!(files.iter().all(|f| f.extension().unwrap() == "svg"));

    std::fs::write(
        a.join("metrics.jsonl"),
        "{\"step\":1,\"reward\":1}\n{oops\n{\"step\":2}\n",
    )
    .unwrap();
    let err = plot(&PlotRequest {
        runs: &[a],
        out: &out,
        format: Format::Svg,
        smooth: 0.0,
        examples: &[],
        x: XAxis::Step,
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("metrics.jsonl") && err.contains("line 2"),
        "{err}"
    );
    let missing = read_run(&dir.path().join("nope")).unwrap_err().to_string();
    assert!(missing.contains("nope"), "{missing}");
}

#[test]
fn the_one_writer_keeps_each_style_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let labels = vec!["a".to_string(), "b".to_string()];
    let values = [1.0, 3.0];
    let chart = charts::Chart::Bars {
        title: "bars",
        labels: &labels,
        values: &values,
        y: "count",
    };
    for (style, file) in [
        (charts::Style::PLOT, "plot.png"),
        (charts::Style::REPORT, "report.png"),
    ] {
        let path = dir.path().join(file);
        charts::write_with(&path, Format::Png, &style, &chart, &mut |_| {}).unwrap();
        assert_eq!(png_size(&path), style.size);
    }
    let svg = dir.path().join("report.svg");
    charts::write_with(
        &svg,
        Format::Svg,
        &charts::Style::REPORT,
        &chart,
        &mut |_| {},
    )
    .unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("800"));
    // `write` is the plot style.
    let short = dir.path().join("short.png");
    charts::write(&short, Format::Png, &chart).unwrap();
    assert_eq!(png_size(&short), charts::SIZE);
    assert_eq!(charts::Style::PLOT.size, charts::SIZE);

    // A target that cannot be written is an error, and the temporary file goes too.
    let gone = dir.path().join("missing").join("x.png");
    assert!(charts::write(&gone, Format::Png, &chart).is_err());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");
}

/// Most popular's probe figures are drawn on the model's probe chart, not alone, dashed in
/// the run's colour.
#[test]
fn popular_on_the_probe_shares_the_models_chart() {
    let dir = tempfile::tempdir().unwrap();
    let run = fixture_run(dir.path(), "wo", 0.0);
    let mut m = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    for s in [0, 10] {
        m.push_str(&format!(
            "{{\"step\":{s},\"probe_mean_rank\":{},\"probe_popular_mean_rank\":354.0}}\n",
            500 - s
        ));
    }
    std::fs::write(run.join("metrics.jsonl"), m).unwrap();
    let runs = vec![series::read_run(&run).unwrap()];
    let lines = chart_lines(&runs, "probe_mean_rank", 0.6);
    let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["wo", "wo: most popular"]);
    assert_eq!(lines[1].raw, vec![(0.0, 354.0), (10.0, 354.0)]);
    // The reference reads as its run's: same colour, dashed.
    assert_eq!((lines[0].colour, lines[0].dashed), (0, false));
    assert_eq!((lines[1].colour, lines[1].dashed), (0, true));
    assert_eq!(chart_lines(&runs, "reward", 0.6).len(), 1);
    let out = dir.path().join("plots");
    let files = plot(&PlotRequest {
        runs: &[run],
        out: &out,
        format: Format::Png,
        smooth: 0.6,
        examples: &[],
        x: XAxis::Step,
    })
    .unwrap();
    assert!(files
        .iter()
        .any(|f| f.ends_with("curve-probe_mean_rank.png")));
    assert!(!files
        .iter()
        .any(|f| f.to_string_lossy().contains("probe_popular")));
}

/// On the users axis each run's steps become the users it has seen: its alignment stage's
/// steps at that stage's users per step, the rest at the run's, after those of the
/// checkpoint it started from; the SVG says so.
#[test]
fn the_users_axis_counts_each_runs_examples() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixture_run(dir.path(), "r2ec", 0.0);
    let b = fixture_run(dir.path(), "wo-reasoning", 0.5);
    std::fs::write(a.join("config.json"), r#"{"users_per_step": 8}"#).unwrap();
    std::fs::write(
        b.join("config.json"),
        r#"{"users_per_step": 32, "align_steps": 2, "align_users_per_step": 64}"#,
    )
    .unwrap();
    let mut ra = read_run(&a).unwrap();
    ra.to_users().unwrap();
    let xs: Vec<f64> = ra.get("reward").unwrap().iter().map(|p| p.0).collect();
    assert_eq!(xs, [8.0, 16.0, 24.0, 32.0, 40.0, 48.0]);
    let mut rb = read_run(&b).unwrap();
    rb.to_users().unwrap();
    let xs: Vec<f64> = rb.get("reward").unwrap().iter().map(|p| p.0).collect();
    assert_eq!(xs, [64.0, 128.0, 160.0, 192.0, 224.0, 256.0]);
    assert_eq!(rb.get("valid ndcg@10").unwrap()[0].0, 256.0);
    // A run started from another's checkpoint continues that checkpoint's count.
    std::fs::write(
        a.join("config.json"),
        r#"{"users_per_step": 8, "init_users": 4480}"#,
    )
    .unwrap();
    let mut later = read_run(&a).unwrap();
    later.to_users().unwrap();
    let xs: Vec<f64> = later.get("reward").unwrap().iter().map(|p| p.0).collect();
    assert_eq!(xs, [4488.0, 4496.0, 4504.0, 4512.0, 4520.0, 4528.0]);
    std::fs::write(a.join("config.json"), r#"{"users_per_step": 8}"#).unwrap();

    let out = dir.path().join("users");
    plot(&PlotRequest {
        runs: &[a.clone(), b],
        out: &out,
        format: Format::Svg,
        smooth: 0.0,
        examples: &[],
        x: XAxis::Users,
    })
    .unwrap();
    let svg = std::fs::read_to_string(out.join("curve-reward.svg")).unwrap();
    assert!(svg.contains("users seen"), "x axis not labelled");

    std::fs::remove_file(a.join("config.json")).unwrap();
    let err = read_run(&a).unwrap().to_users().unwrap_err().to_string();
    assert!(err.contains("config.json"), "{err}");
    std::fs::write(a.join("config.json"), r#"{"steps": 3}"#).unwrap();
    let err = read_run(&a).unwrap().to_users().unwrap_err().to_string();
    assert!(err.contains("users_per_step"), "{err}");
}

/// With two runs, each keeps its colour on every chart and its most popular line shares
/// it, whatever the order of the lines.
#[test]
fn each_runs_reference_line_takes_its_runs_colour() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for (name, rank) in [("r2ec", 520.0), ("wo", 400.0)] {
        let run = fixture_run(dir.path(), name, 0.0);
        let mut m = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        m.push_str(&format!(
            "{{\"step\":10,\"probe_mean_rank\":{rank},\"probe_popular_mean_rank\":354.0}}\n"
        ));
        std::fs::write(run.join("metrics.jsonl"), m).unwrap();
        runs.push(series::read_run(&run).unwrap());
    }
    let lines = chart_lines(&runs, "probe_mean_rank", 0.6);
    let got: Vec<(&str, usize, bool)> = lines
        .iter()
        .map(|l| (l.name.as_str(), l.colour, l.dashed))
        .collect();
    assert_eq!(
        got,
        [
            ("r2ec", 0, false),
            ("wo", 1, false),
            ("r2ec: most popular", 0, true),
            ("wo: most popular", 1, true)
        ]
    );
}

/// The legend goes to the corner with the fewest points: a run drawn only at the right
/// end (started from another run's checkpoint) is not hidden behind it.
#[test]
fn the_legend_avoids_the_lines() {
    use super::charts::{legend_corner, Corner};
    let (xr, yr) = ((0.0, 100.0), (0.0, 10.0));
    // Nothing drawn: the usual upper right.
    assert_eq!(
        legend_corner(std::iter::empty(), xr, yr),
        Corner::UpperRight
    );
    // A falling line crosses the upper left and the lower right.
    let falling = (0..=100).map(|i| (f64::from(i), 10.0 - f64::from(i) / 10.0));
    assert_eq!(legend_corner(falling, xr, yr), Corner::UpperRight);
    // A rising one, plus a short run high at the right end: the lower left is free.
    let rising = (0..=100).map(|i| (f64::from(i), f64::from(i) / 10.0));
    let late = (90..=100).map(|i| (f64::from(i), 9.5));
    assert_eq!(legend_corner(rising.chain(late), xr, yr), Corner::UpperLeft);
    let mut lower_right_free: Vec<(f64, f64)> = (0..=60).map(|i| (f64::from(i), 9.0)).collect();
    lower_right_free.extend((0..=60).map(|i| (f64::from(i), 1.0)));
    lower_right_free.extend((61..=100).map(|i| (f64::from(i), 9.0)));
    assert_eq!(
        legend_corner(lower_right_free.into_iter(), xr, yr),
        Corner::LowerRight
    );
}
