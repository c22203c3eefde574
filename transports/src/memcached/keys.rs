//! The keys a job uses, namespaced like gloo's `PrefixStore`: every key is
//! `fccl:{job id in hex}:{kind}:...`, with separators between the parts, so that no two
//! jobs (nor two kinds of key of one job) can collide. The job secret is in no key. Every
//! key fits memcached's 250 bytes and has no space or control character.

use fccl_collectives::{JobId, Rank, Tag};

/// The longest key memcached accepts.
#[cfg(test)]
pub(crate) const MAX_KEY: usize = 250;

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

    /// Part `part` of message number `seq` from `from` to `to`.
    pub(crate) fn msg(&self, from: Rank, to: Rank, seq: u64, part: u32) -> String {
        format!("{}:msg:{from}:{to}:{seq}:{part}", self.prefix)
    }

    /// The records (aborts, goodbyes) appended for `to`.
    pub(crate) fn alert(&self, to: Rank) -> String {
        format!("{}:alert:{to}", self.prefix)
    }

    /// The key `rank` puts on every server at connect: gone means the server lost the job.
    pub(crate) fn sentinel(&self, rank: Rank) -> String {
        format!("{}:sentinel:{rank}", self.prefix)
    }

    /// Part `part` of `owner`'s shared object `tag`.
    pub(crate) fn obj(&self, owner: Rank, tag: &Tag, part: u32) -> String {
        format!("{}:obj:{owner}:{tag}:{part}", self.prefix)
    }

    /// The shared counter `tag`.
    pub(crate) fn ctr(&self, tag: &Tag) -> String {
        format!("{}:ctr:{tag}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use fccl_collectives::CommId;

    use super::*;

    #[test]
    fn keys_are_structured_distinct_and_short() {
        let keys = Keys::new(JobId([0xab; 16]));
        let p = format!("fccl:{}", "ab".repeat(16));
        assert_eq!(keys.msg(1, 2, 3, 4), format!("{p}:msg:1:2:3:4"));
        assert_ne!(keys.msg(1, 12, 3, 4), keys.msg(11, 2, 3, 4));
        assert_ne!(keys.msg(1, 2, 34, 5), keys.msg(1, 2, 3, 45));
        assert_eq!(keys.alert(3), format!("{p}:alert:3"));
        assert_ne!(keys.alert(1), Keys::new(JobId([0xac; 16])).alert(1));
        let tag = Tag {
            comm: CommId(u64::MAX),
            p2p: true,
            seq: u64::MAX,
            step: u32::MAX,
            chunk: u32::MAX,
        };
        let longest = [
            keys.msg(usize::MAX, usize::MAX, u64::MAX, u32::MAX),
            keys.obj(usize::MAX, &tag, u32::MAX),
            keys.ctr(&tag),
            keys.sentinel(usize::MAX),
            keys.alert(usize::MAX),
        ];
        for key in longest {
            assert!(key.len() <= MAX_KEY, "{key}");
            assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{key}");
        }
        assert_ne!(keys.obj(1, &tag, 0), keys.obj(2, &tag, 0));
        assert!(keys.ctr(&tag).starts_with(&format!("{p}:ctr:")));
    }
}
