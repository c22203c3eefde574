//! One established connection to a peer: the write half (shared by the senders) and the
//! reader task that demultiplexes arriving records into the mailbox. With `encrypt=on`
//! the writer seals every record and the reader opens it (`seal.rs`); a plain connection
//! pays one check per record sent and per read of the socket for that.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use fccl_collectives::transport::mailbox::Mailbox;
use fccl_collectives::{Error, ErrorKind, Rank, Result, Tag};
use socket2::SockRef;
use std::io::Read;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::seal::{Keys, Opener, SEALED_HEAD, Sealer, sealed_body};
use super::wire::{HEAD_LEN, Head, Kind, PADDING, padding};

/// How many bytes from one peer may wait unclaimed before its reader stops reading (unless
/// a receive waits on that peer).
pub(crate) const WINDOW: usize = 64 << 20;

/// How many bytes one pump reads at most.
const PUMP_BUDGET: usize = 4 << 20;

/// The read buffer's usual size; large payloads grow it in steps of at most [`GROWTH`].
const READ_BUF: usize = 256 << 10;
const GROWTH: usize = 4 << 20;

/// A connection: the sending side, and the [`Reader`] of the receiving side.
pub(crate) struct Conn {
    peer: Rank,
    /// The peer's address as this end's socket sees it.
    pub(crate) remote: Option<std::net::SocketAddr>,
    pub(crate) reader: Reader,
    writer: tokio::sync::Mutex<Writer>,
    /// A send was abandoned midway: the stream is no longer at a record boundary.
    torn: AtomicBool,
    /// How long one record may take to leave.
    write_timeout: Duration,
}

/// The sending side: the socket's write half, and the sealer of an encrypted connection.
struct Writer {
    half: OwnedWriteHalf,
    sealer: Option<Sealer>,
}

/// Marks the connection torn if dropped before [`TornGuard::done`].
struct TornGuard<'a>(&'a AtomicBool, bool);

impl TornGuard<'_> {
    fn done(mut self) {
        self.1 = false;
    }
}

impl Drop for TornGuard<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl Conn {
    /// A connection over the two halves of a proven stream; `keys` seal and open its
    /// records if the job encrypts.
    pub(crate) fn new(
        peer: Rank,
        reader: OwnedReadHalf,
        writer: OwnedWriteHalf,
        keys: Option<Keys>,
        write_timeout: Duration,
    ) -> Conn {
        let (sealer, opener) = match keys {
            Some(k) => (Some(k.sealer), Some(k.opener)),
            None => (None, None),
        };
        Conn {
            peer,
            remote: reader.peer_addr().ok(),
            reader: Reader::new(peer, reader, opener),
            writer: tokio::sync::Mutex::new(Writer {
                half: writer,
                sealer,
            }),
            torn: AtomicBool::new(false),
            write_timeout,
        }
    }

    /// Writes one record (head and payload, without copying the payload), looping over
    /// partial writes. A record that cannot leave within the write timeout fails.
    pub(crate) async fn send(&self, kind: Kind, tag: Tag, payload: Bytes) -> Result<()> {
        self.send_parts(kind, tag, &payload, &[]).await
    }

    /// Writes one record whose payload is `first` followed by `rest`, both from where they
    /// lie (one vectored write where the socket takes it all), or sealed into one buffer on
    /// an encrypted connection.
    pub(crate) async fn send_parts(
        &self,
        kind: Kind,
        tag: Tag,
        first: &[u8],
        rest: &[u8],
    ) -> Result<()> {
        let len = first.len() + rest.len();
        let head = Head::new(kind, tag, len).encode();
        let mut writer = self.writer.lock().await;
        if self.torn.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::Transport,
                format!(
                    "an earlier send to rank {} stopped midway, so the connection cannot carry more",
                    self.peer
                ),
            )
            .with_peer(self.peer));
        }
        let guard = TornGuard(&self.torn, true);
        let Writer { half, sealer } = &mut *writer;
        let written = match sealer {
            None => {
                let pad = &PADDING[..padding(len)];
                let mut record = head.chain(first).chain(rest).chain(pad);
                tokio::time::timeout(self.write_timeout, half.write_all_buf(&mut record)).await
            }
            Some(sealer) => {
                let record = sealer
                    .seal(&head, first, rest)
                    .map_err(|e| e.with_peer(self.peer))?;
                let written =
                    tokio::time::timeout(self.write_timeout, half.write_all(record)).await;
                sealer.release();
                written
            }
        };
        match written {
            Ok(Ok(())) => {
                guard.done();
                Ok(())
            }
            Ok(Err(e)) => Err(Error::new(
                ErrorKind::Remote,
                format!("connection to rank {} failed while sending: {e}", self.peer),
            )
            .with_peer(self.peer)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "rank {} took nothing for {:?} while this rank was sending to it",
                    self.peer, self.write_timeout
                ),
            )
            .with_peer(self.peer)),
        }
    }

    /// Closes the sending direction after the records already written.
    pub(crate) async fn shutdown(&self) {
        let _ = self.writer.lock().await.half.shutdown().await;
    }
}

