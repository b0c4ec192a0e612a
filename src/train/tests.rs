//! The trainer on a tiny seeded model: gradients reach every adapter variable, a
//! resumed run equals a straight one bit for bit, and on an easy task (the next movie
//! follows from the last one) the mean reward rises.

use std::sync::atomic::AtomicBool;

use candle_core::Tensor;

use super::checkpoint::{is_compact, list_checkpoints, newest_compact};
use super::config::RecPoConfig;
use super::evaluate::rebuild_table;
use super::loss::ItemScoring;
use super::report::{CollectingReporter, TrainEnd};
use super::rollout::sample_groups;
use super::step::recpo_loss;
use super::testing::{max_abs, paired_dataset, tiny_model, TinyLora};
use super::trainer::{RecPo, METRICS_FILE};
use super::TrainError;
use crate::data::prepared::PreparedDataset;
use crate::model::generate::events::StopReason;
use crate::model::loaded::LoadedModel;
use crate::rec::{Centre, ItemTable};
use crate::train::adapter::TrainableAdapter;

fn cfg(steps: usize) -> RecPoConfig {
    RecPoConfig {
        steps,
        users_per_step: 4,
        group_size: 4,
        max_new_tokens: 6,
        temperature: 1.0,
        top_k: 0,
        lr: 1e-2,
        warmup_steps: 2,
        // Larger than any run here: only the last step evaluates.
        eval_every: 1000,
        eval_limit: Some(3),
        eval_max_new_tokens: 4,
        rollout_log_every: 2,
        encode_batch: 8,
        probe_every: 2,
        table_every: 2,
        seed: 7,
        ..Default::default()
    }
}

fn table(model: &LoadedModel, adapter: &TinyLora, data: &PreparedDataset) -> ItemTable {
    rebuild_table(model, Some(adapter), None, data, 8, &mut |_, _| {}).unwrap()
}

/// B starts at zero, which would leave A without gradient and the adapter the
/// identity: random B values first.
fn nonzero_b(adapter: &TinyLora) {
    for v in adapter.vars().iter().skip(1).step_by(2) {
        let t = Tensor::randn(0f32, 0.1, v.dims(), v.device()).unwrap();
        v.set(&t).unwrap();
    }
}

/// An adapter on the top layer only, its B made nonzero: the layers below stay the
/// base model's, so their states can be kept and reused.
fn top_layer_adapter(model: &LoadedModel, seed: u64) -> TinyLora {
    let layers = model.config().num_hidden_layers;
    let adapter = TinyLora::new(model.config(), 2, 2.0, seed).top_layers(1, layers);
    nonzero_b(&adapter);
    adapter
}

#[test]
fn every_adapter_variable_gets_a_gradient() {
    let model = tiny_model(1);
    let adapter = TinyLora::new(model.config(), 2, 2.0, 3);
    nonzero_b(&adapter);
    let data = paired_dataset(8, 16, 2);
    let t = table(&model, &adapter, &data);
    let c = cfg(1);
    let (groups, _) = sample_groups(&model, &adapter, &data, &t, &data.train[..4], &c, 11).unwrap();
    assert_eq!(groups.len(), 4);
    assert!(groups
        .iter()
        .all(|g| g.chains.len() == 4 && g.top.len() == 1));
    let loss = recpo_loss(
        &model,
        &adapter,
        &data,
        &groups,
        &c,
        &ItemScoring::plain(c.tau as f64),
        11,
    )
    .unwrap();
    assert_eq!(loss.grads.len(), adapter.vars().len());
    for (i, g) in loss.grads.iter().enumerate() {
        let g = g
            .as_ref()
            .unwrap_or_else(|| panic!("variable {i} has no gradient"));
        let max = max_abs(g);
        assert!(max > 0.0 && max.is_finite(), "variable {i}: |g| max {max}");
    }
    assert_eq!(loss.target_vectors.len(), 4);
    // One update per rollout: the clipped branch is never the active one.
    assert_eq!(loss.clip_frac, 0.0);
}

