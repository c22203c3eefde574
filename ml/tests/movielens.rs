//! The MovieLens-100k oracle: biased matrix factorisation with 10 factors, trained by
//! synchronous data-parallel SGD on 2 ranks, reaches a test RMSE of at most 0.95 on a
//! seeded 80/20 split within 5 epochs.
//!
//! The target is the issue's: "a plain single-machine SGD reaches 0.951 at epoch 4 and 0.923
//! at epoch 20". The ratings are `movielens100k.csv` from the PyPI wheel `neighbors==0.2.1`
//! ([`fccl_ml::data::fetch::movielens100k`]). Without the file (and no way to download
//! it) the test says so and passes, except under `CI`, where it fails.
//!
//! Settings: global batch 128, plain SGD with learning rate 5.12 — the batch's gradient is
//! averaged, so that is a step of 0.04 per rating, as a per-rating SGD loop with
//! `lr = 0.04` would take — per-rating L2 0.05 on biases and factors, factors initialised
//! from N(0, 0.1²). Here that gives 0.959, 0.953, 0.948, 0.938, 0.934 by epoch. In
//! exploratory runs a step of 0.01 per rating only just made it (0.948 at epoch 5 on this
//! split), 0.04 gave 0.924–0.934 at epoch 5 over split seeds 1–8, and batches from 2 to 256
//! gave the same curve to about 0.001.
//!
//! So that a broken metric or a model no better than its biases cannot pass, the RMSE of
//! the model's `evaluate` is checked against one computed here by hand for two baselines
//! (the training mean, and the mean plus damped user and item biases), and the trained model
//! must beat both; the bias baseline (about 0.94) is itself below the issue's 0.95, so that
//! check is the one that needs the factors to have learnt something. Both ranks must end
//! with identical weights.

use fccl_ml::data::Ratings;
use fccl_ml::model::MatrixFactorization;
use fccl_ml::train::{Compression, SyncConfig, train_sync};
use fccl_ml::{Model, OptimizerKind};

/// The issue's bound on the test RMSE by epoch 5.
const TARGET: f64 = 0.95;
const EPOCHS: usize = 5;
const FACTORS: usize = 10;
const SPLIT_SEED: u64 = 1;
const BATCH: usize = 128;
/// 0.04 per rating (see the module docs).
const LR: f32 = 5.12;
const L2: f32 = 0.05;
/// The damping of the baseline's biases: `b = Σ residual / (count + DAMPING)`.
const DAMPING: f64 = 5.0;

/// The RMSE of `predict` on `data`, computed here rather than by the model.
fn rmse(data: &Ratings, predict: impl Fn(usize, usize) -> f64) -> f64 {
    let sq: f64 = (0..data.len())
        .map(|n| {
            let e =
                f64::from(data.rating[n]) - predict(data.user[n] as usize, data.item[n] as usize);
            e * e
        })
        .sum();
    (sq / data.len() as f64).sqrt()
}

/// Damped item biases of the residuals from `mean`, then damped user biases of what the
/// item biases leave.
fn baseline_biases(train: &Ratings, mean: f64) -> (Vec<f64>, Vec<f64>) {
    let damped = |ids: &[u32], count: usize, residual: &dyn Fn(usize) -> f64| {
        let (mut sum, mut n) = (vec![0.0; count], vec![0.0; count]);
        for (r, &id) in ids.iter().enumerate() {
            sum[id as usize] += residual(r);
            n[id as usize] += 1.0;
        }
        sum.iter()
            .zip(&n)
            .map(|(s, n)| s / (n + DAMPING))
            .collect::<Vec<f64>>()
    };
    let rating = |r: usize| f64::from(train.rating[r]);
    let item = damped(&train.item, train.items, &|r| rating(r) - mean);
    let user = damped(&train.user, train.users, &|r| {
        rating(r) - mean - item[train.item[r] as usize]
    });
    (user, item)
}

