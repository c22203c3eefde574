//! A wrapper that injects faults into the messages of any transport, for tests: it delays
//! them at random (so they overtake each other), sends some twice, loses some, and resets
//! a link after a given number of messages.
//!
//! The wrapped endpoints of one job share one [`FaultLog`] (they are threads of one
//! process, as in the conformance suite), which draws the faults from a seeded generator
//! and counts them. What each fault must become above the transport:
//!
//! | fault | injected as | what the collectives must do |
//! | --- | --- | --- |
//! | delay, reorder | each message leaves after a random delay up to [`Faults::delay`], on a thread of the log's own, so later messages overtake earlier ones | exact results |
//! | duplicate | a second copy of the message, after its own delay | exact results; the copy is discarded (see below) |
//! | drop | the message never leaves | the receive fails with `Timeout` at its deadline, naming the peer |
//! | reset | after [`Faults::reset_after`] messages in the job, the link that carried the last one breaks in both directions | sends and receives on it fail with `Remote` at once, naming the peer |
//!
//! Every message of fccl has a key of its own (collective tags carry the op's sequence
//! number, step and chunk; point-to-point tags a per-pair count), so a copy is recognised by
//! its key alone. A receiving endpoint remembers the keys it took whose copies were sent and
//! takes those copies out of the inner transport (without waiting) at each later receive
//! and at close, so that none stays in the inner transport's buffers: at the end of a job,
//! [`FaultCounts::duplicates_discarded`] equals [`FaultCounts::duplicates_injected`].
//!
//! Shared objects ([`Transport::shared`]) are delayed as messages are (each put, get, add
//! and wait starts after its own random delay, in place), but never copied, lost or reset:
//! a store's own requests are not messages between two ranks. Aborts pass through.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{BoxFuture, LinkProfile, SharedObjects, Transport, Usage};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{CommId, Tag};
use crate::types::Rank;

/// The faults to inject, drawn from a generator seeded with `seed`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Each message (and each copy) leaves after a random delay, uniform up to this.
    pub delay: Duration,
    /// Probability that a message is sent twice.
    pub duplicate: f64,
    /// Probability that a message is never sent.
    pub drop: f64,
    /// After this many messages in the whole job, the link that carried the last one
    /// resets; `None` for never.
    pub reset_after: Option<u64>,
    /// Seed of the generator behind the faults.
    pub seed: u64,
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Delays every message by a random time up to `max`.
    pub fn delay(mut self, max: Duration) -> Faults {
        self.delay = max;
        self
    }

    /// Sends each message twice with `probability`.
    pub fn duplicate(mut self, probability: f64) -> Faults {
        self.duplicate = probability.clamp(0.0, 1.0);
        self
    }

    /// Loses each message with `probability`.
    pub fn drop(mut self, probability: f64) -> Faults {
        self.drop = probability.clamp(0.0, 1.0);
        self
    }

    /// Resets the link of the `n`-th message of the job (counting from 1).
    pub fn reset_after(mut self, n: u64) -> Faults {
        self.reset_after = Some(n);
        self
    }

    /// Seeds the generator behind the faults.
    pub fn seed(mut self, seed: u64) -> Faults {
        self.seed = seed;
        self
    }
}

/// What a [`FaultLog`] injected so far, over all the job's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Messages handed to the wrapper's `send`.
    pub messages: u64,
    /// Messages and copies sent after a delay.
    pub delayed: u64,
    /// Second copies sent.
    pub duplicates_injected: u64,
    /// Second copies taken out of the inner transport and thrown away.
    pub duplicates_discarded: u64,
    /// Messages never sent.
    pub dropped: u64,
    /// Links reset.
    pub resets: u64,
}

/// The faults of one job's wrapped endpoints: their generator, their counts, the reset
/// links, and the thread that sends delayed messages.
pub struct FaultLog {
    net: Arc<Net>,
}

impl FaultLog {
    /// What was injected so far.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.net.counts;
        FaultCounts {
            messages: c.messages.load(Ordering::SeqCst),
            delayed: c.delayed.load(Ordering::SeqCst),
            duplicates_injected: c.duplicates_injected.load(Ordering::SeqCst),
            duplicates_discarded: c.duplicates_discarded.load(Ordering::SeqCst),
            dropped: c.dropped.load(Ordering::SeqCst),
            resets: c.resets.load(Ordering::SeqCst),
        }
    }
}

#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    delayed: AtomicU64,
    duplicates_injected: AtomicU64,
    duplicates_discarded: AtomicU64,
    dropped: AtomicU64,
    resets: AtomicU64,
}

