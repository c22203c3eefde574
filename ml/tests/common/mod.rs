//! What several ML tests share: the synthetic Criteo-like task and a synchronous run on
//! ranks that are threads of the test.

#![allow(dead_code)]

use fccl_collectives::local;
use fccl_ml::data::SparseDataset;
use fccl_ml::data::synthetic::{CriteoOptions, criteo};
use fccl_ml::model::SparseLogistic;
use fccl_ml::train::{SyncConfig, SyncStep, train_sync};
use fccl_ml::{Model, OptimizerKind};

/// The Criteo-like task of `rows` rows hashed into 2^`bits` buckets, generated from `seed`,
/// and an L2-regularised (1e-4) logistic regression with a bias over it.
pub(crate) fn criteo_task(rows: usize, bits: u32, seed: u64) -> (SparseLogistic, SparseDataset) {
    let planted = criteo(&CriteoOptions {
        rows,
        bits,
        seed,
        ..CriteoOptions::default()
    })
    .unwrap();
    let model = SparseLogistic::new(planted.data.features(), 1e-4, true).unwrap();
    (model, planted.data)
}

/// Trains `model` on `data` synchronously on `ranks` ranks, each from the weights of
/// `model.init(init_seed)` with its own `optimizer`; every rank's final weights and the
/// steps it reported, in rank order.
pub(crate) fn sync_on_threads<M: Model + Sync>(
    ranks: usize,
    model: &M,
    data: &M::Data,
    init_seed: u64,
    optimizer: &OptimizerKind,
    config: &SyncConfig,
) -> Vec<(Vec<f32>, Vec<SyncStep>)>
where
    M::Data: Sync,
{
    local::run(ranks, |mut comm| async move {
        let mut w = model.init(init_seed);
        let mut opt = optimizer.build(model.parameters());
        let mut steps = Vec::new();
        let on_step = |s: &SyncStep, _: &[f32], _: &_| steps.push(s.clone());
        train_sync(&mut comm, model, data, &mut w, &mut opt, config, on_step)
            .await
            .unwrap();
        (w, steps)
    })
}