/// Takes the partial record at the front of `buf` into `landing` if it is the plain data
/// record the landing waits for and exactly its length: the payload bytes already read
/// land, and `buf` keeps nothing of the record (the padding left to read goes to `skip`).
/// Whole records have been delivered already, so what `buf` holds is one record's start.
fn take(buf: &mut BytesMut, skip: &mut usize, landing: &mut Landing<'_>) -> bool {
    if *skip > 0 || buf.len() < HEAD_LEN {
        return false;
    }
    let Ok(head) = Head::decode(&buf[..HEAD_LEN]) else {
        return false;
    };
    if head.kind != Kind::Data || head.tag != landing.tag || head.len as usize != landing.len() {
        return false;
    }
    let len = landing.len();
    let here = (buf.len() - HEAD_LEN).min(len);
    landing.land(&buf[HEAD_LEN..HEAD_LEN + here]);
    let padding_here = buf.len() - HEAD_LEN - here;
    buf.clear();
    landing.taken = Some(head);
    if landing.done() {
        *skip = padding(len) - padding_here;
    }
    true
}

/// Why a reader stopped.
#[derive(Clone)]
pub(crate) enum Ended {
    /// The peer said goodbye.
    Bye,
    /// The stream broke or carried something malformed.
    Broken(Error),
}

/// The receiving side of a connection. Either the connection's reader task or a receive
/// that spins on this peer (see `transport.rs`) pumps it; a mutex keeps the records in order.
pub(crate) struct Reader {
    peer: Rank,
    half: OwnedReadHalf,
    state: std::sync::Mutex<ReadState>,
    /// Receives spinning on this socket now: the reader task leaves the socket to them
    /// (two readers would only fight over the lock), and each reads the socket once more
    /// after it stops, so that nothing the reader task skipped stays unread.
    pub(crate) spinners: std::sync::atomic::AtomicUsize,
    /// The reader task skipped a readiness because a receive was spinning: the spinner
    /// must read the socket once more when it stops.
    pub(crate) stood_aside: AtomicBool,
}

struct ReadState {
    buf: BytesMut,
    ended: Option<Ended>,
    /// Opens the records of an encrypted connection.
    opener: Option<Opener>,
    /// Padding still to drop before the next record (after a payload read into a
    /// [`Landing`]).
    skip: usize,
    /// A receive has taken the record at the front of the stream into its [`Landing`]: until
    /// it has it all (or hands it back), nobody else reads the socket.
    landing: bool,
}

/// A receive's own buffers, into which the payload of the record it waits for is read
/// straight from the socket (no copy through the read buffer): `head` takes the payload's
/// first bytes, `body` the rest. A receive takes the record at the front of the stream for
/// itself only when it is the data record it waits for and exactly as long as both
/// buffers; if it stops before the record is whole, dropping the landing hands what has
/// landed back to the read buffer, and the record arrives the ordinary way.
pub(crate) struct Landing<'d> {
    reader: &'d Reader,
    mailbox: &'d Mailbox,
    ended: &'d (dyn Fn(Ended) + Sync),
    tag: Tag,
    head: &'d mut [u8],
    body: &'d mut [u8],
    /// The payload bytes that have landed so far.
    filled: usize,
    /// The record this receive has taken.
    taken: Option<Head>,
}

