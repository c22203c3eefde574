//! The memcached transport endpoint of one rank: connect, send, receive, abort and leave.
//! The poller that finds this rank's messages is in `poller.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::peers::Peers;
use crate::recent::Recent;
use bytes::{Bytes, BytesMut};
use fccl_collectives::{
    BoxFuture, CommId, Error, ErrorKind, JobSpec, LinkProfile, Rank, Result, SharedObjects, Tag,
    Transport, Usage,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::alerts;
use super::keys::Keys;
use super::lanes::{OutPart, Short};
use super::spec::{MIN_ITEM_BYTES, MemcachedSpec};
use super::store::Store;
use crate::record::{Kind, reason_bytes};
use crate::sealed::{HEAD_LEN, Head, Sealer};
use crate::tcp::io_thread::IoThread;

/// The context of the MAC of message and alert records.
pub(crate) const MSG_CONTEXT: &[u8] = b"fccl memcached v1";
/// The context of the MAC of shared-object records.
pub(crate) const OBJ_CONTEXT: &[u8] = b"fccl memcached objects v1";

/// Room in an item for memcached's own item head and the key, besides the record head.
const ITEM_OVERHEAD: usize = 1024;

/// How many sent messages per destination this rank remembers, to delete at close those
/// nobody consumed; older ones are left to expire.
const MAX_REMEMBERED: usize = 1 << 10;

/// How long leaving waits for the peers to say goodbye too, so that no goodbye of theirs
/// recreates this rank's alert item after it was deleted.
const LINGER: Duration = Duration::from_secs(5);

/// How long a goodbye, an abort or a clean-up may take.
pub(crate) const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);

/// One rank's endpoint of a job whose messages travel through memcached servers.
pub struct MemcachedTransport {
    pub(crate) inner: Arc<Inner>,
    io: IoThread,
}

/// The state shared by the endpoint, its poller and its background tasks.
pub(crate) struct Inner {
    pub(crate) job: JobSpec,
    pub(crate) rank: Rank,
    pub(crate) store: Store,
    pub(crate) keys: Keys,
    pub(crate) sealer: Sealer,
    pub(crate) obj_sealer: Sealer,
    /// The largest payload one item carries.
    pub(crate) payload: usize,
    /// The mailbox, who left (after every message it sent before was taken), and whether
    /// this endpoint broke or closed.
    pub(crate) peers: Peers,
    /// The communicators aborted, by whom and why (for the shared objects' waits).
    pub(crate) aborts: Mutex<HashMap<CommId, (Rank, String)>>,
    next_seq: Vec<AtomicU64>,
    /// Per destination, the messages sent `(seq, parts)`, for the clean-up at close.
    sent: Mutex<Vec<VecDeque<(u64, u32)>>>,
    /// Receives waiting, per source.
    pub(crate) waiting: Vec<AtomicUsize>,
    /// Waits of any kind that need the poller (receives, object waits, leaving).
    pub(crate) watchers: AtomicUsize,
    /// Wakes the poller: a wait began.
    pub(crate) poke: Notify,
    pub(crate) rejected: AtomicU64,
    poller: Mutex<Option<tokio::task::AbortHandle>>,
    /// Background deletions under way, and the signal that one ended.
    pub(crate) deleting: AtomicUsize,
    pub(crate) deleted: Notify,
    /// This rank's objects `(tag, parts)` and the counters it touched, for the clean-up
    /// (the most recent ones).
    pub(crate) objects: Mutex<Recent<Tag, u32>>,
    pub(crate) counters: Mutex<Recent<Tag, ()>>,
}

