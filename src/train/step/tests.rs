//! The exact cost cuts against the plain computation they replace: one forward and one
//! backward per chain over prompt + chain, the item vectors' graph walked by every
//! backward. Same losses, same gradient of every adapter variable.

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::model::lora::{Lora, LoraConfig};
use crate::rec::ItemTable;
use crate::train::evaluate::rebuild_table;
use crate::train::loss::ItemScoring;
use crate::train::rollout::sample_groups;
use crate::train::testing::{max_abs, paired_dataset, tiny_model, TinyLora};

/// RecPO's loss as it was computed before the cuts: every chain alone, left-padded.
fn reference_loss(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    data: &PreparedDataset,
    groups: &[Group],
    cfg: &RecPoConfig,
    scoring: &ItemScoring,
    extra: &[usize],
) -> (f64, f64, Vec<Option<Tensor>>) {
    let vars = adapter.vars();
    let hook: &dyn LinearHook = adapter;
    let examples: Vec<Example> = groups.iter().map(|g| g.example.clone()).collect();
    // Plainly by item id, not through the step's column helpers: the targets' columns,
    // then the extra negatives'.
    let column_ids: Vec<&str> = examples
        .iter()
        .map(|e| e.target.item_id.as_str())
        .chain(
            extra
                .iter()
                .map(|&p| data.catalog.items()[p].item_id.as_str()),
        )
        .collect();
    let same: Vec<Vec<bool>> = examples
        .iter()
        .map(|a| column_ids.iter().map(|&c| a.target.item_id == c).collect())
        .collect();
    let (items, _) = encode_targets(model, data, &examples, extra, hook).unwrap();
    let positions: Vec<usize> = examples
        .iter()
        .map(|e| data.catalog.position(&e.target.item_id).unwrap())
        .collect();
    let histories = examples
        .iter()
        .map(|e| {
            e.history
                .iter()
                .filter_map(|h| data.catalog.position(&h.item_id))
                .collect()
        })
        .collect();
    let terms = BatchTerms::new(
        model, cfg, scoring, None, groups, &items, &same, &positions, histories,
    );
    let mut acc: Vec<Option<Tensor>> = vec![None; vars.len()];
    let (mut token_loss, mut item_loss) = (0.0, 0.0);
    for (g, group) in groups.iter().enumerate() {
        for i in 0..group.chains.len() {
            let seq = [group.prompt_ids.as_slice(), &group.chains[i].token_ids].concat();
            let (last, hidden) = forward_last(model, std::slice::from_ref(&seq), hook).unwrap();
            let (_, l, h) = hidden.dims3().unwrap();
            let rows = hidden.reshape((l, h)).unwrap();
            let first = l - seq.len() + group.prompt_ids.len();
            let mut loss = Tensor::zeros((), DType::F32, model.device()).unwrap();
            let at = |_: usize, j: usize| first + j - 1;
            if let Some((part, _)) = terms.token_part(group, &[i], &rows, at).unwrap() {
                token_loss += f64::from(part.to_scalar::<f32>().unwrap());
                loss = (loss + part).unwrap();
            }
            if let Some((part, _, _)) = terms.item_part(g, group, &[i], &last).unwrap() {
                item_loss += f64::from(part.to_scalar::<f32>().unwrap());
                loss = (loss + part).unwrap();
            }
            accumulate(&mut acc, &vars, &loss.backward().unwrap()).unwrap();
        }
    }
    (token_loss, item_loss, acc)
}

/// B starts at zero, which would leave A without gradient: give B seeded values.
fn seeded_b(adapter: &dyn TrainableAdapter) {
    let mut rng = StdRng::seed_from_u64(8);
    for v in adapter.vars().iter().skip(1).step_by(2) {
        let values: Vec<f32> = (0..v.elem_count())
            .map(|_| rng.random_range(-0.1..0.1))
            .collect();
        let t = Tensor::from_vec(values, v.dims(), v.device()).unwrap();
        v.set(&t).unwrap();
    }
}

#[test]
fn one_prompt_pass_per_group_gives_the_same_gradient() {
    let model = tiny_model(3);
    let adapter = TinyLora::new(model.config(), 2, 2.0, 5);
    seeded_b(&adapter);
    same_gradient_as_per_chain(&model, &adapter);
}

