//! Per collective: the buffers of one rank, one call, and the check of its result.

use fccl_collectives::{Collective, Communicator, ReduceOp, Result};

use crate::elem::BenchElem;
use crate::pattern::{ReducePattern, first_mismatch, first_mismatch_reduced, moved};
use crate::spec::{Point, alltoallv_count};

/// The root of rooted collectives.
const ROOT: usize = 0;
/// The user tag of sendrecv's messages.
const TAG: u32 = 0x00be_0c40;

/// One rank's buffers for one size point of one collective.
pub(crate) struct Case<T> {
    collective: Collective,
    op: ReduceOp,
    rank: usize,
    p: usize,
    point: Point,
    pattern: ReducePattern,
    /// The input (never written by the call).
    send: Vec<T>,
    /// The output, or the in-place buffer.
    recv: Vec<T>,
    send_counts: Vec<usize>,
    recv_counts: Vec<usize>,
}

impl<T: BenchElem> Case<T> {
    /// The buffers of rank `rank` of `p`, with the input pattern filled in.
    pub(crate) fn new(
        collective: Collective,
        op: ReduceOp,
        rank: usize,
        p: usize,
        point: Point,
    ) -> Case<T> {
        let pattern = ReducePattern::new::<T>(op, p);
        let (n, b) = (point.count, point.block);
        let zeros = |len: usize| vec![T::from_int(0); len];
        let moved_from = |r: usize, len: usize| (0..len).map(|i| moved::<T>(r, i)).collect();
        let reduced = |len: usize| (0..len).map(|i| pattern.input::<T>(rank, i)).collect();
        let mut send_counts = Vec::new();
        let mut recv_counts = Vec::new();
        let (send, recv): (Vec<T>, Vec<T>) = match collective {
            Collective::AllReduce => (reduced(n), zeros(n)),
            Collective::Reduce | Collective::Scan | Collective::ExScan => (reduced(n), zeros(n)),
            Collective::ReduceScatter => (reduced(n), zeros(b)),
            Collective::Broadcast => (moved_from(ROOT, n), zeros(n)),
            Collective::AllGather | Collective::Gather => (moved_from(rank, b), zeros(n)),
            Collective::AllToAll => (moved_from(rank, n), zeros(n)),
            Collective::Scatter => (moved_from(ROOT, n), zeros(b)),
            Collective::AllToAllV => {
                send_counts = (0..p).map(|d| alltoallv_count(rank, d, b)).collect();
                recv_counts = (0..p).map(|s| alltoallv_count(s, rank, b)).collect();
                let (s, r) = (send_counts.iter().sum(), recv_counts.iter().sum());
                (moved_from(rank, s), zeros(r))
            }
            Collective::SendRecv => (moved_from(rank, n), zeros(n)),
            _ => (Vec::new(), Vec::new()),
        };
        Case {
            collective,
            op,
            rank,
            p,
            point,
            pattern,
            send,
            recv,
            send_counts,
            recv_counts,
        }
    }

    /// Prepares the buffers before an iteration (untimed): in-place buffers get their input
    /// back; before a checked iteration the outputs are cleared so stale results cannot pass.
    pub(crate) fn reset(&mut self, checked: bool) {
        match self.collective {
            Collective::AllReduce => self.recv.copy_from_slice(&self.send),
            Collective::Broadcast if self.rank == ROOT => self.recv.copy_from_slice(&self.send),
            _ if checked => self.recv.fill(T::from_int(0)),
            _ => {}
        }
    }

    /// Runs the collective once.
    pub(crate) async fn call(&mut self, comm: &mut Communicator) -> Result<()> {
        let at_root = self.rank == ROOT;
        let (send, recv, op) = (&self.send, &mut self.recv, self.op);
        match self.collective {
            Collective::AllReduce => comm.all_reduce(recv, op).await,
            Collective::Reduce => comm.reduce(send, at_root.then_some(recv), op, ROOT).await,
            Collective::Broadcast => comm.broadcast(recv, ROOT).await,
            Collective::ReduceScatter => comm.reduce_scatter(send, recv, op).await,
            Collective::AllGather => comm.all_gather(send, recv).await,
            Collective::AllToAll => comm.all_to_all(send, recv).await,
            Collective::AllToAllV => {
                comm.all_to_all_v(send, &self.send_counts, recv, &self.recv_counts)
                    .await
            }
            Collective::Gather => comm.gather(send, at_root.then_some(recv), ROOT).await,
            Collective::Scatter => comm.scatter(at_root.then_some(&send[..]), recv, ROOT).await,
            Collective::Scan => comm.scan(send, recv, op).await,
            Collective::ExScan => comm.exscan(send, recv, op).await,
            Collective::Barrier => comm.barrier().await,
            Collective::SendRecv => {
                let p = self.p;
                let (next, prev) = ((self.rank + 1) % p, (self.rank + p - 1) % p);
                comm.send(send, next, TAG).await?;
                comm.recv(recv, prev, TAG).await.map(|_| ())
            }
            Collective::Split => Err(fccl_collectives::Error::invalid(
                "split is not a benchmarkable collective",
            )),
        }
    }

