//! The group view: G chains sampled for one history side by side, as RecPO's rollout
//! sees them, with each chain's fused reward (R_d, R_c) and its GRPO advantage. The
//! title says, in words, how the chains were sampled (the status bar says the same).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::reasoning::tail_paragraph;
use super::{block, notice};
use crate::tui::app::State;
use crate::tui::text::{cut, plural, shown_title};
use crate::tui::theme::Theme;

/// Four decimals, or scientific notation for the tiny values R_c-only rewards have.
fn small(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let r = &state.run;
    let cancelled = r.cancelled.as_ref().filter(|c| c.group.is_some());
    let texts: Vec<&str> = match (&r.live, cancelled, &r.group) {
        (Some(l), _, _) if l.group.is_some() => l.texts.iter().map(String::as_str).collect(),
        (_, Some(c), _) => c.texts.iter().map(String::as_str).collect(),
        (_, _, Some(g)) => g.members.iter().map(|m| m.text.as_str()).collect(),
        _ => {
            notice(
                f,
                area,
                " Group ",
                "press R to sample a group of chains for the history in the editor",
                state,
                theme,
            );
            return;
        }
    };
    let done = r.live.as_ref().is_none_or(|l| l.group.is_none()) && cancelled.is_none();
    let table_h = if done && r.group.is_some() {
        texts.len() as u16 + 4
    } else {
        0
    };
    let [cols, table] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(table_h)]).areas(area);
    let n = texts.len().max(1) as u32;
    let areas = Layout::horizontal(vec![Constraint::Ratio(1, n); n as usize]).split(cols);
    for (i, (t, a)) in texts.iter().zip(areas.iter()).enumerate() {
        let title = match cancelled {
            Some(_) if i == 0 => " chain 1 · cancelled ".to_string(),
            _ => format!(" chain {} ", i + 1),
        };
        tail_paragraph(f, *a, title, t, 0, theme);
    }
    let Some(g) = r.group.as_ref().filter(|_| done) else {
        return;
    };
    // The top item takes what the figures leave of the width.
    let top_w = (table.width as usize).saturating_sub(2 + 59).max(8);
    let mut lines = vec![Line::styled(
        format!(
            "{:<6} {:>6} {:>6} {:>7} {:>9} {:>8} {:>9}  top item",
            "chain", "tokens", "rank", "R_d", "R_c", "reward", "advantage"
        ),
        theme.dim,
    )];
    for (i, m) in g.members.iter().enumerate() {
        let (rank, nd, sm, rw) = match &m.reward {
            Some(x) => (
                x.rank.map_or("-".into(), |r| r.to_string()),
                small(x.ndcg),
                format!("{:.2e}", x.softmax),
                small(x.reward),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let adv = m.advantage.map_or("-".into(), |a| format!("{a:+.3}"));
        let style = match m.advantage {
            Some(a) if a > 0.0 => theme.good,
            Some(a) if a < 0.0 => theme.bad,
            _ => theme.text,
        };
        lines.push(Line::styled(
            format!(
                "{:<6} {:>6} {:>6} {:>7} {:>9} {:>8} {:>9}  {}",
                i + 1,
                m.tokens,
                rank,
                nd,
                sm,
                rw,
                adv,
                cut(&shown_title(&m.top_title), top_w)
            ),
            style,
        ));
    }
    let title = format!(
        " RecPO · {} · {} · sampled {} ",
        g.request.source,
        plural(g.members.len(), "chain", "chains"),
        g.sampling
    );
    // The same settings `analysis::group_rewards` scores with.
    let cfg = crate::train::reward::RewardConfig::default();
    lines.push(Line::styled(
        cut(
            &format!(
                "reward = {} R_d (NDCG@{}) + {} R_c (softmax) · advantage: GRPO in group",
                1.0 - cfg.beta,
                cfg.ndcg_k,
                cfg.beta
            ),
            (table.width as usize).saturating_sub(2),
        ),
        theme.dim,
    ));
    f.render_widget(
        Paragraph::new(lines)
            .block(block(title, theme))
            .wrap(Wrap { trim: false }),
        table,
    );
}
