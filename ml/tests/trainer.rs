//! Whole runs from a `TrainSpec` (what `fccl train` does on every rank), on in-process
//! ranks: the reports count what the run did, the metrics fit the model, a run stopped by
//! its time limit resumes from its checkpoint to the uninterrupted run's objective, and bad
//! combinations are refused.

use std::path::PathBuf;
use std::time::Duration;

use fccl_collectives::local;
use fccl_ml::trainer::{Mode, ModelKind, Report, TrainEvent, TrainSpec, train};

const CRITEO: &str = "synthetic:criteo?rows=2000&bits=10&seed=4";
const NETFLIX: &str = "synthetic:netflix?users=100&items=80&ratings=3000&rank=3&seed=2";

/// Runs `spec` on `ranks` ranks; every rank's reports (all of them, the final last).
fn run(ranks: usize, spec: &TrainSpec) -> Vec<Vec<Report>> {
    local::run(ranks, |mut comm| {
        let spec = spec.clone();
        async move {
            let mut reports = Vec::new();
            let last = train(&mut comm, &spec, |event| {
                if let TrainEvent::Report(r) = event {
                    reports.push(r.clone());
                }
            })
            .await
            .unwrap();
            assert_eq!(reports.last(), Some(&last));
            reports
        }
    })
}

fn lr_spec() -> TrainSpec {
    TrainSpec {
        batch: 100,
        epochs: 3,
        optimizer: "adam:lr=0.05".parse().unwrap(),
        ..TrainSpec::new(ModelKind::Logistic, CRITEO)
    }
}

#[test]
fn a_synchronous_run_reports_every_epoch_and_a_final_line() {
    let reports = run(2, &lr_spec());
    // 1600 training rows (an 80/20 split of 2000), batches of 100: 16 steps per epoch.
    let lead = &reports[0];
    assert_eq!(lead.len(), 3, "two epochs and the final line: {lead:#?}");
    for (e, r) in lead[..2].iter().enumerate() {
        assert_eq!(r.epoch, (e + 1) as f64);
        assert_eq!(r.updates, 16 * (e as u64 + 1));
        assert_eq!(r.samples, 1600 * (e as u64 + 1));
        assert!(!r.is_final);
        assert!(r.accuracy.is_some() && r.rmse.is_none());
    }
    let last = lead.last().unwrap();
    assert!(last.is_final && last.finished);
    assert_eq!((last.updates, last.samples, last.ranks), (48, 4800, 2));
    assert_eq!((last.model, last.mode), ("lr", "sync"));
    // Dense exchange of 2^10 weights plus the bias: 4 bytes each, every step.
    assert_eq!(last.bytes_per_update, 4.0 * 1025.0);
    assert!(last.compute_s.unwrap() > 0.0 && last.communicate_s.unwrap() > 0.0);
    // Training helped: the held-out loss fell below log 2 (the loss of zero weights).
    assert!(last.test_loss.unwrap() < 0.6, "{last:?}");
    assert!(last.train_loss.unwrap() < std::f64::consts::LN_2);
    // The other rank has the final line only, with the same model.
    assert_eq!(reports[1].len(), 1);
    assert_eq!(reports[1][0].objective, last.objective);
    assert_eq!(reports[1][0].test_loss, last.test_loss);
}

