//! The poller of one endpoint: a task on its I/O thread that, while some wait needs it,
//! reads in one multi-get (one round trip per server) the next [`WINDOW`] part-0 keys of
//! every source a receive waits on, this rank's alert item and, every [`SENTINEL_EVERY`],
//! its sentinels on every server; then sleeps by the backoff of `poll.rs` if nothing came.
//!
//! A part 0 found is checked (MAC, source, message number, part index), the other parts of
//! its message read at once and checked too, and the whole message delivered to the
//! mailbox (in message-number order within a tag) and its keys deleted in the background.
//! A part missing while its part 0 is there was evicted; an alert item or sentinel missing
//! means the server lost the job's keys: either breaks the endpoint, failing every wait.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{Error, ErrorKind, Rank};
use tokio::time::Instant;

use super::alerts;
use super::lanes::Short;
use super::poll::{Backoff, Consumed};
use super::store::Item;
use super::transport::{Inner, lock};
use crate::record::Kind;
use crate::sealed::Head;

/// How many message numbers past the last consumed one are polled per source.
pub(crate) const WINDOW: usize = 8;

/// How often the sentinels on every server are checked while some wait polls.
const SENTINEL_EVERY: Duration = Duration::from_millis(500);

/// How long polls may keep failing (a server restarting) before the endpoint gives up.
const FAILING_GRACE: Duration = Duration::from_secs(2);

/// What the poller remembers between rounds.
struct State {
    consumed: Vec<Consumed>,
    /// Bytes of this rank's alert item already acted on.
    seen: usize,
    /// Peers whose goodbye came, with the round it came in: they count as gone after a
    /// later round found nothing more from them.
    byes: Vec<(Rank, u64)>,
    round: u64,
    sentinels_checked: Instant,
    failing_since: Option<Instant>,
    /// The part-0 keys (with their servers) of the messages the last round looked for, so
    /// that each key's keyed hash is computed once, not once per round.
    msg_keys: HashMap<(Rank, u64), (usize, String)>,
    /// This rank's alert key and its sentinel key on every server.
    alert_key: (usize, String),
    sentinel_keys: Vec<(usize, String)>,
}

