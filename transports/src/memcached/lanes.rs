//! The parts of large messages and objects, written and read over several connections at
//! once, straight from and into the message's own buffer.
//!
//! One pipelined batch on one connection leaves the rest of the medium idle: memcached
//! serves a connection on one of its worker threads, and a batch's sender seals, copies
//! and writes before its reader starts. So the parts of one message are cut into up to
//! [`LANES`] contiguous runs, each run exchanged on connections of its own (one per server
//! its parts live on), all concurrently: a lane seals a part just before writing it, writes
//! the payload from the caller's `Bytes` (no copy into a batch), and reads each value into
//! its place in the message's buffer, checking each part as it lands. The meta commands
//! used are `ms KEY LEN T<ttl>` and `mg KEY v`; a connection that fails or times out, or
//! that is left mid-response, is dropped, never reused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fccl_collectives::{Error, ErrorKind, Result};
use futures_util::future::join_all;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::store::server_error;
use crate::sealed::HEAD_LEN;
use crate::usage::Counters;

/// How many runs the parts of one message are cut into, at most.
pub(crate) const LANES: usize = 4;

/// Idle connections kept per server.
const MAX_IDLE: usize = 2 * LANES;

/// A payload shorter than this is copied next to its command instead of written apart.
const INLINE: usize = 64 << 10;

/// One connection, with its read buffer.
type Conn = BufReader<TcpStream>;

/// The servers' connections for the parts.
pub(crate) struct Lanes {
    servers: Vec<(String, u16)>,
    names: Vec<String>,
    idle: Vec<Mutex<Vec<Conn>>>,
    io_timeout: Duration,
    ttl: u32,
    /// The store's counters: each `ms` and `mg` is a request.
    usage: Arc<Counters>,
}

/// A part to store: its server and key, and its payload; the lane seals it.
pub(crate) struct OutPart {
    pub(crate) at: (usize, String),
    pub(crate) payload: Bytes,
}

/// Why reading parts stopped short: part `i` (of the keys given) was not there or its
/// record was refused.
pub(crate) enum Short {
    Missing(usize),
    Refused(usize),
}

/// Seals part `i` of those given around its payload: the record's head.
pub(crate) type Seal<'a> = dyn Fn(usize, &[u8]) -> Vec<u8> + Sync + 'a;

/// Checks the record of part `i` of those given, read as its head and payload.
pub(crate) type Check<'a> = dyn Fn(usize, &[u8], &[u8]) -> bool + Sync + 'a;

/// What reading parts gave.
pub(crate) type Fetched = std::result::Result<BytesMut, Short>;

impl Lanes {
    pub(crate) fn new(
        servers: Vec<(String, u16)>,
        names: Vec<String>,
        io_timeout: Duration,
        ttl: u32,
        usage: Arc<Counters>,
    ) -> Lanes {
        let idle = servers.iter().map(|_| Mutex::new(Vec::new())).collect();
        Lanes {
            servers,
            names,
            idle,
            io_timeout,
            ttl,
            usage,
        }
    }