/// With `greedy_chains`, each group's first chain is the greedy one: the same whatever
/// the step's seed, while the sampled ones change with it; rewards carry the format
/// terms, and a run logs the greedy chains' health and resumes exactly.
#[test]
fn greedy_chains_lead_their_groups_and_rewards_carry_the_format_terms() {
    let model = tiny_model(1);
    let adapter = TinyLora::new(model.config(), 2, 2.0, 3);
    nonzero_b(&adapter);
    let data = paired_dataset(8, 16, 2);
    let t = table(&model, &adapter, &data);
    let mut c = cfg(1);
    c.greedy_chains = 1;
    c.reward.answer_bonus = 0.3;
    c.reward.repeat_penalty = 0.5;
    let draw = |seed| sample_groups(&model, &adapter, &data, &t, &data.train[..4], &c, seed);
    let (a, _) = draw(11).unwrap();
    let (b, _) = draw(12).unwrap();
    let mut sampled_differ = false;
    for (ga, gb) in a.iter().zip(&b) {
        assert_eq!(ga.chains.len(), 4);
        let samples: Vec<usize> = ga.chains.iter().map(|ch| ch.sample).collect();
        assert_eq!(samples, [0, 1, 2, 3]);
        assert_eq!(ga.chains[0].token_ids, gb.chains[0].token_ids);
        sampled_differ |= ga.chains[1..]
            .iter()
            .zip(&gb.chains[1..])
            .any(|(x, y)| x.token_ids != y.token_ids);
        for (ch, r) in ga.chains.iter().zip(&ga.rewards) {
            let tokens = ch.sampled_ids();
            let fused = (1.0 - c.reward.beta) * r.ndcg + c.reward.beta * r.softmax;
            // The default pays a written `<answer>` only.
            let bonus = if ch.stop == StopReason::StopString {
                0.3
            } else {
                0.0
            };
            let repeat = crate::eval::health::repeated_ngram_share(tokens, 4);
            assert!((r.reward - (fused + bonus - 0.5 * repeat)).abs() < 1e-9);
        }
    }
    assert!(sampled_differ, "sampled chains ignored the seed");

    let greedy_cfg = |steps| RecPoConfig {
        greedy_chains: 1,
        ..cfg(steps)
    };
    let (dir, _, lines) = check_resume(greedy_cfg, 2, 1);
    let step = lines
        .iter()
        .find(|l| l["step"] == 1 && l["reward"].is_number());
    let step = step.expect("no step line");
    for key in [
        "greedy_reward",
        "greedy_answered",
        "greedy_wrote_answer",
        "greedy_wrote_at_once",
        "greedy_repeat4",
        "wrote_answer",
        "wrote_at_once",
    ] {
        assert!(step[key].is_number(), "{key}: {step}");
    }
    let rollouts = std::fs::read_to_string(dir.path().join("rollouts.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(rollouts.lines().next().unwrap()).unwrap();
    assert_eq!(first["chains"][0]["greedy"], true);
    assert!(first["chains"][1].get("greedy").is_none());
}

/// The greedy chains' prefill takes the layers below the adapter from the sampled
/// chains' prefill: they come out bit for bit as a greedy run of their own gives them.
#[test]
fn greedy_chains_reusing_the_sampled_prefill_match_a_greedy_run_alone() {
    use super::rollout::policy_encoder;
    use crate::model::generate::GenerateOptions;
    use crate::model::sampling::Sampling;
    let model = tiny_model(12);
    let adapter = top_layer_adapter(&model, 5);
    let data = paired_dataset(8, 16, 2);
    let t = table(&model, &adapter, &data);
    let mut c = cfg(1);
    c.greedy_chains = 1;
    let examples = &data.train[..4];
    let (groups, _) = sample_groups(&model, &adapter, &data, &t, examples, &c, 11).unwrap();
    let encoder = policy_encoder(&model, Some(&adapter), &data, &c);
    let prompts: Vec<_> = examples
        .iter()
        .map(|e| {
            let h = super::rollout::history_of(&data, e).unwrap();
            encoder.prompt(&h, c.max_new_tokens).unwrap()
        })
        .collect();
    let opts = GenerateOptions {
        max_new_tokens: c.max_new_tokens,
        sampling: Sampling::ArgMax,
        seed: 11,
        ..Default::default()
    };
    let (alone, _) = encoder
        .reason(&prompts, 1, &opts, &mut |_| {}, None)
        .unwrap();
    for (g, a) in groups.iter().zip(&alone) {
        assert_eq!(g.chains[0].token_ids, a.token_ids);
        assert_eq!(g.chains[0].user_vector, a.user_vector);
    }
}

/// A run's metrics.jsonl lines without their timings (`*_secs`), which no two runs share.
fn timeless_metrics(run: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut()
                .unwrap()
                .retain(|k, _| !k.ends_with("_secs"));
            v
        })
        .collect()
}

