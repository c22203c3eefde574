//! The collective operations: validate, select, run, finish.

use super::{Communicator, Plan};
use crate::algorithms::blocks::Blocks;
use crate::algorithms::{
    allgather, allreduce, alltoall, alltoallv, barrier, broadcast, gather, reduce, reduce_scatter,
    scan, scatter,
};
use crate::collective::Collective;
use crate::error::{Error, Result};
use crate::op::Reduction;
use crate::types::{Element, Rank};

fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::invalid(format!(
            "{what} has {got} elements, expected {want}"
        )));
    }
    Ok(())
}

impl Communicator {
    /// Reduces `buf` across all ranks in place; every rank gets the result.
    ///
    /// ```
    /// # use fccl_collectives::{local, ReduceOp};
    /// let sums = local::run(4, |mut comm| async move {
    ///     let mut v = vec![comm.rank() as i32; 3];
    ///     comm.all_reduce(&mut v, ReduceOp::Sum).await.unwrap();
    ///     v
    /// });
    /// assert!(sums.iter().all(|v| v == &[6, 6, 6]));
    /// ```
    pub async fn all_reduce<T: Element>(
        &mut self,
        buf: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let op = op.into();
        let plan = self.plan_all_reduce(buf.len(), &op)?;
        self.run_all_reduce(plan, buf, &op).await
    }

