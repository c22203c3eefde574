//! Rendezvous messages and their wire format.
//!
//! Everything is little-endian, and every message is one frame: a `u32` body length, then
//! the body. The client sends one `Register` and keeps its connection open until the server
//! sends one `Reply` (closing early gives its rank up); then the server closes.
//!
//! ```text
//! Register: "FCRV" | version u8 = 1 | token len u8 | token | job id [16] | job key [32]
//!           | size u32 | rank u32 | wait ms u32 | private count u8 (<= 8) | addresses
//! Reply:    0 u8 | size u32 | per rank: public address | private count u8 | addresses
//!           1 u8 | error code u8 | message len u16 | UTF-8 message
//! address:  family u8 (4 or 6) | ip [4 or 16] | port u16
//! ```
//!
//! Decoding trusts nothing: a length prefix above the receiver's limit is refused before
//! anything is allocated, bodies are read as they arrive (never allocated at their claimed
//! length), counts are bounded by the bytes that are really there, and bad input becomes an
//! [`ErrorKind::Rendezvous`] error, never a panic. IPv6 flow info and scope ids are not
//! carried.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::job::MAX_RANKS;
use fccl_collectives::{Error, ErrorKind, JobId, Result, Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The first bytes of a `Register` body.
const MAGIC: [u8; 4] = *b"FCRV";
/// The protocol version this code speaks.
const VERSION: u8 = 1;
/// The largest `Register` body a server reads.
pub(crate) const REGISTER_LIMIT: usize = 4 << 10;
/// The largest `Reply` body a client reads.
pub(crate) const REPLY_LIMIT: usize = 64 << 20;
/// The most private addresses a rank may report.
pub(crate) const MAX_PRIVATE: usize = 8;
/// The longest operator token, in bytes (its length travels in a `u8`).
pub(crate) const MAX_TOKEN: usize = 255;
/// The domain separation of the job key's MAC.
const KEY_CONTEXT: &[u8] = b"fccl rendezvous v1";

const REPLY_TABLE: u8 = 0;
const REPLY_ERROR: u8 = 1;

/// `HMAC-SHA256(secret, "fccl rendezvous v1" || job id)`, see the module docs.
///
/// Equality is constant-time and `Debug` does not show the key.
#[derive(Clone, Copy, Eq)]
pub struct JobKey(pub [u8; 32]);

impl JobKey {
    /// The key of `job` under its `secret`.
    pub fn derive(secret: &Secret, job: JobId) -> JobKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(KEY_CONTEXT);
        mac.update(&job.0);
        JobKey(mac.finalize().into_bytes().into())
    }
}

impl PartialEq for JobKey {
    fn eq(&self, other: &JobKey) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JobKey(..)")
    }
}