impl<'d> Landing<'d> {
    /// A landing for the record `tag` from `reader`'s peer; `mailbox` and `ended` are the
    /// reader's, for the reading that a landing handed back may leave to do.
    pub(crate) fn new(
        (reader, mailbox, ended): (&'d Reader, &'d Mailbox, &'d (dyn Fn(Ended) + Sync)),
        tag: Tag,
        head: &'d mut [u8],
        body: &'d mut [u8],
    ) -> Self {
        Landing {
            reader,
            mailbox,
            ended,
            tag,
            head,
            body,
            filled: 0,
            taken: None,
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Whether the whole payload has landed.
    pub(crate) fn done(&self) -> bool {
        self.taken.is_some() && self.filled == self.len()
    }

    /// The part of the buffers still to fill.
    fn room(&mut self) -> &mut [u8] {
        let at = self.filled;
        match at.checked_sub(self.head.len()) {
            None => &mut self.head[at..],
            Some(in_body) => &mut self.body[in_body..],
        }
    }

    /// Copies `bytes` into the room.
    fn land(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.room();
            let n = room.len().min(bytes.len());
            room[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.filled += n;
        }
    }
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let Some(head) = self.taken.take() else {
            return;
        };
        if self.filled == self.len() {
            return;
        }
        // Put the record back at the front of the read buffer as if it had been read there
        // (nothing else was read meanwhile); whoever pumps next carries on from there.
        {
            let mut state = self.reader.lock();
            let split = self.filled.min(self.head.len());
            let buf = &mut state.buf;
            debug_assert!(buf.is_empty(), "bytes were read past a taken record");
            buf.extend_from_slice(&head.encode());
            buf.extend_from_slice(&self.head[..split]);
            buf.extend_from_slice(&self.body[..self.filled - split]);
            state.landing = false;
        }
        self.reader.read_on(self.mailbox, self.ended);
    }
}

/// How a pump reads the socket.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// Through the I/O runtime's readiness: the reader task, woken by the I/O thread's poll.
    Reactor,
    /// By the system call itself, whatever the I/O thread has seen yet: a spinning receive,
    /// which thereby does not wait for the I/O thread to wake up.
    Syscall,
}

/// The most a spinning receive reads per system call, and the least it asks for.
const SYSCALL_READ: (usize, usize) = (256 << 10, 4 << 10);

/// What one pump of the socket did.
pub(crate) enum Pumped {
    /// Read and delivered what the socket had (or a pump's worth of it); says how many
    /// bytes it read.
    Drained(usize),
    /// The stream ended; no more records will come.
    Ended(Ended),
    /// Read nothing: another receive is reading a record straight into its buffers.
    Busy,
}

impl Reader {
    pub(crate) fn new(peer: Rank, half: OwnedReadHalf, opener: Option<Opener>) -> Reader {
        Reader {
            peer,
            half,
            state: std::sync::Mutex::new(ReadState {
                buf: BytesMut::with_capacity(READ_BUF),
                ended: None,
                opener,
                skip: 0,
                landing: false,
            }),
            spinners: std::sync::atomic::AtomicUsize::new(0),
            stood_aside: AtomicBool::new(false),
        }
    }

    /// Reads what the socket has now, without waiting, and delivers every whole record to
    /// `mailbox`.
    pub(crate) fn pump(&self, mailbox: &Mailbox, via: Via) -> Pumped {
        self.pump_with(mailbox, via, None)
    }

    /// Like [`Reader::pump`] for a receive that waits on the plain record `landing.tag`: if
    /// that record is at the front of the stream and exactly as long as the landing, its
    /// payload is read straight into the landing's buffers (now and in later calls, which
    /// nobody else's pump interleaves) until [`Landing::done`]. Other records, and every
    /// record of an encrypted connection, go to the mailbox as usual.
    pub(crate) fn pump_into(&self, mailbox: &Mailbox, landing: &mut Landing<'_>) -> Pumped {
        self.pump_with(mailbox, Via::Syscall, Some(landing))
    }