/// Polls until the task is ended or the endpoint breaks.
pub(crate) async fn run(inner: Arc<Inner>) {
    let mut state = State {
        consumed: (0..inner.job.size).map(|_| Consumed::default()).collect(),
        seen: 0,
        byes: Vec::new(),
        round: 0,
        sentinels_checked: Instant::now(),
        failing_since: None,
        msg_keys: HashMap::new(),
        alert_key: inner.store.at(inner.keys.alert(inner.rank)),
        sentinel_keys: (0..inner.store.len())
            .map(|s| (s, inner.keys.sentinel(inner.rank)))
            .collect(),
    };
    let mut backoff = Backoff::default();
    while inner.peers.broken.get().is_none() {
        let poked = inner.poke.notified();
        tokio::pin!(poked);
        poked.as_mut().enable();
        if inner.watchers.load(Ordering::SeqCst) == 0 {
            // Idle: renew this rank's long-lived keys now and then, so they outlive their
            // expiry for as long as the rank is here.
            let keepalive = Duration::from_secs(u64::from(inner.store.ttl()) / 4);
            if tokio::time::timeout(keepalive, poked).await.is_err() {
                state.sentinels_checked = Instant::now() - SENTINEL_EVERY;
                let _ = round(&inner, &mut state).await;
            }
            backoff.reset();
            continue;
        }
        match round(&inner, &mut state).await {
            Ok(true) => {
                backoff.reset();
                continue;
            }
            Ok(false) => {}
            Err(e) => {
                let since = *state.failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > FAILING_GRACE {
                    inner.fail(e);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        match backoff.next() {
            None => tokio::task::yield_now().await,
            Some(wait) => {
                // A new wait may need what is already there: look at once.
                if tokio::time::timeout(wait, poked).await.is_ok() {
                    backoff.reset();
                }
            }
        }
    }
}

/// One poll; whether anything came.
async fn round(inner: &Arc<Inner>, state: &mut State) -> fccl_collectives::Result<bool> {
    state.round += 1;
    let me = inner.rank;
    let mut wanted: Vec<(Rank, u64)> = Vec::new();
    for s in (0..inner.job.size).filter(|&s| s != me) {
        if inner.waiting[s].load(Ordering::SeqCst) > 0 || state.byes.iter().any(|b| b.0 == s) {
            wanted.extend(state.consumed[s].next(WINDOW).map(|seq| (s, seq)));
        }
    }
    let mut cached = std::mem::take(&mut state.msg_keys);
    let mut keys: Vec<(usize, String)> = Vec::with_capacity(wanted.len() + 1);
    for &(s, seq) in &wanted {
        let key = cached
            .remove(&(s, seq))
            .unwrap_or_else(|| inner.store.at(inner.keys.msg(s, me, seq, 0)));
        keys.push(key);
    }
    // Keys of messages no longer wanted (taken, or no receive waits) are dropped.
    state.msg_keys = wanted.iter().copied().zip(keys.iter().cloned()).collect();
    keys.push(state.alert_key.clone());
    let check_sentinels = state.sentinels_checked.elapsed() >= SENTINEL_EVERY;
    if check_sentinels {
        keys.extend(state.sentinel_keys.iter().cloned());
    }
    // Reading this rank's alert item and sentinels renews their expiry.
    let touch = keys[wanted.len()..]
        .iter()
        .map(|(_, k)| k.clone())
        .collect();
    let mut items = inner.store.get_touching(&keys, &touch).await?;
    state.failing_since = None;
    if check_sentinels {
        state.sentinels_checked = Instant::now();
        for (s, item) in items.drain(wanted.len() + 1..).enumerate() {
            if item.is_none() {
                inner.fail(lost(inner, s));
                return Ok(true);
            }
        }
    }
    let alert = items.pop().expect("the alert item");
    let mut came = vec![false; inner.job.size];
    for (&(s, seq), item) in wanted.iter().zip(items) {
        if let Some(item) = item {
            came[s] |= take_message(inner, state, s, seq, item).await?;
        }
    }
    let mut progress = came.iter().any(|&c| c);
    let Some(alert) = alert else {
        let s = state.alert_key.0;
        inner.fail(lost(inner, s));
        return Ok(true);
    };
    progress |= read_alerts(inner, state, Bytes::from(alert.value));
    let now = state.round;
    state.byes.retain(|&(s, at)| {
        let done = at < now && !came[s];
        if done {
            inner.peers.mark_left(s);
        }
        !done
    });
    Ok(progress)
}

fn lost(inner: &Inner, server: usize) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!(
            "memcached server {} lost this job's keys (restarted, flushed or evicted)",
            inner.store.name(server)
        ),
    )
}

/// Checks the part 0 of message `seq` from `s`, reads and checks its other parts, delivers
/// the message and deletes its keys. Whether a message was delivered.
async fn take_message(
    inner: &Arc<Inner>,
    state: &mut State,
    s: Rank,
    seq: u64,
    first: Item,
) -> fccl_collectives::Result<bool> {
    let me = inner.rank;
    let record = Bytes::from(first.value);
    let fits = |head: &Head, part: u32| {
        head.kind == Kind::Data && head.source == s && head.message == seq && head.part == part
    };
    let (head, payload) = match inner.sealer.open(&record, me, inner.job.size) {
        Ok((head, payload)) if fits(&head, 0) => (head, payload),
        _ => {
            // Not this job's record: drop it, unless it was replaced meanwhile.
            inner.rejected.fetch_add(1, Ordering::SeqCst);
            let (server, key) = inner.store.at(inner.keys.msg(s, me, seq, 0));
            let _ = inner.store.delete_if(server, &key, first.cas).await;
            return Ok(false);
        }
    };
    let key = |part| inner.store.at(inner.keys.msg(s, me, seq, part));
    let msg = if head.parts == 1 {
        if payload.len() as u64 != head.total {
            let e = broken_message(s, seq, "its only part is shorter than announced");
            inner.fail(e.clone());
            return Err(e);
        }
        payload
    } else {
        let got = inner
            .read_parts(&inner.sealer, me, &head, &payload, key, fits)
            .await?;
        match got {
            Ok(msg) => msg,
            Err(short) => {
                let why = match short {
                    Short::Missing(part) => format!(
                        "part {part} of {} was evicted from memcached (items need more room: \
                         raise the servers' memory, -m)",
                        head.parts
                    ),
                    Short::Refused(0) => "its parts are shorter than announced".to_string(),
                    Short::Refused(part) => format!("part {part} was refused"),
                };
                let e = broken_message(s, seq, &why);
                inner.fail(e.clone());
                return Err(e);
            }
        }
    };
    state.consumed[s].mark(seq);
    inner.peers.mailbox.deliver(s, head.tag, seq, msg);
    inner.delete_later((0..head.parts).map(key).collect());
    Ok(true)
}

fn broken_message(from: Rank, seq: u64, why: &str) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!("memcached: message {seq} from rank {from} is broken: {why}"),
    )
    .with_peer(from)
}

/// Acts on the alert records past those seen; whether there were any.
fn read_alerts(inner: &Inner, state: &mut State, item: Bytes) -> bool {
    let Ok((records, seen)) = alerts::parse(&item, state.seen) else {
        let (s, _) = inner.store.at(inner.keys.alert(inner.rank));
        inner.fail(lost(inner, s));
        return true;
    };
    state.seen = seen;
    let any = !records.is_empty();
    for record in records {
        let Ok((head, payload)) = inner.sealer.open(&record, inner.rank, inner.job.size) else {
            inner.rejected.fetch_add(1, Ordering::SeqCst);
            continue;
        };
        match head.kind {
            Kind::Abort => {
                let reason = String::from_utf8_lossy(&payload).into_owned();
                lock(&inner.aborts)
                    .entry(head.tag.comm)
                    .or_insert_with(|| (head.source, reason.clone()));
                inner
                    .peers
                    .mailbox
                    .abort(head.tag.comm, head.source, &reason);
            }
            Kind::Bye => state.byes.push((head.source, state.round)),
            Kind::Data => {
                inner.rejected.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    any
}