    /// Reduces `send` across all ranks into `recv` (same length); every rank gets the result.
    pub async fn all_reduce_into<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let op = op.into();
        check_len("the receive buffer", recv.len(), send.len())?;
        let plan = self.plan_all_reduce(send.len(), &op)?;
        recv.copy_from_slice(send);
        self.run_all_reduce(plan, recv, &op).await
    }

    fn plan_all_reduce<T: Element>(&self, count: usize, op: &Reduction<T>) -> Result<Plan> {
        let p = self.size();
        self.plan(
            Collective::AllReduce,
            allreduce::ALGORITHMS,
            count * size_of::<T>(),
            op.is_commutative(),
            allreduce::cost,
            &|a, _| allreduce::traffic(a, p, count, size_of::<T>()),
        )
    }

    async fn run_all_reduce<T: Element>(
        &mut self,
        plan: Plan,
        buf: &mut [T],
        op: &Reduction<T>,
    ) -> Result<()> {
        let call = self.start(
            Collective::AllReduce,
            T::DTYPE,
            op.wire_code(),
            0,
            buf.len(),
            plan,
        );
        let result = allreduce::run(plan.algorithm, &self.ctx(&call), buf, op).await;
        self.end(Collective::AllReduce, result).await?;
        op.finish(buf, self.size());
        Ok(())
    }

    /// Reduces `send` across all ranks; the root gets the result in `recv` (same length as
    /// `send`). `recv` is ignored on the other ranks and may be `None` there.
    pub async fn reduce<T: Element>(
        &mut self,
        send: &[T],
        recv: Option<&mut [T]>,
        op: impl Into<Reduction<T>>,
        root: Rank,
    ) -> Result<()> {
        let c = Collective::Reduce;
        let op = op.into();
        self.check_rank("root", root)?;
        let at_root = self.rank == root;
        let recv = match recv {
            Some(r) if at_root => {
                check_len("the receive buffer", r.len(), send.len())?;
                Some(r)
            }
            None if at_root => {
                return Err(Error::invalid("the root of reduce needs a receive buffer"));
            }
            _ => None,
        };
        let bytes = std::mem::size_of_val(send);
        let (p, count, commutative) = (self.size(), send.len(), op.is_commutative());
        let plan = self.plan(
            c,
            reduce::ALGORITHMS,
            bytes,
            commutative,
            reduce::cost,
            &|a, l| reduce::traffic(a, p, count, size_of::<T>(), root, commutative, l),
        )?;
        let mut scratch;
        let buf: &mut [T] = match recv {
            Some(r) => {
                r.copy_from_slice(send);
                r
            }
            None => {
                scratch = send.to_vec();
                &mut scratch
            }
        };
        let call = self.start(c, T::DTYPE, op.wire_code(), root, send.len(), plan);
        let result = reduce::run(plan.algorithm, &self.ctx(&call), buf, &op, root).await;
        self.end(c, result).await?;
        if at_root {
            op.finish(buf, self.size());
        }
        Ok(())
    }

    /// Copies the root's `buf` to every rank's `buf`.
    pub async fn broadcast<T: Element>(&mut self, buf: &mut [T], root: Rank) -> Result<()> {
        let c = Collective::Broadcast;
        self.check_rank("root", root)?;
        let bytes = std::mem::size_of_val(buf);
        let (p, count) = (self.size(), buf.len());
        let plan = self.plan(
            c,
            broadcast::ALGORITHMS,
            bytes,
            true,
            broadcast::cost,
            &|a, l| broadcast::traffic(a, p, count, size_of::<T>(), root, l),
        )?;
        let call = self.start(c, T::DTYPE, 0, root, buf.len(), plan);
        let result = broadcast::run(plan.algorithm, &self.ctx(&call), buf, root).await;
        self.end(c, result).await
    }

    /// Reduces `send` (`size() * recv.len()` elements) across all ranks; rank `i` gets
    /// block `i` of the result in `recv` (NCCL's counts).
    pub async fn reduce_scatter<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let c = Collective::ReduceScatter;
        let op = op.into();
        let p = self.size();
        check_len("the send buffer", send.len(), p * recv.len())?;
        let bytes = std::mem::size_of_val(send);
        let blocks = Blocks::uniform(p, recv.len());
        let plan = self.plan(
            c,
            reduce_scatter::ALGORITHMS,
            bytes,
            op.is_commutative(),
            reduce_scatter::cost,
            &|a, _| reduce_scatter::traffic(a, &blocks, size_of::<T>()),
        )?;
        let mut work = send.to_vec();
        let call = self.start(c, T::DTYPE, op.wire_code(), 0, recv.len(), plan);
        let result =
            reduce_scatter::run(plan.algorithm, &self.ctx(&call), &mut work, &blocks, &op).await;
        self.end(c, result).await?;
        recv.copy_from_slice(&work[blocks.range(self.rank)]);
        op.finish(recv, p);
        Ok(())
    }

    /// Gathers every rank's `send` into `recv` (`size() * send.len()` elements, rank order)
    /// on every rank.
    pub async fn all_gather<T: Element>(&mut self, send: &[T], recv: &mut [T]) -> Result<()> {
        let c = Collective::AllGather;
        let p = self.size();
        check_len("the receive buffer", recv.len(), p * send.len())?;
        let bytes = std::mem::size_of_val(recv);
        let blocks = Blocks::uniform(p, send.len());
        let plan = self.plan(
            c,
            allgather::ALGORITHMS,
            bytes,
            true,
            allgather::cost,
            &|a, _| allgather::traffic(a, &blocks, size_of::<T>()),
        )?;
        recv[blocks.range(self.rank)].copy_from_slice(send);
        let call = self.start(c, T::DTYPE, 0, 0, send.len(), plan);
        let result = allgather::run(plan.algorithm, &self.ctx(&call), recv, &blocks).await;
        self.end(c, result).await
    }

    /// Sends block `j` of `send` to rank `j`, which stores it as block `i` of its `recv`
    /// (blocks of `send.len() / size()` elements; `recv` has the same length).
    pub async fn all_to_all<T: Element>(&mut self, send: &[T], recv: &mut [T]) -> Result<()> {
        let c = Collective::AllToAll;
        let p = self.size();
        check_len("the receive buffer", recv.len(), send.len())?;
        if send.len() % p != 0 {
            return Err(Error::invalid(format!(
                "the send buffer's {} elements do not split into {p} equal blocks",
                send.len()
            )));
        }
        let block = send.len() / p;
        let bytes = std::mem::size_of_val(send);
        let plan = self.plan(
            c,
            alltoall::ALGORITHMS,
            bytes,
            true,
            alltoall::cost,
            &|a, l| alltoall::traffic(a, p, block, size_of::<T>(), l),
        )?;
        let call = self.start(c, T::DTYPE, 0, 0, block, plan);
        let result = alltoall::run(plan.algorithm, &self.ctx(&call), send, recv, block).await;
        self.end(c, result).await
    }

    /// All-to-all with a count per peer: the next `send_counts[j]` elements of `send` go to
    /// rank `j`, and `recv_counts[i]` elements from rank `i` are stored in turn in `recv`.
    pub async fn all_to_all_v<T: Element>(
        &mut self,
        send: &[T],
        send_counts: &[usize],
        recv: &mut [T],
        recv_counts: &[usize],
    ) -> Result<()> {
        let c = Collective::AllToAllV;
        let p = self.size();
        check_len("send_counts", send_counts.len(), p)?;
        check_len("recv_counts", recv_counts.len(), p)?;
        let (sends, recvs): (usize, usize) = (send_counts.iter().sum(), recv_counts.iter().sum());
        if sends > send.len() {
            return Err(Error::invalid(format!(
                "send_counts add up to {sends}, but the send buffer has {} elements",
                send.len()
            )));
        }
        if recvs > recv.len() {
            return Err(Error::invalid(format!(
                "recv_counts add up to {recvs}, but the receive buffer has {} elements",
                recv.len()
            )));
        }
        let bytes = sends * size_of::<T>();
        // The dollar estimate assumes every rank sends as this one does.
        let counts = vec![send_counts.to_vec(); p];
        let plan = self.plan(
            c,
            alltoallv::ALGORITHMS,
            bytes,
            true,
            alltoallv::cost,
            &|a, l| alltoallv::traffic(a, &counts, size_of::<T>(), l),
        )?;
        let call = self.start(c, T::DTYPE, 0, 0, 0, plan);
        let result = alltoallv::run(
            plan.algorithm,
            &self.ctx(&call),
            send,
            send_counts,
            recv,
            recv_counts,
        )
        .await;
        self.end(c, result).await
    }

    /// Gathers every rank's `send` into the root's `recv` (`size() * send.len()` elements,
    /// rank order). `recv` is ignored on the other ranks and may be `None` there.
    pub async fn gather<T: Element>(
        &mut self,
        send: &[T],
        recv: Option<&mut [T]>,
        root: Rank,
    ) -> Result<()> {
        let c = Collective::Gather;
        self.check_rank("root", root)?;
        let p = self.size();
        let at_root = self.rank == root;
        let recv = match recv {
            Some(r) if at_root => {
                check_len("the receive buffer", r.len(), p * send.len())?;
                Some(r)
            }
            None if at_root => {
                return Err(Error::invalid("the root of gather needs a receive buffer"));
            }
            _ => None,
        };
        let bytes = p * std::mem::size_of_val(send);
        let count = send.len();
        let plan = self.plan(c, gather::ALGORITHMS, bytes, true, gather::cost, &|a, _| {
            gather::traffic(a, p, count, size_of::<T>())
        })?;
        let call = self.start(c, T::DTYPE, 0, root, send.len(), plan);
        let result = gather::run(plan.algorithm, &self.ctx(&call), send, recv, root).await;
        self.end(c, result).await
    }

    /// Sends block `i` of the root's `send` (`size() * recv.len()` elements) to rank `i`'s
    /// `recv`. `send` is ignored on the other ranks and may be `None` there.
    pub async fn scatter<T: Element>(
        &mut self,
        send: Option<&[T]>,
        recv: &mut [T],
        root: Rank,
    ) -> Result<()> {
        let c = Collective::Scatter;
        self.check_rank("root", root)?;
        let p = self.size();
        let at_root = self.rank == root;
        let send = match send {
            Some(s) if at_root => {
                check_len("the send buffer", s.len(), p * recv.len())?;
                Some(s)
            }
            None if at_root => {
                return Err(Error::invalid("the root of scatter needs a send buffer"));
            }
            _ => None,
        };
        let bytes = p * std::mem::size_of_val(recv);
        let count = recv.len();
        let plan = self.plan(
            c,
            scatter::ALGORITHMS,
            bytes,
            true,
            scatter::cost,
            &|a, _| scatter::traffic(a, p, count, size_of::<T>()),
        )?;
        let call = self.start(c, T::DTYPE, 0, root, recv.len(), plan);
        let result = scatter::run(plan.algorithm, &self.ctx(&call), send, recv, root).await;
        self.end(c, result).await
    }

    /// Inclusive prefix reduction: rank `i`'s `recv` gets `send₀ ⊕ … ⊕ sendᵢ`.
    pub async fn scan<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        self.prefix(Collective::Scan, send, recv, op.into()).await
    }

    /// Exclusive prefix reduction: rank `i > 0`'s `recv` gets `send₀ ⊕ … ⊕ sendᵢ₋₁`; rank
    /// 0's `recv` is left as it was (MPI leaves it undefined).
    pub async fn exscan<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        self.prefix(Collective::ExScan, send, recv, op.into()).await
    }

    async fn prefix<T: Element>(
        &mut self,
        c: Collective,
        send: &[T],
        recv: &mut [T],
        op: Reduction<T>,
    ) -> Result<()> {
        check_len("the receive buffer", recv.len(), send.len())?;
        let inclusive = c == Collective::Scan;
        let bytes = std::mem::size_of_val(send);
        let (p, count) = (self.size(), send.len());
        let commutative = op.is_commutative();
        let plan = self.plan(
            c,
            scan::ALGORITHMS,
            bytes,
            commutative,
            scan::cost,
            &|a, _| scan::traffic(a, p, count, size_of::<T>(), inclusive),
        )?;
        let call = self.start(c, T::DTYPE, op.wire_code(), 0, send.len(), plan);
        let result = scan::run(plan.algorithm, &self.ctx(&call), send, recv, &op, inclusive).await;
        self.end(c, result).await?;
        let terms = if inclusive { self.rank + 1 } else { self.rank };
        if terms > 0 {
            op.finish(recv, terms);
        }
        Ok(())
    }

    /// Returns once every rank has called `barrier`.
    pub async fn barrier(&mut self) -> Result<()> {
        let c = Collective::Barrier;
        let p = self.size();
        let plan = self.plan(c, barrier::ALGORITHMS, 0, true, barrier::cost, &|a, _| {
            barrier::traffic(a, p)
        })?;
        let call = self.start(c, crate::DataType::Uint8, 0, 0, 0, plan);
        let result = barrier::run(plan.algorithm, &self.ctx(&call)).await;
        self.end(c, result).await
    }
}
