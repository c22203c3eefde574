//! Synchronous SGD with compressed gradients (f16, bf16, top-k with error feedback) ends
//! within a tolerance of the f32 run's loss on a synthetic Criteo-like task, and local SGD
//! (model averaging) ends with equal weights on every rank and a loss near synchronous
//! SGD's.

mod common;

use fccl_collectives::local;
use fccl_ml::data::SparseDataset;
use fccl_ml::model::SparseLogistic;
use fccl_ml::train::{Compression, LocalConfig, SyncConfig, train_local};
use fccl_ml::{Model, OptimizerKind};

fn task() -> (SparseLogistic, SparseDataset) {
    common::criteo_task(4000, 12, 5)
}

/// Plain SGD: with per-rank AdaGrad or Adam state, local SGD's steps (on noisier half
/// batches) would shrink faster than synchronous SGD's, and the comparison would measure
/// the optimizer, not the averaging.
fn optimizer() -> OptimizerKind {
    "sgd:lr=1.0".parse().unwrap()
}

/// The final full-data loss of a 2-rank synchronous run, and rank 0's bytes in the last
/// step.
fn sync_run(compression: Compression) -> (f64, usize) {
    let (model, data) = task();
    let config = SyncConfig {
        batch: 100,
        epochs: 3,
        seed: 2,
        compression,
        ..SyncConfig::default()
    };
    let results = common::sync_on_threads(2, &model, &data, 1, &optimizer(), &config);
    assert_eq!(results[0].0, results[1].0, "the ranks disagree");
    let (w, steps) = &results[0];
    (model.evaluate(w, &data).loss, steps.last().unwrap().bytes)
}

#[test]
fn half_precision_and_topk_end_near_the_f32_loss() {
    let (f32_loss, _) = sync_run(Compression::None);
    let (model, data) = task();
    // Uncompressed, these batches are sparse enough to travel as exact pairs; the
    // compressed formats are dense, and measured against a dense f32 vector.
    let f32_bytes = 4 * model.parameters();
    let start = model.evaluate(&model.init(1), &data).loss;
    assert!(
        f32_loss < 0.9 * start,
        "f32 training went from {start} to {f32_loss}"
    );
    for (compression, tolerance) in [(Compression::F16, 0.005), (Compression::Bf16, 0.005)] {
        let (loss, bytes) = sync_run(compression);
        assert_eq!(bytes * 2, f32_bytes, "{compression:?} sends half the bytes");
        let off = (loss - f32_loss).abs() / f32_loss;
        assert!(
            off <= tolerance,
            "{compression:?}: loss {loss} vs f32 {f32_loss} ({off:.4})"
        );
    }
    let (loss, bytes) = sync_run(Compression::TopK(0.1));
    assert!(
        bytes < f32_bytes / 4,
        "top-k 10% sends {bytes} of {f32_bytes} bytes"
    );
    assert!(
        loss < 0.9 * start,
        "top-k training went from {start} to {loss}"
    );
}

#[test]
fn local_sgd_ends_with_equal_weights_near_the_synchronous_loss() {
    let (sync_loss, _) = sync_run(Compression::None);
    let (model, data) = task();
    let config = LocalConfig {
        batch: 50,
        epochs: 3,
        average_every: 4,
        seed: 2,
        ..LocalConfig::default()
    };
    let results = local::run(2, |mut comm| {
        let (model, data, config) = (&model, &data, &config);
        async move {
            let mut w = model.init(1);
            let mut opt = optimizer().build(model.parameters());
            let mut rounds = 0;
            train_local(
                &mut comm,
                model,
                data,
                &mut w,
                &mut opt,
                config,
                |_, _, _| rounds += 1,
            )
            .await
            .unwrap();
            (w, rounds)
        }
    });
    assert_eq!(
        results[0].0, results[1].0,
        "the ranks end with different weights"
    );
    // 2000 rows per rank, 40 steps per epoch, 3 epochs: 120 steps, averaged every 4.
    assert_eq!(results[0].1, 30);
    let loss = model.evaluate(&results[0].0, &data).loss;
    assert!(
        (loss - sync_loss).abs() <= 0.05 * sync_loss,
        "local SGD loss {loss} vs synchronous {sync_loss}"
    );
}
