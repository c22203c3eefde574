//! The transport trait: a reliable, message-oriented, keyed link between the ranks of a job.
//!
//! `collectives` defines the trait and two transports that need no network: [`local`]
//! (threads of one process) and [`sim`] (virtual time, for tests); and [`faulty`], a
//! wrapper that injects faults into the messages of any transport, for tests. The network
//! transports live in the `fccl-transports` crate.

pub mod faulty;
pub mod local;
pub mod mailbox;
pub mod memory_store;
pub mod sim;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use crate::error::Result;
use crate::frame::{CommId, Tag};
use crate::types::Rank;

/// A boxed, sendable future, as transports return them (the trait stays object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a medium costs and delivers, for the algorithm selector and the cost report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkProfile {
    /// One-way time of a small message (α).
    pub latency: Duration,
    /// Bytes per second one link sustains (1/β).
    pub bandwidth: f64,
    /// The largest message the medium carries in one piece.
    pub max_message_bytes: usize,
    /// US dollars per request (0 for media billed by the hour).
    pub usd_per_request: f64,
    /// US dollars per byte moved.
    pub usd_per_byte: f64,
    /// Whether [`Transport::shared`] offers put-once, read-many objects.
    pub shared_objects: bool,
    /// Whether every message passes through one server (a store): a put and a get, both
    /// through the server, whose bandwidth all ranks share. The selector charges message
    /// algorithms for that (see [`LinkProfile::for_messages`]).
    pub via_server: bool,
}

impl LinkProfile {
    /// Memory-speed links between threads of one process.
    pub const IN_PROCESS: LinkProfile = LinkProfile {
        latency: Duration::from_micros(5),
        bandwidth: 8e9,
        max_message_bytes: usize::MAX,
        usd_per_request: 0.0,
        usd_per_byte: 0.0,
        shared_objects: false,
        via_server: false,
    };

    /// The profile that message algorithms' cost formulas (written for independent links)
    /// should see on `ranks` ranks. Through a server a message is two requests (put, get),
    /// so α doubles; its bytes cross the server twice, and in a round every rank's messages
    /// cross it together, so β grows by 2p. (An over-estimate for rounds in which fewer
    /// ranks send, such as a binomial tree's first ones.) Other media are unchanged.
    #[allow(clippy::cast_precision_loss)]
    pub fn for_messages(self, ranks: usize) -> LinkProfile {
        if !self.via_server {
            return self;
        }
        LinkProfile {
            latency: self.latency * 2,
            bandwidth: self.bandwidth / (2.0 * ranks.max(1) as f64),
            ..self
        }
    }
}

/// `head` followed by `body` in one buffer, for a medium that sends whole messages
/// ([`Transport::send_parts`]); `head` itself, without a copy, when `body` is empty.
pub fn joined(head: &Bytes, body: &[u8]) -> Bytes {
    if body.is_empty() {
        return head.clone();
    }
    let mut msg = BytesMut::with_capacity(head.len() + body.len());
    msg.extend_from_slice(head);
    msg.extend_from_slice(body);
    msg.freeze()
}

/// Copies `msg` into `head` then `body` if it is exactly as long as both together and
/// returns `None`; returns any other message whole (what [`Transport::recv_into`] does with
/// a received message).
pub fn place(msg: Bytes, head: &mut [u8], body: &mut [u8]) -> Option<Bytes> {
    if msg.len() != head.len() + body.len() {
        return Some(msg);
    }
    let (first, rest) = msg.split_at(head.len());
    head.copy_from_slice(first);
    body.copy_from_slice(rest);
    None
}

/// What an endpoint has asked of its medium so far, for reports of traffic and cost. Every
/// field only grows; a report takes differences.
///
/// What each medium counts:
///
/// | medium | `requests` | `billed_requests`, `least_requests`, `usd` | `bytes_sent` |
/// | --- | --- | --- | --- |
/// | sqs | every API call | as SQS bills them | message payloads |
/// | redis, memcached | every command | 0 (a store is billed by the hour) | message and object payloads |
/// | tcp | 0 (no server between direct pairs) | 0 | message payloads written to peers |
///
/// A tcp endpoint with a fallback adds all that its fallback counts (the relayed pairs'
/// messages, and the fallback's own requests). Media that count nothing (`local`, `sim`)
/// report no usage at all ([`Transport::usage`] is `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Requests made to a server between the ranks, as its service counts them: for SQS
    /// every API call (sends, receives with empty polls, deletes, set-up and leaving); for
    /// a store every command (each of a pipeline or batch, the reader's or poller's reads
    /// whether they find anything or not, health checks, set-up and leaving). Messages that
    /// need no server (tcp's direct pairs) make none: this counts a service's work, not
    /// messages.
    pub requests: u64,
    /// The requests as the service bills them (SQS bills each 64 KiB of a request's
    /// payload as one request); 0 for media billed by the hour (stores) or not at all.
    pub billed_requests: u64,
    /// The fewest requests the messages moved so far need at the medium's limits (SQS: one
    /// batch send per 10 records or per maximum body, one tenth of a receive and of a
    /// delete per record), without polls, retries, set-up or leaving; 0 for media not
    /// billed per request.
    pub least_requests: f64,
    /// Payload bytes this endpoint sent to its peers through the medium: the whole of each
    /// message handed to [`Transport::send`] (a collective's frame, its 48-byte header
    /// included) and, for stores, of each shared object put; without the medium's own
    /// framing (record heads, MACs, encodings, padding), without control records (aborts,
    /// goodbyes, credit) and without messages to itself.
    pub bytes_sent: u64,
    /// What the billed requests cost at the medium's list price, in US dollars.
    pub usd: f64,
}

