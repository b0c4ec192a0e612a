//! The Annotate screen: the set chooser (sets, and evaluation reports under
//! `sessions/eval/` or shipped with the checkpoints), then one chain at a time with its
//! behaviour checklist (keys 1-7), the tagger's suggestions with their spans
//! underlined, other annotators' tags and the model's reward and rank (hidden in blind
//! mode), progress, and the Behaviour panel: share per behaviour and agreement, its
//! columns explained below it. On a small terminal the panel goes under the chain and
//! the checklist takes the right column.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use crate::annotate::behaviour::ALL;
use crate::annotate::stats::{compute, TAGGER};
use crate::tui::app::State;
use crate::tui::text::{cut, pad, width};
use crate::tui::theme::Theme;

pub fn render(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let a = &state.annotate;
    let Some(set) = &a.set else {
        render_chooser(f, area, state, theme);
        return;
    };
    let Some(chain) = a.chain() else {
        super::notice(
            f,
            area,
            " Annotate ",
            "this set has no chains",
            state,
            theme,
        );
        return;
    };
    // Large: chain | checklist over panel. Small: chain over panel | checklist, so the
    // seven behaviours and the seven table rows both fit in 80x24.
    // The large layout's right column needs 13 rows of checklist and 12 of table.
    let small = area.width < 100 || area.height < 26;
    let (left, check, panel) = if small {
        let right_w = 38.min(area.width / 2);
        let [l, r] =
            Layout::horizontal([Constraint::Min(20), Constraint::Length(right_w)]).areas(area);
        let [chain_area, panel] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(12)]).areas(l);
        (chain_area, r, panel)
    } else {
        let [l, r] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(area);
        let [check, panel] =
            Layout::vertical([Constraint::Length(13), Constraint::Min(3)]).areas(r);
        (l, check, panel)
    };
    // The chain, with the suggested spans underlined (not in blind mode).
    let mut spans: Vec<(usize, usize)> = if a.blind {
        Vec::new()
    } else {
        a.suggestion()
            .map(|s| s.spans.iter().map(|x| (x.start, x.end)).collect())
            .unwrap_or_default()
    };
    // Spans marked by hand are always shown; the one being marked too.
    spans.extend(a.marked.iter().map(|x| (x.start, x.end)));
    let marking = a.marking_range();
    spans.extend(marking);
    spans.sort();
    spans.dedup();
    // Segments (text, underlined), then split at newlines into lines.
    let mut segments: Vec<(&str, bool, bool)> = Vec::new();
    let mut at = 0;
    for (s, e) in spans {
        let t = &chain.text;
        if s < at || e > t.len() || !t.is_char_boundary(s) || !t.is_char_boundary(e) {
            continue;
        }
        segments.push((&t[at..s], false, false));
        segments.push((&t[s..e], true, marking == Some((s, e))));
        at = e;
    }
    segments.push((&chain.text[at..], false, false));
    let mut body: Vec<Line> = vec![Line::default()];
    for (seg, marked, selecting) in segments {
        let style = if selecting {
            theme.selected.add_modifier(Modifier::REVERSED)
        } else if marked {
            theme
                .text
                .add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
        } else {
            theme.text
        };
        for (i, piece) in seg.split('\n').enumerate() {
            if i > 0 {
                body.push(Line::default());
            }
            if let Some(last) = body.last_mut() {
                last.push_span(Span::styled(piece.to_string(), style));
            }
        }
    }
    if let Some(m) = a.marking {
        body.push(Line::from(""));
        body.push(Line::styled(
            format!("marking a span for {} (enter keeps it)", m.behaviour.name()),
            theme.key,
        ));
    }
    for sp in &a.marked {
        body.push(Line::styled(
            format!(
                "span for {}: \"{}\"",
                sp.behaviour.name(),
                chain.text.get(sp.start..sp.end).unwrap_or("")
            ),
            theme.dim,
        ));
    }
    if let Some(note) = &a.note {
        body.push(Line::from(""));
        body.push(Line::from(vec![
            Span::styled("note: ", theme.key),
            Span::raw(format!("{note}▏")),
        ]));
    }
    let done = a.done();
    let blind = if a.blind { " · BLIND" } else { "" };
    let title = format!(
        " {} · chain {}/{} ({}) · {done}/{} judged by {}{blind} ",
        set.name,
        a.index + 1,
        set.chains.len(),
        chain.id,
        set.chains.len(),
        a.annotator,
    );
    let title = if width(&title) + 2 > left.width as usize {
        format!(
            " chain {}/{} · {done} judged · {}{blind} ",
            a.index + 1,
            set.chains.len(),
            a.annotator
        )
    } else {
        title
    };
    f.render_widget(
        Paragraph::new(body)
            .wrap(Wrap { trim: false })
            .block(block(Line::from(title), theme)),
        left,
    );

    let suggested: Vec<_> = a.suggestion().map(|s| s.tags.clone()).unwrap_or_default();
    let inner = (check.width as usize).saturating_sub(2);
    let mut lines: Vec<Line> = ALL
        .iter()
        .map(|&b| {
            let on = a.draft.contains(&b);
            let mark = if on { "[x]" } else { "[ ]" };
            let used = 6 + width(b.name());
            let hint = if a.blind || !suggested.contains(&b) {
                ""
            } else if used + 13 <= inner {
                "  ← suggested"
            } else {
                " ←"
            };
            Line::from(vec![
                Span::styled(format!("{} ", b.key()), theme.key),
                Span::styled(
                    format!("{mark} {}", b.name()),
                    if on { theme.selected } else { theme.text },
                ),
                Span::styled(hint, theme.dim),
            ])
        })
        .collect();
    if !a.blind {
        let mine = a.mine().and_then(|m| m.get(&chain.id));
        if let Some(r) = mine {
            lines.push(Line::styled(
                format!(
                    "saved: {}",
                    if r.skipped {
                        "skipped".into()
                    } else {
                        tags(&r.tags)
                    }
                ),
                theme.dim,
            ));
        }
        for (name, recs) in &set.records {
            if name == &a.annotator || name == TAGGER {
                continue;
            }
            if let Some(r) = recs.get(&chain.id) {
                lines.push(Line::styled(
                    format!("{name}: {}", tags(&r.tags)),
                    theme.dim,
                ));
            }
        }
        let model = match (chain.reward, chain.rank) {
            (Some(rw), Some(rk)) => format!("reward {rw:.4} · target rank {rk}"),
            (None, Some(rk)) => format!("target rank {rk}"),
            (Some(rw), None) => format!("reward {rw:.4}"),
            (None, None) => String::new(),
        };
        lines.push(Line::styled(model, theme.dim));
    }
    let title = if inner >= 38 {
        " Behaviours (1-7 toggle, enter saves) "
    } else if a.blind {
        " 1-7 toggle · enter saves "
    } else {
        " 1-7 toggle · ← suggested "
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(title, theme)),
        check,
    );
    render_behaviour_panel(f, panel, state, theme);
}