/// N steps straight equal k steps, a new process-like start (fresh adapter, fresh
/// trainer) resuming from the folder, and N - k more: same adapter bytes, same log.
/// Returns the two run folders and the straight run's metric lines (timings dropped).
fn check_resume(
    config: impl Fn(usize) -> RecPoConfig,
    n: usize,
    k: usize,
) -> (tempfile::TempDir, tempfile::TempDir, Vec<serde_json::Value>) {
    let data = paired_dataset(8, 24, 5);
    let model = tiny_model(4);
    let straight_dir = tempfile::tempdir().unwrap();
    let resumed_dir = tempfile::tempdir().unwrap();

    let a = TinyLora::new(model.config(), 2, 2.0, 9);
    let mut run = RecPo::open(
        &model,
        &a,
        &data,
        config(n),
        straight_dir.path(),
        table(&model, &a, &data),
        false,
    )
    .unwrap();
    run.run(&mut CollectingReporter::default(), &AtomicBool::new(false))
        .unwrap();
    drop(run);

    let b = TinyLora::new(model.config(), 2, 2.0, 9);
    let mut first = RecPo::open(
        &model,
        &b,
        &data,
        config(n),
        resumed_dir.path(),
        table(&model, &b, &data),
        false,
    )
    .unwrap();
    for _ in 0..k {
        first.step(&mut CollectingReporter::default()).unwrap();
    }
    drop(first);
    // Stopped right after a table rebuild, the checkpoint left its table out, and the
    // resumed run rebuilds it.
    let (step, last) = list_checkpoints(resumed_dir.path()).unwrap().pop().unwrap();
    let every = config(n).table_every;
    assert_eq!(step, k);
    assert_eq!(
        is_compact(&last),
        every > 0 && k.is_multiple_of(every),
        "step {k}"
    );
    // A fresh start on a folder that holds a run is refused.
    let c = TinyLora::new(model.config(), 2, 2.0, 9);
    let again = RecPo::open(
        &model,
        &c,
        &data,
        config(n),
        resumed_dir.path(),
        table(&model, &c, &data),
        false,
    );
    assert!(matches!(again, Err(TrainError::Input(_))));
    let mut resumed = RecPo::open(
        &model,
        &c,
        &data,
        config(n),
        resumed_dir.path(),
        table(&model, &c, &data),
        true,
    )
    .unwrap();
    assert_eq!(resumed.state().step, k);
    let end = resumed
        .run(&mut CollectingReporter::default(), &AtomicBool::new(false))
        .unwrap();
    assert_eq!(end, TrainEnd::Finished { step: n });
    assert_eq!(a.values(), c.values(), "adapters differ after resume");

    let ckpt = |d: &std::path::Path| list_checkpoints(d).unwrap();
    assert_eq!(ckpt(straight_dir.path()).len(), 1);
    let bytes = |d: &std::path::Path| {
        std::fs::read(ckpt(d)[0].1.join("adapter/adapter.safetensors")).unwrap()
    };
    assert_eq!(bytes(straight_dir.path()), bytes(resumed_dir.path()));
    // The logs agree line for line except for timings.
    let (s, r) = (
        timeless_metrics(straight_dir.path()),
        timeless_metrics(resumed_dir.path()),
    );
    assert_eq!(s, r);
    (straight_dir, resumed_dir, s)
}

