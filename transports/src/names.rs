//! Opaque names for what a job leaves where others can list it: store keys and queue names.
//!
//! Anyone who can list a store's keys or an account's queues sees their names, so a name
//! must not tell which job it belongs to, which ranks talk, nor how far a job has come.
//! Every name is a keyed hash of its logical name (`msg:{from}:{to}:{seq}:{part}`, ...)
//! under a key derived from the job secret and the job id:
//!
//! ```text
//! key        = HMAC-SHA256(secret, "fccl names v1" | job id)
//! job part   = hex(HMAC-SHA256(key, "\0job"))[..32]       (the same for every name of a job)
//! name part  = hex(HMAC-SHA256(key, logical name))[..32]
//! ```
//!
//! The job part lets a whole job's names be found by prefix (cleanup, listing); the name
//! part is 128 bits, so two logical names of a job collide with negligible chance. Both
//! are deterministic for one (job id, secret), so every rank derives the same names, and
//! differ for any other secret, so a process without the secret cannot even find a job's
//! keys. The logical names stay in memory for error messages.
//!
//! Rank numbers in short names (SQS queue names, which may have only 80 characters) go
//! through [`Names::rank_code`], a keyed permutation, so that no two ranks share a name.

use std::fmt::Write;

use fccl_collectives::{JobId, Rank, Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The digits of a name part and of a job part.
pub(crate) const PART_HEX: usize = 32;

/// The bits of [`Names::rank_code`], which fits 10 hex digits.
const RANK_CODE_BITS: u32 = 40;

/// Derives the opaque names of one job.
#[derive(Clone)]
pub(crate) struct Names {
    /// HMAC keyed with the job's naming key (its pads computed once).
    mac: Hmac<Sha256>,
    /// The job part, [`PART_HEX`] hex digits.
    job: String,
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names").field("job", &self.job).finish()
    }
}

impl Names {
    /// The names of `job`, whose secret is `secret`.
    pub(crate) fn new(secret: &Secret, job: JobId) -> Names {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret.bytes())
            .expect("HMAC accepts keys of any length");
        derive.update(b"fccl names v1");
        derive.update(&job.0);
        let key = derive.finalize().into_bytes();
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
        let mut names = Names {
            mac,
            job: String::new(),
        };
        // No logical name starts with a NUL, so the job part is no name part.
        names.job = names.part(b"\0job");
        names
    }

    /// The part every name of this job shares.
    pub(crate) fn job_part(&self) -> &str {
        &self.job
    }

    /// The opaque name part of `logical`: [`PART_HEX`] lower-case hex digits.
    pub(crate) fn part(&self, logical: &[u8]) -> String {
        let digest = self.digest(logical);
        let mut out = String::with_capacity(PART_HEX);
        for b in &digest[..PART_HEX / 2] {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    fn digest(&self, logical: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(logical);
        mac.finalize().into_bytes().into()
    }

    /// `rank` as 10 hex digits that only the job can map back: a four-round Feistel
    /// permutation of 40-bit values keyed by the job, so distinct ranks (all below 2^40)
    /// get distinct codes.
    pub(crate) fn rank_code(&self, rank: Rank) -> String {
        let half = RANK_CODE_BITS / 2;
        let mask = (1u64 << half) - 1;
        let v = rank as u64;
        debug_assert!(v < 1 << RANK_CODE_BITS);
        let (mut l, mut r) = ((v >> half) & mask, v & mask);
        for round in 0u8..4 {
            // A leading 1: no logical name starts with it, nor does the job part's input.
            let mut input = [1u8; 6];
            input[1] = round;
            input[2..].copy_from_slice(&(r as u32).to_le_bytes());
            let d = self.digest(&input);
            let f = u64::from(u32::from_le_bytes([d[0], d[1], d[2], d[3]])) & mask;
            (l, r) = (r, l ^ f);
        }
        format!("{:010x}", (l << half) | r)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn names_are_deterministic_per_job_and_secret_and_reveal_neither() {
        let job = JobId([0x5a; 16]);
        let secret = Secret([0xc3; 32]);
        let a = Names::new(&secret, job);
        let b = Names::new(&secret, job);
        assert_eq!(a.job_part(), b.job_part());
        assert_eq!(a.part(b"msg:1:2:3:0"), b.part(b"msg:1:2:3:0"));
        assert_eq!(a.rank_code(7), b.rank_code(7));
        let other_secret = Names::new(&Secret([0xc4; 32]), job);
        let other_job = Names::new(&secret, JobId([0x5b; 16]));
        for other in [&other_secret, &other_job] {
            assert_ne!(a.job_part(), other.job_part());
            assert_ne!(a.part(b"msg:1:2:3:0"), other.part(b"msg:1:2:3:0"));
            assert_ne!(a.rank_code(7), other.rank_code(7));
        }
        let (id, key) = (hex(&job.0), hex(&secret.0));
        for name in [a.job_part().to_string(), a.part(b"x"), a.rank_code(1)] {
            assert!(
                !id.contains(&name[..8]) && !key.contains(&name[..8]),
                "{name}"
            );
            assert!(name.bytes().all(|c| c.is_ascii_hexdigit()), "{name}");
        }
        assert_eq!(a.job_part().len(), PART_HEX);
        assert_eq!(a.part(b"msg").len(), PART_HEX);
        assert_ne!(a.part(b"msg:1:2:3:0"), a.part(b"msg:1:2:3:1"));
        assert_ne!(a.part(b"\0job"), a.part(b"\0jo"));
    }

    #[test]
    fn rank_codes_are_distinct_and_not_the_rank() {
        let names = Names::new(&Secret([1; 32]), JobId([2; 16]));
        let codes: HashSet<String> = (0..50_000).map(|r| names.rank_code(r)).collect();
        assert_eq!(codes.len(), 50_000);
        assert!(codes.iter().all(|c| c.len() == 10));
        // Not the identity nor monotone: small ranks do not get small codes.
        let small = (0..64).filter(|&r| names.rank_code(r).as_str() < "0000100000");
        assert!(small.count() < 4);
        assert_eq!(names.rank_code(usize::pow(2, 20) - 1).len(), 10);
    }
}

/// The key names of one job on a store (memcached, Redis): `fccl:{job part}:{name part}`.
#[derive(Clone, Debug)]
pub(crate) struct StoreKeys {
    names: Names,
    /// `fccl:{job part}:`.
    prefix: String,
}

impl StoreKeys {
    /// The store keys of `job`, whose secret is `secret`.
    pub(crate) fn new(secret: &Secret, job: JobId) -> StoreKeys {
        let names = Names::new(secret, job);
        let prefix = format!("fccl:{}:", names.job_part());
        StoreKeys { names, prefix }
    }

    /// The key of the logical name `logical`.
    pub(crate) fn key(&self, logical: std::fmt::Arguments<'_>) -> String {
        let mut key = String::with_capacity(self.prefix.len() + PART_HEX);
        key.push_str(&self.prefix);
        key.push_str(&self.names.part(logical.to_string().as_bytes()));
        key
    }

    /// What every key of this job starts with.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}