/// With LoRA on the top layer only, the layer below records no graph and the prompt's
/// keys and values there are not leaves; the gradient is still the reference's.
#[test]
fn top_layer_lora_gives_the_same_gradient() {
    let model = tiny_model(3);
    let cfg = LoraConfig {
        r: 2,
        alpha: 4.0,
        dropout: 0.0,
        layers: LoraConfig::top_layers(1, model.config().num_hidden_layers),
        ..Default::default()
    };
    let adapter = Lora::new(cfg, model.config(), model.device(), 5).unwrap();
    seeded_b(&adapter);
    same_gradient_as_per_chain(&model, &adapter);
}

/// 3 users, G = 4 chains of at most 6 tokens.
fn small_config() -> RecPoConfig {
    RecPoConfig {
        users_per_step: 3,
        group_size: 4,
        max_new_tokens: 6,
        ..Default::default()
    }
}

/// The paired data set, its item table through `adapter`, and groups sampled for its
/// first 3 train examples.
fn sampled(
    model: &LoadedModel,
    adapter: &dyn TrainableAdapter,
    cfg: &RecPoConfig,
) -> (PreparedDataset, ItemTable, Vec<Group>) {
    let data = paired_dataset(8, 16, 4);
    let hook: &dyn LinearHook = adapter;
    let table: ItemTable =
        rebuild_table(model, Some(hook), None, &data, 8, &mut |_, _| {}).unwrap();
    let (groups, _) = sample_groups(model, hook, &data, &table, &data.train[..3], cfg, 17).unwrap();
    (data, table, groups)
}

fn same_gradient_as_per_chain(model: &LoadedModel, adapter: &dyn TrainableAdapter) {
    let mut cfg = RecPoConfig {
        item_top_k: 2,
        ..small_config()
    };
    let (data, table, mut groups) = sampled(model, adapter, &cfg);
    // Chains of different lengths (one empty), so right-padding inside a micro-batch
    // and h_T read at the prompt's end are exercised too.
    for (c, chain) in groups
        .iter_mut()
        .flat_map(|g| g.chains.iter_mut())
        .enumerate()
    {
        let keep = match c % 4 {
            3 => 0,
            r => chain.token_ids.len().saturating_sub(r * 2),
        };
        chain.token_ids.truncate(keep);
        chain.sampled_tokens = chain.sampled_tokens.min(keep);
    }
    let lens: Vec<usize> = groups
        .iter()
        .flat_map(|g| g.chains.iter().map(|c| c.token_ids.len()))
        .collect();
    assert!(
        lens.contains(&0) && lens.iter().any(|&n| n > 2),
        "chain lengths {lens:?}"
    );
    // The paper's item loss, and with the full-table term (`recpo_table_loss`).
    let plain = ItemScoring::plain(cfg.tau as f64);
    let with_table = plain
        .clone()
        .with_table(&table, 0.7, model.device())
        .unwrap();
    let mut item_losses = Vec::new();
    for scoring in [plain, with_table] {
        let table_term = scoring.table.is_some();
        let (want_tok, want_item, want) =
            reference_loss(model, adapter, &data, &groups, &cfg, &scoring, &[]);
        item_losses.push(want_item);
        for micro in [1, 3, 4] {
            cfg.train_micro_batch = micro;
            let got = recpo_loss(model, adapter, &data, &groups, &cfg, &scoring, 0).unwrap();
            assert_eq!(got.table_ce.is_some(), table_term);
            if let Some(ce) = got.table_ce {
                // Cross-entropy over the table, near chance for a barely trained model.
                let chance = (table.len() as f64).ln();
                assert!(ce > 0.2 * chance && ce < 3.0 * chance, "table ce {ce}");
            }
            same_losses(&got, want_tok, want_item, &want, micro);
        }
    }
    assert!(
        (item_losses[0] - item_losses[1]).abs() > 1e-6,
        "the full-table term changed nothing"
    );
    // Uniform negatives: extra columns drawn by the step's seed, encoded with the
    // targets; the item loss and gradient are the reference's with those columns.
    let scoring = ItemScoring::plain(cfg.tau as f64);
    cfg.train_micro_batch = 3;
    let in_batch = recpo_loss(model, adapter, &data, &groups, &cfg, &scoring, 9).unwrap();
    cfg.uniform_negatives = 5;
    let extra = crate::train::contrastive::uniform_items(data.catalog.len(), 5, 9);
    let (want_tok, want_item, want) =
        reference_loss(model, adapter, &data, &groups, &cfg, &scoring, &extra);
    let got = recpo_loss(model, adapter, &data, &groups, &cfg, &scoring, 9).unwrap();
    same_losses(&got, want_tok, want_item, &want, 3);
    // The surrogate's value is -sum(adv) whatever the columns; the cross-entropy grows
    // with every negative added to the softmax.
    assert!(
        got.item_ce > in_batch.item_ce + 1e-6,
        "the uniform negatives changed nothing: {} vs {}",
        got.item_ce,
        in_batch.item_ce
    );
    assert_eq!(got.target_vectors.len(), groups.len(), "target rows only");
    let distinct: std::collections::HashSet<usize> = extra
        .iter()
        .copied()
        .chain(
            groups
                .iter()
                .map(|g| data.catalog.position(&g.example.target.item_id).unwrap()),
        )
        .collect();
    assert_eq!(got.item_negatives, distinct.len() - 1);
}