/// Locks `m`, whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts a wait for the poller while it lives.
pub(crate) struct Watch<'a> {
    inner: &'a Inner,
    from: Option<Rank>,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(from) = self.from {
            self.inner.waiting[from].fetch_sub(1, Ordering::SeqCst);
        }
        self.inner.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MemcachedTransport {
    /// Joins `job` as `rank` through the memcached servers of `spec`: connects to each (by
    /// the job's set-up timeout), learns the item size, creates this rank's alert item and
    /// its sentinel on every server. Messages sent to this rank before it joined wait on
    /// the servers.
    pub async fn connect(
        job: &JobSpec,
        rank: Rank,
        spec: &MemcachedSpec,
    ) -> Result<MemcachedTransport> {
        job.validate()?;
        job.check_rank(rank)?;
        let io = IoThread::start(rank)?;
        let setup = io.handle.spawn(setup(job.clone(), rank, spec.clone()));
        let inner = setup.await.map_err(|e| {
            Error::new(ErrorKind::Internal, format!("memcached set-up failed: {e}"))
        })??;
        let poller = io.handle.spawn(super::poller::run(Arc::clone(&inner)));
        *lock(&inner.poller) = Some(poller.abort_handle());
        Ok(MemcachedTransport { inner, io })
    }

    /// The servers, as `HOST:PORT`.
    pub fn servers(&self) -> Vec<String> {
        let store = &self.inner.store;
        (0..store.len())
            .map(|i| store.name(i).to_string())
            .collect()
    }

    /// The largest payload one item carries; larger messages and objects travel as parts.
    pub fn part_bytes(&self) -> usize {
        self.inner.payload
    }

    /// How many records this rank found addressed to it that it refused (a bad MAC, a head
    /// that does not fit its key) and so never delivered.
    pub fn rejected_records(&self) -> u64 {
        self.inner.rejected.load(Ordering::SeqCst)
    }

    /// The key of part `part` of the message numbered `seq` from `from` to `to`.
    pub fn message_key(&self, from: Rank, to: Rank, seq: u64, part: u32) -> String {
        self.inner.keys.msg(from, to, seq, part)
    }

    /// What every key of this job starts with (`fccl:` and a keyed hash of the job id): a
    /// job's keys are found by it, and reveal nothing else.
    pub fn key_prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    /// Runs `f` on the endpoint's I/O thread, where its connections live.
    pub(crate) async fn on_io<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.io
            .handle
            .spawn(f)
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("memcached I/O failed: {e}")))?
    }
}

/// Connects to the servers and creates this rank's keys (on the I/O runtime).
async fn setup(job: JobSpec, rank: Rank, spec: MemcachedSpec) -> Result<Arc<Inner>> {
    let deadline = Instant::now() + job.setup_timeout;
    let ttl = (job.setup_timeout + job.timeout)
        .as_secs()
        .clamp(60, 30 * 24 * 3600) as u32;
    let io_timeout = job.timeout.max(Duration::from_secs(1));
    let (store, item) = Store::connect(&spec, deadline, io_timeout, ttl).await?;
    let item = spec.item_bytes.map_or(item, |cap| cap.min(item));
    let payload = item.saturating_sub(ITEM_OVERHEAD + HEAD_LEN);
    if item < MIN_ITEM_BYTES || payload == 0 {
        return Err(Error::invalid(format!(
            "memcached items of {item} bytes are too small (at least {MIN_ITEM_BYTES})"
        )));
    }
    let keys = Keys::new(&job.secret, job.id);
    let size = job.size;
    let inner = Arc::new(Inner {
        store,
        sealer: Sealer::new(MSG_CONTEXT, &job.secret, job.id),
        obj_sealer: Sealer::new(OBJ_CONTEXT, &job.secret, job.id),
        payload,
        peers: Peers::new(rank, size, "memcached"),
        aborts: Mutex::default(),
        next_seq: (0..size).map(|_| AtomicU64::new(0)).collect(),
        sent: Mutex::new(vec![VecDeque::new(); size]),
        waiting: (0..size).map(|_| AtomicUsize::new(0)).collect(),
        watchers: AtomicUsize::new(0),
        poke: Notify::new(),
        rejected: AtomicU64::new(0),
        poller: Mutex::new(None),
        deleting: AtomicUsize::new(0),
        deleted: Notify::new(),
        objects: Mutex::default(),
        counters: Mutex::default(),
        keys,
        job,
        rank,
    });
    let sentinels = (0..inner.store.len())
        .map(|s| ((s, inner.keys.sentinel(rank)), b"fccl".to_vec()))
        .collect();
    let made = async {
        inner.store.set(sentinels).await?;
        let (s, key) = inner.store.at(inner.keys.alert(rank));
        // A peer may have alerted this rank before it joined: keep what is there.
        inner.store.add(s, &key, alerts::HEADER).await?;
        Ok::<_, Error>(())
    };
    tokio::time::timeout_at(deadline, made)
        .await
        .map_err(|_| {
            Error::new(
                ErrorKind::Timeout,
                "memcached: this rank's keys were not made within the set-up timeout",
            )
        })??;
    Ok(inner)
}

