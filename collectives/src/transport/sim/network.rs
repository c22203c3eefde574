//! The simulated network and its endpoints.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::config::SimConfig;
use crate::algorithms::cost::Traffic;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{CommId, HEADER_LEN, Tag};
use crate::transport::mailbox::Mailbox;
use crate::transport::{BoxFuture, LinkProfile, Transport};
use crate::types::Rank;

/// One rank's endpoint of a simulated network; create all of them with
/// [`SimTransport::fabric`] (or let [`run`](super::run) do it).
///
/// The endpoints need a current-thread tokio runtime whose clock is paused (as
/// [`run`](super::run) builds it): a task of the network keeps the frames in flight in
/// order of arrival and moves the clock to each arrival exactly, below tokio's
/// millisecond timer resolution.
pub struct SimTransport {
    rank: Rank,
    net: Arc<Network>,
}

/// What a simulated network has carried so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Messages and payload bytes (frame length minus the header) sent by each rank.
    pub per_rank: Vec<Traffic>,
    /// Second copies of frames the network delivered.
    pub duplicates_injected: u64,
    /// Copies receivers recognised (by sequence number) and threw away.
    pub duplicates_discarded: u64,
    /// Frames the network lost.
    pub dropped: u64,
}

impl SimCounters {
    /// Messages and payload bytes sent by all ranks together.
    pub fn total(&self) -> Traffic {
        self.per_rank
            .iter()
            .fold(Traffic::default(), |sum, &t| sum + t)
    }
}

/// The state every endpoint of one simulated network shares.
pub(super) struct Network {
    config: SimConfig,
    mailboxes: Vec<Mailbox>,
    gone: Vec<AtomicBool>,
    /// Frames on their way over each link `src * size + dst`, duplicates included.
    in_flight: Vec<AtomicUsize>,
    links: Mutex<Links>,
    /// Wakes the delivery task when something new is in flight.
    scheduled: Notify,
    /// Whether the delivery task runs.
    driving: AtomicBool,
    sent_messages: Vec<AtomicU64>,
    sent_bytes: Vec<AtomicU64>,
    duplicates_injected: AtomicU64,
    duplicates_discarded: AtomicU64,
    dropped: AtomicU64,
}

struct Links {
    links: Vec<Link>,
    rng: StdRng,
    /// Frames and notices in flight, earliest arrival first.
    in_transit: BinaryHeap<Reverse<Transit>>,
    /// Numbers the items in flight, so that equal arrival times keep sending order.
    next_id: u64,
}

/// Something on its way to `dst`, arriving at `at`.
struct Transit {
    at: Instant,
    id: u64,
    src: Rank,
    dst: Rank,
    what: Carried,
}

enum Carried {
    /// A frame with its link sequence number.
    Frame { tag: Tag, seq: u64, frame: Bytes },
    /// Notice that `src` aborted communicator `comm`.
    Abort { comm: CommId, reason: String },
}

impl PartialEq for Transit {
    fn eq(&self, other: &Transit) -> bool {
        (self.at, self.id) == (other.at, other.id)
    }
}

impl Eq for Transit {}