#[test]
fn resume_continues_exactly() {
    let n = 4;
    let (straight_dir, _, s) = check_resume(cfg, n, 2);
    // The starting probe, n step lines, a probe after steps 2 and 4 (each after a
    // table rebuild), and one evaluation at the end.
    assert_eq!(s.len(), n + 4);
    assert!(
        s[0]["probe_mean_rank"].is_number() && s[0]["step"] == 0,
        "{}",
        s[0]
    );
    assert!(
        s[3]["probe_ndcg@10"].is_number() && s[3]["step"] == 2,
        "{}",
        s[3]
    );
    assert!(s[3]["probe_ci"]["mean_rank"].is_array());
    assert!(s[6]["probe_mean_rank"].is_number());
    assert!(s[7]["eval"]["valid"]["ndcg@10"].is_number());
    assert!(straight_dir.path().join("best/state.json").is_file());
}

/// A fork that changes nothing continues exactly as its parent would have; one that
/// changes the reward records it, keeps the parent's history up to the branch point,
/// and resumes from there. A folder that holds a run is not forked into.
#[test]
fn a_fork_continues_its_parent_and_records_what_changed() {
    use super::fork::{fork_run, read_config};
    let (n, k) = (4, 2);
    let (straight_dir, resumed_dir, straight_lines) = check_resume(cfg, n, k);
    let data = paired_dataset(8, 24, 5);
    let model = tiny_model(4);
    // A parent stopped at step k.
    let parent = tempfile::tempdir().unwrap();
    let p = TinyLora::new(model.config(), 2, 2.0, 9);
    let mut run = RecPo::open(
        &model,
        &p,
        &data,
        cfg(n),
        parent.path(),
        table(&model, &p, &data),
        false,
    )
    .unwrap();
    for _ in 0..k {
        run.step(&mut CollectingReporter::default()).unwrap();
    }
    drop(run);
    let parent_lines = std::fs::read_to_string(parent.path().join(METRICS_FILE)).unwrap();
    // A run started with --init from the parent's checkpoint counts its users from there;
    // its adapter folder alone does not say.
    let (step, at) = list_checkpoints(parent.path()).unwrap().pop().unwrap();
    assert_eq!(step, k);
    let users = super::fork::users_at_checkpoint(&at).unwrap();
    assert_eq!(users, Some(k * cfg(n).users_per_step));
    assert!(users.unwrap() > 0);
    assert_eq!(
        super::fork::users_at_checkpoint(&at.join("adapter")).unwrap(),
        None
    );

    let continue_fork = |dir: &std::path::Path, cfg: RecPoConfig| {
        let f = TinyLora::new(model.config(), 2, 2.0, 9);
        let mut run =
            RecPo::open(&model, &f, &data, cfg, dir, table(&model, &f, &data), true).unwrap();
        assert_eq!(run.state().step, k);
        run.run(&mut CollectingReporter::default(), &AtomicBool::new(false))
            .unwrap();
    };
    let same = tempfile::tempdir().unwrap();
    let same_dir = same.path().join("fork");
    let same_cfg = fork_run(parent.path(), &same_dir, |_| Vec::new()).unwrap();
    assert_eq!(same_cfg.forks.len(), 1);
    assert_eq!(
        (same_cfg.forks[0].step, same_cfg.forks[0].changed.len()),
        (k, 0)
    );
    assert_eq!(read_config(&same_dir).unwrap(), same_cfg);
    continue_fork(&same_dir, same_cfg);
    let adapter = |d: &std::path::Path| {
        let (_, dir) = list_checkpoints(d).unwrap().pop().unwrap();
        std::fs::read(dir.join("adapter/adapter.safetensors")).unwrap()
    };
    assert_eq!(adapter(&same_dir), adapter(straight_dir.path()));
    assert_eq!(timeless_metrics(&same_dir), straight_lines);

    let changed = tempfile::tempdir().unwrap();
    let bonus_cfg = fork_run(parent.path(), changed.path(), |c| {
        c.reward.answer_bonus = 0.5;
        vec!["reward.answer_bonus: 0 -> 0.5".into()]
    })
    .unwrap();
    assert_eq!(bonus_cfg.reward.answer_bonus, 0.5);
    assert_eq!(bonus_cfg.forks[0].from, parent.path());
    assert_eq!(
        bonus_cfg.forks[0].changed,
        ["reward.answer_bonus: 0 -> 0.5"]
    );
    let forked = std::fs::read_to_string(changed.path().join(METRICS_FILE)).unwrap();
    assert_eq!(forked, parent_lines, "the history up to the branch point");
    continue_fork(changed.path(), bonus_cfg.clone());
    let lines = timeless_metrics(changed.path());
    assert_eq!(lines.last().unwrap()["step"], n);
    // The run rewrote its config on opening; the branch stays recorded.
    assert_eq!(read_config(changed.path()).unwrap(), bonus_cfg);

    // Into a folder that holds a run: refused, and the run is untouched.
    let before = std::fs::read(resumed_dir.path().join("config.json")).unwrap();
    let err = fork_run(parent.path(), resumed_dir.path(), |_| Vec::new()).unwrap_err();
    assert!(err.to_string().contains("already holds a run"), "{err}");
    assert_eq!(
        std::fs::read(resumed_dir.path().join("config.json")).unwrap(),
        before
    );
    // From a folder that is not a run: the error names its config.
    let empty = tempfile::tempdir().unwrap();
    let err = fork_run(empty.path(), &changed.path().join("x"), |_| Vec::new()).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
}