/// Compares without an early exit, so that the time taken does not tell how many leading
/// bytes of a guess were right.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What a rank registers.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    /// The operator token, if the server wants one.
    pub token: Option<String>,
    /// The job.
    pub job: JobId,
    /// The job key.
    pub key: JobKey,
    /// The job's size.
    pub size: u32,
    /// This rank.
    pub rank: u32,
    /// How long this rank waits for the others.
    pub wait: Duration,
    /// The rank's own addresses (the local address of its connection to the server).
    pub private: Vec<SocketAddr>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("token", &self.token.as_ref().map(|_| ".."))
            .field("job", &self.job)
            .field("size", &self.size)
            .field("rank", &self.rank)
            .field("wait", &self.wait)
            .field("private", &self.private)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// Checks what the wire cannot express or the server would refuse: size in
    /// `1..=MAX_RANKS`, rank below size, a token of at most 255 bytes, at most 8 private
    /// addresses. Errors are [`ErrorKind::InvalidArgument`] and never show the token.
    pub fn validate(&self) -> Result<()> {
        if self.size == 0 || self.size as usize > MAX_RANKS {
            return Err(Error::invalid(format!(
                "job {} has {} ranks; a job has 1 to {MAX_RANKS}",
                self.job, self.size
            )));
        }
        if self.rank >= self.size {
            return Err(Error::invalid(format!(
                "rank {} is out of range for job {} of {} ranks",
                self.rank, self.job, self.size
            )));
        }
        let token_len = self.token.as_ref().map_or(0, String::len);
        if token_len > MAX_TOKEN {
            return Err(Error::invalid(format!(
                "the rendezvous token is {token_len} bytes; at most {MAX_TOKEN} fit"
            )));
        }
        if self.private.len() > MAX_PRIVATE {
            return Err(Error::invalid(format!(
                "{} private addresses; a rank reports at most {MAX_PRIVATE}",
                self.private.len()
            )));
        }
        Ok(())
    }

    /// The whole `Register` frame, length prefix included, once [`validate`](Self::validate)
    /// passes. A wait longer than `u32::MAX` ms is sent as `u32::MAX` ms.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut out = frame_start();
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        let token = self.token.as_deref().unwrap_or("").as_bytes();
        out.push(token.len() as u8); // validate() bounds it by MAX_TOKEN
        out.extend_from_slice(token);
        out.extend_from_slice(&self.job.0);
        out.extend_from_slice(&self.key.0);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.rank.to_le_bytes());
        let wait_ms = u32::try_from(self.wait.as_millis()).unwrap_or(u32::MAX);
        out.extend_from_slice(&wait_ms.to_le_bytes());
        put_addrs(&mut out, &self.private);
        Ok(frame_finish(out))
    }

    /// Decodes a `Register` body (the frame without its length prefix). Only the format is
    /// checked here: the receiver still calls [`validate`](Self::validate) for the values.
    pub fn decode(body: &[u8]) -> Result<Registration> {
        let mut r = Reader::new(body, "registration");
        if r.array::<4>("the magic")? != MAGIC {
            return Err(r.malformed("it does not start with FCRV"));
        }
        let version = r.u8("the version")?;
        if version != VERSION {
            return Err(r.malformed(&format!("version {version}, this server speaks {VERSION}")));
        }
        let token_len = usize::from(r.u8("the token length")?);
        let token = r.take(token_len, "the token")?;
        let token = match std::str::from_utf8(token) {
            Ok("") => None,
            Ok(t) => Some(t.to_string()),
            Err(_) => return Err(r.malformed("the token is not UTF-8")),
        };
        let reg = Registration {
            token,
            job: JobId(r.array("the job id")?),
            key: JobKey(r.array("the job key")?),
            size: r.u32("the size")?,
            rank: r.u32("the rank")?,
            wait: Duration::from_millis(u64::from(r.u32("the wait")?)),
            private: get_addrs(&mut r)?,
        };
        r.finish()?;
        Ok(reg)
    }
}

/// Where one rank can be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddrs {
    /// The endpoint the server observed.
    pub public: SocketAddr,
    /// The addresses the rank reported.
    pub private: Vec<SocketAddr>,
}

/// What the server answers a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Every rank's addresses, in rank order.
    Table(Vec<PeerAddrs>),
    /// The registration failed (refused, or the job expired).
    Refused(ErrorKind, String),
}

impl Reply {
    /// The `Reply` frame carrying `table`: encoded once, then shared by every rank.
    pub(crate) fn encode_table(table: &[PeerAddrs]) -> Bytes {
        let mut out = frame_start();
        out.push(REPLY_TABLE);
        out.extend_from_slice(&(table.len() as u32).to_le_bytes());
        for peer in table {
            put_addr(&mut out, &peer.public);
            put_addrs(&mut out, &peer.private);
        }
        Bytes::from(frame_finish(out))
    }

    /// The `Reply` frame refusing with `kind` and `message` (cut at 65535 bytes).
    pub(crate) fn encode_refusal(kind: ErrorKind, message: &str) -> Bytes {
        let mut end = message.len().min(usize::from(u16::MAX));
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = &message.as_bytes()[..end];
        let mut out = frame_start();
        out.push(REPLY_ERROR);
        out.push(kind_code(kind));
        out.extend_from_slice(&(message.len() as u16).to_le_bytes());
        out.extend_from_slice(message);
        Bytes::from(frame_finish(out))
    }

