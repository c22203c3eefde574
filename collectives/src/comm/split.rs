//! Sub-communicators: `split` and `dup`.
//!
//! A child's id is derived from the parent's id, the operation's sequence number and the
//! colour, so the same on every member and distinct from every other communicator's: its
//! traffic cannot mix with the parent's or a sibling's.

use std::sync::Arc;

use super::Communicator;
use crate::algorithms::blocks::Blocks;
use crate::algorithms::{allgather, barrier};
use crate::collective::Collective;
use crate::error::Result;
use crate::types::{DataType, Rank};

/// Discriminator of `dup` children (split colours are `u32`, so they never reach it).
const DUP: u64 = u64::MAX;

impl Communicator {
    /// Splits the communicator like `MPI_Comm_split`: ranks passing the same `color` form a
    /// new communicator, ordered by `key` and then by their rank here. Ranks passing `None`
    /// get `None`. Every rank must call it.
    ///
    /// ```
    /// # use fccl_collectives::{local, ReduceOp};
    /// local::run(4, |mut comm| async move {
    ///     let color = (comm.rank() % 2) as u32;
    ///     let mut half = comm.split(Some(color), 0).await.unwrap().unwrap();
    ///     assert_eq!(half.size(), 2);
    ///     let mut v = [comm.rank() as i32];
    ///     half.all_reduce(&mut v, ReduceOp::Sum).await.unwrap();
    ///     assert_eq!(v[0], if color == 0 { 0 + 2 } else { 1 + 3 });
    /// });
    /// ```
    pub async fn split(&mut self, color: Option<u32>, key: i32) -> Result<Option<Communicator>> {
        let c = Collective::Split;
        let p = self.size();
        let bytes = p * 2 * size_of::<u64>();
        let blocks = Blocks::uniform(p, 2);
        let plan = self.plan(
            c,
            allgather::ALGORITHMS,
            bytes,
            true,
            allgather::cost,
            &|a, _| allgather::traffic(a, &blocks, size_of::<u64>()),
        )?;
        let mine = [color.map_or(DUP, u64::from), u64::from(key as u32)];
        let mut all = vec![0u64; 2 * p];
        all[blocks.range(self.rank)].copy_from_slice(&mine);
        let call = self.start(c, DataType::Uint64, 0, 0, 2, plan);
        let result = allgather::run(plan.algorithm, &self.ctx(&call), &mut all, &blocks).await;
        self.end(c, result).await?;
        let Some(color) = color else {
            return Ok(None);
        };
        let mut group: Vec<(i32, Rank)> = (0..p)
            .filter(|&r| all[2 * r] == u64::from(color))
            .map(|r| (all[2 * r + 1] as u32 as i32, r))
            .collect();
        group.sort_unstable();
        let rank = group
            .iter()
            .position(|&(_, r)| r == self.rank)
            .expect("this rank is in its own colour");
        let members: Arc<[Rank]> = group.iter().map(|&(_, r)| self.members[r]).collect();
        Ok(Some(self.child(u64::from(color), members, rank)))
    }

    /// A new communicator over the same ranks, whose traffic cannot mix with this one's
    /// (like `MPI_Comm_dup`). Every rank must call it.
    pub async fn dup(&mut self) -> Result<Communicator> {
        let c = Collective::Split;
        let p = self.size();
        let plan = self.plan(c, barrier::ALGORITHMS, 0, true, barrier::cost, &|a, _| {
            barrier::traffic(a, p)
        })?;
        let call = self.start(c, DataType::Uint8, 0, 0, 0, plan);
        let result = barrier::run(plan.algorithm, &self.ctx(&call)).await;
        self.end(c, result).await?;
        Ok(self.child(DUP, Arc::clone(&self.members), self.rank))
    }

    fn child(&self, discriminator: u64, members: Arc<[Rank]>, rank: Rank) -> Communicator {
        let mut child = Communicator::with_members(
            Arc::clone(&self.media),
            self.id.child(self.seq, discriminator),
            members,
            rank,
        );
        child.timeout = self.timeout;
        child.hard_deadline = self.hard_deadline;
        child.hint = self.hint;
        child
    }
}