impl Usage {
    /// The counters of `self` less those of an earlier reading `before`.
    pub fn since(&self, before: &Usage) -> Usage {
        Usage {
            requests: self.requests - before.requests,
            billed_requests: self.billed_requests - before.billed_requests,
            least_requests: self.least_requests - before.least_requests,
            bytes_sent: self.bytes_sent - before.bytes_sent,
            usd: self.usd - before.usd,
        }
    }

    /// The sum of two readings (of two media, say).
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            requests: self.requests + other.requests,
            billed_requests: self.billed_requests + other.billed_requests,
            least_requests: self.least_requests + other.least_requests,
            bytes_sent: self.bytes_sent + other.bytes_sent,
            usd: self.usd + other.usd,
        }
    }
}

/// Put-once, read-many objects and counters, offered by store-like media for store-native
/// algorithms (broadcast by one put and N-1 gets, barrier by a counter, allreduce by
/// scatter-reduce).
///
/// Objects and counters are named by a [`Tag`] (communicator, op sequence, step, chunk), so
/// the names of one call never meet another's; the transport places them under its job's
/// prefix. Objects are also named by their owner, the one rank that puts them. Every object
/// and counter expires on its own (a crashed job leaves nothing for long), but an algorithm
/// removes what it made once the last reader is done, and the transport's `close` removes
/// what this rank put and nobody removed.
pub trait SharedObjects: Send + Sync {
    /// Stores `value` as this rank's object `tag`. Each rank puts a given tag once.
    fn put(&self, tag: Tag, value: Bytes) -> BoxFuture<'_, Result<()>>;
    /// Waits until `owner` has put its object `tag`, then reads it. Fails with `Timeout` at
    /// `deadline`, and with `Remote` once `tag.comm` is aborted or `owner` is gone.
    fn get(&self, owner: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>>;
    /// Removes `owner`'s object `tag` (removing what is not there is not an error).
    fn remove(&self, owner: Rank, tag: Tag) -> BoxFuture<'_, Result<()>>;
    /// Adds `delta` to the counter `tag` (which starts at 0) and returns the new value.
    fn add(&self, tag: Tag, delta: i64) -> BoxFuture<'_, Result<i64>>;
    /// Waits until the counter `tag` is at least `at_least` and returns its value; fails as
    /// [`SharedObjects::get`] does.
    fn wait_for(&self, tag: Tag, at_least: i64, deadline: Instant) -> BoxFuture<'_, Result<i64>>;
    /// Removes the counter `tag` (removing what is not there is not an error).
    fn remove_counter(&self, tag: Tag) -> BoxFuture<'_, Result<()>>;
}

/// A reliable, keyed message link between the ranks (numbered `0..size`) of one job.
///
/// A message is identified by `(source, destination, tag)`. Messages with the same key are
/// delivered in the order they were sent. Implementations must:
/// - return from `recv` by `deadline` with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
///   if no message came;
/// - fail a `recv` on communicator `c` with [`ErrorKind::Remote`](crate::ErrorKind::Remote)
///   once any rank called [`Transport::abort`] for `c`, or once the source is known to be gone.
pub trait Transport: Send + Sync + 'static {
    /// The medium's short name, as in its spec's scheme (`tcp`, `redis`, `local`); shown in
    /// reports such as `fccl bench`'s.
    fn name(&self) -> &'static str {
        "custom"
    }
    /// This endpoint's rank in the job.
    fn rank(&self) -> Rank;
    /// The number of ranks in the job.
    fn size(&self) -> usize;
    /// Sends one message; returns once the medium has it (not necessarily the peer).
    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>>;
    /// Sends one message made of `head` followed by `body`, which stays borrowed until the
    /// send returns. The default joins the two into one buffer for [`Transport::send`]; a
    /// transport that writes to a socket overrides it to write `body` from where it lies,
    /// saving a copy of every large message.
    fn send_parts<'a>(
        &'a self,
        to: Rank,
        tag: Tag,
        head: Bytes,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        self.send(to, tag, joined(&head, body))
    }
    /// Receives the message `(from, self.rank(), tag)`, waiting until `deadline`.
    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>>;
    /// Receives the message `(from, self.rank(), tag)` like [`Transport::recv`], into the
    /// caller's buffers when it is exactly `head.len() + body.len()` bytes long: its first
    /// bytes go to `head`, the rest to `body`, and the call returns `None`. A message of any
    /// other length is returned whole, the buffers untouched; after an error their contents
    /// are unspecified. The default receives the message and copies it; a transport that
    /// reads a socket overrides it to read the payload straight into `body`, saving a copy.
    fn recv_into<'a>(
        &'a self,
        from: Rank,
        tag: Tag,
        deadline: Instant,
        head: &'a mut [u8],
        body: &'a mut [u8],
    ) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            let msg = self.recv(from, tag, deadline).await?;
            Ok(place(msg, head, body))
        })
    }
    /// Tells `peers` (best effort) that communicator `comm` failed here, so that their
    /// pending and later receives on it fail fast.
    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()>;
    /// What the medium costs and delivers.
    fn profile(&self) -> LinkProfile;
    /// Shared objects, where the medium has them.
    fn shared(&self) -> Option<&dyn SharedObjects> {
        None
    }
    /// The peers this endpoint reaches through a relay rather than directly (tcp pairs that
    /// could not punch through); empty for media without relays.
    fn relayed_peers(&self) -> Vec<Rank> {
        Vec::new()
    }
    /// What this endpoint has asked of its medium so far (see [`Usage`] for what each
    /// medium counts); `None` for media that count nothing.
    fn usage(&self) -> Option<Usage> {
        None
    }
    /// Releases the medium's resources (keys, queues, connections); the endpoint leaves.
    fn close(&self) -> BoxFuture<'_, Result<()>>;
}
