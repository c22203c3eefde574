//! The keys a job uses. Each has a logical name, namespaced like gloo's `PrefixStore`
//! (`msg:{from}:{to}:{seq}:{part}`, `alert:{rank}`, ...), but what goes to the server is
//! `fccl:{job part}:{name part}`, both parts keyed hashes under the job secret
//! (`crate::names`): whoever lists the server's keys learns neither the job id, nor the
//! ranks, nor the sequence numbers, and a process without the secret cannot find the keys.
//! Every key is 70 bytes (memcached takes 250) of printable ASCII.

use fccl_collectives::{JobId, Rank, Secret, Tag};

use crate::names::StoreKeys;

/// The longest key memcached accepts.
#[cfg(test)]
pub(crate) const MAX_KEY: usize = 250;

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

    /// Part `part` of message number `seq` from `from` to `to`.
    pub(crate) fn msg(&self, from: Rank, to: Rank, seq: u64, part: u32) -> String {
        self.key(format_args!("msg:{from}:{to}:{seq}:{part}"))
    }

    /// The records (aborts, goodbyes) appended for `to`.
    pub(crate) fn alert(&self, to: Rank) -> String {
        self.key(format_args!("alert:{to}"))
    }

    /// The key `rank` puts on every server at connect: gone means the server lost the job.
    pub(crate) fn sentinel(&self, rank: Rank) -> String {
        self.key(format_args!("sentinel:{rank}"))
    }

    /// Part `part` of `owner`'s shared object `tag`.
    pub(crate) fn obj(&self, owner: Rank, tag: &Tag, part: u32) -> String {
        self.key(format_args!("obj:{owner}:{tag}:{part}"))
    }

    /// The shared counter `tag`.
    pub(crate) fn ctr(&self, tag: &Tag) -> String {
        self.key(format_args!("ctr:{tag}"))
    }

    /// What every key of this job starts with.
    pub(crate) fn prefix(&self) -> &str {
        self.0.prefix()
    }
}

#[cfg(test)]
mod tests {
    use fccl_collectives::CommId;

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn keys_are_opaque_distinct_and_short() {
        let (job, secret) = (JobId([0xab; 16]), Secret([0x17; 32]));
        let keys = Keys::new(&secret, job);
        assert_ne!(keys.msg(1, 12, 3, 4), keys.msg(11, 2, 3, 4));
        assert_ne!(keys.msg(1, 2, 34, 5), keys.msg(1, 2, 3, 45));
        assert_ne!(keys.alert(1), keys.sentinel(1));
        assert_ne!(
            keys.alert(1),
            Keys::new(&secret, JobId([0xac; 16])).alert(1)
        );
        let other_secret = Keys::new(&Secret([0x18; 32]), job);
        assert_ne!(keys.alert(1), other_secret.alert(1));
        assert_ne!(keys.prefix(), other_secret.prefix());
        assert_eq!(
            keys.msg(5, 6, 7, 8),
            Keys::new(&secret, job).msg(5, 6, 7, 8)
        );
        let tag = Tag {
            comm: CommId(u64::MAX),
            p2p: true,
            seq: u64::MAX,
            step: u32::MAX,
            chunk: u32::MAX,
        };
        let all = [
            keys.msg(usize::MAX, usize::MAX, u64::MAX, u32::MAX),
            keys.msg(1, 2, 3, 0),
            keys.obj(usize::MAX, &tag, u32::MAX),
            keys.ctr(&tag),
            keys.sentinel(usize::MAX),
            keys.alert(3),
        ];
        let (id, key) = (hex(&job.0), hex(&secret.0));
        for k in all {
            assert!(k.len() <= MAX_KEY, "{k}");
            assert!(k.bytes().all(|b| b.is_ascii_graphic()), "{k}");
            assert!(k.starts_with(keys.prefix()), "{k}");
            assert!(!k.contains(&id[..8]) && !k.contains(&key[..8]), "{k}");
            // Nothing of the logical name: `fccl`, the job part and the name part only.
            let parts: Vec<&str> = k.split(':').collect();
            assert_eq!(parts.len(), 3, "{k}");
            assert!(parts[1..].iter().all(|p| p.len() == 32), "{k}");
        }
        assert_ne!(keys.obj(1, &tag, 0), keys.obj(2, &tag, 0));
    }
}
