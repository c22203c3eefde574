//! What the outputs must hold after a call, from the pattern's closed forms.

use fccl_collectives::{Collective, Element};

use super::Case;
use crate::pattern::{Exact, matches};

impl<T: Element> Case<T> {
    /// Whether this rank's outputs hold exactly what the collective must produce.
    pub(crate) fn check(&self) -> bool {
        let (p, op, rank, root, n) = (self.pattern, self.op, self.rank, self.root, self.ranks);
        let b = self.block.max(1);
        let moved = |src, i| Exact::Int(p.moved(src, i));
        let out = &self.recv[..];
        match self.collective {
            Collective::AllReduce => matches(out, |i| p.reduced(op, n, i)),
            Collective::Reduce if rank == root => matches(out, |i| p.reduced(op, n, i)),
            Collective::Broadcast => matches(out, |i| moved(root, i)),
            Collective::ReduceScatter => matches(out, |k| p.reduced(op, n, rank * b + k)),
            Collective::AllGather => matches(out, |g| moved(g / b, g % b)),
            Collective::Gather if rank == root => matches(out, |g| moved(g / b, g % b)),
            Collective::AllToAll => matches(out, |g| moved(g / b, rank * b + g % b)),
            Collective::Scatter => matches(out, |k| moved(root, rank * b + k)),
            Collective::Scan => matches(out, |i| p.reduced(op, rank + 1, i)),
            Collective::ExScan if rank > 0 => matches(out, |i| p.reduced(op, rank, i)),
            Collective::SendRecv => matches(out, |i| moved((rank + n - 1) % n, i)),
            Collective::AllToAllV => self.check_all_to_all_v(),
            Collective::Reduce
            | Collective::Gather
            | Collective::ExScan
            | Collective::Barrier
            | Collective::Split => true,
        }
    }

    /// Rank `i`'s part of the output is the slice of its send buffer it addressed to this
    /// rank: `pair_count(i, rank)` elements from offset `Σ_{j < rank} pair_count(i, j)`.
    fn check_all_to_all_v(&self) -> bool {
        let (p, rank, block) = (self.pattern, self.rank, self.block);
        let mut at = 0;
        for src in 0..self.ranks {
            let len = Self::pair_count(block, src, rank);
            let offset: usize = (0..rank).map(|j| Self::pair_count(block, src, j)).sum();
            let part = &self.recv[at..at + len];
            if !matches(part, |k| Exact::Int(p.moved(src, offset + k))) {
                return false;
            }
            at += len;
        }
        at == self.recv.len()
    }
}