fn same_losses(
    got: &StepLoss,
    want_tok: f64,
    want_item: f64,
    want: &[Option<Tensor>],
    micro: usize,
) {
    assert!(
        (got.token_loss - want_tok).abs() < 1e-5,
        "micro {micro}: token loss"
    );
    assert!(
        (got.item_loss - want_item).abs() < 1e-5,
        "micro {micro}: item loss"
    );
    for (v, (g, w)) in got.grads.iter().zip(want).enumerate() {
        let (g, w) = (g.as_ref().unwrap(), w.as_ref().unwrap());
        let scale = max_abs(w).max(1e-6);
        let diff = max_abs(&(g - w).unwrap());
        assert!(
            diff / scale < 1e-3,
            "micro {micro}, variable {v}: {diff} of {scale}"
        );
    }
}

/// `token_loss_weight` scales the token loss's share of the gradient and nothing else:
/// the gradient is linear in the weight, the logged token loss is the unweighted one,
/// and a zero weight leaves the item loss's gradient alone.
#[test]
fn token_loss_weight_scales_only_the_token_gradient() {
    let model = tiny_model(3);
    let adapter = TinyLora::new(model.config(), 2, 2.0, 5);
    seeded_b(&adapter);
    let cfg = small_config();
    let (data, _, groups) = sampled(&model, &adapter, &cfg);
    let scoring = ItemScoring::plain(cfg.tau as f64);
    let at = |w: f64| {
        let c = RecPoConfig {
            token_loss_weight: w,
            ..cfg.clone()
        };
        recpo_loss(&model, &adapter, &data, &groups, &c, &scoring, 0).unwrap()
    };
    let (zero, half, one) = (at(0.0), at(0.5), at(1.0));
    assert_eq!(zero.token_loss, 0.0, "a zero weight skips the token loss");
    assert!((half.token_loss - one.token_loss).abs() < 1e-6);
    assert!((half.loss - (0.5 * one.token_loss + one.item_loss)).abs() < 1e-5);
    assert!((zero.item_loss - one.item_loss).abs() < 1e-6);
    let mut moved = 0.0f32;
    for (v, ((z, h), o)) in zero
        .grads
        .iter()
        .zip(&half.grads)
        .zip(&one.grads)
        .enumerate()
    {
        let (z, h, o) = (
            z.as_ref().unwrap(),
            h.as_ref().unwrap(),
            o.as_ref().unwrap(),
        );
        let mid = ((z + o).unwrap() * 0.5).unwrap();
        let scale = max_abs(o).max(1e-6);
        let diff = max_abs(&(h - &mid).unwrap());
        assert!(diff / scale < 1e-3, "variable {v}: {diff} of {scale}");
        moved = moved.max(max_abs(&(o - z).unwrap()) / scale);
    }
    assert!(moved > 1e-3, "the token loss added no gradient");
}

