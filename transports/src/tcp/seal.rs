//! The optional encryption of a connection's records (`encrypt=on` in the spec).
//!
//! After the handshake both ends derive one AES-256-GCM key per direction with
//! HKDF-SHA256 (RFC 5869): the job secret is the input key material, the salt is the
//! sender's then the receiver's handshake nonce (fresh on every connection, so no two
//! connections share a key), and the info is `"fccl tcp v2 record key" | job | sender rank |
//! receiver rank`. Nothing of the key travels; the handshake proof has already shown that
//! both ends hold the secret.
//!
//! A sealed record is its 48-byte head sealed on its own (48 bytes and a 16-byte tag), then
//! its payload sealed (a 16-byte tag after it), then the zeros that pad it to a multiple of
//! 16 bytes:
//!
//! ```text
//! | head (48) | tag (16) | payload (len) | tag (16) | zeros to 16 |
//! ```
//!
//! The head is opened before its length is believed, the payload is opened in the reader's
//! buffer and handed on in place, every part stays 16-byte aligned as in a plain record, and
//! padding that is not zeros is refused like a changed byte.
//! The nonce of each seal is a per-direction counter (head and payload take one each), so
//! none is ever used twice under one key, and a record that is replayed, reordered, cut or
//! changed fails to open: the reader then ends the connection with an `Auth` error and
//! delivers nothing of it. Sealing adds 32 bytes to a record; the sender encrypts the
//! payload from where it lies into the record it writes, the receiver decrypts it where it
//! lies in its buffer. aws-lc's AES-GCM uses the CPU's AES and carry-less multiply
//! instructions.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use fccl_collectives::{Error, ErrorKind, Result};

use super::wire::{HEAD_LEN, Head, padding};

/// The length of an AES-GCM tag.
pub(crate) const TAG_LEN: usize = 16;

/// The length of a sealed record head.
pub(crate) const SEALED_HEAD: usize = HEAD_LEN + TAG_LEN;

/// A sealing buffer grown past this many bytes is freed once its record has left, so that a
/// large message does not hold its size for the connection's life.
const KEEP: usize = 16 << 20;

const KEY_LABEL: &[u8] = b"fccl tcp v2 record key";

/// The length of the sealed body of a record with `len` payload bytes (tag and padding
/// included).
pub(crate) fn sealed_body(len: usize) -> usize {
    len + TAG_LEN + padding(len)
}

/// Both directions' keys of one connection, from one end's side.
pub(crate) struct Keys {
    /// Seals what this end sends.
    pub(crate) sealer: Sealer,
    /// Opens what this end receives.
    pub(crate) opener: Opener,
}