    /// Decodes a `Reply` body (the frame without its length prefix).
    pub(crate) fn decode(body: &[u8]) -> Result<Reply> {
        let mut r = Reader::new(body, "reply");
        let reply = match r.u8("the status")? {
            REPLY_TABLE => Reply::Table(get_table(&mut r)?),
            REPLY_ERROR => {
                let kind = code_kind(r.u8("the error code")?);
                let len = usize::from(r.u16("the message length")?);
                let message = String::from_utf8_lossy(r.take(len, "the message")?).into_owned();
                Reply::Refused(kind, message)
            }
            other => return Err(r.malformed(&format!("unknown status {other}"))),
        };
        r.finish()?;
        Ok(reply)
    }
}

fn get_table(r: &mut Reader<'_>) -> Result<Vec<PeerAddrs>> {
    let size = r.u32("the table size")? as usize;
    // The smallest row is an IPv4 address and no private one: never reserve more rows than
    // the bytes present can hold, whatever the size claims.
    const MIN_ROW: usize = 1 + 4 + 2 + 1;
    if size > MAX_RANKS || size > r.remaining() / MIN_ROW {
        return Err(r.malformed(&format!(
            "a table of {size} ranks in {} bytes",
            r.remaining()
        )));
    }
    let mut table = Vec::with_capacity(size);
    for _ in 0..size {
        table.push(PeerAddrs {
            public: get_addr(r)?,
            private: get_addrs(r)?,
        });
    }
    Ok(table)
}

/// The wire code of an error kind (kinds without a code travel as `Rendezvous`).
fn kind_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Auth => 1,
        ErrorKind::InvalidArgument => 3,
        ErrorKind::Timeout => 4,
        _ => 2,
    }
}

/// The error kind of a wire code; unknown codes (from a newer server) become `Rendezvous`.
fn code_kind(code: u8) -> ErrorKind {
    match code {
        1 => ErrorKind::Auth,
        3 => ErrorKind::InvalidArgument,
        4 => ErrorKind::Timeout,
        _ => ErrorKind::Rendezvous,
    }
}

fn put_addrs(out: &mut Vec<u8>, addrs: &[SocketAddr]) {
    // Registrations are validated; a table only repeats what registrations carried.
    let addrs = &addrs[..addrs.len().min(MAX_PRIVATE)];
    out.push(addrs.len() as u8);
    for addr in addrs {
        put_addr(out, addr);
    }
}

fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_le_bytes());
}

fn get_addrs(r: &mut Reader<'_>) -> Result<Vec<SocketAddr>> {
    let count = usize::from(r.u8("the private address count")?);
    if count > MAX_PRIVATE {
        return Err(r.malformed(&format!(
            "{count} private addresses, at most {MAX_PRIVATE} allowed"
        )));
    }
    (0..count).map(|_| get_addr(r)).collect()
}

fn get_addr(r: &mut Reader<'_>) -> Result<SocketAddr> {
    let ip = match r.u8("an address family")? {
        4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>("an IPv4 address")?)),
        6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>("an IPv6 address")?)),
        other => return Err(r.malformed(&format!("address family {other}, not 4 or 6"))),
    };
    Ok(SocketAddr::new(ip, r.u16("a port")?))
}

/// A buffer with room for the length prefix.
fn frame_start() -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[0; 4]);
    out
}

/// Fills in the length prefix.
fn frame_finish(mut out: Vec<u8>) -> Vec<u8> {
    let len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out
}

