//! Polling: a receive reads its peer's socket on its own thread for a short while before
//! it parks, the way MPI libraries poll, so that the common message costs no thread a
//! wake-up.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fccl_collectives::transport::mailbox::Mailbox;
use fccl_collectives::{Rank, Tag};

use super::conn::{Conn, Ended, Landing, Pumped, Via};
use super::rendezvous::PeerAddrs;

/// How long a receive polls between two yields to the rest of its task.
const SPIN_SLICE: Duration = Duration::from_micros(10);

/// The environment variable that sets how many microseconds a receive polls before it
/// parks (0 turns polling off).
pub const SPIN_ENV: &str = "FCCL_SPIN_US";

/// How long a receive polls: [`SPIN_ENV`] if set; otherwise 1 ms when this host has a core
/// for every rank on it (ranks that share this rank's private address), and none when the
/// ranks would take each other's cores by spinning.
pub(crate) fn budget(table: &[PeerAddrs], rank: Rank) -> Duration {
    if let Some(us) = std::env::var(SPIN_ENV).ok().and_then(|v| v.parse().ok()) {
        return Duration::from_micros(us);
    }
    let host = |p: &PeerAddrs| p.private.first().map(SocketAddr::ip);
    let here = host(&table[rank]);
    let ranks_here = table.iter().filter(|p| host(p) == here).count();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if ranks_here <= cores {
        Duration::from_micros(1000)
    } else {
        Duration::ZERO
    }
}

/// Receives `(from, tag)` by reading `from`'s socket on this thread for up to `budget`
/// since the last bytes came, before parking: on a core of its own this saves the wake-up
/// of the waiting thread (and of the I/O thread, for endpoints that have one).
pub(crate) async fn poll_for(
    mailbox: &Mailbox,
    conn: &Conn,
    from: Rank,
    tag: Tag,
    budget: Duration,
    ended: &(dyn Fn(Ended) + Sync),
) -> Option<Bytes> {
    let look = || {
        let pumped = conn.reader.pump(mailbox, Via::Syscall);
        (pumped, mailbox.try_take(from, tag))
    };
    spin(mailbox, conn, budget, ended, look).await
}

/// What a receive into the caller's buffers got.
pub(crate) enum Landed {
    /// The payload is in the buffers.
    Whole,
    /// The message came whole through the mailbox (of any length).
    Message(Bytes),
}

/// [`poll_for`] into `head` and `body` ([`Landing`]): the payload of the record `(from,
/// tag)`, if it is exactly as long as both, is read from the socket straight into them.
/// A receive that stops polling first hands what has landed back to the reader.
pub(crate) async fn poll_into(
    mailbox: &Mailbox,
    conn: &Conn,
    (from, tag): (Rank, Tag),
    (head, body): (&mut [u8], &mut [u8]),
    budget: Duration,
    ended: &(dyn Fn(Ended) + Sync),
) -> Option<Landed> {
    let mut landing = Landing::new((&conn.reader, mailbox, ended), tag, head, body);
    let look = || {
        let pumped = conn.reader.pump_into(mailbox, &mut landing);
        if landing.done() {
            return (pumped, Some(Landed::Whole));
        }
        (pumped, mailbox.try_take(from, tag).map(Landed::Message))
    };
    spin(mailbox, conn, budget, ended, look).await
}

/// Polls with `look` (which pumps the socket and says whether the receive has its message)
/// for up to `budget` since the last bytes came.
///
/// The poll runs in slices with a yield between them, starting with one: the futures
/// beside this receive in the caller's task (its sends, above all) must get to run, or
/// both ends of a pair would poll for data that neither has sent yet.
async fn spin<T>(
    mailbox: &Mailbox,
    conn: &Conn,
    budget: Duration,
    ended: &(dyn Fn(Ended) + Sync),
    mut look: impl FnMut() -> (Pumped, Option<T>),
) -> Option<T> {
    let mut until = Instant::now() + budget;
    let mut spinning = None;
    loop {
        YieldOnce(false).await;
        spinning.get_or_insert_with(|| Spinning::new(mailbox, conn, ended));
        let slice = (Instant::now() + SPIN_SLICE).min(until);
        loop {
            let (pumped, got) = look();
            if got.is_some() {
                return got;
            }
            let read = match pumped {
                Pumped::Drained(read) => read,
                Pumped::Busy => 0,
                Pumped::Ended(gone) => {
                    ended(gone);
                    return look().1;
                }
            };
            let now = Instant::now();
            if read > 0 {
                // Bytes flow: the budget counts from the last progress, so a large
                // message is read here to its end rather than handed to a thread that
                // would have to be woken for every piece.
                until = now + budget;
            }
            if now >= slice {
                break;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= until {
            return None;
        }
    }
}

/// Counts a receive as spinning on a peer's socket while it lives; when it ends, reads the
/// socket once more (see [`Reader::spinners`](super::conn::Reader)).
struct Spinning<'a> {
    mailbox: &'a Mailbox,
    conn: &'a Conn,
    ended: &'a (dyn Fn(Ended) + Sync),
}

impl<'a> Spinning<'a> {
    fn new(
        mailbox: &'a Mailbox,
        conn: &'a Conn,
        ended: &'a (dyn Fn(Ended) + Sync),
    ) -> Spinning<'a> {
        conn.reader.spinners.fetch_add(1, Ordering::SeqCst);
        Spinning {
            mailbox,
            conn,
            ended,
        }
    }
}

impl Drop for Spinning<'_> {
    fn drop(&mut self) {
        let reader = &self.conn.reader;
        reader.spinners.fetch_sub(1, Ordering::SeqCst);
        reader.read_on(self.mailbox, self.ended);
    }
}

/// Returns pending once, having woken its task: the futures beside it in the caller's task
/// get to run, without the trip through the runtime's I/O driver that
/// `tokio::task::yield_now` makes.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