    /// The first index of this rank's output that differs from the expected result.
    pub(crate) fn check(&self) -> Option<usize> {
        let (r, p, b) = (self.rank, self.p, self.point.block);
        let pat = &self.pattern;
        let got = &self.recv[..];
        match self.collective {
            Collective::AllReduce => first_mismatch_reduced(got, |i| pat.expect(0..p, i)),
            Collective::Reduce if r == ROOT => first_mismatch_reduced(got, |i| pat.expect(0..p, i)),
            Collective::ReduceScatter => {
                first_mismatch_reduced(got, |j| pat.expect(0..p, r * b + j))
            }
            Collective::Scan => first_mismatch_reduced(got, |i| pat.expect(0..r + 1, i)),
            Collective::ExScan if r > 0 => first_mismatch_reduced(got, |i| pat.expect(0..r, i)),
            Collective::Broadcast | Collective::SendRecv => {
                let src = if self.collective == Collective::Broadcast {
                    ROOT
                } else {
                    (r + p - 1) % p
                };
                first_mismatch(got, |i| moved(src, i))
            }
            Collective::AllGather => first_mismatch(got, |i| moved(i / b, i % b)),
            Collective::Gather if r == ROOT => first_mismatch(got, |i| moved(i / b, i % b)),
            Collective::AllToAll => first_mismatch(got, |i| moved(i / b, r * b + i % b)),
            Collective::Scatter => first_mismatch(got, |j| moved(ROOT, r * b + j)),
            Collective::AllToAllV => {
                let mut want = Vec::with_capacity(got.len());
                for s in 0..p {
                    let off: usize = (0..r).map(|d| alltoallv_count(s, d, b)).sum();
                    want.extend((0..alltoallv_count(s, r, b)).map(|j| moved::<T>(s, off + j)));
                }
                first_mismatch(got, |i| want[i])
            }
            _ => None,
        }
    }

    /// Overwrites one output element (for tests of the checker).
    #[cfg(test)]
    pub(crate) fn corrupt(&mut self, i: usize) {
        let bad = if self.recv[i] == T::from_int(99) {
            98
        } else {
            99
        };
        self.recv[i] = T::from_int(bad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fccl_collectives::{DataType, local};

    /// The checker accepts a correct result and points at a corrupted element.
    #[test]
    fn checker_reports_a_wrong_buffer() {
        for c in [
            Collective::AllGather,
            Collective::Broadcast,
            Collective::AllToAllV,
        ] {
            let bad = local::run(3, |mut comm| async move {
                let point = Point::new(c, DataType::Int8, 3, 300);
                let mut case = Case::<i8>::new(c, ReduceOp::Sum, comm.rank(), 3, point);
                case.reset(true);
                case.call(&mut comm).await.unwrap();
                let before = case.check();
                case.corrupt(37);
                (before, case.check())
            });
            for (before, after) in bad {
                assert_eq!(before, None, "{c}");
                assert_eq!(after, Some(37), "{c}");
            }
        }
    }

    /// The closed-form expectations wrap as the integer types do and round as floats do.
    #[test]
    fn expectations_wrap_and_divide() {
        use crate::pattern::Expect;
        assert!(Expect::Exact(300).matches::<u8>(44));
        assert!(Expect::Exact(128).matches::<i8>(-128));
        assert!(!Expect::Exact(128).matches::<f32>(127.0));
        // Integer Avg wraps the sum, then truncates toward zero.
        assert!(Expect::Ratio(250, 2).matches::<i8>(-3));
        assert!(Expect::Ratio(7, 2).matches::<u32>(3));
        // Float Avg allows one rounding, no more.
        assert!(Expect::Ratio(1, 3).matches::<f32>(1.0 / 3.0));
        assert!(!Expect::Ratio(1, 3).matches::<f32>(0.3334));
        assert!(Expect::Ratio(1, 3).matches::<half::bf16>(half::bf16::from_f64(1.0 / 3.0)));
    }
}