/// A cursor over an untrusted body: every read is bounds-checked and names what it read.
struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8], message: &'static str) -> Reader<'a> {
        Reader {
            body,
            pos: 0,
            message,
        }
    }

    fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }

    fn malformed(&self, why: &str) -> Error {
        Error::new(
            ErrorKind::Rendezvous,
            format!("malformed rendezvous {}: {why}", self.message),
        )
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.malformed(&format!(
                "cut short at byte {} of {} while reading {what}",
                self.body.len(),
                self.pos + n
            )));
        }
        let bytes = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn finish(self) -> Result<()> {
        if self.remaining() > 0 {
            return Err(self.malformed(&format!(
                "{} unexpected bytes after its end",
                self.remaining()
            )));
        }
        Ok(())
    }
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The peer closed the connection after `got` bytes of the frame (0: before any).
    Closed {
        /// How many bytes of the frame arrived, prefix included.
        got: usize,
    },
    /// The length prefix claims more than the receiver accepts.
    TooLong {
        /// The claimed body length.
        len: u32,
        /// The receiver's limit.
        limit: usize,
    },
    /// The connection failed.
    Io(io::Error),
}

/// Reads one frame's body, refusing a claimed length above `limit` before reading or
/// allocating any of it. The body grows as bytes arrive, so a peer that claims much and
/// sends little costs only what it sent.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> std::result::Result<Vec<u8>, FrameError> {
    let mut prefix = [0; 4];
    let mut got = 0;
    while got < prefix.len() {
        match r.read(&mut prefix[got..]).await {
            Ok(0) => return Err(FrameError::Closed { got }),
            Ok(n) => got += n,
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_le_bytes(prefix);
    if len as usize > limit {
        return Err(FrameError::TooLong { len, limit });
    }
    // Nothing reserved from the claim: the body grows (doubling) with the bytes that came.
    let mut body = Vec::new();
    let read = r
        .take(u64::from(len))
        .read_to_end(&mut body)
        .await
        .map_err(FrameError::Io)?;
    if read < len as usize {
        return Err(FrameError::Closed { got: 4 + read });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Registration {
        Registration {
            token: Some("operator token".into()),
            job: JobId([7; 16]),
            key: JobKey([9; 32]),
            size: 8,
            rank: 3,
            wait: Duration::from_millis(1500),
            private: vec![
                "10.0.0.3:4000".parse().unwrap(),
                "[fe80::1]:4001".parse().unwrap(),
            ],
        }
    }

    fn sample_table() -> Vec<PeerAddrs> {
        vec![
            PeerAddrs {
                public: "1.2.3.4:5".parse().unwrap(),
                private: vec!["10.0.0.1:5".parse().unwrap()],
            },
            PeerAddrs {
                public: "[2001:db8::2]:65535".parse().unwrap(),
                private: vec![],
            },
        ]
    }

    #[test]
    fn registration_round_trips() {
        let reg = sample();
        let frame = reg.encode().unwrap();
        assert_eq!(frame[..4], ((frame.len() - 4) as u32).to_le_bytes());
        assert_eq!(Registration::decode(&frame[4..]).unwrap(), reg);

        let bare = Registration {
            token: None,
            private: vec![],
            ..reg
        };
        let frame = bare.encode().unwrap();
        assert_eq!(Registration::decode(&frame[4..]).unwrap(), bare);
    }

    #[test]
    fn every_truncated_registration_is_refused() {
        let frame = sample().encode().unwrap();
        let body = &frame[4..];
        for len in 0..body.len() {
            let err = Registration::decode(&body[..len]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Rendezvous, "{err}");
        }
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(Registration::decode(&longer).is_err());
    }

    #[test]
    fn garbage_registrations_are_refused() {
        let body = &sample().encode().unwrap()[4..];
        let mut bad_magic = body.to_vec();
        bad_magic[0] = b'X';
        let mut bad_version = body.to_vec();
        bad_version[4] = 2;
        for bad in [bad_magic, bad_version, vec![0xff; 100], vec![]] {
            let err = Registration::decode(&bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Rendezvous);
        }
    }

    #[test]
    fn validate_refuses_out_of_range_values() {
        let cases = [
            Registration {
                size: 0,
                rank: 0,
                ..sample()
            },
            Registration {
                size: MAX_RANKS as u32 + 1,
                ..sample()
            },
            Registration {
                rank: 8,
                ..sample()
            },
            Registration {
                token: Some("x".repeat(256)),
                ..sample()
            },
            Registration {
                private: vec!["1.1.1.1:1".parse().unwrap(); 9],
                ..sample()
            },
        ];
        for reg in cases {
            let err = reg.encode().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        }
    }

    #[test]
    fn replies_round_trip() {
        let table = sample_table();
        let frame = Reply::encode_table(&table);
        assert_eq!(Reply::decode(&frame[4..]).unwrap(), Reply::Table(table));

        for kind in [
            ErrorKind::Auth,
            ErrorKind::Rendezvous,
            ErrorKind::InvalidArgument,
            ErrorKind::Timeout,
        ] {
            let frame = Reply::encode_refusal(kind, "no, sorry");
            let reply = Reply::decode(&frame[4..]).unwrap();
            assert_eq!(reply, Reply::Refused(kind, "no, sorry".into()));
        }
    }

    #[test]
    fn every_truncated_reply_is_refused() {
        for frame in [
            Reply::encode_table(&sample_table()),
            Reply::encode_refusal(ErrorKind::Auth, "wrong operator token"),
        ] {
            let body = &frame[4..];
            for len in 0..body.len() {
                let err = Reply::decode(&body[..len]).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Rendezvous, "{err}");
            }
        }
    }

    #[test]
    fn a_huge_table_size_is_refused_before_allocating() {
        let mut body = vec![REPLY_TABLE];
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.extend_from_slice(&[4, 1, 2, 3, 4, 0, 1, 0]);
        let err = Reply::decode(&body).unwrap_err();
        assert!(err.message().contains("4294967295 ranks"), "{err}");
    }

    #[test]
    fn long_refusals_are_cut_at_a_char_boundary() {
        let message = "é".repeat(40_000);
        let frame = Reply::encode_refusal(ErrorKind::Rendezvous, &message);
        match Reply::decode(&frame[4..]).unwrap() {
            Reply::Refused(_, m) => assert!(m.len() <= usize::from(u16::MAX) && m.len() > 60_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn job_keys_depend_on_secret_and_job() {
        let secret = Secret([1; 32]);
        let key = JobKey::derive(&secret, JobId([2; 16]));
        assert_eq!(key, JobKey::derive(&secret, JobId([2; 16])));
        assert_ne!(key, JobKey::derive(&secret, JobId([3; 16])));
        assert_ne!(key, JobKey::derive(&Secret([4; 32]), JobId([2; 16])));
        assert_eq!(format!("{key:?}"), "JobKey(..)");
        assert!(!format!("{:?}", sample()).contains("operator token"));
    }

    #[tokio::test]
    async fn frames_above_the_limit_are_refused_unread() {
        let mut input: &[u8] = &[0xf0, 0xff, 0xff, 0xff, 1, 2, 3];
        match read_frame(&mut input, REGISTER_LIMIT).await {
            Err(FrameError::TooLong { len, .. }) => assert_eq!(len, 0xffff_fff0),
            other => panic!("{other:?}"),
        }
        assert_eq!(input, &[1, 2, 3]);
    }

    #[tokio::test]
    async fn short_frames_say_how_much_arrived() {
        let mut input: &[u8] = &[10, 0, 0, 0, 1, 2];
        assert!(matches!(
            read_frame(&mut input, REGISTER_LIMIT).await,
            Err(FrameError::Closed { got: 6 })
        ));
        let mut input: &[u8] = &[10, 0];
        assert!(matches!(
            read_frame(&mut input, REGISTER_LIMIT).await,
            Err(FrameError::Closed { got: 2 })
        ));
        let mut input: &[u8] = &[2, 0, 0, 0, 1, 2, 3];
        assert_eq!(
            read_frame(&mut input, REGISTER_LIMIT).await.unwrap(),
            [1, 2]
        );
    }
}
