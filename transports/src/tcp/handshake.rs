//! The handshake that opens every connection between two ranks.
//!
//! 1. Each end sends a hello: magic `FCHS`, version, job id, its rank, a fresh 16-byte nonce,
//!    and a flags byte (bit 0: the end encrypts its records, `encrypt=on`).
//! 2. Each end checks the other's hello (same job, a valid rank other than its own, the
//!    rank it dialled if it dialled) and sends its proof,
//!    `HMAC-SHA256(secret, "fccl tcp v2" | job | sender | receiver | sender nonce | receiver nonce
//!    | sender flags | receiver flags)`.
//! 3. Each end checks the other's proof in constant time. The proof covers the verifier's
//!    fresh nonce, so a recorded handshake cannot be replayed, and the sender's rank, so one
//!    end's proof cannot be reflected back as the other's. The secret never travels. The
//!    proof covers both ends' flags too, so nobody on the path can turn encryption off; two
//!    proven ranks whose flags differ are refused with a `Mismatch` error (their specs
//!    differ). With encryption on, both ends then derive the connection's record keys
//!    (`seal.rs`).
//! 4. The lower rank decides whether this connection is the pair's (one byte, 1 = keep,
//!    0 = drop), and the higher rank confirms a kept one (one byte, 1 = yes): when both
//!    ends dial, or a dial and an accept both succeed, the pair still ends with exactly
//!    one connection, and both ends agree on which, or on having none.

use fccl_collectives::{Error, ErrorKind, JobSpec, Rank, Result};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::seal::{Agreed, Keys};

const MAGIC: &[u8; 4] = b"FCHS";
const VERSION: u8 = 2;
const HELLO_LEN: usize = 4 + 1 + 16 + 4 + 16 + 1;
const PROOF_LEN: usize = 32;
const LABEL: &[u8] = b"fccl tcp v2";
/// The hello's flag of an end that encrypts its records.
const ENCRYPT: u8 = 1;

/// One end's hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hello {
    job: [u8; 16],
    rank: u32,
    nonce: [u8; 16],
    flags: u8,
}

impl Hello {
    fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0; HELLO_LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4] = VERSION;
        b[5..21].copy_from_slice(&self.job);
        b[21..25].copy_from_slice(&self.rank.to_le_bytes());
        b[25..41].copy_from_slice(&self.nonce);
        b[41] = self.flags;
        b
    }

    fn decode(b: &[u8; HELLO_LEN]) -> Result<Hello> {
        if &b[..4] != MAGIC || b[4] != VERSION || b[41] & !ENCRYPT != 0 {
            return Err(auth("the peer does not speak fccl's tcp protocol v2"));
        }
        let mut job = [0; 16];
        job.copy_from_slice(&b[5..21]);
        let mut nonce = [0; 16];
        nonce.copy_from_slice(&b[25..41]);
        let rank = u32::from_le_bytes([b[21], b[22], b[23], b[24]]);
        Ok(Hello {
            job,
            rank,
            nonce,
            flags: b[41],
        })
    }
}

fn auth(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Auth, message)
}

fn proof(job: &JobSpec, from: &Hello, to: &Hello) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(job.secret.bytes()).expect("HMAC takes keys of any length");
    mac.update(LABEL);
    mac.update(&job.id.0);
    mac.update(&from.rank.to_le_bytes());
    mac.update(&to.rank.to_le_bytes());
    mac.update(&from.nonce);
    mac.update(&to.nonce);
    mac.update(&[from.flags, to.flags]);
    mac
}

/// How a connection came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// This end dialled `peer`.
    Dialled(Rank),
    /// This end's listener accepted it from an unknown rank.
    Accepted,
}

/// A connection whose peer proved it belongs to the job, before the keep-or-drop decision.
pub(crate) struct Proven {
    pub(crate) stream: TcpStream,
    pub(crate) peer: Rank,
    /// The connection's record keys, if both ends encrypt.
    pub(crate) keys: Option<Keys>,
}

