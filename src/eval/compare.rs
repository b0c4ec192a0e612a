//! Several report folders side by side as one Markdown table (the paper's comparison:
//! R²ec, zero-shot, no reasoning, most popular, SASRec), with NDCG@10's 95% interval
//! and the timings, and each report's caveats listed under the table. With two or more
//! reports, the first is the reference and a paired bootstrap test (`significance`)
//! says whether each other report differs from it on the same examples.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::bootstrap::{DEFAULT_PAIRED_RESAMPLES, DEFAULT_SEED};
use super::report::markdown::{num, secs};
use super::report::{read_summary, EXAMPLES_JSONL};
use super::significance::{pair_examples, paired_tests, read_outcomes};
use super::EvalError;

/// The comparison table of the reports in `dirs`, in the order given, and the paired
/// tests of the first report against each other one.
pub fn compare_table(dirs: &[PathBuf]) -> Result<String, EvalError> {
    let summaries = dirs
        .iter()
        .map(|d| read_summary(d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut md = compare_summaries(&summaries);
    if dirs.len() >= 2 {
        md.push('\n');
        md.push_str(&significance_lines(
            dirs,
            &summaries,
            DEFAULT_PAIRED_RESAMPLES,
            DEFAULT_SEED,
        ));
    }
    Ok(md)
}

/// One line per metric and other report, e.g. `- R²ec vs popular: N@10 diff +0.0123
/// [95% CI +0.0050, +0.0190], paired bootstrap p = 0.0040 (n = 2000, R = 10000)`. A
/// pair that cannot be tested (examples unreadable or not the same) gets one line that
/// says why, and the table still prints: its numbers come from report.json alone.
pub fn significance_lines(
    dirs: &[PathBuf],
    summaries: &[Value],
    resamples: usize,
    seed: u64,
) -> String {
    let name = |i: usize| summaries[i]["name"].as_str().unwrap_or("?").to_string();
    let examples = |dir: &Path| read_outcomes(&dir.join(EXAMPLES_JSONL));
    let mut md = format!(
        "Paired bootstrap against {} (first report) on the same examples, {resamples} resamples, \
         seed {seed}; two-sided p, not corrected for multiple comparisons:\n",
        name(0)
    );
    let reference = examples(&dirs[0]);
    for (i, dir) in dirs.iter().enumerate().skip(1) {
        let (a, b) = (name(0), name(i));
        let pairs = match (&reference, examples(dir)) {
            (Err(e), _) => Err(e.to_string()),
            (_, Err(e)) => Err(e.to_string()),
            (Ok(r), Ok(o)) => pair_examples(r, &o).map_err(|u| {
                format!(
                    "{} does not hold the same examples as {}: {u}",
                    dir.display(),
                    dirs[0].display()
                )
            }),
        };
        match pairs {
            Ok(p) if p.is_empty() => {
                let _ = writeln!(md, "- {a} vs {b}: not tested: no examples");
            }
            Ok(p) => {
                for (label, t) in paired_tests(&p, resamples, seed) {
                    let _ = writeln!(
                        md,
                        "- {a} vs {b}: {label} diff {:+.4} [95% CI {:+.4}, {:+.4}], paired bootstrap p = {:.4} (n = {}, R = {})",
                        t.diff, t.ci.lo, t.ci.hi, t.p, t.n, t.resamples
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(md, "- {a} vs {b}: not tested: {e}");
            }
        }
    }
    md
}

/// Mean chain length, with the share of chains that ended by themselves (in brackets, the
/// share that wrote `<answer>` rather than ending their turn, and the share that wrote it
/// at once, with no reasoning before it) and the mean repeated 4-gram share, where the
/// report has them (older reports do not).
fn reasoning_cell(s: &Value) -> String {
    let Some(len) = s["reasoning_len_mean"].as_f64() else {
        return "-".into();
    };
    let h = &s["reasoning_health"];
    match (h["answered"].as_f64(), h["repeat4"].as_f64()) {
        (Some(a), Some(r)) => match (h["wrote_answer"].as_f64(), h["wrote_at_once"].as_f64()) {
            (Some(w), Some(o)) => format!(
                "{len:.0} ({:.0}% [{:.1}%; {:.1}% at once], {r:.2})",
                100.0 * a,
                100.0 * w,
                100.0 * o
            ),
            (Some(w), None) => format!("{len:.0} ({:.0}% [{:.1}%], {r:.2})", 100.0 * a, 100.0 * w),
            _ => format!("{len:.0} ({:.0}%, {r:.2})", 100.0 * a),
        },
        _ => format!("{len:.0}"),
    }
}

pub fn compare_summaries(summaries: &[Value]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| method | data/split | n | H@5 | H@10 | H@20 | N@5 | N@10 [95% CI] | N@20 | cold-item N@10 (n) | reasoning tokens (ended by itself [wrote `<answer>`; of all, at once], repeat4) | s/sample b=1 | s/sample batched |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in summaries {
        let cold = &s["cold_warm"]["item_cold"];
        let _ = writeln!(
            md,
            "| {} | {}/{} | {} | {} | {} | {} | {} | {} [{}, {}] | {} | {} ({}) | {} | {} | {} (b={}) |",
            s["name"].as_str().unwrap_or("?"),
            s["data"].as_str().unwrap_or("?"),
            s["split"].as_str().unwrap_or("?"),
            s["n"],
            num(&s["hit@5"]),
            num(&s["hit@10"]),
            num(&s["hit@20"]),
            num(&s["ndcg@5"]),
            num(&s["ndcg@10"]),
            num(&s["ci95"]["ndcg@10"][0]),
            num(&s["ci95"]["ndcg@10"][1]),
            num(&s["ndcg@20"]),
            num(&cold["ndcg@10"]),
            cold["n"],
            reasoning_cell(s),
            secs(&s["secs_per_sample_batch1"]),
            secs(&s["secs_per_sample"]),
            s["batch"],
        );
    }
    let notes: Vec<String> = summaries
        .iter()
        .flat_map(|s| {
            let name = s["name"].as_str().unwrap_or("?").to_string();
            s["notes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |n| n.as_str().map(|n| format!("- {name}: {n}")))
        })
        .collect();
    if !notes.is_empty() {
        md.push('\n');
        for n in notes {
            let _ = writeln!(md, "{n}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A report folder holding only what the comparison reads.
    fn report(root: &Path, name: &str, ranks: &[(usize, Option<usize>)]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let summary = json!({"name": name, "data": "d", "split": "test", "n": ranks.len()});
        std::fs::write(dir.join("report.json"), summary.to_string()).unwrap();
        let lines: String = ranks
            .iter()
            .map(|&(i, rank)| {
                let line = json!({"index": i, "user_id": format!("u{i}"),
                    "target": {"item_id": "t", "title": ""}, "rank": rank});
                format!("{line}\n")
            })
            .collect();
        std::fs::write(dir.join(EXAMPLES_JSONL), lines).unwrap();
        dir
    }

    #[test]
    fn the_first_report_is_tested_against_each_other_one() {
        let root = tempfile::tempdir().unwrap();
        let all: Vec<(usize, Option<usize>)> = (0..40).map(|i| (i, Some(1))).collect();
        let r2ec = report(root.path(), "r2ec", &all);
        // Same examples, written in reverse order, every target missed.
        let missed: Vec<_> = all.iter().rev().map(|&(i, _)| (i, None)).collect();
        let popular = report(root.path(), "popular", &missed);
        let short = report(root.path(), "short", &all[..37]);
        let table = compare_table(&[r2ec, popular, short.clone()]).unwrap();
        assert!(table.contains("| popular | d/test | 40 |"), "{table}");
        let want = "- r2ec vs popular: N@10 diff +1.0000 [95% CI +1.0000, +1.0000], \
                    paired bootstrap p = 0.0001 (n = 40, R = 10000)";
        assert!(table.contains(want), "{table}");
        assert!(
            table.contains("- r2ec vs popular: H@10 diff +1.0000"),
            "{table}"
        );
        let skipped = format!("- r2ec vs short: not tested: {}", short.display());
        assert!(table.contains(&skipped), "{table}");
        assert!(
            table.contains("3 of the reference's 40 examples are missing"),
            "{table}"
        );
        // One report: the table alone, as before.
        let one = compare_table(&[root.path().join("r2ec")]).unwrap();
        assert!(!one.contains("Paired bootstrap"), "{one}");
    }
}
