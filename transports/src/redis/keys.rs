//! The keys a job uses, namespaced like gloo's `PrefixStore`: every key is
//! `fccl:{job id in hex}:{kind}:{rank}`, with separators between the parts, so that no two
//! jobs (nor two kinds of key of one job) can collide. The job secret is in no key.

use fccl_collectives::{JobId, Rank};

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
    }
}