/// The same through an alignment stage (resumed inside it) with centring and logQ:
/// the centre is fixed at the start, kept in the run folder and beside every
/// checkpoint's adapter, and the resumed run scores with it exactly.
#[test]
fn resume_continues_exactly_through_alignment_with_centre_and_logq() {
    let aligned = |steps| RecPoConfig {
        align_steps: 2,
        align_users_per_step: 6,
        align_lr: Some(2e-2),
        centre: true,
        logq: true,
        table_loss: 0.5,
        tau: 0.2,
        tau_end: Some(0.05),
        tau_steps: 3,
        ..cfg(steps)
    };
    let (straight, resumed, s) = check_resume(aligned, 4, 1);
    // Alignment steps have no chains; RecPO steps sample G per user.
    let steps: Vec<&serde_json::Value> = s.iter().filter(|l| l["reward"].is_number()).collect();
    assert_eq!(steps.len(), 4);
    // Each step logs the tau its losses used, as the schedule has it, the resumed
    // steps too.
    for (i, line) in steps.iter().enumerate() {
        let want = f64::from(aligned(4).tau_at(i));
        assert!(
            (line["tau"].as_f64().unwrap() - want).abs() < 1e-6,
            "{line}"
        );
    }
    assert!(steps[3]["tau"].as_f64().unwrap() < steps[0]["tau"].as_f64().unwrap());
    assert_eq!(steps[0]["rollout_tokens"], 0, "{}", steps[0]);
    assert!(steps[0]["table_ce"].as_f64().unwrap() > 0.0, "{}", steps[0]);
    assert!(steps[2].get("table_ce").is_none(), "{}", steps[2]);
    assert!(
        steps[2]["rollout_tokens"].as_u64().unwrap() > 0,
        "{}",
        steps[2]
    );
    let centre = |d: &std::path::Path| {
        let (_, ckpt) = list_checkpoints(d).unwrap().pop().unwrap();
        let beside = Centre::load(&ckpt.join("adapter")).unwrap().unwrap();
        assert_eq!(Some(&beside), Centre::load(d).unwrap().as_ref());
        beside
    };
    assert_eq!(centre(straight.path()), centre(resumed.path()));
    // Without its centre a run cannot continue: a new one from the checkpoint's table
    // would score differently from every step before.
    std::fs::remove_file(resumed.path().join(crate::rec::centre::CENTRE_FILE)).unwrap();
    let (data, model) = (paired_dataset(8, 24, 5), tiny_model(4));
    let a = TinyLora::new(model.config(), 2, 2.0, 9);
    let t = table(&model, &a, &data);
    let err = RecPo::open(&model, &a, &data, aligned(4), resumed.path(), t, true)
        .err()
        .expect("a centred run without centre.json must not reopen");
    assert!(err.to_string().contains("centre.json"), "{err}");
}

