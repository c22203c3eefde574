//! The parameter server reaches the synchronous run's loss on a synthetic Criteo-like task,
//! with one and with two servers, unbounded and under a staleness bound; every push is
//! applied once; a slow worker makes unbounded reads stale while a bound holds the fast
//! worker back; bad set-ups and malformed requests are refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

mod common;

use fccl_collectives::local;
use fccl_ml::data::SparseDataset;
use fccl_ml::data::block_range;
use fccl_ml::model::SparseLogistic;
use fccl_ml::train::{Compression, PsConfig, PsReport, SyncConfig, train_ps};
use fccl_ml::{Metrics, Model, OptimizerKind, SparseGradient};

const ROWS: usize = 4000;

fn task() -> (SparseLogistic, SparseDataset) {
    common::criteo_task(ROWS, 12, 5)
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
    let results = common::sync_on_threads(2, &model, &data, 1, &optimizer(), &config);
    model.evaluate(&results[0].0, &data).loss
}

/// Runs the parameter server on `workers + config.servers` ranks; every rank's weights and
/// report, checked for what holds in every run: all ranks end with the same weights, each
/// worker pushed once per minibatch and every server applied every push once.
fn run_ps<M: Model + Sync>(
    model: &M,
    data: &M::Data,
    workers: usize,
    config: &PsConfig,
) -> Vec<(Vec<f32>, PsReport)>
where
    M::Data: Sync,
{
    let servers = config.servers;
    let results = local::run(workers + servers, |mut comm| async move {
        let mut w = model.init(1);
        let mut opt = optimizer().build(model.parameters().div_ceil(servers));
        let report = train_ps(&mut comm, model, data, &mut w, &mut opt, config, |_| {})
            .await
            .unwrap();
        (w, report)
    });
    let w = &results[0].0;
    assert!(
        results.iter().all(|(v, _)| v == w),
        "ranks end with different weights"
    );
    for (rank, (_, report)) in results[..workers].iter().enumerate() {
        let rows = block_range(model.examples(data), rank, workers)
            .unwrap()
            .len();
        assert_eq!(report.updates, config.epochs * rows.div_ceil(config.batch));
        assert_eq!(report.max_staleness, 0, "worker {rank}");
    }
    let pushed: usize = results[..workers].iter().map(|(_, r)| r.updates).sum();
    for (_, report) in &results[workers..] {
        assert_eq!(report.updates, pushed, "every step pushes to every shard");
    }
    results
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
            ..PsConfig::default()
        };
        let results = run_ps(&model, &data, 2, &config);
        let pushed: usize = results[..2].iter().map(|(_, r)| r.updates).sum();
        // 2000 rows per worker in batches of 50, 3 epochs.
        assert_eq!(pushed, 2 * 40 * 3);
        let loss = model.evaluate(&results[0].0, &data).loss;
        assert!(
            loss <= 1.05 * target,
            "{servers} servers: loss {loss}, synchronous {target}"
        );
    }
}

#[test]
fn bounded_staleness_holds_and_reaches_the_synchronous_loss() {
    let target = sync_loss();
    let (model, data) = task();
    for bound in [0, 2] {
        for (workers, servers) in [(2, 1), (3, 2)] {
            let config = PsConfig {
                servers,
                batch: 50,
                epochs: 3,
                seed: 2,
                staleness: Some(bound),
                ..PsConfig::default()
            };
            let results = run_ps(&model, &data, workers, &config);
            let case = format!("bound {bound}, {workers} workers, {servers} servers");
            for (_, report) in &results[workers..] {
                assert!(report.max_staleness <= bound, "{case}: {report:?}");
            }
            let loss = model.evaluate(&results[0].0, &data).loss;
            assert!(loss <= 1.05 * target, "{case}: loss {loss}, sync {target}");
        }
    }
}

/// How many steps the fast worker must have computed before the slow one's first step
/// goes on when there is no bound.
const LEAD: usize = 10;

/// A model whose first gradient on the rows from `slow_from` on (worker 1's block) waits
/// until the other worker has computed [`LEAD`] gradients or `patience` passes, so worker 1
/// is reliably slow without depending on timing in the unbounded case.
struct SlowStart<'a> {
    inner: &'a SparseLogistic,
    slow_from: usize,
    patience: Duration,
    fast_steps: Mutex<usize>,
    stepped: Condvar,
    started: AtomicBool,
    /// The fast worker's steps when the slow worker went on.
    fast_at_start: Mutex<Option<usize>>,
}

impl<'a> SlowStart<'a> {
    fn new(inner: &'a SparseLogistic, patience: Duration) -> Self {
        Self {
            inner,
            slow_from: block_range(ROWS, 1, 2).unwrap().start,
            patience,
            fast_steps: Mutex::new(0),
            stepped: Condvar::new(),
            started: AtomicBool::new(false),
            fast_at_start: Mutex::new(None),
        }
    }