/// Runs steps 1–3 on `stream` as rank `me` of `job`, by `deadline`; `encrypt` is this end's
/// `encrypt=` setting. A proven rank of the job whose setting differs is refused with a
/// [`ErrorKind::Mismatch`] error naming it (and only then: a stranger's claims never make
/// one), which connecting again cannot cure.
pub(crate) async fn prove(
    mut stream: TcpStream,
    job: &JobSpec,
    me: Rank,
    encrypt: bool,
    side: Side,
    deadline: Instant,
) -> Result<Proven> {
    let phase = async {
        let mut nonce = [0; 16];
        rand::rng().fill_bytes(&mut nonce);
        let mine = Hello {
            job: job.id.0,
            rank: me as u32,
            nonce,
            flags: if encrypt { ENCRYPT } else { 0 },
        };
        stream.write_all(&mine.encode()).await?;
        let mut theirs = [0; HELLO_LEN];
        stream.read_exact(&mut theirs).await?;
        Ok::<_, std::io::Error>((mine, theirs))
    };
    let (mine, theirs) = run(phase, deadline, "hello").await?;
    let theirs = Hello::decode(&theirs)?;
    if theirs.job != job.id.0 {
        return Err(auth("the peer belongs to another job"));
    }
    let peer = theirs.rank as usize;
    if peer >= job.size || peer == me {
        return Err(auth(format!(
            "the peer claims rank {peer}, which is not another rank of this job of {}",
            job.size
        )));
    }
    if let Side::Dialled(expected) = side {
        if peer != expected {
            return Err(auth(format!(
                "dialled rank {expected} but rank {peer} answered"
            )));
        }
    }
    let mine_proof = proof(job, &mine, &theirs).finalize().into_bytes();
    let phase = async {
        stream.write_all(&mine_proof).await?;
        let mut theirs_proof = [0; PROOF_LEN];
        stream.read_exact(&mut theirs_proof).await?;
        Ok::<_, std::io::Error>(theirs_proof)
    };
    let theirs_proof = run(phase, deadline, "proof").await?;
    proof(job, &theirs, &mine)
        .verify_slice(&theirs_proof)
        .map_err(|_| {
            auth(format!(
                "the peer claiming rank {peer} could not prove it knows the job secret"
            ))
        })?;
    let theirs_encrypt = theirs.flags & ENCRYPT != 0;
    if theirs_encrypt != encrypt {
        let setting = |on: bool| if on { "encrypt=on" } else { "encrypt=off" };
        return Err(Error::new(
            ErrorKind::Mismatch,
            format!(
                "rank {peer} has {} in its tcp spec but rank {me} has {}: every rank of a job \
                 must use the same spec",
                setting(theirs_encrypt),
                setting(encrypt)
            ),
        )
        .with_peer(peer));
    }
    let keys = encrypt.then(|| {
        Keys::derive(&Agreed {
            secret: job.secret.bytes(),
            job: &job.id.0,
            me: (mine.rank, &mine.nonce),
            peer: (theirs.rank, &theirs.nonce),
        })
    });
    Ok(Proven { stream, peer, keys })
}

/// Step 4: tells the peer yes or no (the lower rank's decision, the higher rank's
/// confirmation).
pub(crate) async fn send_decision(
    stream: &mut TcpStream,
    keep: bool,
    deadline: Instant,
) -> Result<()> {
    run(stream.write_all(&[u8::from(keep)]), deadline, "decision").await
}

/// Step 4: the peer's yes or no.
pub(crate) async fn read_decision(stream: &mut TcpStream, deadline: Instant) -> Result<bool> {
    let mut b = [0; 1];
    run(stream.read_exact(&mut b), deadline, "decision").await?;
    match b[0] {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(auth(format!("decision byte {other}"))),
    }
}