#[test]
fn two_ranks_reach_the_issue_rmse_within_five_epochs() {
    let data = match fccl_ml::data::fetch::movielens100k() {
        Ok(loaded) => loaded.ratings,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("MovieLens-100k is needed under CI: {e}"),
    };
    assert_eq!((data.len(), data.users, data.items), (100_000, 943, 1682));
    let (train, test) = data.split(0.2, SPLIT_SEED).unwrap();
    assert_eq!((train.len(), test.len()), (80_000, 20_000));

    let model =
        MatrixFactorization::new(data.users, data.items, FACTORS, train.mean(), L2).unwrap();
    let mean = f64::from(model.mean());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b;

    // Baseline 1: the training mean.
    let mean_rmse = rmse(&test, |_, _| mean);
    let zeros = vec![0.0; model.parameters()];
    let got = model.evaluate(&zeros, &test).rmse.unwrap();
    assert!(close(got, mean_rmse), "evaluate {got}, by hand {mean_rmse}");

    // Baseline 2: the mean plus damped biases, as the model's biases (f32) and by hand.
    let (user, item) = baseline_biases(&train, mean);
    let mut biased = zeros.clone();
    for (u, &b) in user.iter().enumerate() {
        biased[model.user_offset(u as u32)] = b as f32;
    }
    for (i, &b) in item.iter().enumerate() {
        biased[model.item_offset(i as u32)] = b as f32;
    }
    let bias_rmse = rmse(&test, |u, i| {
        let b = |o: usize| f64::from(biased[o]);
        mean + b(model.user_offset(u as u32)) + b(model.item_offset(i as u32))
    });
    let got = model.evaluate(&biased, &test).rmse.unwrap();
    assert!(close(got, bias_rmse), "evaluate {got}, by hand {bias_rmse}");
    assert!(bias_rmse < mean_rmse, "{bias_rmse} vs {mean_rmse}");

    let config = SyncConfig {
        batch: BATCH,
        epochs: EPOCHS,
        seed: 7,
        compression: Compression::None,
        ..SyncConfig::default()
    };
    let results = fccl_collectives::local::run(2, |mut comm| {
        let (model, train, test, config) = (&model, &train, &test, &config);
        async move {
            let rank = comm.rank();
            let mut w = model.init(0);
            let mut opt = OptimizerKind::Sgd { lr: LR }.build(model.parameters());
            // The test RMSE after every epoch (rank 0 measures; the weights are the same).
            let (mut seen, mut per_epoch) = (0, Vec::new());
            train_sync(
                &mut comm,
                model,
                train,
                &mut w,
                &mut opt,
                config,
                |step, w, _| {
                    seen += step.rows;
                    if rank == 0 && seen % train.len() == 0 {
                        per_epoch.push(model.evaluate(w, test).rmse.unwrap());
                    }
                },
            )
            .await
            .unwrap();
            (w, per_epoch)
        }
    });
    let per_epoch = &results[0].1;
    assert_eq!(per_epoch.len(), EPOCHS);
    let shown: Vec<String> = per_epoch.iter().map(|r| format!("{r:.4}")).collect();
    eprintln!(
        "MovieLens-100k on 2 ranks: test RMSE by epoch {}; baselines: mean {mean_rmse:.4}, \
         mean + biases {bias_rmse:.4}",
        shown.join(", ")
    );
    assert!(
        per_epoch.iter().all(|r| r.is_finite()),
        "training diverged: test RMSE by epoch {per_epoch:?}"
    );
    // Bit for bit, so that weights gone to NaN compare as equal and fail on the RMSE.
    let bits = |w: &[f32]| w.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    assert!(
        bits(&results[0].0) == bits(&results[1].0),
        "the ranks disagree"
    );
    let final_rmse = model.evaluate(&results[0].0, &test).rmse.unwrap();
    assert_eq!(final_rmse, per_epoch[EPOCHS - 1]);

    let best = per_epoch.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        best <= TARGET,
        "best test RMSE {best} by epoch {EPOCHS}, the issue asks for at most {TARGET}"
    );
    assert!(
        best < bias_rmse,
        "best test RMSE {best} is no better than the mean-plus-biases baseline {bias_rmse}"
    );
}