    fn hold_back(&self, rows: &[usize]) {
        if rows[0] < self.slow_from {
            *self.fast_steps.lock().unwrap() += 1;
            self.stepped.notify_all();
        } else if !self.started.swap(true, Ordering::SeqCst) {
            let steps = self.fast_steps.lock().unwrap();
            let (steps, _) = (self.stepped)
                .wait_timeout_while(steps, self.patience, |steps| *steps < LEAD)
                .unwrap();
            *self.fast_at_start.lock().unwrap() = Some(*steps);
        }
    }
}

impl Model for SlowStart<'_> {
    type Data = SparseDataset;

    fn parameters(&self) -> usize {
        self.inner.parameters()
    }
    fn init(&self, seed: u64) -> Vec<f32> {
        self.inner.init(seed)
    }
    fn validate(&self, data: &SparseDataset) -> fccl_ml::Result<()> {
        self.inner.validate(data)
    }
    fn examples(&self, data: &SparseDataset) -> usize {
        self.inner.examples(data)
    }
    fn gradient(
        &self,
        w: &[f32],
        data: &SparseDataset,
        rows: &[usize],
        grad: &mut SparseGradient,
    ) -> f64 {
        self.hold_back(rows);
        self.inner.gradient(w, data, rows, grad)
    }
    fn touched(&self, data: &SparseDataset, rows: &[usize]) -> Vec<u32> {
        self.inner.touched(data, rows)
    }
    fn l2_at(&self, j: usize) -> f32 {
        self.inner.l2_at(j)
    }
    fn evaluate(&self, w: &[f32], data: &SparseDataset) -> Metrics {
        self.inner.evaluate(w, data)
    }
}

#[test]
fn a_slow_worker_makes_unbounded_reads_stale_and_a_bound_holds_the_other_back() {
    let (model, data) = task();
    let config = PsConfig {
        batch: 50,
        seed: 2,
        ..PsConfig::default()
    };

    // Unbounded: the fast worker runs LEAD steps while the slow one has pushed none, so its
    // LEAD-th pull is LEAD − 1 steps ahead. The patience is only a safety net.
    let slow = SlowStart::new(&model, Duration::from_secs(20));
    let results = run_ps(&slow, &data, 2, &config);
    assert_eq!(*slow.fast_at_start.lock().unwrap(), Some(LEAD));
    assert!(results[2].1.max_staleness >= LEAD - 1, "{:?}", results[2].1);

    // Bounded: the fast worker cannot get past step `bound + 1` until the slow one pushes,
    // so the slow one waits out its patience.
    for bound in [0, 1, 3] {
        let slow = SlowStart::new(&model, Duration::from_millis(200));
        let config = PsConfig {
            staleness: Some(bound),
            ..config.clone()
        };
        let results = run_ps(&slow, &data, 2, &config);
        let fast = slow.fast_at_start.lock().unwrap().unwrap();
        assert!(
            fast <= bound + 1,
            "bound {bound}: fast worker took {fast} steps"
        );
        assert!(
            results[2].1.max_staleness <= bound,
            "bound {bound}: {:?}",
            results[2].1
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
                ..PsConfig::default()
            };
            train_ps(&mut comm, model, data, &mut w, &mut opt, &config, |_| {})
                .await
                .unwrap_err()
                .to_string()
        }
    });
    assert!(errors[0].contains("needs 1 to 1 servers"), "{}", errors[0]);
}

/// The tag of requests to servers, as `param_server.rs` sends them.
const REQUEST: u32 = 21;

#[test]
fn malformed_requests_are_refused_clearly() {
    let (model, data) = task();
    let bad: [(&[u32], &str); 4] = [
        (&[], "malformed request of 0 words"),
        (&[7, 1], "malformed request of 2 words"),
        (&[2, 5], "malformed request of 2 words"),
        (&[1, 1 << 20], "which it does not own"),
    ];
    for (request, expected) in bad {
        let errors = local::run(2, |mut comm| {
            let (model, data) = (&model, &data);
            async move {
                if comm.rank() == 0 {
                    // A worker that speaks the protocol wrongly.
                    comm.send(request, 1, REQUEST).await.unwrap();
                    return String::new();
                }
                let mut w = model.init(1);
                let mut opt = optimizer().build(model.parameters());
                let config = PsConfig {
                    staleness: Some(0),
                    ..PsConfig::default()
                };
                train_ps(&mut comm, model, data, &mut w, &mut opt, &config, |_| {})
                    .await
                    .unwrap_err()
                    .to_string()
            }
        });
        assert!(errors[1].contains(expected), "{request:?}: {}", errors[1]);
    }
}