/// Runs one handshake phase by `deadline`, naming the phase in errors.
async fn run<T>(
    phase: impl Future<Output = std::io::Result<T>>,
    deadline: Instant,
    what: &str,
) -> Result<T> {
    match timeout_at(deadline, phase).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::new(
            ErrorKind::Transport,
            format!("handshake {what}: {e}"),
        )),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("handshake {what}: the peer did not answer in time"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tcp::seal::SEALED_HEAD;
    use crate::tcp::wire::{Head, Kind, control_tag};
    use fccl_collectives::CommId;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap());
        let (a, b) = tokio::join!(a, l.accept());
        (a.unwrap(), b.unwrap().0)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn ranks_of_one_job_prove_themselves() {
        let job = JobSpec::new(4, "tcp://h:1").unwrap();
        let (a, b) = pair().await;
        let (x, y) = tokio::join!(
            prove(a, &job, 1, false, Side::Dialled(3), soon()),
            prove(b, &job, 3, false, Side::Accepted, soon())
        );
        assert_eq!(x.unwrap().peer, 3);
        assert_eq!(y.unwrap().peer, 1);
    }

    #[tokio::test]
    async fn a_wrong_secret_a_wrong_job_and_a_wrong_rank_are_refused() {
        let job = JobSpec::new(4, "tcp://h:1").unwrap();
        let mut stranger = job.clone();
        stranger.secret = fccl_collectives::Secret::random();
        let (a, b) = pair().await;
        let (x, y) = tokio::join!(
            prove(a, &job, 0, false, Side::Dialled(1), soon()),
            prove(b, &stranger, 1, false, Side::Accepted, soon())
        );
        let (x, y) = (x.err().unwrap(), y.err().unwrap());
        assert_eq!((x.kind(), y.kind()), (ErrorKind::Auth, ErrorKind::Auth));
        assert!(x.to_string().contains("could not prove"), "{x}");

        let other = JobSpec::new(4, "tcp://h:1").unwrap();
        let (a, b) = pair().await;
        let (x, _) = tokio::join!(
            prove(a, &job, 0, false, Side::Dialled(1), soon()),
            prove(b, &other, 1, false, Side::Accepted, soon())
        );
        assert!(x.err().unwrap().to_string().contains("another job"));

        let (a, b) = pair().await;
        let (x, _) = tokio::join!(
            prove(a, &job, 0, false, Side::Dialled(2), soon()),
            prove(b, &job, 1, false, Side::Accepted, soon())
        );
        assert!(x.err().unwrap().to_string().contains("rank 1 answered"));
    }

    #[tokio::test]
    async fn encrypting_ends_share_keys_and_a_pair_that_disagrees_is_refused_by_both() {
        let job = JobSpec::new(4, "tcp://h:1").unwrap();
        let (a, b) = pair().await;
        let (x, y) = tokio::join!(
            prove(a, &job, 2, true, Side::Dialled(0), soon()),
            prove(b, &job, 0, true, Side::Accepted, soon())
        );
        let (mut x, mut y) = (x.unwrap().keys.unwrap(), y.unwrap().keys.unwrap());
        let head = Head::new(Kind::Bye, control_tag(CommId::WORLD), 0);
        for _ in 0..2 {
            let mut record = x.sealer.seal(&head.encode(), &[], &[]).unwrap().to_vec();
            let opened = y.opener.open_head(&mut record[..SEALED_HEAD]);
            assert_eq!(opened.unwrap(), head);
            std::mem::swap(&mut x, &mut y);
        }

        for (on_a, on_b) in [(true, false), (false, true)] {
            let (a, b) = pair().await;
            let (x, y) = tokio::join!(
                prove(a, &job, 2, on_a, Side::Dialled(0), soon()),
                prove(b, &job, 0, on_b, Side::Accepted, soon())
            );
            for (e, peer) in [(x.err().unwrap(), 0), (y.err().unwrap(), 2)] {
                assert_eq!(e.kind(), ErrorKind::Mismatch, "{e}");
                assert_eq!(e.peer(), Some(peer), "{e}");
                assert!(e.to_string().contains("encrypt=on"), "{e}");
                assert!(e.to_string().contains("encrypt=off"), "{e}");
            }
        }
        // A plain pair derives no keys.
        let (a, b) = pair().await;
        let (x, _) = tokio::join!(
            prove(a, &job, 2, false, Side::Dialled(0), soon()),
            prove(b, &job, 0, false, Side::Accepted, soon())
        );
        assert!(x.unwrap().keys.is_none());
    }

    #[tokio::test]
    async fn a_replayed_handshake_is_refused() {
        // Record what rank 1 sends in a real handshake, then replay it to rank 0 on a new
        // connection: rank 0's fresh nonce makes the recorded proof worthless.
        let job = JobSpec::new(2, "tcp://h:1").unwrap();
        let (a, mut b) = pair().await;
        let (c, d) = pair().await;
        let honest = tokio::spawn({
            let job = job.clone();
            async move {
                prove(c, &job, 1, false, Side::Accepted, soon())
                    .await
                    .map(|_| ())
            }
        });
        // Relay rank 0's first connection to the honest rank 1, recording rank 1's bytes.
        let (mut d_read, mut d_write) = d.into_split();
        let recorder = tokio::spawn(async move {
            let mut from_zero = [0; HELLO_LEN + PROOF_LEN];
            b.read_exact(&mut from_zero[..HELLO_LEN]).await.unwrap();
            d_write.write_all(&from_zero[..HELLO_LEN]).await.unwrap();
            let mut from_one = vec![0; HELLO_LEN + PROOF_LEN];
            d_read.read_exact(&mut from_one[..HELLO_LEN]).await.unwrap();
            b.write_all(&from_one[..HELLO_LEN]).await.unwrap();
            b.read_exact(&mut from_zero[HELLO_LEN..]).await.unwrap();
            d_write.write_all(&from_zero[HELLO_LEN..]).await.unwrap();
            d_read.read_exact(&mut from_one[HELLO_LEN..]).await.unwrap();
            b.write_all(&from_one[HELLO_LEN..]).await.unwrap();
            from_one
        });
        prove(a, &job, 0, false, Side::Dialled(1), soon())
            .await
            .unwrap();
        honest.await.unwrap().unwrap();
        let recorded = recorder.await.unwrap();
        let (e, mut f) = pair().await;
        let replay = tokio::spawn(async move {
            f.write_all(&recorded).await.unwrap();
            let mut sink = vec![0; HELLO_LEN + PROOF_LEN];
            let _ = f.read_exact(&mut sink).await;
        });
        let err = prove(e, &job, 0, false, Side::Dialled(1), soon())
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        replay.await.unwrap();
    }

    #[tokio::test]
    async fn garbage_and_silence_end_in_clear_errors() {
        let job = JobSpec::new(2, "tcp://h:1").unwrap();
        let (a, mut b) = pair().await;
        b.write_all(&[0x47; HELLO_LEN]).await.unwrap();
        let e = prove(a, &job, 0, false, Side::Accepted, soon())
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("does not speak"), "{e}");
        let (a, _b) = pair().await;
        let quick = Instant::now() + Duration::from_millis(100);
        let e = prove(a, &job, 0, false, Side::Accepted, quick)
            .await
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
}
