//! Faults a standard queue may show, made on purpose for tests: records sent more than
//! once, out of order, and some of them late. The sender makes them, below the receiver's
//! de-duplication and reassembly, so that a test sees what the receiver does with them.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use fccl_collectives::{Rank, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::endpoint::Inner;
use super::records::Body;

/// What a faulty sender does to the records of each message it sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SendFaults {
    /// The chance that a record is sent a second time.
    pub copies: f64,
    /// The chance that a record (or its copy) is held back and sent after the others,
    /// up to `max_delay` later: past records of later messages, at times.
    pub late: f64,
    /// The longest a late record waits.
    pub max_delay: Duration,
    /// The seed of the choices, so that a failure can be replayed.
    pub seed: u64,
}

/// The choices of a faulty sender.
pub(super) struct Faulty {
    pub(super) faults: SendFaults,
    rng: Mutex<StdRng>,
}

impl Faulty {
    pub(super) fn new(faults: SendFaults) -> Faulty {
        Faulty {
            faults,
            rng: Mutex::new(StdRng::seed_from_u64(faults.seed)),
        }
    }
}

/// Sends `bodies` to `to` as a faulty medium would deliver them: shuffled, some twice, and
/// some late (from a task of their own, so the send returns before they are in the queue).
pub(super) async fn send_bodies(
    inner: &Arc<Inner>,
    faulty: &Faulty,
    to: Rank,
    bodies: Vec<Body>,
    deadline: Instant,
) -> Result<()> {
    let f = faulty.faults;
    let (now, late) = {
        let mut rng = faulty.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = Vec::with_capacity(bodies.len() * 2);
        for b in bodies {
            if rng.random_bool(f.copies) {
                all.push(b.clone());
            }
            all.push(b);
        }
        all.shuffle(&mut *rng);
        let mut now = Vec::new();
        let mut late = Vec::new();
        for b in all {
            if rng.random_bool(f.late) {
                let wait = f.max_delay.mul_f64(rng.random::<f64>());
                late.push((wait, b));
            } else {
                now.push(b);
            }
        }
        (now, late)
    };
    for (wait, body) in late {
        let inner = Arc::clone(inner);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            // A late copy may find the queue deleted once the job is over: nothing to do.
            let _ = inner.send_bodies(to, &[body], deadline).await;
        });
    }
    if now.is_empty() {
        return Ok(());
    }
    inner.send_bodies(to, &now, deadline).await
}