#[test]
fn a_stop_flag_ends_the_run_between_steps() {
    let data = paired_dataset(6, 8, 1);
    let model = tiny_model(2);
    let a = TinyLora::new(model.config(), 2, 2.0, 1);
    let dir = tempfile::tempdir().unwrap();
    let mut run = RecPo::open(
        &model,
        &a,
        &data,
        cfg(3),
        dir.path(),
        table(&model, &a, &data),
        false,
    )
    .unwrap();
    let mut rep = CollectingReporter::default();
    let end = run.run(&mut rep, &AtomicBool::new(true)).unwrap();
    assert_eq!(end, TrainEnd::Stopped { step: 0 });
    assert!(rep.steps.is_empty());
}

/// On the paired task the policy can learn where h_T must point; the mean reward of
/// the last steps beats that of the first.
#[test]
fn mean_reward_rises_on_an_easy_task() {
    let data = paired_dataset(8, 64, 3);
    let model = tiny_model(6);
    let a = TinyLora::new(model.config(), 4, 2.0, 2);
    let dir = tempfile::tempdir().unwrap();
    let c = RecPoConfig {
        eval_every: 0,
        rollout_log_every: 0,
        ..cfg(30)
    };
    let mut run = RecPo::open(
        &model,
        &a,
        &data,
        c,
        dir.path(),
        table(&model, &a, &data),
        false,
    )
    .unwrap();
    let mut rep = CollectingReporter::default();
    run.run(&mut rep, &AtomicBool::new(false)).unwrap();
    let mean =
        |s: &[super::report::StepMetrics]| s.iter().map(|m| m.reward).sum::<f64>() / s.len() as f64;
    let (early, late) = (mean(&rep.steps[..8]), mean(&rep.steps[22..]));
    eprintln!("mean reward {early:.4} -> {late:.4}");
    assert!(late > early + 0.05, "reward {early:.4} -> {late:.4}");
}

#[test]
fn no_reasoning_lowers_the_contrastive_loss() {
    let data = paired_dataset(8, 64, 4);
    let model = tiny_model(3);
    let a = TinyLora::new(model.config(), 4, 2.0, 5);
    let dir = tempfile::tempdir().unwrap();
    let c = RecPoConfig {
        no_reasoning: true,
        eval_every: 0,
        ..cfg(20)
    };
    let mut run = RecPo::open(
        &model,
        &a,
        &data,
        c,
        dir.path(),
        table(&model, &a, &data),
        false,
    )
    .unwrap();
    let mut rep = CollectingReporter::default();
    run.run(&mut rep, &AtomicBool::new(false)).unwrap();
    assert!(rep.rollouts.is_empty());
    assert!(rep
        .steps
        .iter()
        .all(|m| m.token_loss == 0.0 && m.reasoning_len == 0.0));
    let mean =
        |s: &[super::report::StepMetrics]| s.iter().map(|m| m.loss).sum::<f64>() / s.len() as f64;
    let (early, late) = (mean(&rep.steps[..5]), mean(&rep.steps[15..]));
    assert!(late < early, "loss {early:.4} -> {late:.4}");
}