#[test]
fn factorization_reports_rmse_in_every_mode() {
    for (mode, ranks) in [
        (Mode::Sync, 2),
        (Mode::Local, 2),
        (Mode::ParameterServer, 3),
    ] {
        let spec = TrainSpec {
            mode,
            batch: 32,
            epochs: 2,
            factors: 3,
            l2: 0.01,
            optimizer: "adagrad:lr=0.1".parse().unwrap(),
            staleness: Some(1),
            ..TrainSpec::new(ModelKind::Factorization, NETFLIX)
        };
        let reports = run(ranks, &spec);
        let last = reports[0].last().unwrap();
        assert!(last.is_final, "{mode:?}");
        assert!(last.accuracy.is_none(), "{mode:?}");
        let rmse = last.rmse.unwrap();
        assert!(rmse.is_finite() && rmse > 0.0, "{mode:?}: {rmse}");
        // Every training rating was used once per epoch: 2400 ratings, 2 epochs (in local
        // mode each rank's block of 1200, whose batches fit every rank alike).
        assert_eq!(last.samples, 4800, "{mode:?}");
        // Updates: synchronous steps of the global batch (2400 / 32 → 75 a epoch), each
        // rank's local steps (1200 / 32 → 38), or the gradients the server applied (two
        // workers' 38 steps a epoch).
        let updates = match mode {
            Mode::Sync => 150,
            Mode::Local => 76,
            Mode::ParameterServer => 152,
        };
        assert_eq!(last.updates, updates, "{mode:?}");
        assert!(last.compute_s.unwrap() > 0.0, "{mode:?}");
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fccl-trainer-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("run.ckpt")
}

#[test]
fn a_run_stopped_by_its_time_limit_resumes_to_the_same_objective() {
    let whole = run(2, &lr_spec());
    let path = scratch("limit");
    let limited = TrainSpec {
        checkpoint: Some(path.clone()),
        time_limit: Some(Duration::ZERO),
        ..lr_spec()
    };
    let stopped = run(2, &limited);
    let first = stopped[0].last().unwrap();
    assert!(first.is_final && !first.finished, "{first:?}");
    assert_eq!(first.updates, 1);
    // The same command without the limit goes on from the checkpoint.
    let resumed = run(
        2,
        &TrainSpec {
            time_limit: None,
            ..limited.clone()
        },
    );
    let last = resumed[0].last().unwrap();
    assert!(last.finished);
    assert_eq!(
        last.updates, 47,
        "the resumed run takes the steps that were left"
    );
    assert_eq!(last.epoch, 3.0);
    assert_eq!(last.objective, whole[0].last().unwrap().objective);
    // A checkpoint of another run is refused.
    let other = TrainSpec {
        batch: 50,
        ..limited
    };
    let refused = local::run(1, |mut comm| {
        let other = other.clone();
        async move { train(&mut comm, &other, |_| {}).await.unwrap_err() }
    });
    assert!(
        refused[0].to_string().contains("another run"),
        "{}",
        refused[0]
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn mismatched_models_and_data_are_refused() {
    let cases = [
        TrainSpec::new(ModelKind::Factorization, CRITEO),
        TrainSpec::new(ModelKind::Logistic, NETFLIX),
        TrainSpec::new(ModelKind::Logistic, "/nonexistent/data.svm"),
    ];
    for spec in cases {
        let errors = local::run(1, |mut comm| {
            let spec = spec.clone();
            async move { train(&mut comm, &spec, |_| {}).await.unwrap_err() }
        });
        let message = errors[0].to_string();
        assert!(
            message.contains("needs") || message.contains("neither"),
            "{message}"
        );
    }
}

#[test]
fn local_and_parameter_server_runs_resume_from_their_rank_files() {
    let local_sgd = TrainSpec {
        mode: Mode::Local,
        average_every: 4,
        ..lr_spec()
    };
    let ps = TrainSpec {
        mode: Mode::ParameterServer,
        staleness: Some(2),
        ..lr_spec()
    };
    for (spec, ranks) in [(local_sgd, 2), (ps, 3)] {
        let mode = spec.mode;
        let whole = run(ranks, &spec);
        let whole = whole[0].last().unwrap();
        let path = scratch(&format!("{mode:?}"));
        let limited = TrainSpec {
            checkpoint: Some(path.clone()),
            time_limit: Some(Duration::ZERO),
            ..spec.clone()
        };
        let stopped = run(ranks, &limited);
        let stopped = stopped[0].last().unwrap();
        assert!(
            stopped.is_final && !stopped.finished,
            "{mode:?}: {stopped:?}"
        );
        for rank in 0..ranks {
            let file = format!("{}.rank{rank}", path.display());
            assert!(std::path::Path::new(&file).exists(), "{mode:?}: {file}");
        }
        let resumed = run(
            ranks,
            &TrainSpec {
                time_limit: None,
                ..limited
            },
        );
        let resumed = resumed[0].last().unwrap();
        assert!(resumed.finished, "{mode:?}: {resumed:?}");
        // No step is lost or taken twice.
        assert_eq!(
            stopped.updates + resumed.updates,
            whole.updates,
            "{mode:?}: {stopped:?} then {resumed:?}"
        );
        assert_eq!(stopped.samples + resumed.samples, whole.samples, "{mode:?}");
        if mode == Mode::Local {
            // Local SGD is deterministic: the resumed run ends where the whole one did.
            assert_eq!(resumed.objective, whole.objective);
        } else {
            // The server applies pushes as they come: close, not equal.
            let (a, b) = (resumed.test_loss.unwrap(), whole.test_loss.unwrap());
            assert!((a - b).abs() < 0.05 * b, "{mode:?}: {a} against {b}");
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
