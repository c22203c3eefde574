//! What the outputs must hold after a call, from the pattern's closed forms.

use fccl_collectives::{Collective, Element};

use super::Case;
use crate::pattern::{Exact, first_mismatch};

impl<T: Element> Case<T> {
    /// The first index of this rank's output that differs from what the collective must
    /// produce; `None` if all is right.
    pub(crate) fn check(&self) -> Option<usize> {
        let (p, op, rank, root, n) = (self.pattern, self.op, self.rank, self.root, self.ranks);
        let b = self.block.max(1);
        let moved = |src, i| Exact::Int(p.moved(src, i));
        let out = &self.recv[..];
        match self.collective {
            Collective::AllReduce => first_mismatch(out, |i| p.reduced(op, n, i)),
            Collective::Reduce if rank == root => first_mismatch(out, |i| p.reduced(op, n, i)),
            Collective::Broadcast => first_mismatch(out, |i| moved(root, i)),
            Collective::ReduceScatter => first_mismatch(out, |k| p.reduced(op, n, rank * b + k)),
            Collective::AllGather => first_mismatch(out, |g| moved(g / b, g % b)),
            Collective::Gather if rank == root => first_mismatch(out, |g| moved(g / b, g % b)),
            Collective::AllToAll => first_mismatch(out, |g| moved(g / b, rank * b + g % b)),
            Collective::Scatter => first_mismatch(out, |k| moved(root, rank * b + k)),
            Collective::Scan => first_mismatch(out, |i| p.reduced(op, rank + 1, i)),
            Collective::ExScan if rank > 0 => first_mismatch(out, |i| p.reduced(op, rank, i)),
            Collective::SendRecv => first_mismatch(out, |i| moved((rank + n - 1) % n, i)),
            Collective::AllToAllV => self.check_all_to_all_v(),
            Collective::Reduce
            | Collective::Gather
            | Collective::ExScan
            | Collective::Barrier
            | Collective::Split => None,
        }
    }

    /// Rank `i`'s part of the output is the slice of its send buffer it addressed to this
    /// rank: `pair_count(i, rank)` elements from offset `Σ_{j < rank} pair_count(i, j)`.
    fn check_all_to_all_v(&self) -> Option<usize> {
        let (p, rank, block) = (self.pattern, self.rank, self.block);
        let mut at = 0;
        for src in 0..self.ranks {
            let len = Self::pair_count(block, src, rank);
            let offset: usize = (0..rank).map(|j| Self::pair_count(block, src, j)).sum();
            let part = &self.recv[at..at + len];
            if let Some(k) = first_mismatch(part, |k| Exact::Int(p.moved(src, offset + k))) {
                return Some(at + k);
            }
            at += len;
        }
        None
    }
}