#[test]
fn a_damaged_checkpoint_is_refused_with_the_file_that_differs() {
    use super::checkpoint::{verify_checkpoint, MANIFEST};
    let data = paired_dataset(6, 8, 1);
    let model = tiny_model(2);
    let a = TinyLora::new(model.config(), 2, 2.0, 1);
    let dir = tempfile::tempdir().unwrap();
    // No evaluation at the end: its table rebuild would leave the table out.
    let one = RecPoConfig {
        eval_every: 0,
        ..cfg(1)
    };
    let mut run = RecPo::open(
        &model,
        &a,
        &data,
        one,
        dir.path(),
        table(&model, &a, &data),
        false,
    )
    .unwrap();
    run.run(&mut CollectingReporter::default(), &AtomicBool::new(false))
        .unwrap();
    let (_, ckpt) = list_checkpoints(dir.path()).unwrap().pop().unwrap();
    verify_checkpoint(&ckpt).unwrap();
    let manifest = std::fs::read_to_string(ckpt.join(MANIFEST)).unwrap();
    for f in [
        "state.json",
        "optimizer.safetensors",
        "item_table.safetensors",
    ] {
        assert!(manifest.contains(f), "{f} not in the manifest: {manifest}");
    }

    // One flipped bit, same size: the checksum catches it.
    let table_file = ckpt.join("item_table.safetensors");
    let good = std::fs::read(&table_file).unwrap();
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(&table_file, &flipped).unwrap();
    let e = verify_checkpoint(&ckpt).unwrap_err().to_string();
    assert!(
        e.contains("item_table.safetensors") && e.contains("SHA-256"),
        "{e}"
    );
    let resumed = RecPo::open(
        &model,
        &a,
        &data,
        cfg(2),
        dir.path(),
        table(&model, &a, &data),
        true,
    );
    let e = resumed
        .err()
        .expect("a damaged checkpoint is not resumed")
        .to_string();
    assert!(e.contains("item_table.safetensors"), "{e}");

    // Cut short: the size says so.
    std::fs::write(&table_file, &good[..good.len() / 2]).unwrap();
    let e = verify_checkpoint(&ckpt).unwrap_err().to_string();
    assert!(e.contains("bytes, the manifest says"), "{e}");

    // No manifest at all: refused, not trusted.
    std::fs::write(&table_file, &good).unwrap();
    verify_checkpoint(&ckpt).unwrap();
    std::fs::remove_file(ckpt.join(MANIFEST)).unwrap();
    let e = verify_checkpoint(&ckpt).unwrap_err().to_string();
    assert!(e.contains("manifest.json") && e.contains("missing"), "{e}");
}

#[test]
fn kept_lower_layers_give_the_same_table_and_probe_vectors() {
    use crate::model::backbone::LinearHook;
    use crate::model::lower::LowerStates;
    let model = tiny_model(12);
    let layers = model.config().num_hidden_layers;
    let adapter = top_layer_adapter(&model, 5);
    let data = paired_dataset(8, 16, 2);
    let lower = LowerStates::new(adapter.first_adapted_layer(), 1 << 30);
    let plain = table(&model, &adapter, &data);
    let kept = |lower: &LowerStates| {
        rebuild_table(
            &model,
            Some(&adapter),
            Some(lower),
            &data,
            8,
            &mut |_, _| {},
        )
        .unwrap()
    };
    assert_eq!(kept(&lower).rows(), plain.rows());
    let held = lower.bytes();
    assert!(held > 0, "nothing kept");
    // Again after the adapter moved: the kept states serve, the result follows the
    // adapter as a full pass does.
    for v in adapter.vars() {
        v.set(&(v.as_tensor() * 1.5).unwrap()).unwrap();
    }
    let moved = table(&model, &adapter, &data);
    assert_ne!(moved.rows(), plain.rows());
    assert_eq!(kept(&lower).rows(), moved.rows());
    assert_eq!(
        lower.bytes(),
        held,
        "the second rebuild computed its lower layers again"
    );
    // An adapter on every layer leaves no base layer to keep.
    let all = TinyLora::new(model.config(), 2, 2.0, 5);
    nonzero_b(&all);
    let none = LowerStates::new(layers - 1, 1 << 30);
    let t = rebuild_table(&model, Some(&all), Some(&none), &data, 8, &mut |_, _| {}).unwrap();
    assert_eq!(t.rows(), table(&model, &all, &data).rows());
    assert_eq!(none.bytes(), 0);
}