impl PartialOrd for Transit {
    fn partial_cmp(&self, other: &Transit) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Transit {
    fn cmp(&self, other: &Transit) -> std::cmp::Ordering {
        (self.at, self.id).cmp(&(other.at, other.id))
    }
}

impl Links {
    fn push(&mut self, at: Instant, src: Rank, dst: Rank, what: Carried) {
        let id = self.next_id;
        self.next_id += 1;
        self.in_transit.push(Reverse(Transit {
            at,
            id,
            src,
            dst,
            what,
        }));
    }
}

/// One direction between two ranks.
struct Link {
    latency: Duration,
    bandwidth: f64,
    /// When the link has finished putting the last frame on the wire.
    free_at: Option<Instant>,
    /// The sequence number of the next frame.
    next_seq: u64,
    /// The latest arrival time of each tag still in flight (with reordering, later frames
    /// of one key must not overtake earlier ones).
    last_arrival: HashMap<Tag, Instant>,
    /// Sequence numbers the receiver has taken in, to throw duplicates away.
    seen: Seen,
}

/// A set of sequence numbers: all below `below`, plus those in `above`.
#[derive(Default)]
struct Seen {
    below: u64,
    above: BTreeSet<u64>,
}

impl Seen {
    /// Adds `seq`; false if it was there already.
    fn insert(&mut self, seq: u64) -> bool {
        if seq < self.below || !self.above.insert(seq) {
            return false;
        }
        while self.above.remove(&self.below) {
            self.below += 1;
        }
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under the lock is complete before anything can panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Network {
    pub(super) fn new(size: usize, config: SimConfig) -> Network {
        let links = (0..size * size)
            .map(|i| {
                let (latency, bandwidth) = config.link_params(i / size, i % size);
                Link {
                    latency,
                    bandwidth,
                    free_at: None,
                    next_seq: 0,
                    last_arrival: HashMap::new(),
                    seen: Seen::default(),
                }
            })
            .collect();
        let counters = || (0..size).map(|_| AtomicU64::new(0)).collect();
        Network {
            mailboxes: (0..size).map(|_| Mailbox::default()).collect(),
            gone: (0..size).map(|_| AtomicBool::new(false)).collect(),
            in_flight: (0..size * size).map(|_| AtomicUsize::new(0)).collect(),
            links: Mutex::new(Links {
                links,
                rng: StdRng::seed_from_u64(config.seed),
                in_transit: BinaryHeap::new(),
                next_id: 0,
            }),
            scheduled: Notify::new(),
            driving: AtomicBool::new(false),
            sent_messages: counters(),
            sent_bytes: counters(),
            duplicates_injected: AtomicU64::new(0),
            duplicates_discarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            config,
        }
    }

    fn size(&self) -> usize {
        self.mailboxes.len()
    }

    pub(super) fn counters(&self) -> SimCounters {
        SimCounters {
            per_rank: self
                .sent_messages
                .iter()
                .zip(&self.sent_bytes)
                .map(|(m, b)| Traffic {
                    messages: m.load(Ordering::SeqCst),
                    bytes: b.load(Ordering::SeqCst),
                })
                .collect(),
            duplicates_injected: self.duplicates_injected.load(Ordering::SeqCst),
            duplicates_discarded: self.duplicates_discarded.load(Ordering::SeqCst),
            dropped: self.dropped.load(Ordering::SeqCst),
        }
    }

    /// Puts a frame on the link `src → dst` at the current virtual time and schedules its
    /// arrival (and that of a duplicate), unless the network loses it.
    fn transmit(self: &Arc<Self>, src: Rank, dst: Rank, tag: Tag, frame: Bytes) {
        let link_index = src * self.size() + dst;
        let now = Instant::now();
        let mut guard = lock(&self.links);
        let Links { links, rng, .. } = &mut *guard;
        let link = &mut links[link_index];
        let seq = link.next_seq;
        link.next_seq += 1;
        #[allow(clippy::cast_precision_loss)]
        let transfer = Duration::from_secs_f64(frame.len() as f64 / link.bandwidth);
        let start = link.free_at.map_or(now, |free| free.max(now));
        link.free_at = Some(start + transfer);
        let mut arrive = start + transfer + link.latency;
        let max_extra = (link.latency + transfer).max(Duration::from_micros(1));
        if self.config.reorder {
            arrive += max_extra.mul_f64(rng.random::<f64>());
            link.last_arrival.retain(|_, &mut t| t > now);
            let last = link.last_arrival.entry(tag).or_insert(arrive);
            arrive = arrive.max(*last);
            *last = arrive;
        }
        let mut arrivals = Vec::with_capacity(2);
        if rng.random::<f64>() < self.config.drop {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        } else {
            arrivals.push(arrive);
            if rng.random::<f64>() < self.config.duplicate {
                self.duplicates_injected.fetch_add(1, Ordering::SeqCst);
                arrivals.push(arrive + max_extra.mul_f64(rng.random::<f64>()));
            }
        }
        self.in_flight[link_index].fetch_add(arrivals.len(), Ordering::SeqCst);
        for at in arrivals {
            let frame = frame.clone();
            guard.push(at, src, dst, Carried::Frame { tag, seq, frame });
        }
        drop(guard);
        self.wake_driver();
    }

    /// Schedules the notice that `src` aborted `comm` at `dst`, one link latency from now.
    fn notify_abort(self: &Arc<Self>, src: Rank, dst: Rank, comm: CommId, reason: &str) {
        let (latency, _) = self.config.link_params(src, dst);
        let reason = reason.to_string();
        lock(&self.links).push(
            Instant::now() + latency,
            src,
            dst,
            Carried::Abort { comm, reason },
        );
        self.wake_driver();
    }

    fn wake_driver(self: &Arc<Self>) {
        if !self.driving.swap(true, Ordering::SeqCst) {
            tokio::spawn(Arc::clone(self).drive());
        }
        self.scheduled.notify_one();
    }

    /// The delivery task: hands over everything due, then moves the clock to the next
    /// arrival. Tokio's timers fire on whole milliseconds, and a sleep may end more than a
    /// millisecond past its deadline (which then carried a frame sent at the arrival's
    /// instant past it, a broadcast test found), so it sleeps (letting the paused clock
    /// auto-advance) to within two milliseconds of the arrival, lets every other task finish
    /// what it does at that instant, and then advances the clock by the exact rest.
    async fn drive(self: Arc<Self>) {
        const SETTLE: usize = 4;
        const COARSE_MARGIN: Duration = Duration::from_millis(2);
        loop {
            let scheduled = self.scheduled.notified();
            tokio::pin!(scheduled);
            scheduled.as_mut().enable();
            let now = Instant::now();
            let (due, next) = {
                let mut links = lock(&self.links);
                let mut due = Vec::new();
                while links.in_transit.peek().is_some_and(|t| t.0.at <= now) {
                    due.extend(links.in_transit.pop().map(|t| t.0));
                }
                (due, links.in_transit.peek().map(|t| t.0.at))
            };
            for t in due {
                self.arrive(t);
            }
            match next {
                None => scheduled.await,
                Some(at) => match at.checked_sub(COARSE_MARGIN) {
                    Some(coarse) if coarse > now => {
                        tokio::select! {
                            () = tokio::time::sleep_until(coarse) => {}
                            () = scheduled => {}
                        }
                    }
                    _ => {
                        for _ in 0..SETTLE {
                            tokio::task::yield_now().await;
                        }
                        let now = Instant::now();
                        let earliest = lock(&self.links).in_transit.peek().map(|t| t.0.at);
                        if let Some(at) = earliest.filter(|&at| at > now) {
                            tokio::time::advance(at - now).await;
                        }
                    }
                },
            }
        }
    }

    /// Something reaches its destination: new frames go to the mailbox, copies are counted.
    fn arrive(&self, t: Transit) {
        let (src, dst) = (t.src, t.dst);
        let mailbox = &self.mailboxes[dst];
        match t.what {
            Carried::Abort { comm, reason } => mailbox.abort(comm, src, &reason),
            Carried::Frame { tag, seq, frame } => {
                let link_index = src * self.size() + dst;
                let fresh = lock(&self.links).links[link_index].seen.insert(seq);
                if !fresh {
                    self.duplicates_discarded.fetch_add(1, Ordering::SeqCst);
                } else if !self.gone[dst].load(Ordering::SeqCst) {
                    mailbox.deliver(src, tag, seq, frame);
                }
                self.in_flight[link_index].fetch_sub(1, Ordering::SeqCst);
                // A receive waiting on a departed sender fails once nothing is in flight.
                mailbox.wake();
            }
        }
    }
}

impl SimTransport {
    /// Endpoints for `size` ranks of a network configured by `config`, in rank order.
    pub fn fabric(size: usize, config: SimConfig) -> Vec<SimTransport> {
        let net = Arc::new(Network::new(size, config));
        SimTransport::endpoints(&net)
    }

    pub(super) fn endpoints(net: &Arc<Network>) -> Vec<SimTransport> {
        (0..net.size())
            .map(|rank| SimTransport {
                rank,
                net: Arc::clone(net),
            })
            .collect()
    }

    /// What the whole network (all endpoints) has carried so far.
    pub fn counters(&self) -> SimCounters {
        self.net.counters()
    }

    fn leave(&self) {
        if !self.net.gone[self.rank].swap(true, Ordering::SeqCst) {
            for mailbox in &self.net.mailboxes {
                mailbox.wake();
            }
        }
    }

    fn outside(&self, rank: Rank) -> Error {
        Error::invalid(format!(
            "rank {rank} is outside the job of {} ranks",
            self.size()
        ))
    }
}

impl Drop for SimTransport {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Transport for SimTransport {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn rank(&self) -> Rank {
        self.rank
    }

    fn size(&self) -> usize {
        self.net.size()
    }

    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        let result = if to >= self.size() {
            Err(self.outside(to))
        } else if self.net.gone[to].load(Ordering::SeqCst) {
            Err(Error::new(ErrorKind::Remote, format!("rank {to} has left")).with_peer(to))
        } else {
            self.net.sent_messages[self.rank].fetch_add(1, Ordering::SeqCst);
            let payload = msg.len().saturating_sub(HEADER_LEN) as u64;
            self.net.sent_bytes[self.rank].fetch_add(payload, Ordering::SeqCst);
            self.net.transmit(self.rank, to, tag, msg);
            Ok(())
        };
        Box::pin(std::future::ready(result))
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            if from >= self.size() {
                return Err(self.outside(from));
            }
            let link = &self.net.in_flight[from * self.size() + self.rank];
            let gone = || {
                (self.net.gone[from].load(Ordering::SeqCst) && link.load(Ordering::SeqCst) == 0)
                    .then(|| Mailbox::left(from, tag))
            };
            self.net.mailboxes[self.rank]
                .recv(from, tag, deadline, gone)
                .await
        })
    }