impl Inner {
    /// Registers a wait for the poller (on `from`'s messages, if given) and wakes it.
    pub(crate) fn watch(&self, from: Option<Rank>) -> Watch<'_> {
        if let Some(from) = from {
            self.waiting[from].fetch_add(1, Ordering::SeqCst);
        }
        self.watchers.fetch_add(1, Ordering::SeqCst);
        self.poke.notify_one();
        Watch { inner: self, from }
    }

    /// Marks the endpoint broken (the first reason wins) and wakes every wait.
    pub(crate) fn fail(&self, e: Error) {
        self.peers.fail(e);
    }

    /// How many parts of at most `self.payload` bytes carry a message of `len` bytes.
    pub(crate) fn parts_of(&self, len: usize) -> Result<u32> {
        u32::try_from(len.div_ceil(self.payload).max(1))
            .map_err(|_| Error::invalid(format!("a message of {len} bytes")))
    }

    /// Stores `msg` for `to`, sealed by `sealer` as parts of at most `self.payload` bytes,
    /// under `key(part)`: parts 1.. first (several runs at once, each part sealed as it is
    /// written, its payload sent from `msg` itself), part 0 last, as the commit, all within
    /// the job's timeout.
    pub(crate) async fn store_parts(
        &self,
        sealer: &Sealer,
        to: Rank,
        tag: Tag,
        message: u64,
        msg: Bytes,
        key: impl Fn(u32) -> String,
    ) -> Result<()> {
        let limit = self.job.timeout;
        let (len, parts) = (msg.len(), self.parts_of(msg.len())?);
        let head = |part: u32| Head {
            kind: Kind::Data,
            source: self.rank,
            tag,
            message,
            part,
            parts,
            total: len as u64,
        };
        let out = |part: u32| {
            let start = part as usize * self.payload;
            let end = (start + self.payload).min(msg.len());
            OutPart {
                at: self.store.at(key(part)),
                payload: msg.slice(start..end),
            }
        };
        let rest: Vec<OutPart> = (1..parts).map(out).collect();
        let first = [out(0)];
        let work = async {
            let seal =
                |i: usize, payload: &[u8]| sealer.seal_head(&head(i as u32 + 1), to, payload);
            self.store.lanes.set(&rest, &seal).await?;
            let seal = |_: usize, payload: &[u8]| sealer.seal_head(&head(0), to, payload);
            self.store.lanes.set(&first, &seal).await
        };
        tokio::time::timeout(limit, work).await.map_err(|_| {
            Error::new(
                ErrorKind::Timeout,
                format!("memcached: storing took longer than {limit:?}"),
            )
        })??;
        self.store.usage.sent(len);
        Ok(())
    }

    /// Reads the parts 1.. of the message or object whose part 0 is `head` and `payload`
    /// (sealed by `sealer` for `dest`), part `i` under `key(i)`, into one buffer: several
    /// runs at once, each part checked (its MAC, and `fits` its head) as it lands. The
    /// whole payload, or which part was missing or refused.
    pub(crate) async fn read_parts(
        &self,
        sealer: &Sealer,
        dest: Rank,
        head: &Head,
        payload: &Bytes,
        key: impl Fn(u32) -> (usize, String),
        fits: impl Fn(&Head, u32) -> bool + Sync,
    ) -> Result<std::result::Result<Bytes, Short>> {
        let part = payload.len() as u64;
        // Every part but the last is as long as part 0.
        if head.parts == 1 || part == 0 || head.total.div_ceil(part) != u64::from(head.parts) {
            return Ok(Err(Short::Refused(0)));
        }
        let keys: Vec<_> = (1..head.parts).map(key).collect();
        let sizes: Vec<usize> = (1..u64::from(head.parts))
            .map(|i| part.min(head.total - i * part) as usize)
            .collect();
        let mut into = BytesMut::with_capacity(head.total as usize);
        into.extend_from_slice(payload);
        let size = self.job.size;
        let check = |i: usize, h: &[u8], p: &[u8]| {
            let ok = match sealer.open_parts(h, p, dest, size) {
                Ok(h2) => {
                    fits(&h2, i as u32 + 1)
                        && (h2.tag, h2.parts, h2.total) == (head.tag, head.parts, head.total)
                }
                Err(_) => false,
            };
            if !ok {
                self.rejected.fetch_add(1, Ordering::SeqCst);
            }
            ok
        };
        Ok(self
            .store
            .lanes
            .get(&keys, &sizes, into, &check)
            .await?
            .map(BytesMut::freeze)
            .map_err(|short| match short {
                Short::Missing(i) => Short::Missing(i + 1),
                Short::Refused(i) => Short::Refused(i + 1),
            }))
    }

    async fn send_data(&self, to: Rank, tag: Tag, msg: Bytes) -> Result<()> {
        let seq = self.next_seq[to].fetch_add(1, Ordering::SeqCst);
        let parts = self.parts_of(msg.len())?;
        {
            let mut sent = lock(&self.sent);
            let sent = &mut sent[to];
            if sent.len() >= MAX_REMEMBERED {
                sent.pop_front();
            }
            sent.push_back((seq, parts));
        }
        let key = |part| self.keys.msg(self.rank, to, seq, part);
        self.store_parts(&self.sealer, to, tag, seq, msg, key)
            .await
            .map_err(|e| e.with_peer(to))
    }

    /// Appends an abort or a goodbye to `to`'s alert item (making it if it is missing).
    async fn send_control(&self, to: Rank, kind: Kind, comm: CommId, payload: &[u8]) -> Result<()> {
        let tag = Tag {
            comm,
            p2p: false,
            seq: 0,
            step: 0,
            chunk: 0,
        };
        let head = Head {
            kind,
            source: self.rank,
            tag,
            message: 0,
            part: 0,
            parts: 1,
            total: payload.len() as u64,
        };
        let frame = alerts::frame(&self.sealer.seal(&head, to, payload));
        let (s, key) = self.store.at(self.keys.alert(to));
        let work = async {
            for _ in 0..8 {
                if self.store.append(s, &key, &frame).await? {
                    return Ok(());
                }
                let made = [alerts::HEADER, &frame].concat();
                if self.store.add(s, &key, &made).await? {
                    return Ok(());
                }
            }
            Err(Error::new(
                ErrorKind::Transport,
                format!("memcached: cannot append to rank {to}'s alerts"),
            ))
        };
        tokio::time::timeout(CONTROL_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!("memcached: an alert to rank {to} took too long"),
                ))
            })
            .map_err(|e| e.with_peer(to))
    }

    /// Deletes `keys` in the background (on the I/O runtime); leaving waits for it.
    pub(crate) fn delete_later(self: &Arc<Self>, keys: Vec<(usize, String)>) {
        self.deleting.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONTROL_TIMEOUT, inner.store.delete(&keys)).await;
            inner.deleting.fetch_sub(1, Ordering::SeqCst);
            inner.deleted.notify_waiters();
        });
    }

    /// Says goodbye to every peer still here, waits (up to [`LINGER`]) for theirs, stops
    /// the poller and deletes what this rank made: its alert item and sentinels, and, of
    /// what it sent and put, whatever nobody can still want.
    async fn leave(self: &Arc<Self>) -> Result<()> {
        let peers: Vec<Rank> = (0..self.job.size)
            .filter(|&p| p != self.rank && !self.peers.has_left(p))
            .collect();
        let watch = self.watch(None);
        let byes = peers
            .iter()
            .map(|&p| self.send_control(p, Kind::Bye, CommId::WORLD, &[]));
        let said = futures_util::future::join_all(byes).await;
        let until = Instant::now() + LINGER;
        while Instant::now() < until
            && self.peers.broken.get().is_none()
            && peers.iter().any(|&p| !self.peers.has_left(p))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(watch);
        if let Some(poller) = lock(&self.poller).take() {
            poller.abort();
        }
        while self.deleting.load(Ordering::SeqCst) > 0 {
            let deleted = self.deleted.notified();
            tokio::pin!(deleted);
            deleted.as_mut().enable();
            if self.deleting.load(Ordering::SeqCst) == 0 {
                break;
            }
            let _ = tokio::time::timeout(CONTROL_TIMEOUT, deleted).await;
        }
        let deleted =
            tokio::time::timeout(CONTROL_TIMEOUT * 5, self.store.delete(&self.leftovers()))
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Timeout,
                        "memcached: deleting this rank's keys timed out",
                    ))
                });
        said.into_iter().collect::<Result<Vec<()>>>()?;
        deleted
    }

    /// The keys this rank made that nobody can want any more.
    fn leftovers(&self) -> Vec<(usize, String)> {
        let mut keys: Vec<(usize, String)> = (0..self.store.len())
            .map(|s| (s, self.keys.sentinel(self.rank)))
            .collect();
        keys.push(self.store.at(self.keys.alert(self.rank)));
        let gone = |p: Rank| p == self.rank || self.peers.has_left(p);
        for (to, sent) in lock(&self.sent).iter().enumerate() {
            if gone(to) {
                for &(seq, parts) in sent {
                    let key = |part| self.store.at(self.keys.msg(self.rank, to, seq, part));
                    keys.extend((0..parts).map(key));
                }
            }
        }
        // Objects and counters may still be read by a peer that did not leave yet.
        if (0..self.job.size).all(gone) {
            for (tag, &parts) in lock(&self.objects).iter() {
                keys.extend((0..parts).map(|p| self.store.at(self.keys.obj(self.rank, tag, p))));
            }
            for (tag, ()) in lock(&self.counters).iter() {
                keys.push(self.store.at(self.keys.ctr(tag)));
            }
        }
        keys
    }
}