#[test]
fn the_newest_compact_checkpoint_is_kept_beside_the_latest() {
    let data = paired_dataset(6, 8, 3);
    let model = tiny_model(3);
    let a = TinyLora::new(model.config(), 2, 2.0, 4);
    let dir = tempfile::tempdir().unwrap();
    let config = RecPoConfig {
        eval_every: 0,
        probe_every: 0,
        ..cfg(5)
    };
    let t = table(&model, &a, &data);
    let mut run = RecPo::open(&model, &a, &data, config, dir.path(), t, false).unwrap();
    let mut kept = Vec::new();
    for _ in 0..5 {
        run.step(&mut CollectingReporter::default()).unwrap();
        let steps: Vec<usize> = list_checkpoints(dir.path())
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        kept.push(steps);
    }
    // Rebuilds after steps 2 and 4 (table_every 2).
    assert_eq!(kept, [vec![1], vec![2], vec![2, 3], vec![4], vec![4, 5]]);
    assert_eq!(newest_compact(dir.path()).unwrap(), Some(4));
    let size = |step: usize| {
        let d = dir.path().join(format!("checkpoints/step-{step}"));
        walk_bytes(&d)
    };
    assert!(size(4) < size(5), "the compact checkpoint is not smaller");
    // The rebuild's time is logged on the steps it followed.
    let timed: Vec<u64> = std::fs::read_to_string(dir.path().join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["table_secs"].as_f64().is_some_and(|t| t >= 0.0))
        .map(|v| v["step"].as_u64().unwrap())
        .collect();
    assert_eq!(timed, [2, 4]);
}

fn walk_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk_bytes(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn a_prefill_from_kept_lower_layers_generates_the_same_chains() {
    use crate::model::backbone::LinearHook;
    use crate::model::generate::{generate_batch_reusing, GenerateOptions, GenerateRequest};
    use crate::model::lower::LowerStates;
    use crate::model::sampling::Sampling;
    let model = tiny_model(21);
    let adapter = top_layer_adapter(&model, 6);
    let requests = [
        GenerateRequest {
            prompt_ids: vec![5, 17, 3, 42, 8, 8, 60, 1, 33],
            samples: 2,
        },
        GenerateRequest {
            prompt_ids: vec![9, 4, 11, 2, 50],
            samples: 2,
        },
    ];
    let lower = LowerStates::new(adapter.first_adapted_layer(), 1 << 30);
    for sampling in [Sampling::ArgMax, Sampling::rollout()] {
        let opts = GenerateOptions {
            max_new_tokens: 12,
            sampling,
            seed: 3,
            ..Default::default()
        };
        let run = |lower: Option<&LowerStates>| {
            let (chains, _) = generate_batch_reusing(
                &model.backbone,
                Some(&adapter),
                lower,
                &model.tokenizer,
                &requests,
                &opts,
                &mut |_| {},
                None,
            )
            .unwrap();
            chains
                .into_iter()
                .map(|c| (c.token_ids, c.user_vector))
                .collect::<Vec<_>>()
        };
        let whole = run(None);
        assert!(whole.iter().all(|(t, _)| !t.is_empty()));
        // The first call keeps the lower layers, the second starts from them.
        assert_eq!(run(Some(&lower)), whole, "{sampling:?}, kept now");
        let held = lower.bytes();
        assert!(held > 0);
        assert_eq!(run(Some(&lower)), whole, "{sampling:?}, from kept states");
        assert_eq!(lower.bytes(), held);
    }
}
