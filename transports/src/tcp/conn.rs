//! One established connection to a peer: the write half (shared by the senders) and the
//! reader task that demultiplexes arriving records into the mailbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use fccl_collectives::transport::mailbox::Mailbox;
use fccl_collectives::{Error, ErrorKind, Rank, Result, Tag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::wire::{HEAD_LEN, Head, Kind, PADDING, padding};

/// How many bytes from one peer may wait unclaimed before its reader stops reading (unless
/// a receive waits on that peer).
pub(crate) const WINDOW: usize = 64 << 20;

/// The read buffer's usual size; large payloads grow it in steps of at most [`GROWTH`].
const READ_BUF: usize = 256 << 10;
const GROWTH: usize = 4 << 20;

/// The sending side of a connection.
pub(crate) struct Conn {
    peer: Rank,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    /// A send was abandoned midway: the stream is no longer at a record boundary.
    torn: AtomicBool,
    /// How long one record may take to leave.
    write_timeout: Duration,
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
    pub(crate) fn new(peer: Rank, writer: OwnedWriteHalf, write_timeout: Duration) -> Conn {
        Conn {
            peer,
            writer: tokio::sync::Mutex::new(writer),
            torn: AtomicBool::new(false),
            write_timeout,
        }
    }

    /// Writes one record (head and payload, without copying the payload), looping over
    /// partial writes. A record that cannot leave within the write timeout fails.
    pub(crate) async fn send(&self, kind: Kind, tag: Tag, payload: Bytes) -> Result<()> {
        let head = Head::new(kind, tag, payload.len()).encode();
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
        let pad = &PADDING[..padding(payload.len())];
        let mut record = head.chain(payload).chain(pad);
        let written = tokio::time::timeout(self.write_timeout, writer.write_all_buf(&mut record));
        match written.await {
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
        let _ = self.writer.lock().await.shutdown().await;
    }
}

/// Why a reader stopped.
pub(crate) enum Ended {
    /// The peer said goodbye.
    Bye,
    /// The stream broke or carried something malformed.
    Broken(Error),
}

/// Reads records from `peer` into `mailbox` until the peer says goodbye or the stream ends.
pub(crate) async fn read_records(
    peer: Rank,
    mut reader: OwnedReadHalf,
    mailbox: &Mailbox,
) -> Ended {
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let broken = |what: String| {
        Ended::Broken(
            Error::new(
                ErrorKind::Remote,
                format!("connection to rank {peer} {what}"),
            )
            .with_peer(peer),
        )
    };
    loop {
        mailbox.room(peer, WINDOW).await;
        while buf.len() < HEAD_LEN {
            match fill(&mut reader, &mut buf, HEAD_LEN).await {
                Ok(true) => {}
                Ok(false) if buf.is_empty() => return broken("closed without a goodbye".into()),
                Ok(false) => return broken("closed in the middle of a record".into()),
                Err(e) => return broken(format!("failed: {e}")),
            }
        }
        let head = match Head::decode(&buf[..HEAD_LEN]) {
            Ok(h) => h,
            Err(e) => return Ended::Broken(e.with_peer(peer)),
        };
        let len = head.len as usize;
        let need = HEAD_LEN + len + padding(len);
        while buf.len() < need {
            match fill(&mut reader, &mut buf, need).await {
                Ok(true) => {}
                Ok(false) => return broken("closed in the middle of a record".into()),
                Err(e) => return broken(format!("failed: {e}")),
            }
        }
        buf.advance(HEAD_LEN);
        let payload = buf.split_to(len).freeze();
        buf.advance(padding(len));
        match head.kind {
            Kind::Data => mailbox.deliver(peer, head.tag, 0, payload),
            Kind::Abort => {
                let reason = String::from_utf8_lossy(&payload);
                mailbox.abort(head.tag.comm, peer, &reason);
            }
            Kind::Bye => return Ended::Bye,
        }
    }
}

/// Reads more bytes into `buf` toward `need` bytes in all; `false` at end of stream. The
/// buffer grows only as bytes arrive (by at most [`GROWTH`] at a time), so a large claimed
/// length costs memory only once the peer really sends it.
async fn fill(
    reader: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    need: usize,
) -> std::io::Result<bool> {
    let want = (need - buf.len()).clamp(READ_BUF, GROWTH.max(READ_BUF));
    if buf.capacity() - buf.len() < want.min(need - buf.len()).max(1) {
        buf.reserve(want);
    }
    Ok(reader.read_buf(buf).await? > 0)
}