/// State the job's wrapped endpoints share.
struct Net {
    faults: Faults,
    rng: Mutex<StdRng>,
    counts: Counters,
    /// Links `(low rank, high rank)` that were reset.
    reset: Mutex<HashSet<(Rank, Rank)>>,
    /// Wakes receives when a link resets.
    changed: Notify,
    /// Keys `(from, to, tag)` whose second copy was (or is being) sent.
    copied: Mutex<HashSet<(Rank, Rank, Tag)>>,
    /// Sends the delayed messages.
    sender: Background,
}

/// A runtime of one thread for the delayed sends, shut down without waiting when dropped
/// (which may happen inside a rank's runtime).
struct Background(Option<tokio::runtime::Runtime>);

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is complete before anything can panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn link(a: Rank, b: Rank) -> (Rank, Rank) {
    (a.min(b), a.max(b))
}

impl Net {
    fn is_reset(&self, a: Rank, b: Rank) -> bool {
        lock(&self.reset).contains(&link(a, b))
    }

    fn reset_error(peer: Rank) -> Error {
        Error::new(
            ErrorKind::Remote,
            format!("the connection to rank {peer} was reset (an injected fault)"),
        )
        .with_peer(peer)
    }

    /// A random delay, or zero when delays are off.
    fn draw_delay(&self, rng: &mut StdRng) -> Duration {
        if self.faults.delay.is_zero() {
            return Duration::ZERO;
        }
        self.faults.delay.mul_f64(rng.random::<f64>())
    }
}

/// One rank's endpoint of a transport, with faults injected into its messages.
pub struct FaultyTransport {
    inner: Arc<dyn Transport>,
    /// The inner transport's shared objects, delayed.
    shared: DelayedObjects,
    net: Arc<Net>,
    /// Keys taken here whose second copy is still to be taken out of `inner`.
    pending_copies: Mutex<Vec<(Rank, Tag)>>,
    /// Delayed sends of this endpoint not finished yet, and the first error one met.
    in_flight: Arc<InFlight>,
}

#[derive(Default)]
struct InFlight {
    count: AtomicU64,
    done: Notify,
    error: Mutex<Option<Error>>,
}

impl FaultyTransport {
    /// Wraps the endpoints of one job (one per rank, in rank order), injecting `faults`;
    /// returns the wrapped endpoints and the log that counts the faults.
    pub fn wrap(
        endpoints: Vec<Arc<dyn Transport>>,
        faults: Faults,
    ) -> (Vec<Arc<dyn Transport>>, FaultLog) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fccl-faults")
            .enable_all()
            .build()
            .expect("a runtime for the delayed sends");
        let net = Arc::new(Net {
            rng: Mutex::new(StdRng::seed_from_u64(faults.seed)),
            faults,
            counts: Counters::default(),
            reset: Mutex::default(),
            changed: Notify::new(),
            copied: Mutex::default(),
            sender: Background(Some(runtime)),
        });
        let wrapped = endpoints
            .into_iter()
            .map(|inner| {
                Arc::new(FaultyTransport {
                    shared: DelayedObjects {
                        inner: Arc::clone(&inner),
                        net: Arc::clone(&net),
                    },
                    inner,
                    net: Arc::clone(&net),
                    pending_copies: Mutex::default(),
                    in_flight: Arc::default(),
                }) as Arc<dyn Transport>
            })
            .collect();
        (wrapped, FaultLog { net })
    }

    /// Sends `msg` to `to`, now or after `delay` on the log's thread.
    async fn send_after(&self, to: Rank, tag: Tag, msg: Bytes, delay: Duration) -> Result<()> {
        if delay.is_zero() {
            return self.inner.send(to, tag, msg).await;
        }
        self.net.counts.delayed.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        let in_flight = Arc::clone(&self.in_flight);
        in_flight.count.fetch_add(1, Ordering::SeqCst);
        let runtime = self
            .net
            .sender
            .0
            .as_ref()
            .expect("the runtime lives as long as the log");
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = inner.send(to, tag, msg).await {
                lock(&in_flight.error).get_or_insert(e);
            }
            in_flight.count.fetch_sub(1, Ordering::SeqCst);
            in_flight.done.notify_waiters();
        });
        Ok(())
    }

    /// The first error a delayed send of this endpoint met, if any.
    fn delayed_error(&self) -> Result<()> {
        match lock(&self.in_flight.error).clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Takes the second copies that have arrived out of `inner`, without waiting.
    async fn discard_copies(&self) {
        let pending = std::mem::take(&mut *lock(&self.pending_copies));
        let mut left = Vec::new();
        for (from, tag) in pending {
            match self.inner.recv(from, tag, Instant::now()).await {
                Ok(_) => {
                    self.net
                        .counts
                        .duplicates_discarded
                        .fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => left.push((from, tag)),
            }
        }
        lock(&self.pending_copies).extend(left);
    }

    /// Waits until the delayed sends of this endpoint are out, or `deadline`.
    async fn flush(&self, deadline: Instant) {
        while self.in_flight.count.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            let done = self.in_flight.done.notified();
            if self.in_flight.count.load(Ordering::SeqCst) == 0 {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(10), done).await;
        }
    }
}

