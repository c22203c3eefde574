//! The parameter server reaches the synchronous run's loss on a synthetic Criteo-like task,
//! with one and with two servers; every push is applied once; bad set-ups are refused.

use fccl_collectives::local;
use fccl_ml::data::SparseDataset;
use fccl_ml::data::synthetic::{CriteoOptions, criteo};
use fccl_ml::model::SparseLogistic;
use fccl_ml::train::{Compression, PsConfig, SyncConfig, train_ps, train_sync};
use fccl_ml::{Model, OptimizerKind};

fn task() -> (SparseLogistic, SparseDataset) {
    let planted = criteo(&CriteoOptions {
        rows: 4000,
        bits: 12,
        seed: 5,
        ..CriteoOptions::default()
    })
    .unwrap();
    let model = SparseLogistic::new(planted.data.features(), 1e-4, true).unwrap();
    (model, planted.data)
}

fn optimizer() -> OptimizerKind {
    "sgd:lr=1.0".parse().unwrap()
}

fn sync_loss() -> f64 {
    let (model, data) = task();
    let config = SyncConfig {
        batch: 100,
        epochs: 3,
        seed: 2,
        compression: Compression::None,
        ..SyncConfig::default()
    };
    let losses = local::run(2, |mut comm| {
        let (model, data, config) = (&model, &data, &config);
        async move {
            let mut w = model.init(1);
            let mut opt = optimizer().build(model.parameters());
            train_sync(
                &mut comm,
                model,
                data,
                &mut w,
                &mut opt,
                config,
                |_, _, _| {},
            )
            .await
            .unwrap();
            model.evaluate(&w, data).loss
        }
    });
    losses[0]
}

#[test]
fn the_parameter_server_reaches_the_synchronous_loss() {
    let target = sync_loss();
    let (model, data) = task();
    for servers in [1, 2] {
        let config = PsConfig {
            servers,
            batch: 50,
            epochs: 3,
            seed: 2,
        };
        let ranks = 2 + servers;
        let results = local::run(ranks, |mut comm| {
            let (model, data, config) = (&model, &data, &config);
            async move {
                let mut w = model.init(1);
                let slots = model.parameters().div_ceil(servers);
                let mut opt = optimizer().build(slots);
                let report = train_ps(&mut comm, model, data, &mut w, &mut opt, config)
                    .await
                    .unwrap();
                (w, report)
            }
        });
        let w = &results[0].0;
        assert!(
            results.iter().all(|(v, _)| v == w),
            "ranks end with different weights"
        );
        let pushed: usize = results[..2].iter().map(|(_, r)| r.updates).sum();
        let applied: usize = results[2..].iter().map(|(_, r)| r.updates).sum();
        // 2000 rows per worker in batches of 50, 3 epochs; each push reaches every shard
        // its gradient touches (with the bias and 39 fields, every shard).
        assert_eq!(pushed, 2 * 40 * 3);
        assert_eq!(applied, pushed * servers, "{servers} servers");
        let loss = model.evaluate(w, &data).loss;
        assert!(
            loss <= 1.05 * target,
            "{servers} servers: loss {loss}, synchronous {target}"
        );
    }
}

#[test]
fn bad_set_ups_are_refused() {
    let (model, data) = task();
    let errors = local::run(2, |mut comm| {
        let (model, data) = (&model, &data);
        async move {
            let mut w = model.init(1);
            let mut opt = optimizer().build(model.parameters());
            let config = PsConfig {
                servers: 2,
                batch: 50,
                epochs: 1,
                seed: 0,
            };
            train_ps(&mut comm, model, data, &mut w, &mut opt, &config)
                .await
                .unwrap_err()
                .to_string()
        }
    });
    assert!(errors[0].contains("needs 1 to 1 servers"), "{}", errors[0]);
}