    /// Reads the socket once more if the reader task stood aside for a spinning receive,
    /// so that nothing it skipped stays unread (a receive that stops spinning, or hands a
    /// landing back, calls this). If another receive is reading into its landing, the
    /// reading is left to it.
    pub(crate) fn read_on(&self, mailbox: &Mailbox, ended: &(dyn Fn(Ended) + Sync)) {
        if self.stood_aside.swap(false, Ordering::SeqCst) {
            match self.pump(mailbox, Via::Syscall) {
                Pumped::Ended(gone) => ended(gone),
                Pumped::Busy => self.stood_aside.store(true, Ordering::SeqCst),
                Pumped::Drained(_) => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pump_with(&self, mailbox: &Mailbox, via: Via, landing: Option<&mut Landing<'_>>) -> Pumped {
        let mut state = self.lock();
        if let Some(ended) = &state.ended {
            return Pumped::Ended(ended.clone());
        }
        let mine = landing.as_ref().is_some_and(|l| l.taken.is_some());
        if state.landing && !mine {
            return Pumped::Busy;
        }
        let result = self.pump_locked(&mut state, via, landing, mailbox);
        if let Pumped::Ended(ended) = &result {
            state.ended = Some(ended.clone());
        }
        result
    }

    fn pump_locked(
        &self,
        state: &mut ReadState,
        via: Via,
        mut landing: Option<&mut Landing<'_>>,
        mailbox: &Mailbox,
    ) -> Pumped {
        let ReadState {
            buf,
            opener,
            skip,
            landing: taken,
            ..
        } = state;
        // A fast sender could keep the socket readable forever: a pump reads a bounded
        // amount, so the reader task gets back to its back-pressure check.
        let mut budget = PUMP_BUDGET;
        loop {
            if let Some(landing) = landing.as_deref_mut().filter(|l| l.taken.is_some()) {
                // The rest of a taken record's payload, straight from the socket.
                let socket = SockRef::from(self.half.as_ref());
                match (&*socket).read(landing.room()) {
                    Ok(0) => return self.broken("closed in the middle of a record"),
                    Ok(n) => {
                        landing.filled += n;
                        if landing.done() {
                            *taken = false;
                            *skip = padding(landing.len());
                            return Pumped::Drained(PUMP_BUDGET - budget + n);
                        }
                        if n >= budget {
                            return Pumped::Drained(PUMP_BUDGET);
                        }
                        budget -= n;
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        return Pumped::Drained(PUMP_BUDGET - budget);
                    }
                    Err(e) => return self.broken(&format!("failed: {e}")),
                }
            }
            // Deliver every whole record in the buffer; learn how much the next one needs.
            let delivered = match opener.as_mut() {
                None => self.deliver_plain(buf, skip, mailbox),
                Some(opener) => self.deliver_sealed(buf, opener, mailbox),
            };
            let need = match delivered {
                Ok(need) => need,
                Err(ended) => return Pumped::Ended(ended),
            };
            // A frame with the landing's tag that already waits comes first.
            let plain = opener.is_none();
            if let Some(landing) = landing.as_deref_mut().filter(|_| plain) {
                if !mailbox.holds(self.peer, landing.tag) && take(buf, skip, landing) {
                    if landing.done() {
                        return Pumped::Drained(PUMP_BUDGET - budget);
                    }
                    *taken = true;
                    continue;
                }
            }
            // The buffer grows only as bytes arrive (by at most GROWTH at a time), so a large
            // claimed length costs memory only once the peer really sends it.
            let missing = need - buf.len();
            if buf.capacity() - buf.len() < missing.min(READ_BUF) {
                buf.reserve(missing.clamp(READ_BUF, GROWTH));
            }
            let read = match via {
                Via::Reactor => self.half.try_read_buf(buf),
                Via::Syscall => {
                    // Safe code reads only into initialised bytes: zero the room first
                    // (cheaper than a copy), read into it, and keep what came.
                    let start = buf.len();
                    buf.resize(start + missing.clamp(SYSCALL_READ.1, SYSCALL_READ.0), 0);
                    let socket = SockRef::from(self.half.as_ref());
                    let read = (&*socket).read(&mut buf[start..]);
                    buf.truncate(start + *read.as_ref().unwrap_or(&0));
                    read
                }
            };
            match read {
                Ok(0) if buf.is_empty() => return self.broken("closed without a goodbye"),
                Ok(0) => return self.broken("closed in the middle of a record"),
                Ok(n) if n >= budget => return Pumped::Drained(PUMP_BUDGET),
                Ok(n) => budget -= n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Pumped::Drained(PUMP_BUDGET - budget);
                }
                Err(e) => return self.broken(&format!("failed: {e}")),
            }
        }
    }

    /// Delivers every whole plain record at the start of `buf`; returns how many bytes the
    /// buffer needs to hold the next one.
    fn deliver_plain(
        &self,
        buf: &mut BytesMut,
        skip: &mut usize,
        mailbox: &Mailbox,
    ) -> std::result::Result<usize, Ended> {
        if *skip > 0 {
            let dropped = (*skip).min(buf.len());
            buf.advance(dropped);
            *skip -= dropped;
            if *skip > 0 {
                return Ok(*skip);
            }
        }
        loop {
            if buf.len() < HEAD_LEN {
                return Ok(HEAD_LEN);
            }
            let head = Head::decode(&buf[..HEAD_LEN]).map_err(|e| self.malformed(e))?;
            let len = head.len as usize;
            let need = HEAD_LEN + len + padding(len);
            if buf.len() < need {
                return Ok(need);
            }
            buf.advance(HEAD_LEN);
            let payload = buf.split_to(len).freeze();
            buf.advance(padding(len));
            self.hand_on(head, payload, mailbox)?;
        }
    }

    /// Delivers every whole sealed record at the start of `buf`, each only once it has
    /// opened; returns how many bytes the buffer needs to hold the next head or body. An
    /// opened head leaves the buffer at once (the opener keeps it): its body then starts the
    /// buffer, 16-byte aligned as the head was.
    fn deliver_sealed(
        &self,
        buf: &mut BytesMut,
        opener: &mut Opener,
        mailbox: &Mailbox,
    ) -> std::result::Result<usize, Ended> {
        loop {
            let head = match opener.head {
                Some(head) => head,
                None => {
                    if buf.len() < SEALED_HEAD {
                        return Ok(SEALED_HEAD);
                    }
                    let opened = opener.open_head(&mut buf[..SEALED_HEAD]);
                    let head = opened.map_err(|e| self.malformed(e))?;
                    buf.advance(SEALED_HEAD);
                    *opener.head.insert(head)
                }
            };
            let len = head.len as usize;
            let need = sealed_body(len);
            if buf.len() < need {
                return Ok(need);
            }
            (opener.open_body(&mut buf[..need], len)).map_err(|e| self.malformed(e))?;
            opener.head = None;
            let payload = buf.split_to(len).freeze();
            buf.advance(need - len);
            self.hand_on(head, payload, mailbox)?;
        }
    }

    /// Hands one record on: a data record to the mailbox, an abort to the receives of its
    /// communicator; a goodbye ends the stream.
    fn hand_on(
        &self,
        head: Head,
        payload: Bytes,
        mailbox: &Mailbox,
    ) -> std::result::Result<(), Ended> {
        match head.kind {
            Kind::Data => mailbox.deliver(self.peer, head.tag, 0, payload),
            Kind::Abort => {
                let reason = String::from_utf8_lossy(&payload);
                mailbox.abort(head.tag.comm, self.peer, &reason);
            }
            Kind::Bye => return Err(Ended::Bye),
        }
        Ok(())
    }

    /// The end of a stream that carried a malformed or forged record, naming the peer.
    fn malformed(&self, e: Error) -> Ended {
        let e = match e.kind() {
            ErrorKind::Auth => Error::new(
                ErrorKind::Auth,
                format!("connection to rank {}: {}", self.peer, e.message()),
            ),
            _ => e,
        };
        Ended::Broken(e.with_peer(self.peer))
    }

    fn broken(&self, what: &str) -> Pumped {
        Pumped::Ended(Ended::Broken(
            Error::new(
                ErrorKind::Remote,
                format!("connection to rank {} {what}", self.peer),
            )
            .with_peer(self.peer),
        ))
    }

    /// Reads records into `mailbox` as they arrive until the stream ends, holding back
    /// while too many bytes from the peer wait unclaimed, and leaving the socket to the
    /// receives that spin on it.
    pub(crate) async fn run(&self, mailbox: &Mailbox) -> Ended {
        loop {
            mailbox.room(self.peer, WINDOW).await;
            if let Err(e) = self.half.readable().await {
                return Ended::Broken(
                    Error::new(
                        ErrorKind::Remote,
                        format!("connection to rank {} failed: {e}", self.peer),
                    )
                    .with_peer(self.peer),
                );
            }
            if self.spinners.load(Ordering::SeqCst) > 0 {
                // Forget this readiness, then look again: a spinner that stopped in between
                // sees `stood_aside` and reads the socket once more, and anything later
                // brings a new readiness.
                self.stood_aside.store(true, Ordering::SeqCst);
                let forget = || Err::<(), _>(std::io::ErrorKind::WouldBlock.into());
                let _ = self.half.as_ref().try_io(Interest::READABLE, forget);
                if self.spinners.load(Ordering::SeqCst) > 0 {
                    continue;
                }
            }
            match self.pump(mailbox, Via::Reactor) {
                Pumped::Ended(ended) => return ended,
                // A receive reads a record into its own buffers: it reads on itself (as a
                // spinner), so this task waits for the next readiness after it.
                Pumped::Busy => tokio::task::yield_now().await,
                Pumped::Drained(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fccl_collectives::{CommId, Tag};
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::tcp::wire::{HEAD_LEN, Head, Kind};

    fn tag(seq: u64) -> Tag {
        Tag {
            comm: CommId::WORLD,
            p2p: true,
            seq,
            step: 0,
            chunk: 0,
        }
    }

    /// A reader on one end of a loopback connection, the other end to write to, and the
    /// reading end's write half (kept so that the socket stays open).
    async fn pair() -> (Reader, TcpStream, OwnedWriteHalf) {
        pair_opening(None).await
    }

    /// [`pair`] with a reader that opens sealed records with `opener`.
    async fn pair_opening(opener: Option<Opener>) -> (Reader, TcpStream, OwnedWriteHalf) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(l.local_addr().unwrap()), l.accept());
        let (read, write) = b.unwrap().0.into_split();
        (Reader::new(1, read, opener), a.unwrap(), write)
    }

    async fn ended(reader: &Reader, mailbox: &Mailbox) -> String {
        match ending(reader, mailbox).await {
            Ended::Bye => "bye".to_string(),
            Ended::Broken(e) => e.to_string(),
        }
    }

    async fn ending(reader: &Reader, mailbox: &Mailbox) -> Ended {
        let run = tokio::time::timeout(Duration::from_secs(5), reader.run(mailbox));
        run.await.expect("the reader ends by itself")
    }

    /// The keys of rank 1 (the sender) and of rank 0 (the receiver) on one connection, the
    /// same on every call.
    fn keys() -> (Keys, Keys) {
        use crate::tcp::seal::Agreed;
        let (one, zero) = ((1, &[0x11; 16]), (0, &[0x22; 16]));
        let derive = |me, peer| {
            Keys::derive(&Agreed {
                secret: &[7; 32],
                job: &[8; 16],
                me,
                peer,
            })
        };
        (derive(one, zero), derive(zero, one))
    }

    /// What a connection with `keys` (the sealing end's) puts on the wire for `records`,
    /// read at the other end of a loopback connection.
    async fn wire(keys: Option<Keys>, records: &[(Kind, Tag, &[u8])]) -> Vec<u8> {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(l.local_addr().unwrap()), l.accept());
        let (read, write) = a.unwrap().into_split();
        let conn = Conn::new(0, read, write, keys, Duration::from_secs(5));
        let mut far = b.unwrap().0;
        let capture = async {
            let mut bytes = Vec::new();
            let read = tokio::io::AsyncReadExt::read_to_end(&mut far, &mut bytes);
            tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .expect("the sender closes")
                .unwrap();
            bytes
        };
        let send = async {
            for &(kind, tag, body) in records {
                let (first, rest) = body.split_at(body.len() / 2);
                conn.send_parts(kind, tag, first, rest).await.unwrap();
            }
            conn.shutdown().await;
        };
        tokio::join!(capture, send).0
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn sealed_records_hide_their_payload_and_arrive_whole() {
        let pattern = b"fccl plaintext pattern 0123456!";
        let big: Vec<u8> = pattern.iter().copied().cycle().take(300_001).collect();
        let records = [
            (Kind::Data, tag(1), &b"hello"[..]),
            (Kind::Data, tag(2), &big[..]),
            (Kind::Abort, tag(0), &b"no more"[..]),
            (Kind::Bye, tag(0), &[][..]),
        ];
        // The plain wire shows the pattern (so the capture sees payloads); the sealed one
        // does not, and is exactly the sealed layout's size.
        let plain = wire(None, &records).await;
        assert!(contains(&plain, pattern) && contains(&plain, b"no more"));
        let (sender, receiver) = keys();
        let sealed = wire(Some(sender), &records).await;
        assert!(!contains(&sealed, &pattern[..16]), "the payload shows");
        assert!(!contains(&sealed, b"hello") && !contains(&sealed, b"no more"));
        let expected: usize = records
            .iter()
            .map(|r| SEALED_HEAD + sealed_body(r.2.len()))
            .sum();
        assert_eq!(sealed.len(), expected);

        // The receiving end opens them, in a few pieces, through the reader task.
        let (reader, mut peer, _keep) = pair_opening(Some(receiver.opener)).await;
        let mailbox = Mailbox::default();
        let feed = async {
            for piece in sealed.chunks(70_001) {
                peer.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let (_, end) = tokio::join!(feed, ended(&reader, &mailbox));
        assert_eq!(end, "bye");
        assert_eq!(&mailbox.try_take(1, tag(1)).unwrap()[..], b"hello");
        let got = mailbox.try_take(1, tag(2)).unwrap();
        assert!(got == big, "the large payload changed on the way");
        assert_eq!(
            got.as_ptr() as usize % 16,
            0,
            "a payload is not 16-byte aligned"
        );
    }

    #[tokio::test]
    async fn a_changed_or_replayed_record_ends_the_stream_with_auth_and_is_not_delivered() {
        let body = vec![0x5a; 1000];
        let records = [
            (Kind::Data, tag(1), &b"first"[..]),
            (Kind::Data, tag(2), &body[..]),
            (Kind::Bye, tag(0), &[][..]),
        ];
        let sealed = wire(Some(keys().0), &records).await;
        let second = SEALED_HEAD + sealed_body(5);
        let bye = second + SEALED_HEAD + sealed_body(1000);
        // The untouched stream, read by spinning receives' direct system calls.
        let (reader, mut peer, _keep) = pair_opening(Some(keys().1.opener)).await;
        peer.write_all(&sealed).await.unwrap();
        let mailbox = Mailbox::default();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while !matches!(
            reader.pump(&mailbox, Via::Syscall),
            Pumped::Ended(Ended::Bye)
        ) {
            assert!(std::time::Instant::now() < until, "the stream did not end");
            tokio::task::yield_now().await;
        }
        assert_eq!(mailbox.try_take(1, tag(2)).unwrap().len(), 1000);

        // One changed byte in the second record's head, head tag, payload, tag or padding,
        // or in the goodbye; then the first record replayed in place of the second.
        let payload = second + SEALED_HEAD;
        let flips = [
            second + 3,
            second + 50,
            payload + 10,
            payload + 1000 + 5,
            bye - 1,
            bye + 7,
        ];
        let mut streams: Vec<(usize, Vec<u8>)> = flips
            .iter()
            .map(|&at| {
                let mut s = sealed.clone();
                s[at] ^= 0x01;
                (at, s)
            })
            .collect();
        let mut replayed = sealed[..second].repeat(2);
        replayed.extend_from_slice(&sealed[second..]);
        streams.push((usize::MAX, replayed));
        for (at, stream) in streams {
            let (reader, mut peer, _keep) = pair_opening(Some(keys().1.opener)).await;
            peer.write_all(&stream).await.unwrap();
            let mailbox = Mailbox::default();
            let Ended::Broken(e) = ending(&reader, &mailbox).await else {
                panic!("a stream changed at {at} ended with a goodbye");
            };
            assert_eq!(e.kind(), ErrorKind::Auth, "changed at {at}: {e}");
            assert_eq!(e.peer(), Some(1), "{e}");
            assert!(e.to_string().contains("rank 1"), "{e}");
            assert_eq!(&mailbox.try_take(1, tag(1)).unwrap()[..], b"first");
            let second_arrives = at == bye + 7;
            let got = mailbox.try_take(1, tag(2));
            assert_eq!(got.is_some(), second_arrives, "changed at {at}");
        }
    }

    /// Writes a plain data record of `body` with tag `seq` (head, body, padding).
    async fn write_record(peer: &mut TcpStream, seq: u64, body: &[u8]) {
        let head = Head::new(Kind::Data, tag(seq), body.len()).encode();
        peer.write_all(&head).await.unwrap();
        peer.write_all(body).await.unwrap();
        let pad = [0; 16];
        peer.write_all(&pad[..crate::tcp::wire::padding(body.len())])
            .await
            .unwrap();
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    /// Pumps `reader` through `landing` until `done` says so, within 5 s.
    async fn pump_until(
        reader: &Reader,
        mailbox: &Mailbox,
        mut landing: Option<&mut Landing<'_>>,
        done: &dyn Fn(&Mailbox, Option<&Landing<'_>>) -> bool,
    ) {
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while !done(mailbox, landing.as_deref()) {
            assert!(std::time::Instant::now() < until, "nothing came");
            match landing.as_deref_mut() {
                Some(landing) => reader.pump_into(mailbox, landing),
                None => reader.pump(mailbox, Via::Syscall),
            };
            tokio::task::yield_now().await;
        }
    }

    fn no_end(_: Ended) {}

    #[tokio::test]
    async fn the_awaited_record_lands_in_the_receives_buffers_and_others_in_the_mailbox() {
        let (reader, mut peer, _keep) = pair().await;
        let mailbox = Mailbox::default();
        let (wanted, other) = (pattern(100_003, 1), pattern(5_001, 2));
        write_record(&mut peer, 7, &other).await;
        write_record(&mut peer, 8, &wanted).await;
        write_record(&mut peer, 9, &other).await;
        let (mut head, mut body) = ([0u8; 48], vec![0u8; wanted.len() - 48]);
        let mut landing = Landing::new((&reader, &mailbox, &no_end), tag(8), &mut head, &mut body);
        pump_until(&reader, &mailbox, Some(&mut landing), &|_, l| {
            l.unwrap().done()
        })
        .await;
        drop(landing);
        assert!(
            [&head[..], &body[..]].concat() == wanted,
            "the landed bytes differ"
        );
        assert!(
            mailbox.try_take(1, tag(8)).is_none(),
            "it went through the mailbox too"
        );
        // The padding after it is dropped: the next record arrives whole.
        pump_until(&reader, &mailbox, None, &|m, _| m.holds(1, tag(9))).await;
        assert!(mailbox.try_take(1, tag(7)).unwrap() == other);
        assert!(mailbox.try_take(1, tag(9)).unwrap() == other);
    }

    #[tokio::test]
    async fn a_record_of_another_length_or_behind_one_with_its_tag_goes_to_the_mailbox() {
        let (reader, mut peer, _keep) = pair().await;
        let mailbox = Mailbox::default();
        let (first, second) = (pattern(3_000, 3), pattern(3_000, 4));
        // A landing of the wrong length takes nothing.
        write_record(&mut peer, 8, &first).await;
        let (mut head, mut body) = ([0u8; 48], vec![0u8; 1_000]);
        let mut landing = Landing::new((&reader, &mailbox, &no_end), tag(8), &mut head, &mut body);
        pump_until(&reader, &mailbox, Some(&mut landing), &|m, _| {
            m.holds(1, tag(8))
        })
        .await;
        assert!(!landing.done());
        drop(landing);
        assert!(
            head.iter().chain(&body).all(|&b| b == 0),
            "the buffers were written"
        );
        // A record with the tag of one that waits in the mailbox comes after it.
        write_record(&mut peer, 8, &second).await;
        write_record(&mut peer, 9, b"after").await;
        let (mut head, mut body) = ([0u8; 48], vec![0u8; second.len() - 48]);
        let mut landing = Landing::new((&reader, &mailbox, &no_end), tag(8), &mut head, &mut body);
        let after = |m: &Mailbox, _: Option<&Landing<'_>>| m.holds(1, tag(9));
        pump_until(&reader, &mailbox, Some(&mut landing), &after).await;
        assert!(!landing.done());
        drop(landing);
        assert!(mailbox.try_take(1, tag(8)).unwrap() == first);
        assert!(mailbox.try_take(1, tag(8)).unwrap() == second);
    }

    #[tokio::test]
    async fn a_landing_dropped_midway_hands_its_bytes_back_and_the_record_arrives_whole() {
        let (reader, mut peer, _keep) = pair().await;
        let mailbox = Mailbox::default();
        let wanted = pattern(200_000, 5);
        let head = Head::new(Kind::Data, tag(8), wanted.len()).encode();
        peer.write_all(&head).await.unwrap();
        peer.write_all(&wanted[..70_000]).await.unwrap();
        let (mut head, mut body) = ([0u8; 48], vec![0u8; wanted.len() - 48]);
        let mut landing = Landing::new((&reader, &mailbox, &no_end), tag(8), &mut head, &mut body);
        let most = |_: &Mailbox, l: Option<&Landing<'_>>| l.unwrap().filled == 70_000;
        pump_until(&reader, &mailbox, Some(&mut landing), &most).await;
        assert!(landing.taken.is_some() && !landing.done());
        // Nobody else reads the socket meanwhile.
        assert!(matches!(reader.pump(&mailbox, Via::Syscall), Pumped::Busy));
        drop(landing);
        peer.write_all(&wanted[70_000..]).await.unwrap();
        write_record(&mut peer, 9, b"after").await;
        pump_until(&reader, &mailbox, None, &|m, _| m.holds(1, tag(9))).await;
        assert!(mailbox.try_take(1, tag(8)).unwrap() == wanted);
        assert_eq!(&mailbox.try_take(1, tag(9)).unwrap()[..], b"after");
    }

    #[tokio::test]
    async fn sealed_records_never_land_outside_the_opener() {
        let body = pattern(40_000, 6);
        let (sender, receiver) = keys();
        let sealed = wire(Some(sender), &[(Kind::Data, tag(8), &body[..])]).await;
        let (reader, mut peer, _keep) = pair_opening(Some(receiver.opener)).await;
        peer.write_all(&sealed).await.unwrap();
        let mailbox = Mailbox::default();
        let (mut head, mut rest) = ([0u8; 48], vec![0u8; body.len() - 48]);
        let mut landing = Landing::new((&reader, &mailbox, &no_end), tag(8), &mut head, &mut rest);
        pump_until(&reader, &mailbox, Some(&mut landing), &|m, _| {
            m.holds(1, tag(8))
        })
        .await;
        assert!(!landing.done());
        drop(landing);
        assert!(mailbox.try_take(1, tag(8)).unwrap() == body);
    }

    #[tokio::test]
    async fn records_arrive_and_a_goodbye_ends_the_stream() {
        let (reader, mut peer, _keep) = pair().await;
        let mailbox = Mailbox::default();
        for (seq, body) in [(1, &b"hello"[..]), (2, &[0u8; 100_000][..])] {
            let head = Head::new(Kind::Data, tag(seq), body.len()).encode();
            peer.write_all(&head).await.unwrap();
            peer.write_all(body).await.unwrap();
            peer.write_all(&[0; 16][..crate::tcp::wire::padding(body.len())])
                .await
                .unwrap();
        }
        let bye = Head::new(Kind::Bye, tag(0), 0).encode();
        peer.write_all(&bye).await.unwrap();
        assert_eq!(ended(&reader, &mailbox).await, "bye");
        assert_eq!(&mailbox.try_take(1, tag(1)).unwrap()[..], b"hello");
        assert_eq!(mailbox.try_take(1, tag(2)).unwrap().len(), 100_000);
    }

    #[tokio::test]
    async fn garbage_truncation_and_huge_lengths_break_the_stream_clearly() {
        // Garbage where a head should be.
        let (reader, mut peer, _keep) = pair().await;
        peer.write_all(&[0xEE; HEAD_LEN]).await.unwrap();
        let e = ended(&reader, &Mailbox::default()).await;
        assert!(e.contains("unknown record kind"), "{e}");

        // A record cut short by the peer closing.
        let (reader, mut peer, _keep) = pair().await;
        let head = Head::new(Kind::Data, tag(1), 1000).encode();
        peer.write_all(&head).await.unwrap();
        peer.write_all(&[1; 10]).await.unwrap();
        drop(peer);
        let e = ended(&reader, &Mailbox::default()).await;
        assert!(e.contains("in the middle of a record"), "{e}");

        // A length far past the limit is refused from the head alone: nothing of the
        // claimed size is allocated, and the reader does not wait for the body.
        let (reader, mut peer, _keep) = pair().await;
        let head = Head::new(Kind::Data, tag(1), 1 << 40).encode();
        peer.write_all(&head).await.unwrap();
        let e = ended(&reader, &Mailbox::default()).await;
        assert!(e.contains("over the limit"), "{e}");

        // A peer that closes without a goodbye.
        let (reader, peer, _keep) = pair().await;
        drop(peer);
        let e = ended(&reader, &Mailbox::default()).await;
        assert!(e.contains("closed without a goodbye"), "{e}");
    }

    #[tokio::test]
    async fn a_large_claim_takes_memory_only_as_its_bytes_arrive() {
        let (reader, mut peer, _keep) = pair().await;
        let mailbox = Mailbox::default();
        // Claim 1 GiB (under the limit) but send 1 MiB of it.
        let head = Head::new(Kind::Data, tag(1), 1 << 30).encode();
        peer.write_all(&head).await.unwrap();
        peer.write_all(&vec![3u8; 1 << 20]).await.unwrap();
        let run = tokio::time::timeout(Duration::from_millis(300), reader.run(&mailbox));
        assert!(run.await.is_err(), "the reader waits for the rest");
        let capacity = reader.state.lock().unwrap().buf.capacity();
        assert!(
            capacity < 16 << 20,
            "{capacity} bytes held for a 1 MiB start"
        );
    }
}
