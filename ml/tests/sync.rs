//! Synchronous data-parallel SGD at 1, 2 and 4 ranks (in-process ranks over the local
//! transport) takes the same steps as a plain single-process minibatch SGD loop with the
//! same global batch and seed, written out here without any communicator.

use fccl_collectives::local;
use fccl_ml::data::synthetic::{CriteoOptions, criteo};
use fccl_ml::model::SparseLogistic;
use fccl_ml::train::sync::epoch_order;
use fccl_ml::train::{Compression, SyncConfig, train_sync};
use fccl_ml::{Model, Optimizer, OptimizerKind, SparseGradient};

fn task() -> (SparseLogistic, fccl_ml::data::SparseDataset) {
    let planted = criteo(&CriteoOptions {
        rows: 600,
        bits: 10,
        seed: 7,
        ..CriteoOptions::default()
    })
    .unwrap();
    let model = SparseLogistic::new(planted.data.features(), 1e-3, true).unwrap();
    (model, planted.data)
}

const CONFIG: SyncConfig = SyncConfig {
    batch: 64,
    epochs: 2,
    seed: 11,
    compression: Compression::None,
};

fn optimizer() -> OptimizerKind {
    "adam:lr=0.05".parse().unwrap()
}

/// One process, the whole global batch at a time.
fn single_process() -> (Vec<f32>, Vec<f64>) {
    let (model, data) = task();
    let mut w = model.init(3);
    let mut opt = optimizer().build(model.parameters());
    let mut losses = Vec::new();
    for epoch in 0..CONFIG.epochs {
        for batch in epoch_order(data.len(), CONFIG.seed, epoch).chunks(CONFIG.batch) {
            let mut grad = SparseGradient::new();
            let loss = model.gradient(&w, &data, batch, &mut grad);
            let mut dense = grad.to_dense(w.len());
            dense.iter_mut().for_each(|g| *g /= batch.len() as f32);
            model.add_l2_dense(&w, &mut dense);
            opt.step_dense(&mut w, &dense);
            losses.push(loss / batch.len() as f64);
        }
    }
    (w, losses)
}

#[test]
fn data_parallel_steps_equal_single_process_steps() {
    let (want, want_losses) = single_process();
    let (model, data) = task();
    let start = model.evaluate(&model.init(3), &data).loss;
    let end = model.evaluate(&want, &data).loss;
    assert!(
        end < 0.95 * start,
        "training reduced the loss only from {start} to {end}"
    );
    for ranks in [1, 2, 4] {
        let results = local::run(ranks, |mut comm| {
            let (model, data) = (&model, &data);
            async move {
                let mut w = model.init(3);
                let mut opt = optimizer().build(model.parameters());
                let mut losses = Vec::new();
                train_sync(&mut comm, model, data, &mut w, &mut opt, &CONFIG, |s, _| {
                    losses.push(s.loss)
                })
                .await
                .unwrap();
                (w, losses)
            }
        });
        for (rank, (w, losses)) in results.iter().enumerate() {
            assert_eq!(losses.len(), want_losses.len());
            for (k, (a, b)) in losses.iter().zip(&want_losses).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs(),
                    "{ranks} ranks, rank {rank}, step {k}: loss {a} vs {b}"
                );
            }
            let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (j, (a, b)) in w.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * scale.max(b.abs()),
                    "{ranks} ranks, rank {rank}: w[{j}] = {a}, single process {b}"
                );
            }
        }
    }
}

#[test]
fn a_batch_smaller_than_the_ranks_is_refused() {
    let (model, data) = task();
    let errors = local::run(4, |mut comm| {
        let (model, data) = (&model, &data);
        async move {
            let mut w = model.init(0);
            let mut opt = optimizer().build(model.parameters());
            let config = SyncConfig { batch: 3, ..CONFIG };
            train_sync(&mut comm, model, data, &mut w, &mut opt, &config, |_, _| {})
                .await
                .unwrap_err()
                .to_string()
        }
    });
    assert!(
        errors[0].contains("leaves some of the 4 ranks without rows"),
        "{}",
        errors[0]
    );
}