fn tags(t: &[crate::annotate::Behaviour]) -> String {
    if t.is_empty() {
        "none".into()
    } else {
        t.iter()
            .map(|b| b.key().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Shares per behaviour (this annotator, and the majority of people) and agreement.
fn render_behaviour_panel(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let a = &state.annotate;
    let Some(set) = &a.set else { return };
    // Blind mode counts only this annotator's tags.
    let records = if a.blind {
        set.records
            .iter()
            .filter(|(n, _)| **n == a.annotator)
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    } else {
        set.records.clone()
    };
    let s = compute(&set.chains, &records);
    let f3 = |x: Option<f64>| x.map_or("  -  ".to_string(), |v| format!("{v:.2}"));
    // The behaviour column takes what the four figures leave.
    let name_w = (area.width as usize).saturating_sub(2 + 25).clamp(8, 30);
    let mut lines = vec![Line::styled(
        format!(
            "{} {:>5} {:>5} {:>5} {:>6}",
            pad("behaviour", name_w),
            "mine",
            "maj.",
            "kappa",
            "tagger"
        ),
        theme.title,
    )];
    for b in &s.behaviours {
        lines.push(Line::from(format!(
            "{} {:>5} {:>5} {:>5} {:>6}",
            pad(&format!("{} {}", b.key, b.behaviour), name_w),
            f3(b.share.get(&a.annotator).copied()),
            f3(b.majority_share),
            f3(b.cohen_kappa.or(b.fleiss_kappa)),
            f3(b.tagger_kappa),
        )));
    }
    // What the columns are (the help overlay says it at length).
    lines.push(Line::styled(
        cut("mine/maj.: your share / majority share", name_w + 25),
        theme.dim,
    ));
    lines.push(Line::styled(
        cut("kappa: people agree · tagger: vs people", name_w + 25),
        theme.dim,
    ));
    f.render_widget(
        Paragraph::new(lines).block(block(" Behaviour shares and agreement ", theme)),
        area,
    );
}

fn render_chooser(f: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let a = &state.annotate;
    if a.listing {
        super::notice(
            f,
            area,
            " Annotate ",
            "listing annotation sets…",
            state,
            theme,
        );
        return;
    }
    let c = &a.choices;
    if c.sets.is_empty() && c.reports.is_empty() {
        super::notice(
            f,
            area,
            " Annotate ",
            "no annotation sets or evaluation reports with reasoning yet: run `r2ec eval` (reports go to sessions/eval/) or `r2ec annotate open`",
            state,
            theme,
        );
        return;
    }
    let w = (area.width as usize).saturating_sub(4);
    let items: Vec<ListItem> = c
        .sets
        .iter()
        .map(|s| ListItem::new(cut(&format!("set     {s}"), w)))
        .chain(c.reports.iter().map(|r| {
            let from = if r.shipped {
                "shipped"
            } else {
                "sessions/eval"
            };
            ListItem::new(cut(
                &format!(
                    "report  {} · {} · {from}",
                    r.name,
                    crate::tui::text::plural(r.chains, "chain", "chains"),
                ),
                w,
            ))
        }))
        .collect();
    let note = vec![
        Line::styled(
            "a report opens as a new set of its chains, with the tagger's suggested tags;",
            theme.dim,
        ),
        Line::styled(
            "shipped: the evaluation shipped with a checkpoint (assets/checkpoints/*/eval/)",
            theme.dim,
        ),
    ];
    let [list_area, note_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(2)]).areas(area);
    let mut ls = ListState::default().with_selected(Some(a.selected));
    let list = List::new(items)
        .block(block(
            format!(
                " Annotate as {} · choose a set (enter opens it) ",
                a.annotator
            ),
            theme,
        ))
        .highlight_style(theme.selected.add_modifier(Modifier::BOLD))
        .style(Style::default());
    f.render_stateful_widget(list, list_area, &mut ls);
    f.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), note_area);
}
