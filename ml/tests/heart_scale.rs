//! The heart_scale oracle: full-batch training of L2 logistic regression reaches LIBLINEAR's
//! `-s 0 -c 1` optimum, in one process and synchronously on 2 ranks.
//!
//! The reference (research/ml.md §9, `oracles/ref_lr.py`: Newton's method in numpy to a
//! gradient norm of 5e-14) gives f* = 98.226800 and training accuracy 0.8370 on the 270 × 13
//! heart_scale set. The file comes from Debian's `liblinear-tools`
//! (`/usr/share/doc/liblinear-tools/examples/heart_scale`), read by the LIBSVM loader.
//! Without the file the test says so and passes, except under `CI`, where it fails. The tolerance is 1e-5 relative
//! (the brief asked for 1e-3; `f32` weights after 3000 Nesterov steps land within 1e-8).

mod common;

use fccl_ml::model::SparseLogistic;
use fccl_ml::train::{Compression, SyncConfig};
use fccl_ml::{Model, Optimizer, OptimizerKind};

const F_STAR: f64 = 98.2268;
const ACCURACY: f64 = 0.837;

#[test]
fn full_batch_training_reaches_the_liblinear_optimum() {
    let data = match fccl_ml::data::fetch::heart_scale() {
        Ok(data) => data,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("heart_scale is needed under CI: {e}"),
    };
    assert_eq!(
        (
            data.len(),
            data.labels().iter().filter(|&&l| l > 0.0).count()
        ),
        (270, 120)
    );

    let c = 1.0;
    let model = SparseLogistic::liblinear(13, c, data.len()).unwrap();
    model.validate(&data).unwrap();
    let mut w = model.init(0);
    // At w = 0 every row costs ln 2.
    let at_zero = model.liblinear_objective(&w, &data, c);
    assert!(
        (at_zero - 270.0 * std::f64::consts::LN_2).abs() < 1e-9,
        "{at_zero}"
    );

    let mut opt = OptimizerKind::Nesterov {
        lr: 0.5,
        momentum: 0.9,
    }
    .build(model.parameters());
    for _ in 0..3000 {
        let (g, _) = model.full_gradient(&w, &data);
        opt.step_dense(&mut w, &g);
    }

    let f = model.liblinear_objective(&w, &data, c);
    // The mean objective is LIBLINEAR's divided by C · N.
    let mean = model.objective(&w, &data);
    assert!(
        (mean * c * data.len() as f64 - f).abs() < 1e-6 * f,
        "{mean} vs {f}"
    );
    assert!(
        (f - F_STAR).abs() <= 1e-5 * F_STAR,
        "objective {f}, LIBLINEAR's optimum {F_STAR}"
    );
    let accuracy = model.evaluate(&w, &data).accuracy.unwrap();
    assert!(
        (accuracy - ACCURACY).abs() <= 1.0 / 270.0,
        "train accuracy {accuracy}, reference {ACCURACY}"
    );
    eprintln!("heart_scale: objective {f:.6} (f* {F_STAR}), accuracy {accuracy:.4}");
}

/// The form of the oracle: synchronous training on 2 ranks, each computing the
/// gradient of its half of every (full) batch, reaches the same optimum.
#[test]
fn synchronous_training_on_two_ranks_reaches_the_liblinear_optimum() {
    let data = match fccl_ml::data::fetch::heart_scale() {
        Ok(data) => data,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("heart_scale is needed under CI: {e}"),
    };
    let c = 1.0;
    let model = SparseLogistic::liblinear(13, c, data.len()).unwrap();
    let config = SyncConfig {
        batch: data.len(),
        epochs: 3000,
        seed: 0,
        compression: Compression::None,
        ..SyncConfig::default()
    };
    let nesterov = OptimizerKind::Nesterov {
        lr: 0.5,
        momentum: 0.9,
    };
    let results = common::sync_on_threads(2, &model, &data, 0, &nesterov, &config);
    let weights: Vec<Vec<f32>> = results.into_iter().map(|(w, _)| w).collect();
    assert_eq!(weights[0], weights[1], "the ranks disagree");
    let f = model.liblinear_objective(&weights[0], &data, c);
    assert!(
        (f - F_STAR).abs() <= 1e-3 * F_STAR,
        "objective {f}, LIBLINEAR's optimum {F_STAR}"
    );
    let accuracy = model.evaluate(&weights[0], &data).accuracy.unwrap();
    assert!(
        (accuracy - ACCURACY).abs() <= 1.0 / 270.0,
        "train accuracy {accuracy}, reference {ACCURACY}"
    );
    eprintln!("heart_scale on 2 ranks: objective {f:.6} (f* {F_STAR}), accuracy {accuracy:.4}");
}