/// The ending loss is the mean -log p of the appended tag of each group's best chain cut
/// by the budget, times its weight, as a plain forward over prompt + chain gives it; it
/// adds to the total and to the gradient and leaves the token and item losses alone.
#[test]
fn ending_loss_trains_the_appended_tag_of_the_best_cut_chain() {
    let model = tiny_model(3);
    let adapter = TinyLora::new(model.config(), 2, 2.0, 5);
    seeded_b(&adapter);
    let cfg = small_config();
    let (data, _, groups) = sampled(&model, &adapter, &cfg);
    let endings: Vec<(usize, usize)> = groups
        .iter()
        .enumerate()
        .filter_map(|(g, group)| ending_chain(group).map(|i| (g, i)))
        .collect();
    assert!(!endings.is_empty(), "no group's best chain was cut");
    let hook: &dyn LinearHook = &adapter;
    let (mut sum, mut n) = (0.0, 0usize);
    for &(g, i) in &endings {
        let (group, chain) = (&groups[g], &groups[g].chains[i]);
        assert!(chain.token_ids.len() > chain.sampled_tokens);
        let seq = [group.prompt_ids.as_slice(), &chain.token_ids].concat();
        let (_, hidden) = forward_last(&model, std::slice::from_ref(&seq), hook).unwrap();
        let (_, l, h) = hidden.dims3().unwrap();
        let rows = hidden.reshape((l, h)).unwrap();
        let first = l - seq.len() + group.prompt_ids.len();
        for j in chain.sampled_tokens..chain.token_ids.len() {
            let row = rows.narrow(0, first + j - 1, 1).unwrap();
            let logits = model.backbone.logits_train(&row).unwrap();
            let lp = token_logprobs(&logits, &[chain.token_ids[j]]).unwrap();
            sum -= f64::from(lp.to_vec1::<f32>().unwrap()[0]);
            n += 1;
        }
    }
    let scoring = ItemScoring::plain(cfg.tau as f64);
    let at = |w: f64| {
        let c = RecPoConfig {
            ending_loss: w,
            ..cfg.clone()
        };
        recpo_loss(&model, &adapter, &data, &groups, &c, &scoring, 0).unwrap()
    };
    let (off, on) = (at(0.0), at(0.5));
    assert_eq!(
        (off.ending_ce, off.endings, off.ending_loss),
        (None, 0, 0.0)
    );
    assert_eq!(on.endings, endings.len());
    let (ce, want) = (on.ending_ce.unwrap(), sum / n as f64);
    assert!(
        ce > 0.0 && (ce - want).abs() < 1e-4 * want.max(1.0),
        "{ce} vs {want}"
    );
    assert!((on.ending_loss - 0.5 * ce).abs() < 1e-4 * ce.max(1.0));
    assert!((on.loss - off.loss - on.ending_loss).abs() < 1e-5);
    assert!((on.token_loss - off.token_loss).abs() < 1e-6);
    assert!((on.item_loss - off.item_loss).abs() < 1e-6);
    let moved = on
        .grads
        .iter()
        .zip(&off.grads)
        .map(|(a, b)| {
            let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
            max_abs(&(a - b).unwrap()) / max_abs(b).max(1e-6)
        })
        .fold(0.0f32, f32::max);
    assert!(moved > 1e-4, "the ending loss added no gradient");
}

/// Only a best chain with a positive advantage that the budget cut has an ending to
/// train: not one that wrote its tag, nor a best chain no better than the group.
#[test]
fn the_ending_chain_is_the_best_chain_cut_by_the_budget() {
    let model = tiny_model(3);
    let adapter = TinyLora::new(model.config(), 2, 2.0, 5);
    let cfg = small_config();
    let (_, _, groups) = sampled(&model, &adapter, &cfg);
    let mut group = groups.into_iter().next().unwrap();
    for c in &mut group.chains {
        c.stop = StopReason::MaxTokens;
        c.token_ids = vec![5, 6, 7, 8];
        c.sampled_tokens = 2;
    }
    group.advantages = vec![-0.5, 1.5, -0.5, -0.5];
    group.top = vec![1];
    assert_eq!(ending_chain(&group), Some(1));
    group.chains[1].stop = StopReason::StopString;
    assert_eq!(ending_chain(&group), None, "the tag was written");
    group.chains[1].stop = StopReason::MaxTokens;
    group.advantages = vec![0.0; 4];
    assert_eq!(ending_chain(&group), None, "no better than the group");
    group.advantages = vec![-0.5, 1.5, -0.5, -0.5];
    group.chains[1].sampled_tokens = group.chains[1].token_ids.len();
    assert_eq!(ending_chain(&group), None, "nothing was appended");
}