    async fn checkout(&self, s: usize) -> Result<Conn> {
        let idle = self.idle[s].lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(conn) = idle {
            if conn.buffer().is_empty() {
                return Ok(conn);
            }
        }
        let (host, port) = &self.servers[s];
        let stream =
            tokio::time::timeout(self.io_timeout, TcpStream::connect((host.as_str(), *port)))
                .await
                .map_err(|_| server_error(&self.names[s], "cannot connect", "timed out"))?
                .map_err(|e| server_error(&self.names[s], "cannot connect", e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| server_error(&self.names[s], "cannot connect", e))?;
        Ok(BufReader::with_capacity(64 << 10, stream))
    }

    fn put_back(&self, s: usize, conn: Conn) {
        let mut idle = self.idle[s].lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Cuts `n` items into at most [`LANES`] contiguous runs.
    fn runs(n: usize) -> Vec<std::ops::Range<usize>> {
        let lanes = LANES.min(n).max(1);
        (0..lanes)
            .map(|l| n * l / lanes..n * (l + 1) / lanes)
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// Stores `parts` (each sealed by `seal(index, payload)` just before it is written)
    /// with the job's expiry, over up to [`LANES`] runs at once; the first error, naming its
    /// server.
    pub(crate) async fn set(&self, parts: &[OutPart], seal: &Seal<'_>) -> Result<()> {
        let lanes = Self::runs(parts.len())
            .into_iter()
            .map(|run| self.timed(self.set_run(parts, run, seal)));
        join_all(lanes).await.into_iter().collect()
    }

    async fn timed<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.io_timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "memcached: a server did not answer within {:?}",
                        self.io_timeout
                    ),
                ))
            })
    }

    async fn set_run(
        &self,
        parts: &[OutPart],
        run: std::ops::Range<usize>,
        seal: &Seal<'_>,
    ) -> Result<()> {
        let mut conns: Vec<Option<(Conn, usize)>> = (0..self.servers.len()).map(|_| None).collect();
        for i in run {
            let part = &parts[i];
            let s = part.at.0;
            let name = &self.names[s];
            if conns[s].is_none() {
                conns[s] = Some((self.checkout(s).await?, 0));
            }
            let (conn, sent) = conns[s].as_mut().expect("checked out");
            let head = seal(i, &part.payload);
            let mut out = format!(
                "ms {} {} T{}\r\n",
                part.at.1,
                head.len() + part.payload.len(),
                self.ttl
            )
            .into_bytes();
            out.extend_from_slice(&head);
            let stream = conn.get_mut();
            self.usage.requests(1);
            let write = async {
                if part.payload.len() < INLINE {
                    out.extend_from_slice(&part.payload);
                    out.extend_from_slice(b"\r\n");
                    stream.write_all(&out).await
                } else {
                    stream.write_all(&out).await?;
                    stream.write_all(&part.payload).await?;
                    stream.write_all(b"\r\n").await
                }
            };
            write
                .await
                .map_err(|e| server_error(name, "cannot store", e))?;
            *sent += 1;
        }
        for (s, conn) in conns.into_iter().enumerate() {
            let Some((mut conn, sent)) = conn else {
                continue;
            };
            let name = &self.names[s];
            let mut line = String::new();
            for _ in 0..sent {
                line.clear();
                read_line(&mut conn, &mut line)
                    .await
                    .map_err(|e| server_error(name, "cannot store", e))?;
                if line != "HD" {
                    return Err(server_error(name, "refused to store", &line));
                }
            }
            self.put_back(s, conn);
        }
        Ok(())
    }

    /// Reads the records under `keys` into `into` (whose length is where the first goes),
    /// the payload of key `i` being `sizes[i]` bytes, over up to [`LANES`] runs at once;
    /// `check(i, head, payload)` checks each record as it lands. The filled buffer, or which
    /// part was missing or refused; a transport error names its server.
    pub(crate) async fn get(
        &self,
        keys: &[(usize, String)],
        sizes: &[usize],
        mut into: BytesMut,
        check: &Check<'_>,
    ) -> Result<Fetched> {
        let runs = Self::runs(keys.len());
        let mut bufs = Vec::new();
        for run in &runs {
            let bytes: usize = sizes[run.clone()].iter().sum();
            let rest = into.split_off(into.len() + bytes);
            bufs.push(std::mem::replace(&mut into, rest));
        }
        let lanes = runs
            .into_iter()
            .zip(bufs)
            .map(|(run, buf)| self.timed(self.get_run(keys, sizes, run, buf, check)));
        let mut out: Option<BytesMut> = None;
        for fetched in join_all(lanes).await {
            match fetched? {
                Ok(buf) => match &mut out {
                    None => out = Some(buf),
                    // Contiguous runs of one allocation: joined without a copy.
                    Some(o) => o.unsplit(buf),
                },
                Err(short) => return Ok(Err(short)),
            }
        }
        Ok(Ok(out.unwrap_or(into)))
    }

    async fn get_run(
        &self,
        keys: &[(usize, String)],
        sizes: &[usize],
        run: std::ops::Range<usize>,
        mut buf: BytesMut,
        check: &Check<'_>,
    ) -> Result<Fetched> {
        let mut conns: Vec<Option<Conn>> = (0..self.servers.len()).map(|_| None).collect();
        let mut commands: Vec<Vec<u8>> = vec![Vec::new(); self.servers.len()];
        for i in run.clone() {
            let (s, key) = &keys[i];
            commands[*s].extend_from_slice(format!("mg {key} v\r\n").as_bytes());
        }
        self.usage.requests(run.len());
        for (s, command) in commands.iter().enumerate() {
            if command.is_empty() {
                continue;
            }
            let mut conn = self.checkout(s).await?;
            conn.get_mut()
                .write_all(command)
                .await
                .map_err(|e| server_error(&self.names[s], "cannot read", e))?;
            conns[s] = Some(conn);
        }
        let mut line = String::new();
        let mut head = [0u8; HEAD_LEN];
        for i in run {
            let s = keys[i].0;
            let name = &self.names[s];
            let conn = conns[s]
                .as_mut()
                .expect("a connection per server of the run");
            line.clear();
            read_line(conn, &mut line)
                .await
                .map_err(|e| server_error(name, "cannot read", e))?;
            if line == "EN" {
                return Ok(Err(Short::Missing(i)));
            }
            let len = match line.split(' ').collect::<Vec<_>>()[..] {
                ["VA", len, ..] => len.parse::<usize>().ok(),
                _ => None,
            }
            .ok_or_else(|| server_error(name, "cannot read", format!("answered {line:?}")))?;
            if len != HEAD_LEN + sizes[i] {
                return Ok(Err(Short::Refused(i)));
            }
            let start = buf.len();
            let read = async {
                conn.read_exact(&mut head).await?;
                let mut left = sizes[i];
                while left > 0 {
                    let n = (&mut *conn).take(left as u64).read_buf(&mut buf).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    left -= n;
                }
                let mut crlf = [0u8; 2];
                conn.read_exact(&mut crlf).await?;
                match &crlf {
                    b"\r\n" => Ok(()),
                    _ => Err(std::io::Error::other("a value without its CRLF")),
                }
            };
            read.await
                .map_err(|e: std::io::Error| server_error(name, "cannot read", e))?;
            if !check(i, &head, &buf[start..]) {
                return Ok(Err(Short::Refused(i)));
            }
        }
        for (s, conn) in conns.into_iter().enumerate() {
            if let Some(conn) = conn {
                self.put_back(s, conn);
            }
        }
        Ok(Ok(buf))
    }
}

/// Reads one response line, without its CRLF.
async fn read_line(conn: &mut Conn, line: &mut String) -> std::io::Result<()> {
    let n = conn.read_line(line).await?;
    if n == 0 || !line.ends_with('\n') {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    line.truncate(line.trim_end_matches(['\r', '\n']).len());
    Ok(())
}