impl Transport for FaultyTransport {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn rank(&self) -> Rank {
        self.inner.rank()
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let me = self.rank();
            self.delayed_error()?;
            if self.net.is_reset(me, to) {
                return Err(Net::reset_error(to));
            }
            let counts = &self.net.counts;
            let number = counts.messages.fetch_add(1, Ordering::SeqCst) + 1;
            if self.net.faults.reset_after == Some(number) && to != me {
                lock(&self.net.reset).insert(link(me, to));
                counts.resets.fetch_add(1, Ordering::SeqCst);
                self.net.changed.notify_waiters();
                return Err(Net::reset_error(to));
            }
            let (drop, copy, delays) = {
                let mut rng = lock(&self.net.rng);
                let drop = rng.random::<f64>() < self.net.faults.drop;
                let copy = rng.random::<f64>() < self.net.faults.duplicate;
                let delays = (self.net.draw_delay(&mut rng), self.net.draw_delay(&mut rng));
                (drop, copy, delays)
            };
            if drop {
                counts.dropped.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
            if copy {
                counts.duplicates_injected.fetch_add(1, Ordering::SeqCst);
                lock(&self.net.copied).insert((me, to, tag));
                self.send_after(to, tag, msg.clone(), delays.1.max(Duration::from_micros(1)))
                    .await?;
            }
            self.send_after(to, tag, msg, delays.0).await
        })
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            let me = self.rank();
            self.discard_copies().await;
            self.delayed_error()?;
            let reset = async {
                loop {
                    let changed = self.net.changed.notified();
                    if self.net.is_reset(me, from) {
                        return Net::reset_error(from);
                    }
                    changed.await;
                }
            };
            let msg = tokio::select! {
                biased;
                e = reset => return Err(e),
                got = self.inner.recv(from, tag, deadline) => got?,
            };
            if lock(&self.net.copied).remove(&(from, me, tag)) {
                lock(&self.pending_copies).push((from, tag));
            }
            Ok(msg)
        })
    }

    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        self.inner.abort(comm, peers, reason)
    }

    fn profile(&self) -> LinkProfile {
        self.inner.profile()
    }

    fn shared(&self) -> Option<&dyn SharedObjects> {
        self.inner.shared()?;
        Some(&self.shared)
    }

    fn relayed_peers(&self) -> Vec<Rank> {
        self.inner.relayed_peers()
    }

    fn usage(&self) -> Option<Usage> {
        self.inner.usage()
    }

    /// Sends what is still delayed and takes the arrived copies out (each for up to 5 s),
    /// then closes the inner endpoint.
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            self.flush(deadline).await;
            while !lock(&self.pending_copies).is_empty() && Instant::now() < deadline {
                self.discard_copies().await;
                if !lock(&self.pending_copies).is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            self.inner.close().await
        })
    }
}

/// The shared objects of a wrapped endpoint: each call starts after a random delay.
struct DelayedObjects {
    inner: Arc<dyn Transport>,
    net: Arc<Net>,
}

impl DelayedObjects {
    /// Sleeps a random delay, then hands out the inner shared objects.
    async fn later(&self) -> &dyn SharedObjects {
        let delay = self.net.draw_delay(&mut lock(&self.net.rng));
        if !delay.is_zero() {
            self.net.counts.delayed.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
        }
        self.inner
            .shared()
            .expect("wrapped only where the inner transport has shared objects")
    }
}

impl SharedObjects for DelayedObjects {
    fn put(&self, tag: Tag, value: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.later().await.put(tag, value).await })
    }

    fn get(&self, owner: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move { self.later().await.get(owner, tag, deadline).await })
    }

    fn remove(&self, owner: Rank, tag: Tag) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.later().await.remove(owner, tag).await })
    }

    fn add(&self, tag: Tag, delta: i64) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move { self.later().await.add(tag, delta).await })
    }

    fn wait_for(&self, tag: Tag, at_least: i64, deadline: Instant) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move { self.later().await.wait_for(tag, at_least, deadline).await })
    }

    fn remove_counter(&self, tag: Tag) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.later().await.remove_counter(tag).await })
    }
}
