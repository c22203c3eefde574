//! The keys a job uses, namespaced like gloo's `PrefixStore`: every key is
//! `fccl:{job id in hex}:{kind}:...`, with `:` between the parts, so that no two jobs (nor
//! two kinds of key of one job) can collide. A tag appears in its `Display` form
//! (`comm/c|p/seq/step/chunk`), which has no `:`. The job secret is in no key.

use fccl_collectives::{JobId, Rank, Tag};

/// The key names of one job.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    /// `fccl:{job id}`.
    prefix: String,
}

impl Keys {
    /// The keys of `job`.
    pub(crate) fn new(job: JobId) -> Keys {
        Keys {
            prefix: format!("fccl:{job}"),
        }
    }

    /// The list that carries every record sent to `rank`.
    pub(crate) fn inbox(&self, rank: Rank) -> String {
        format!("{}:inbox:{rank}", self.prefix)
    }

    /// The key whose presence shows that the server still holds this endpoint's keys: set
    /// at connect, renewed while the endpoint lives. `nonce` tells two endpoints of one rank
    /// apart (a stranger that joins as this rank must not delete ours).
    pub(crate) fn alive(&self, rank: Rank, nonce: u64) -> String {
        format!("{}:alive:{rank}:{nonce:016x}", self.prefix)
    }

    /// The list that holds the first part of `owner`'s object `tag` once it is complete.
    pub(crate) fn object(&self, owner: Rank, tag: &Tag) -> String {
        format!("{}:obj:{owner}:{tag}", self.prefix)
    }

    /// The string that holds part `part` (1 or more) of `owner`'s object `tag`.
    pub(crate) fn object_part(&self, owner: Rank, tag: &Tag, part: u32) -> String {
        format!("{}:obj:{owner}:{tag}:part:{part}", self.prefix)
    }

    /// The counter `tag`.
    pub(crate) fn counter(&self, tag: &Tag) -> String {
        format!("{}:ctr:{tag}", self.prefix)
    }

    /// The sorted set of those waiting on counter `tag`, scored by the value they wait for.
    pub(crate) fn counter_waiters(&self, tag: &Tag) -> String {
        format!("{}:ctr:{tag}:waiters", self.prefix)
    }

    /// The list onto which an `add` that reached a waiter's value pushes that value.
    pub(crate) fn counter_wake(&self, tag: &Tag, waiter: &str) -> String {
        format!("{}:ctr:{tag}:wake:{waiter}", self.prefix)
    }

    /// The list onto which `dest` pushes how many payload bytes from `source` it let in.
    pub(crate) fn credit(&self, source: Rank, dest: Rank) -> String {
        format!("{}:credit:{source}:{dest}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_structured_and_distinct() {
        let keys = Keys::new(JobId([0xab; 16]));
        assert_eq!(keys.inbox(3), format!("fccl:{}:inbox:3", "ab".repeat(16)));
        assert_ne!(keys.inbox(1), keys.inbox(11));
        assert_ne!(keys.inbox(1), Keys::new(JobId([0xac; 16])).inbox(1));
        let tag = Tag {
            comm: fccl_collectives::CommId(5),
            p2p: false,
            seq: 7,
            step: 1,
            chunk: 0,
        };
        let prefix = format!("fccl:{}", "ab".repeat(16));
        assert_eq!(keys.object(2, &tag), format!("{prefix}:obj:2:{tag}"));
        assert!(!tag.to_string().contains(':'), "{tag}");
        assert_ne!(keys.object_part(2, &tag, 1), keys.object_part(2, &tag, 11));
        assert_ne!(keys.object(1, &tag), keys.object(11, &tag));
        assert_eq!(keys.counter(&tag), format!("{prefix}:ctr:{tag}"));
        assert_ne!(keys.credit(1, 2), keys.credit(2, 1));
        assert_ne!(keys.alive(1, 1), keys.alive(1, 2));
    }
}
