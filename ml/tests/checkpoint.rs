//! A synchronous run that stops and resumes from its checkpoint ends with the same weights,
//! bit for bit, as the run that never stopped: resumed from the middle of an epoch (a
//! checkpoint saved at a step), and after an early stop (`stop_at`, which every rank agrees
//! on).

use std::path::PathBuf;
use std::time::Instant;

use fccl_collectives::local;
use fccl_ml::data::SparseDataset;
use fccl_ml::data::synthetic::{CriteoOptions, criteo};
use fccl_ml::model::SparseLogistic;
use fccl_ml::train::{Checkpoint, Compression, Progress, SyncConfig, train_sync};
use fccl_ml::{AnyOptimizer, Model, OptimizerKind};

const RANKS: usize = 2;
const RUN: &str = "checkpoint test";

fn task() -> (SparseLogistic, SparseDataset) {
    let planted = criteo(&CriteoOptions {
        rows: 500,
        bits: 9,
        seed: 3,
        ..CriteoOptions::default()
    })
    .unwrap();
    let model = SparseLogistic::new(planted.data.features(), 1e-3, true).unwrap();
    (model, planted.data)
}

fn config() -> SyncConfig {
    SyncConfig {
        batch: 40,
        epochs: 3,
        seed: 9,
        compression: Compression::None,
        ..SyncConfig::default()
    }
}

fn fresh_optimizer(model: &SparseLogistic) -> AnyOptimizer {
    let kind: OptimizerKind = "adam:lr=0.05".parse().unwrap();
    kind.build(model.parameters())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fccl-ml-ckpt-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("run.ckpt")
}

/// Runs `config` on every rank from `from` (or the start), saving rank 0's state to `save`
/// after step `save_at` if given; returns every rank's final weights and where it ended.
fn run(
    config: &SyncConfig,
    from: Option<&Checkpoint>,
    save: Option<(&PathBuf, Progress)>,
) -> Vec<(Vec<f32>, Progress)> {
    let (model, data) = task();
    local::run(RANKS, |mut comm| {
        let (model, data) = (&model, &data);
        let mut config = config.clone();
        async move {
            let (mut w, mut opt) = match from {
                Some(c) => {
                    config.start = c.progress;
                    (c.weights.clone(), c.optimizer.clone())
                }
                None => (model.init(5), fresh_optimizer(model)),
            };
            let rank = comm.rank();
            let end = train_sync(
                &mut comm,
                model,
                data,
                &mut w,
                &mut opt,
                &config,
                |s, w, o| {
                    if let Some((path, at)) = save
                        && rank == 0
                        && s.progress == at
                    {
                        let c = Checkpoint::new(RUN, s.progress, w.to_vec(), o.clone());
                        c.save(path).unwrap();
                    }
                },
            )
            .await
            .unwrap();
            (w, end)
        }
    })
}

#[test]
fn resuming_from_a_mid_epoch_checkpoint_gives_the_same_weights() {
    let path = scratch("mid");
    let at = Progress { epoch: 1, step: 4 };
    let whole = run(&config(), None, Some((&path, at)));
    let checkpoint = Checkpoint::load(&path).unwrap().unwrap();
    let checkpoint = checkpoint.for_run(RUN, whole[0].0.len()).unwrap();
    assert_eq!(checkpoint.progress, at);
    let resumed = run(&config(), Some(&checkpoint), None);
    let end = Progress { epoch: 3, step: 0 };
    for rank in 0..RANKS {
        assert_eq!(whole[rank].1, end);
        assert_eq!(resumed[rank].1, end);
        assert_eq!(resumed[rank].0, whole[0].0, "rank {rank} after resuming");
    }
    // The checkpoint is not the end: resuming changed the weights.
    assert_ne!(checkpoint.weights, whole[0].0);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn an_early_stop_is_agreed_and_resumes_to_the_same_weights() {
    let path = scratch("stop");
    let whole = run(&config(), None, None);
    // Stop at once: every rank ends after the first step, at the same place.
    let stopping = SyncConfig {
        stop_at: Some(Instant::now()),
        ..config()
    };
    let first = Progress { epoch: 0, step: 1 };
    let stopped = run(&stopping, None, Some((&path, first)));
    for (w, end) in &stopped {
        assert_eq!(*end, first);
        assert_eq!(*w, stopped[0].0);
    }
    let checkpoint = Checkpoint::load(&path).unwrap().unwrap();
    assert_eq!(checkpoint.weights, stopped[0].0);
    let resumed = run(&config(), Some(&checkpoint), None);
    for (w, _) in &resumed {
        assert_eq!(*w, whole[0].0);
    }
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
