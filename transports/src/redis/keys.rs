//! The keys a job uses. Each has a logical name, namespaced like gloo's `PrefixStore`
//! (`inbox:{rank}`, `obj:{owner}:{tag}`, `ctr:{tag}:waiters`, ...; a tag appears in its
//! `Display` form, `comm/c|p/seq/step/chunk`, which has no `:`), but what goes to the
//! server is `fccl:{job part}:{name part}`, both parts keyed hashes under the job secret
//! (`crate::names`): whoever lists the server's keys (`SCAN`, `KEYS`) learns neither the
//! job id, nor the ranks, nor the tags, and a process without the secret cannot find them.

use fccl_collectives::{JobId, Rank, Secret, Tag};

use crate::names::StoreKeys;

/// The key names of one job.
#[derive(Clone, Debug)]
pub(crate) struct Keys(StoreKeys);

impl Keys {
    /// The keys of `job`, whose secret is `secret`.
    pub(crate) fn new(secret: &Secret, job: JobId) -> Keys {
        Keys(StoreKeys::new(secret, job))
    }

    /// The key of the logical name `logical`.
    fn key(&self, logical: std::fmt::Arguments<'_>) -> String {
        self.0.key(logical)
    }

    /// What every key of this job starts with.
    pub(crate) fn prefix(&self) -> &str {
        self.0.prefix()
    }

    /// The list that carries every record sent to `rank`.
    pub(crate) fn inbox(&self, rank: Rank) -> String {
        self.key(format_args!("inbox:{rank}"))
    }

    /// The key whose presence shows that the server still holds this endpoint's keys: set
    /// at connect, renewed while the endpoint lives. `nonce` tells two endpoints of one rank
    /// apart (a stranger that joins as this rank must not delete ours).
    pub(crate) fn alive(&self, rank: Rank, nonce: u64) -> String {
        self.key(format_args!("alive:{rank}:{nonce:016x}"))
    }

    /// The list that holds the first part of `owner`'s object `tag` once it is complete.
    pub(crate) fn object(&self, owner: Rank, tag: &Tag) -> String {
        self.key(format_args!("obj:{owner}:{tag}"))
    }

    /// The string that holds part `part` (1 or more) of `owner`'s object `tag`.
    pub(crate) fn object_part(&self, owner: Rank, tag: &Tag, part: u32) -> String {
        self.key(format_args!("obj:{owner}:{tag}:part:{part}"))
    }

    /// The counter `tag`.
    pub(crate) fn counter(&self, tag: &Tag) -> String {
        self.key(format_args!("ctr:{tag}"))
    }

    /// The sorted set of those waiting on counter `tag`, scored by the value they wait for.
    pub(crate) fn counter_waiters(&self, tag: &Tag) -> String {
        self.key(format_args!("ctr:{tag}:waiters"))
    }

    /// The list onto which an `add` that reached a waiter's value pushes that value.
    pub(crate) fn counter_wake(&self, tag: &Tag, waiter: &str) -> String {
        self.key(format_args!("ctr:{tag}:wake:{waiter}"))
    }

    /// The list onto which `dest` pushes how many payload bytes from `source` it let in.
    pub(crate) fn credit(&self, source: Rank, dest: Rank) -> String {
        self.key(format_args!("credit:{source}:{dest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn keys_are_opaque_and_distinct() {
        let (job, secret) = (JobId([0xab; 16]), Secret([0x42; 32]));
        let keys = Keys::new(&secret, job);
        assert_eq!(keys.inbox(3), Keys::new(&secret, job).inbox(3));
        assert_ne!(keys.inbox(1), keys.inbox(11));
        assert_ne!(
            keys.inbox(1),
            Keys::new(&secret, JobId([0xac; 16])).inbox(1)
        );
        assert_ne!(keys.inbox(1), Keys::new(&Secret([0x43; 32]), job).inbox(1));
        let tag = Tag {
            comm: fccl_collectives::CommId(5),
            p2p: false,
            seq: 7,
            step: 1,
            chunk: 0,
        };
        assert!(!tag.to_string().contains(':'), "{tag}");
        assert_ne!(keys.object_part(2, &tag, 1), keys.object_part(2, &tag, 11));
        assert_ne!(keys.object(1, &tag), keys.object(11, &tag));
        assert_ne!(keys.counter(&tag), keys.counter_waiters(&tag));
        assert_ne!(keys.credit(1, 2), keys.credit(2, 1));
        assert_ne!(keys.alive(1, 1), keys.alive(1, 2));
        let (id, key) = (hex(&job.0), hex(&secret.0));
        for k in [
            keys.inbox(3),
            keys.object(2, &tag),
            keys.counter_wake(&tag, "w"),
            keys.credit(1, 2),
        ] {
            assert!(k.starts_with(keys.prefix()), "{k}");
            assert!(!k.contains(&id[..8]) && !k.contains(&key[..8]), "{k}");
            assert!(
                !k.contains("inbox") && !k.contains("obj") && !k.contains("/"),
                "{k}"
            );
            let parts: Vec<&str> = k.split(':').collect();
            assert_eq!(parts.len(), 3, "{k}");
            assert!(parts[1..].iter().all(|p| p.len() == 32), "{k}");
        }
    }
}