impl Transport for MemcachedTransport {
    fn name(&self) -> &'static str {
        "memcached"
    }

    fn rank(&self) -> Rank {
        self.inner.rank
    }

    fn size(&self) -> usize {
        self.inner.job.size
    }

    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let inner = &self.inner;
            let Some(msg) = inner.peers.before_send(to, tag, msg)? else {
                return Ok(());
            };
            let inner = Arc::clone(inner);
            self.on_io(async move { inner.send_data(to, tag, msg).await })
                .await
        })
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.peers.check_peer(from)?;
            if let Some(frame) = inner.peers.mailbox.try_take(from, tag) {
                return Ok(frame);
            }
            let _watch = (from != inner.rank).then(|| inner.watch(Some(from)));
            let gone = || inner.peers.gone_error(from, tag);
            inner.peers.mailbox.recv(from, tag, deadline, gone).await
        })
    }

    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let inner = Arc::clone(&self.inner);
            let peers: Vec<Rank> = peers
                .iter()
                .copied()
                .filter(|&p| p < inner.job.size && p != inner.rank)
                .collect();
            let reason = reason_bytes(reason).to_vec();
            let _ = self
                .on_io(async move {
                    let sends = peers
                        .iter()
                        .map(|&p| inner.send_control(p, Kind::Abort, comm, &reason));
                    futures_util::future::join_all(sends).await;
                    Ok(())
                })
                .await;
        })
    }

    fn profile(&self) -> LinkProfile {
        LinkProfile {
            // A poll round trip and the backoff's typical wait.
            latency: Duration::from_micros(300),
            bandwidth: 1e9,
            max_message_bytes: self.inner.payload,
            usd_per_request: 0.0,
            usd_per_byte: 0.0,
            shared_objects: true,
            via_server: true,
        }
    }

    fn shared(&self) -> Option<&dyn SharedObjects> {
        Some(self)
    }

    /// Every command this endpoint sent to the servers (each of a batch's; the poller's
    /// reads, empty or not, set-up and leaving included) and the payload bytes of the
    /// messages and objects it stored for peers. The servers are billed by the hour: no
    /// request is billed.
    fn usage(&self) -> Option<Usage> {
        Some(self.inner.store.usage.usage())
    }

    /// Says goodbye to every peer, waits (up to a few seconds) for their goodbyes, deletes
    /// this rank's keys, then stops the I/O thread.
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.inner.peers.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            let inner = Arc::clone(&self.inner);
            let left = self.on_io(async move { inner.leave().await }).await;
            self.io.stop_and_join().await;
            left
        })
    }
}

impl Drop for MemcachedTransport {
    /// Leaves as [`Transport::close`] does, in the background on the I/O thread, which
    /// then stops.
    fn drop(&mut self) {
        if self.inner.peers.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let stop = self.io.take_stop();
        self.io.handle.spawn(async move {
            let _ = inner.leave().await;
            if let Some(stop) = stop {
                let _ = stop.send(());
            }
        });
    }
}
