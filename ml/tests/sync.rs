//! Synchronous data-parallel SGD at 1, 2 and 4 ranks (in-process ranks over the local
//! transport) takes the same steps as a plain single-process minibatch SGD loop with the
//! same global batch and seed, written out here without any communicator: with dense
//! exchanges (a small model, Adam, L2) and with sparse ones (a large model, plain SGD
//! without L2, where a lazy sparse step equals the dense one).

mod common;

use fccl_collectives::local;
use fccl_ml::data::synthetic::{CriteoOptions, criteo};
use fccl_ml::model::SparseLogistic;
use fccl_ml::train::sync::epoch_order;
use fccl_ml::train::{Compression, Progress, SyncConfig, train_sync};
use fccl_ml::{Model, Optimizer, OptimizerKind, SparseGradient};

/// The Criteo-like task with `2^bits` buckets; a dense case (few buckets: every batch's
/// pairs would outweigh the dense vector) or a sparse one.
#[derive(Clone, Copy)]
struct Case {
    bits: u32,
    l2: f32,
    optimizer: &'static str,
}

const DENSE: Case = Case {
    bits: 8,
    l2: 1e-3,
    optimizer: "adam:lr=0.05",
};
const SPARSE: Case = Case {
    bits: 14,
    l2: 0.0,
    optimizer: "sgd:lr=0.5",
};

fn task(case: Case) -> (SparseLogistic, fccl_ml::data::SparseDataset) {
    let planted = criteo(&CriteoOptions {
        rows: 600,
        bits: case.bits,
        seed: 7,
        ..CriteoOptions::default()
    })
    .unwrap();
    let model = SparseLogistic::new(planted.data.features(), case.l2, true).unwrap();
    (model, planted.data)
}

const CONFIG: SyncConfig = SyncConfig {
    batch: 64,
    epochs: 2,
    seed: 11,
    compression: Compression::None,
    start: Progress { epoch: 0, step: 0 },
    stop_at: None,
};

fn optimizer(case: Case) -> OptimizerKind {
    case.optimizer.parse().unwrap()
}

/// One process, the whole global batch at a time.
fn single_process(case: Case) -> (Vec<f32>, Vec<f64>) {
    let (model, data) = task(case);
    let mut w = model.init(3);
    let mut opt = optimizer(case).build(model.parameters());
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
fn dense_data_parallel_steps_equal_single_process_steps() {
    same_steps(DENSE, false);
}

#[test]
fn sparse_data_parallel_steps_equal_single_process_steps() {
    same_steps(SPARSE, true);
}

fn same_steps(case: Case, sparse: bool) {
    let (want, want_losses) = single_process(case);
    let (model, data) = task(case);
    let start = model.evaluate(&model.init(3), &data).loss;
    let end = model.evaluate(&want, &data).loss;
    assert!(
        end < 0.95 * start,
        "training reduced the loss only from {start} to {end}"
    );
    for ranks in [1, 2, 4] {
        let results = common::sync_on_threads(ranks, &model, &data, 3, &optimizer(case), &CONFIG);
        for (rank, (w, steps)) in results.iter().enumerate() {
            // Every step went the way the case expects.
            let dense = steps.iter().filter(|s| s.bytes == 4 * model.parameters());
            let want_dense = if sparse { 0 } else { steps.len() };
            assert_eq!(
                dense.count(),
                want_dense,
                "{ranks} ranks, rank {rank}: dense steps"
            );
            let losses: Vec<f64> = steps.iter().map(|s| s.loss).collect();
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
    let (model, data) = task(DENSE);
    let errors = local::run(4, |mut comm| {
        let (model, data) = (&model, &data);
        async move {
            let mut w = model.init(0);
            let mut opt = optimizer(DENSE).build(model.parameters());
            let config = SyncConfig { batch: 3, ..CONFIG };
            train_sync(
                &mut comm,
                model,
                data,
                &mut w,
                &mut opt,
                &config,
                |_, _, _| {},
            )
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