/// The handshake's facts the keys are derived from.
pub(crate) struct Agreed<'a> {
    /// The job's secret.
    pub(crate) secret: &'a [u8; 32],
    /// The job's id.
    pub(crate) job: &'a [u8; 16],
    /// This end's rank and handshake nonce.
    pub(crate) me: (u32, &'a [u8; 16]),
    /// The peer's rank and handshake nonce.
    pub(crate) peer: (u32, &'a [u8; 16]),
}

impl Keys {
    /// Derives both directions' keys.
    pub(crate) fn derive(agreed: &Agreed<'_>) -> Keys {
        Keys {
            sealer: Sealer {
                key: key(agreed, agreed.me, agreed.peer),
                counter: Counter(0),
                record: Vec::new(),
            },
            opener: Opener {
                key: key(agreed, agreed.peer, agreed.me),
                counter: Counter(0),
                head: None,
            },
        }
    }
}

/// The key of the direction `from` → `to`.
fn key(agreed: &Agreed<'_>, from: (u32, &[u8; 16]), to: (u32, &[u8; 16])) -> LessSafeKey {
    let mut salt = [0; 32];
    salt[..16].copy_from_slice(from.1);
    salt[16..].copy_from_slice(to.1);
    let (from_rank, to_rank) = (from.0.to_le_bytes(), to.0.to_le_bytes());
    let info: [&[u8]; 4] = [KEY_LABEL, agreed.job, &from_rank, &to_rank];
    let prk = Salt::new(HKDF_SHA256, &salt).extract(agreed.secret);
    let okm = (prk.expand(&info, &AES_256_GCM)).expect("HKDF-SHA256 yields a 32-byte key");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// A direction's nonce counter.
struct Counter(u64);

impl Counter {
    /// The next nonce: 4 zero bytes and the counter, big-endian. A connection that would
    /// wrap it (after 2^64 seals) ends instead.
    fn next(&mut self) -> Result<Nonce> {
        let n = self.0;
        self.0 = n.checked_add(1).ok_or_else(|| {
            Error::new(
                ErrorKind::Transport,
                "the connection used up its record counter",
            )
        })?;
        let mut nonce = [0; NONCE_LEN];
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        Ok(Nonce::assume_unique_for_key(nonce))
    }
}

/// Seals the records one end sends, in the order they go on the wire.
pub(crate) struct Sealer {
    key: LessSafeKey,
    counter: Counter,
    /// The record being sealed, kept between records (up to [`KEEP`] bytes).
    record: Vec<u8>,
}

impl Sealer {
    /// Seals the record with `head` and the payload `first` followed by `rest`; the
    /// returned bytes must be written before the next record is sealed.
    pub(crate) fn seal(&mut self, head: &[u8], first: &[u8], rest: &[u8]) -> Result<&[u8]> {
        let len = first.len() + rest.len();
        let total = SEALED_HEAD + sealed_body(len);
        let r = &mut self.record;
        // Every byte is written below: a fresh buffer comes zeroed by the allocator rather
        // than by a pass over it, a kept one is only cut or grown to size.
        if r.capacity() < total {
            *r = vec![0; total];
        } else {
            r.resize(total, 0);
        }
        let (sealed_head, body) = r.split_at_mut(SEALED_HEAD);
        let (head_out, head_tag) = sealed_head.split_at_mut(HEAD_LEN);
        head_out.copy_from_slice(head);
        let nonce = self.counter.next()?;
        let tag = (self
            .key
            .seal_in_place_separate_tag(nonce, Aad::empty(), head_out))
        .map_err(failed)?;
        head_tag.copy_from_slice(tag.as_ref());
        let (first_out, body) = body.split_at_mut(first.len());
        let (rest_out_and_tag, pad) = body.split_at_mut(rest.len() + TAG_LEN);
        let nonce = self.counter.next()?;
        let sealed = self.key.seal_out_of_place_scatter(
            nonce,
            Aad::empty(),
            first,
            first_out,
            rest,
            rest_out_and_tag,
        );
        sealed.map_err(failed)?;
        pad.fill(0);
        Ok(r)
    }

    /// Frees the sealing buffer if the last record made it larger than [`KEEP`].
    pub(crate) fn release(&mut self) {
        if self.record.capacity() > KEEP {
            self.record = Vec::new();
        }
    }
}

fn failed(_: aws_lc_rs::error::Unspecified) -> Error {
    Error::new(ErrorKind::Internal, "AES-GCM refused to seal a record")
}

/// Opens the records one end receives, in order.
pub(crate) struct Opener {
    key: LessSafeKey,
    counter: Counter,
    /// The head of the record whose body is awaited, once opened.
    pub(crate) head: Option<Head>,
}

impl Opener {
    /// Opens a sealed head ([`SEALED_HEAD`] bytes) in place and parses it.
    pub(crate) fn open_head(&mut self, sealed: &mut [u8]) -> Result<Head> {
        let nonce = self.counter.next()?;
        let head = (self.key.open_in_place(nonce, Aad::empty(), sealed)).map_err(|_| forged())?;
        Head::decode(head)
    }

    /// Opens the sealed body of a record of `len` payload bytes (`sealed_body(len)` bytes)
    /// in place: its first `len` bytes are then the payload.
    pub(crate) fn open_body(&mut self, sealed: &mut [u8], len: usize) -> Result<()> {
        let nonce = self.counter.next()?;
        let (payload_and_tag, pad) = sealed.split_at_mut(len + TAG_LEN);
        (self.key.open_in_place(nonce, Aad::empty(), payload_and_tag)).map_err(|_| forged())?;
        if pad.iter().any(|&b| b != 0) {
            return Err(forged());
        }
        Ok(())
    }
}

fn forged() -> Error {
    Error::new(
        ErrorKind::Auth,
        "a record failed authentication (changed, cut, replayed or reordered on the way, or \
         sealed with another key)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::wire::{Kind, control_tag};
    use fccl_collectives::CommId;

    fn keys(me: u32, peer: u32, nonces: ([u8; 16], [u8; 16])) -> Keys {
        let (mine, theirs) = if me < peer {
            (&nonces.0, &nonces.1)
        } else {
            (&nonces.1, &nonces.0)
        };
        Keys::derive(&Agreed {
            secret: &[9; 32],
            job: &[4; 16],
            me: (me, mine),
            peer: (peer, theirs),
        })
    }

    fn head(len: usize) -> Vec<u8> {
        Head::new(Kind::Data, control_tag(CommId::WORLD), len)
            .encode()
            .to_vec()
    }

    #[test]
    fn one_end_opens_what_the_other_sealed_and_each_direction_has_its_own_key() {
        let nonces = ([1; 16], [2; 16]);
        let (mut zero, mut one) = (keys(0, 1, nonces), keys(1, 0, nonces));
        for len in [0, 1, 15, 16, 17, 1000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (a, b) = payload.split_at(len / 3);
            let mut record = zero.sealer.seal(&head(len), a, b).unwrap().to_vec();
            assert_eq!(record.len(), SEALED_HEAD + sealed_body(len));
            assert_eq!(record.len() % 16, 0);
            let got = one.opener.open_head(&mut record[..SEALED_HEAD]).unwrap();
            assert_eq!(got.len as usize, len);
            one.opener
                .open_body(&mut record[SEALED_HEAD..], len)
                .unwrap();
            assert_eq!(&record[SEALED_HEAD..SEALED_HEAD + len], &payload[..]);
        }
        // Rank 1's own sealer uses the other direction's key: rank 1 cannot open it as if
        // rank 0 had sent it (a reflected record).
        let mut reflected = one.sealer.seal(&head(5), b"hello", b"").unwrap().to_vec();
        let e = one.opener.open_head(&mut reflected[..SEALED_HEAD]);
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Auth);
    }

    #[test]
    fn other_nonces_give_other_keys() {
        let mut zero = keys(0, 1, ([1; 16], [2; 16]));
        let mut stranger = keys(1, 0, ([1; 16], [3; 16]));
        let mut record = zero.sealer.seal(&head(3), b"abc", b"").unwrap().to_vec();
        let e = stranger.opener.open_head(&mut record[..SEALED_HEAD]);
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Auth);
    }

    /// The cost of sealing and opening, printed (not asserted):
    /// `cargo nextest run -p fccl-transports --lib seal --run-ignored only --no-capture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn sealing_and_opening_throughput() {
        let nonces = ([1; 16], [2; 16]);
        let (mut zero, mut one) = (keys(0, 1, nonces), keys(1, 0, nonces));
        for len in [64 << 10, 1 << 20, 16 << 20] {
            let payload = vec![0x33u8; len];
            let (mut sealing, mut opening) = (0.0, 0.0);
            let rounds = (256 << 20) / len;
            for _ in 0..rounds {
                let started = std::time::Instant::now();
                let sealed = zero.sealer.seal(&head(len), &payload, &[]).unwrap();
                sealing += started.elapsed().as_secs_f64();
                let mut record = sealed.to_vec();
                let started = std::time::Instant::now();
                one.opener.open_head(&mut record[..SEALED_HEAD]).unwrap();
                one.opener
                    .open_body(&mut record[SEALED_HEAD..], len)
                    .unwrap();
                opening += started.elapsed().as_secs_f64();
            }
            let gbs = |secs: f64| (rounds * len) as f64 / secs / 1e9;
            println!(
                "{len} B records: seal {:.2} GB/s, open {:.2} GB/s",
                gbs(sealing),
                gbs(opening)
            );
        }
    }
}