    /// Tells the peers after one link latency (the notice is never lost or duplicated).
    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        for &peer in peers.iter().filter(|&&p| p < self.size()) {
            self.net.notify_abort(self.rank, peer, comm, reason);
        }
        Box::pin(std::future::ready(()))
    }

    /// The configured default latency and bandwidth (per-link overrides are not reflected).
    fn profile(&self) -> LinkProfile {
        LinkProfile {
            latency: self.net.config.latency,
            bandwidth: self.net.config.bandwidth,
            max_message_bytes: usize::MAX,
            usd_per_request: 0.0,
            usd_per_byte: 0.0,
            shared_objects: false,
            via_server: false,
        }
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.leave();
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(seq: u64) -> Tag {
        Tag {
            comm: CommId::WORLD,
            p2p: false,
            seq,
            step: 0,
            chunk: 0,
        }
    }

    fn frame(payload: usize) -> Bytes {
        Bytes::from(vec![7u8; HEADER_LEN + payload])
    }

    fn paused() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn frames_arrive_after_transfer_and_latency_and_links_serialise() {
        paused().block_on(async {
            // 1 ms latency, 1 MB/s: a 952-byte payload (1000-byte frame) takes 1 ms on the wire.
            let config = SimConfig::new()
                .latency(Duration::from_millis(1))
                .bandwidth(1e6);
            let eps = SimTransport::fabric(3, config);
            let start = Instant::now();
            let far = start + Duration::from_secs(10);
            for s in 0..2 {
                eps[0].send(1, tag(s), frame(952)).await.unwrap();
            }
            eps[2].send(1, tag(0), frame(952)).await.unwrap();
            eps[1].recv(0, tag(0), far).await.unwrap();
            assert_eq!(start.elapsed(), Duration::from_millis(2));
            // The other link was free, so rank 2's frame came at the same time.
            eps[1].recv(2, tag(0), far).await.unwrap();
            assert_eq!(start.elapsed(), Duration::from_millis(2));
            // The second frame on link 0 → 1 waited for the first to leave the wire.
            eps[1].recv(0, tag(1), far).await.unwrap();
            assert_eq!(start.elapsed(), Duration::from_millis(3));
            let c = eps[0].counters();
            assert_eq!(
                c.total(),
                Traffic {
                    messages: 3,
                    bytes: 3 * 952
                }
            );
            assert_eq!(
                c.per_rank[0],
                Traffic {
                    messages: 2,
                    bytes: 2 * 952
                }
            );
        });
    }

    #[test]
    fn duplicates_are_discarded_and_drops_time_out() {
        paused().block_on(async {
            let eps = SimTransport::fabric(2, SimConfig::new().duplicate(1.0).reorder(true));
            let far = Instant::now() + Duration::from_secs(10);
            for s in 0..20 {
                eps[0].send(1, tag(s % 5), frame(s as usize)).await.unwrap();
            }
            // Same-key frames keep their order despite reordering.
            for s in 0..20 {
                let f = eps[1].recv(0, tag(s % 5), far).await.unwrap();
                assert_eq!(f.len(), HEADER_LEN + s as usize);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            let c = eps[0].counters();
            assert_eq!((c.duplicates_injected, c.duplicates_discarded), (20, 20));
            let e = eps[1].recv(0, tag(0), far).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Timeout);

            let eps = SimTransport::fabric(2, SimConfig::new().drop(1.0));
            let soon = Instant::now() + Duration::from_secs(1);
            eps[0].send(1, tag(0), frame(1)).await.unwrap();
            let e = eps[1].recv(0, tag(0), soon).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Timeout);
            assert_eq!(eps[0].counters().dropped, 1);
        });
    }

    #[test]
    fn departure_waits_for_frames_in_flight_and_abort_wakes() {
        paused().block_on(async {
            let mut eps = SimTransport::fabric(3, SimConfig::new());
            let far = Instant::now() + Duration::from_secs(30);
            eps[2].send(0, tag(0), frame(4)).await.unwrap();
            drop(eps.pop());
            // Rank 2 left, but its frame was on the way.
            eps[0].recv(2, tag(0), far).await.unwrap();
            let e = eps[0].recv(2, tag(1), far).await.unwrap_err();
            assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(2)));
            eps[1].abort(CommId::WORLD, &[0], "test").await;
            let e = eps[0].recv(1, tag(0), far).await.unwrap_err();
            assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(1)));
            assert!(Instant::now() < far);
        });
    }
}
