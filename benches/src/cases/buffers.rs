//! Filling the buffers before the first call and before each iteration.

use fccl_collectives::Collective;
use fccl_collectives::Element;

use super::Case;
use crate::pattern::fill;

impl<T: Element> Case<T> {
    /// Elements rank `from` sends to rank `to` in all-to-all-v: around the block size,
    /// varying by pair (half a block less, the same, or half a block more).
    pub(crate) fn pair_count(block: usize, from: usize, to: usize) -> usize {
        let half = block / 2;
        match (from + 2 * to) % 3 {
            0 => block - half,
            1 => block,
            _ => block + half,
        }
    }

    /// Allocates the buffers and writes the inputs, which stay as they are for the
    /// whole point (in-place collectives work on a copy, see [`Case::prepare`]).
    pub(super) fn allocate(&mut self) {
        let (count, block, rank, root) = (self.count, self.block, self.rank, self.root);
        let at_root = rank == root;
        let zeros = |len: usize| vec![T::from_f64(0.0); len];
        let (send_len, recv_len) = match self.collective {
            Collective::AllReduce | Collective::Scan | Collective::ExScan => (count, count),
            Collective::Reduce => (count, if at_root { count } else { 0 }),
            Collective::Broadcast => (0, count),
            Collective::ReduceScatter => (count, block),
            Collective::AllGather => (block, count),
            Collective::AllToAll | Collective::SendRecv => (count, count),
            Collective::AllToAllV => {
                let p = self.ranks;
                self.send_counts = (0..p).map(|j| Self::pair_count(block, rank, j)).collect();
                self.recv_counts = (0..p).map(|i| Self::pair_count(block, i, rank)).collect();
                (self.send_counts.iter().sum(), self.recv_counts.iter().sum())
            }
            Collective::Gather => (block, if at_root { count } else { 0 }),
            Collective::Scatter => (if at_root { count } else { 0 }, block),
            Collective::Barrier | Collective::Split => (0, 0),
        };
        self.send = zeros(send_len);
        self.recv = zeros(recv_len);
        let (pattern, op) = (self.pattern, self.op);
        match self.collective {
            Collective::AllReduce
            | Collective::Reduce
            | Collective::ReduceScatter
            | Collective::Scan
            | Collective::ExScan => fill(&mut self.send, |i| pattern.input(op, rank, i)),
            Collective::Broadcast if at_root => fill(&mut self.recv, |i| pattern.moved(root, i)),
            _ => fill(&mut self.send, |i| pattern.moved(rank, i)),
        }
    }

    /// Readies the buffers for the next call: in-place collectives get a fresh copy of the
    /// input; where the call is `checked`, outputs are overwritten with a sentinel first so
    /// that an algorithm that skips writing them is caught.
    pub(crate) fn prepare(&mut self, checked: bool) {
        match self.collective {
            Collective::AllReduce => self.recv.copy_from_slice(&self.send),
            Collective::Broadcast if self.rank == self.root => {}
            _ if checked => self.recv.fill(self.pattern.sentinel()),
            _ => {}
        }
    }
}
