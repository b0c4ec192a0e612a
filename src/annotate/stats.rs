//! Statistics of an annotated set: the share of chains showing each behaviour (the
//! paper's table) per annotator and by majority, agreement per behaviour between
//! annotators (Cohen's kappa for two, Fleiss' kappa and Krippendorff's alpha for more),
//! the tagger against people, and each behaviour against reward and target rank.

use std::collections::BTreeMap;

use serde::Serialize;

use super::agreement::{cohen_kappa, fleiss_kappa, krippendorff_alpha};
use super::behaviour::ALL;
use super::set::Chain;
use super::store::Record;

/// The annotator name under which the tagger's suggestions are stored.
pub const TAGGER: &str = "tagger";

#[derive(Debug, Serialize)]
pub struct BehaviourStats {
    pub behaviour: &'static str,
    pub key: char,
    /// Share of each annotator's judged chains showing it.
    pub share: BTreeMap<String, f64>,
    /// Share of chains that a majority of their (human) judges tagged with it.
    pub majority_share: Option<f64>,
    pub cohen_kappa: Option<f64>,
    pub fleiss_kappa: Option<f64>,
    pub krippendorff_alpha: Option<f64>,
    /// Mean Cohen's kappa of the tagger against each person.
    pub tagger_kappa: Option<f64>,
    /// Mean reward and mean target rank of (majority-)tagged chains, and of the others.
    pub reward_with: Option<f64>,
    pub reward_without: Option<f64>,
    pub rank_with: Option<f64>,
    pub rank_without: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SetStats {
    pub chains: usize,
    /// Judged (not skipped) chains per annotator.
    pub judged: BTreeMap<String, usize>,
    pub behaviours: Vec<BehaviourStats>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// `annotators` maps a name to its latest record per chain.
pub fn compute(
    chains: &[Chain],
    annotators: &BTreeMap<String, BTreeMap<String, Record>>,
) -> SetStats {
    let judged_by = |name: &str, chain: &str| -> Option<&Record> {
        annotators.get(name)?.get(chain).filter(|r| !r.skipped)
    };
    let people: Vec<&String> = annotators.keys().filter(|n| n.as_str() != TAGGER).collect();
    let judged = annotators
        .iter()
        .map(|(n, recs)| (n.clone(), recs.values().filter(|r| !r.skipped).count()))
        .collect();
    let behaviours = ALL
        .iter()
        .map(|&b| {
            let has = |r: &Record| r.tags.contains(&b);
            let share = annotators
                .iter()
                .filter_map(|(n, recs)| {
                    let j: Vec<&Record> = recs.values().filter(|r| !r.skipped).collect();
                    mean(j.iter().map(|r| has(r) as u8 as f64)).map(|s| (n.clone(), s))
                })
                .collect();
            // Per chain, the people's votes (None where a person did not judge it).
            let votes: Vec<Vec<Option<bool>>> = chains
                .iter()
                .map(|c| {
                    people
                        .iter()
                        .map(|p| judged_by(p, &c.id).map(has))
                        .collect()
                })
                .collect();
            let majority: Vec<Option<bool>> = votes
                .iter()
                .map(|v| {
                    let got: Vec<bool> = v.iter().flatten().copied().collect();
                    (!got.is_empty()).then(|| got.iter().filter(|&&x| x).count() * 2 > got.len())
                })
                .collect();
            let both: Vec<(bool, bool)> = if people.len() == 2 {
                votes.iter().filter_map(|v| Some((v[0]?, v[1]?))).collect()
            } else {
                vec![]
            };
            let cohen = (people.len() == 2)
                .then(|| {
                    let (a, b): (Vec<bool>, Vec<bool>) = both.iter().copied().unzip();
                    cohen_kappa(&a, &b)
                })
                .flatten();
            let complete: Vec<Vec<usize>> = votes
                .iter()
                .filter(|v| v.len() >= 2 && v.iter().all(Option::is_some))
                .map(|v| {
                    let yes = v.iter().filter(|x| **x == Some(true)).count();
                    vec![yes, v.len() - yes]
                })
                .collect();
            let fleiss = (people.len() >= 2)
                .then(|| fleiss_kappa(&complete))
                .flatten();
            let alpha = (people.len() >= 2)
                .then(|| krippendorff_alpha(&votes))
                .flatten();
            let tagger_kappa = mean(people.iter().filter_map(|p| {
                let pairs: Vec<(bool, bool)> = chains
                    .iter()
                    .filter_map(|c| {
                        Some((has(judged_by(TAGGER, &c.id)?), has(judged_by(p, &c.id)?)))
                    })
                    .collect();
                let (a, b): (Vec<bool>, Vec<bool>) = pairs.into_iter().unzip();
                cohen_kappa(&a, &b)
            }));
            let split = |f: fn(&Chain) -> Option<f64>, want: bool| {
                mean(
                    chains
                        .iter()
                        .zip(&majority)
                        .filter(|(_, m)| **m == Some(want))
                        .filter_map(|(c, _)| f(c)),
                )
            };
            BehaviourStats {
                behaviour: b.name(),
                key: b.key(),
                share,
                majority_share: mean(majority.iter().flatten().map(|&x| x as u8 as f64)),
                cohen_kappa: cohen,
                fleiss_kappa: fleiss,
                krippendorff_alpha: alpha,
                tagger_kappa,
                reward_with: split(|c| c.reward, true),
                reward_without: split(|c| c.reward, false),
                rank_with: split(|c| c.rank.map(|r| r as f64), true),
                rank_without: split(|c| c.rank.map(|r| r as f64), false),
            }
        })
        .collect();
    SetStats {
        chains: chains.len(),
        judged,
        behaviours,
    }
}

/// The statistics as a Markdown table.
pub fn markdown(s: &SetStats) -> String {
    let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    let names: Vec<&String> = s.judged.keys().collect();
    let mut out = format!(
        "{} chains; judged: {}\n\n| key | behaviour | {} | majority | Cohen | Fleiss | alpha | tagger kappa | reward with/without | rank with/without |\n|---|---|{}---|---|---|---|---|---|---|\n",
        s.chains,
        s.judged.iter().map(|(n, c)| format!("{n} {c}")).collect::<Vec<_>>().join(", "),
        names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(" | "),
        "---|".repeat(names.len()),
    );
    for b in &s.behaviours {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |\n",
            b.key,
            b.behaviour,
            names
                .iter()
                .map(|n| f(b.share.get(*n).copied()))
                .collect::<Vec<_>>()
                .join(" | "),
            f(b.majority_share),
            f(b.cohen_kappa),
            f(b.fleiss_kappa),
            f(b.krippendorff_alpha),
            f(b.tagger_kappa),
            f(b.reward_with),
            f(b.reward_without),
            f(b.rank_with),
            f(b.rank_without),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotate::Behaviour;

    fn rec(chain: &str, tags: &[Behaviour]) -> Record {
        Record {
            chain: chain.into(),
            tags: tags.to_vec(),
            spans: vec![],
            note: String::new(),
            skipped: false,
            time: 0,
        }
    }

    #[test]
    fn shares_agreement_and_reward_split() {
        let chains: Vec<Chain> = (0..4)
            .map(|i| Chain {
                id: format!("c{i}"),
                text: "t".into(),
                reward: Some(i as f64),
                rank: Some(10 - i),
            })
            .collect();
        let t = Behaviour::Temporal;
        let mut ann = BTreeMap::new();
        ann.insert(
            "ann".to_string(),
            ["c0", "c1", "c2", "c3"]
                .iter()
                .zip([true, true, false, false])
                .map(|(c, y)| {
                    (
                        c.to_string(),
                        rec(c, if y { std::slice::from_ref(&t) } else { &[] }),
                    )
                })
                .collect(),
        );
        ann.insert(
            "bob".to_string(),
            ["c0", "c1", "c2", "c3"]
                .iter()
                .zip([true, false, false, false])
                .map(|(c, y)| {
                    (
                        c.to_string(),
                        rec(c, if y { std::slice::from_ref(&t) } else { &[] }),
                    )
                })
                .collect(),
        );
        let s = compute(&chains, &ann);
        let b = &s.behaviours[t.index()];
        assert_eq!(b.share["ann"], 0.5);
        assert_eq!(b.share["bob"], 0.25);
        // Majority of two needs both: only c0. p_o = 3/4, p_e = 1/2*1/4 + 1/2*3/4 = 1/2.
        assert_eq!(b.majority_share, Some(0.25));
        assert!((b.cohen_kappa.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(b.reward_with, Some(0.0));
        assert_eq!(b.reward_without, Some(2.0));
        assert_eq!(b.rank_with, Some(10.0));
        assert!(markdown(&s).contains("temporal reasoning"));
    }
}
