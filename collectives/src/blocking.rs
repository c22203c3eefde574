//! A synchronous [`Communicator`] for callers without an async runtime (plain threads, the C
//! API), in the style of `reqwest::blocking`.
//!
//! It owns the async [`crate::Communicator`] and a current-thread tokio runtime, and every
//! method drives the async one to completion on that runtime. Do not call it from async code:
//! tokio panics when a runtime is started from within a runtime; use the async
//! [`crate::Communicator`] there.
//!
//! ```
//! use std::sync::Arc;
//! use fccl_collectives::transport::local::LocalTransport;
//! use fccl_collectives::{blocking, ReduceOp};
//!
//! let threads: Vec<_> = LocalTransport::fabric(3)
//!     .into_iter()
//!     .map(|endpoint| {
//!         std::thread::spawn(move || -> fccl_collectives::Result<Vec<f64>> {
//!             let async_comm = fccl_collectives::Communicator::new(Arc::new(endpoint));
//!             let mut comm = blocking::Communicator::new(async_comm)?;
//!             let mut v = vec![comm.rank() as f64 + 1.0; 4];
//!             comm.all_reduce(&mut v, ReduceOp::Sum)?;
//!             comm.barrier()?;
//!             Ok(v)
//!         })
//!     })
//!     .collect();
//! for t in threads {
//!     assert_eq!(t.join().unwrap().unwrap(), vec![6.0; 4]);
//! }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::time::Instant;

use crate::algorithms::Algorithm;
use crate::comm::{OpOptions, WithOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::CommId;
use crate::op::Reduction;
use crate::transport::{LinkProfile, Transport};
use crate::types::{Element, Rank};

/// A [`crate::Communicator`] whose methods block the calling thread until they finish.
///
/// Every method behaves as the async method of the same name (same arguments, errors and
/// poisoning). Sub-communicators from [`split`](Communicator::split) and
/// [`dup`](Communicator::dup) are blocking too and share this one's runtime. It must not be
/// used from async code (tokio panics when a runtime is entered from within another).
pub struct Communicator {
    inner: crate::Communicator,
    runtime: Arc<Runtime>,
    options: OpOptions,
}

impl std::fmt::Debug for Communicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::Communicator")
            .field("inner", &self.inner)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Communicator {
    /// Wraps `inner` with a new current-thread runtime (I/O and timers enabled).
    ///
    /// The runtime only runs while a method of this communicator runs. A transport that
    /// spawns background tasks (sockets) must be created on the same runtime: build it with
    /// [`Communicator::with_runtime`].
    pub fn new(inner: crate::Communicator) -> Result<Communicator> {
        Ok(Communicator::with_runtime(inner, Arc::new(new_runtime()?)))
    }

    /// Wraps `inner` with the given runtime, for example the one its transport was built on.
    pub fn with_runtime(inner: crate::Communicator, runtime: Arc<Runtime>) -> Communicator {
        Communicator {
            inner,
            runtime,
            options: OpOptions::default(),
        }
    }

    /// A new current-thread runtime with I/O and timers, as [`Communicator::new`] makes one;
    /// build a transport on it with `block_on`, then pass it to
    /// [`Communicator::with_runtime`].
    pub fn new_runtime() -> Result<Arc<Runtime>> {
        new_runtime().map(Arc::new)
    }

    /// The async communicator, giving up the runtime.
    pub fn into_inner(self) -> crate::Communicator {
        self.inner
    }

    /// The async communicator.
    pub fn inner(&self) -> &crate::Communicator {
        &self.inner
    }

    /// The runtime the calls run on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The runtime and the async communicator with this wrapper's options in force.
    fn parts(&mut self) -> (&Runtime, WithOptions<'_>) {
        (&self.runtime, self.inner.with_options(self.options))
    }

    fn wrap(&self, inner: crate::Communicator) -> Communicator {
        Communicator::with_runtime(inner, Arc::clone(&self.runtime))
    }

    /// This rank, `0..size()`.
    pub fn rank(&self) -> Rank {
        self.inner.rank()
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.inner.size()
    }

    /// The communicator's id (distinct for every sub-communicator).
    pub fn id(&self) -> CommId {
        self.inner.id()
    }

    /// The default timeout of every call.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout()
    }

    /// Sets the default timeout of every call.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.inner.set_timeout(timeout);
    }

    /// A time no wait may pass, whatever the timeout.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.inner.set_deadline(deadline);
    }

    /// The transport's link profile.
    pub fn profile(&self) -> LinkProfile {
        self.inner.profile()
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        self.inner.transport()
    }

    /// The algorithm the last collective ran.
    pub fn last_algorithm(&self) -> Option<Algorithm> {
        self.inner.last_algorithm()
    }

    /// The error that poisoned the communicator, if one did.
    pub fn poisoned(&self) -> Option<&Error> {
        self.inner.poisoned()
    }

    /// Runs `f` with `options` (an algorithm, a timeout) in force for every call it makes on
    /// the communicator it is given; the previous options come back afterwards.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use fccl_collectives::transport::local::LocalTransport;
    /// # use fccl_collectives::{blocking, Algorithm, OpOptions};
    /// let endpoint = LocalTransport::fabric(1).pop().unwrap();
    /// let inner = fccl_collectives::Communicator::new(Arc::new(endpoint));
    /// let mut comm = blocking::Communicator::new(inner).unwrap();
    /// let mut v = [7u8; 3];
    /// comm.with_options(OpOptions::new().algorithm(Algorithm::Binomial), |c| {
    ///     c.broadcast(&mut v, 0)
    /// })
    /// .unwrap();
    /// assert_eq!(comm.last_algorithm(), Some(Algorithm::Binomial));
    /// ```
    pub fn with_options<R>(
        &mut self,
        options: OpOptions,
        f: impl FnOnce(&mut Communicator) -> R,
    ) -> R {
        let saved = std::mem::replace(&mut self.options, options);
        // Restore even if `f` panics, so a caught panic leaves the defaults in place.
        struct Restore<'a> {
            comm: &'a mut Communicator,
            saved: OpOptions,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.comm.options = self.saved;
            }
        }
        let guard = Restore { comm: self, saved };
        f(&mut *guard.comm)
    }

    /// Reduces `buf` across all ranks in place; every rank gets the result.
    pub fn all_reduce<T: Element>(
        &mut self,
        buf: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.all_reduce(buf, op))
    }

    /// Reduces `send` across all ranks into `recv` (same length); every rank gets the result.
    pub fn all_reduce_into<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.all_reduce_into(send, recv, op))
    }

    /// Reduces `send` across all ranks; the root gets the result in `recv`.
    pub fn reduce<T: Element>(
        &mut self,
        send: &[T],
        recv: Option<&mut [T]>,
        op: impl Into<Reduction<T>>,
        root: Rank,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.reduce(send, recv, op, root))
    }

    /// Copies the root's `buf` to every rank's `buf`.
    pub fn broadcast<T: Element>(&mut self, buf: &mut [T], root: Rank) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.broadcast(buf, root))
    }

    /// Reduces `send` (`size() * recv.len()` elements); rank `i` gets block `i` in `recv`.
    pub fn reduce_scatter<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.reduce_scatter(send, recv, op))
    }

    /// Gathers every rank's `send` into `recv` (`size() * send.len()` elements) everywhere.
    pub fn all_gather<T: Element>(&mut self, send: &[T], recv: &mut [T]) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.all_gather(send, recv))
    }

    /// Sends block `j` of `send` to rank `j`, which stores it as block `i` of its `recv`.
    pub fn all_to_all<T: Element>(&mut self, send: &[T], recv: &mut [T]) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.all_to_all(send, recv))
    }

    /// All-to-all with a count per peer.
    pub fn all_to_all_v<T: Element>(
        &mut self,
        send: &[T],
        send_counts: &[usize],
        recv: &mut [T],
        recv_counts: &[usize],
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.all_to_all_v(send, send_counts, recv, recv_counts))
    }

    /// Gathers every rank's `send` into the root's `recv` (`size() * send.len()` elements).
    pub fn gather<T: Element>(
        &mut self,
        send: &[T],
        recv: Option<&mut [T]>,
        root: Rank,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.gather(send, recv, root))
    }

    /// Sends block `i` of the root's `send` (`size() * recv.len()` elements) to rank `i`.
    pub fn scatter<T: Element>(
        &mut self,
        send: Option<&[T]>,
        recv: &mut [T],
        root: Rank,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.scatter(send, recv, root))
    }

    /// Inclusive prefix reduction: rank `i`'s `recv` gets `send₀ ⊕ … ⊕ sendᵢ`.
    pub fn scan<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.scan(send, recv, op))
    }

    /// Exclusive prefix reduction: rank `i > 0`'s `recv` gets `send₀ ⊕ … ⊕ sendᵢ₋₁`; rank
    /// 0's `recv` is left as it was.
    pub fn exscan<T: Element>(
        &mut self,
        send: &[T],
        recv: &mut [T],
        op: impl Into<Reduction<T>>,
    ) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.exscan(send, recv, op))
    }

    /// Returns once every rank has called `barrier`.
    pub fn barrier(&mut self) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.barrier())
    }

    /// Sends `data` to `peer` with a user `tag`.
    pub fn send<T: Element>(&mut self, data: &[T], peer: Rank, tag: u32) -> Result<()> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.send(data, peer, tag))
    }

    /// Receives the next message with `tag` from `peer` into the front of `buf`; returns
    /// how many elements it had.
    pub fn recv<T: Element>(&mut self, buf: &mut [T], peer: Rank, tag: u32) -> Result<usize> {
        let (rt, mut c) = self.parts();
        rt.block_on(c.recv(buf, peer, tag))
    }

    /// Splits the communicator like `MPI_Comm_split` (see
    /// [`crate::Communicator::split`]); the new communicator shares this one's runtime.
    pub fn split(&mut self, color: Option<u32>, key: i32) -> Result<Option<Communicator>> {
        let (rt, mut c) = self.parts();
        let child = rt.block_on(c.split(color, key))?;
        drop(c);
        Ok(child.map(|inner| self.wrap(inner)))
    }

    /// A new communicator over the same ranks whose traffic cannot mix with this one's; it
    /// shares this one's runtime.
    pub fn dup(&mut self) -> Result<Communicator> {
        let (rt, mut c) = self.parts();
        let child = rt.block_on(c.dup())?;
        drop(c);
        Ok(self.wrap(child))
    }

    /// Leaves the job: releases what the transport holds for this rank.
    pub fn close(self) -> Result<()> {
        let Communicator { inner, runtime, .. } = self;
        runtime.block_on(inner.close())
    }
}

fn new_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Internal, "cannot start a tokio runtime").with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;
    use crate::{ErrorKind, ReduceOp};

    /// Runs `f` on `n` ranks, each a plain thread with a blocking communicator.
    fn run<R: Send>(n: usize, f: impl Fn(Communicator) -> R + Sync) -> Vec<R> {
        let f = &f;
        std::thread::scope(|s| {
            let handles: Vec<_> = LocalTransport::fabric(n)
                .into_iter()
                .map(|endpoint| {
                    s.spawn(move || {
                        let inner = crate::Communicator::new(Arc::new(endpoint));
                        f(Communicator::new(inner).expect("a runtime"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    #[test]
    fn moves_between_threads() {
        fn send<T: Send>() {}
        send::<Communicator>();
    }

    #[test]
    fn collectives_block_until_done() {
        let p = 4;
        run(p, |mut comm| {
            let rank = comm.rank();
            assert_eq!(comm.size(), p);
            let x = rank as i64 + 1;

            let mut v = [x, 10 * x];
            comm.all_reduce(&mut v, ReduceOp::Sum).unwrap();
            assert_eq!(v, [10, 100]);
            let mut out = [0i64; 2];
            comm.all_reduce_into(&[x, -x], &mut out, ReduceOp::Max)
                .unwrap();
            assert_eq!(out, [4, -1]);

            let mut at_root = [0i64; 1];
            let recv = (rank == 2).then_some(&mut at_root[..]);
            comm.reduce(&[x], recv, ReduceOp::Prod, 2).unwrap();
            if rank == 2 {
                assert_eq!(at_root, [24]);
            }

            let mut b = vec![rank as f32; 100];
            comm.broadcast(&mut b, 1).unwrap();
            assert!(b.iter().all(|&y| y == 1.0));

            let send: Vec<i64> = (0..p as i64).map(|j| x * 100 + j).collect();
            let mut block = [0i64; 1];
            comm.reduce_scatter(&send, &mut block, ReduceOp::Sum)
                .unwrap();
            assert_eq!(block, [1000 + 4 * rank as i64]);

            let mut all = vec![0i64; p];
            comm.all_gather(&[x], &mut all).unwrap();
            assert_eq!(all, [1, 2, 3, 4]);

            let mut swapped = vec![0i64; p];
            comm.all_to_all(&send, &mut swapped).unwrap();
            let want: Vec<i64> = (1..=p as i64).map(|s| s * 100 + rank as i64).collect();
            assert_eq!(swapped, want);

            // Rank r sends r elements to every peer.
            let counts = vec![rank; p];
            let data = vec![x; rank * p];
            let from: Vec<usize> = (0..p).collect();
            let mut got = vec![0i64; from.iter().sum()];
            comm.all_to_all_v(&data, &counts, &mut got, &from).unwrap();
            assert_eq!(got, [2, 3, 3, 4, 4, 4]);

            let mut gathered = vec![0i64; p];
            let recv = (rank == 3).then_some(&mut gathered[..]);
            comm.gather(&[x], recv, 3).unwrap();
            if rank == 3 {
                assert_eq!(gathered, [1, 2, 3, 4]);
            }
            let source: Vec<i64> = (0..p as i64).map(|j| 7 * j).collect();
            let mut mine = [0i64; 1];
            let send = (rank == 0).then_some(&source[..]);
            comm.scatter(send, &mut mine, 0).unwrap();
            assert_eq!(mine, [7 * rank as i64]);

            let mut prefix = [0i64; 1];
            comm.scan(&[x], &mut prefix, ReduceOp::Sum).unwrap();
            assert_eq!(prefix[0], x * (x + 1) / 2);
            let mut before = [-5i64; 1];
            comm.exscan(&[x], &mut before, ReduceOp::Sum).unwrap();
            assert_eq!(before[0], if rank == 0 { -5 } else { x * (x - 1) / 2 });

            comm.barrier().unwrap();
            comm.close().unwrap();
        });
    }

    #[test]
    fn point_to_point_sub_communicators_and_options() {
        let p = 5;
        run(p, |mut comm| {
            let rank = comm.rank();
            comm.set_timeout(Duration::from_secs(10));
            assert_eq!(comm.timeout(), Duration::from_secs(10));

            // A ring of messages: to the right, from the left.
            let right = (rank + 1) % p;
            let left = (rank + p - 1) % p;
            comm.send(&[rank as u32, 7], right, 3).unwrap();
            let mut buf = [0u32; 4];
            let n = comm.recv(&mut buf, left, 3).unwrap();
            assert_eq!(&buf[..n], &[left as u32, 7]);

            // With options, then back to the selector.
            let forced = OpOptions::new().algorithm(Algorithm::ScatterAllgather);
            let mut v = vec![rank as u8; 33];
            comm.with_options(forced, |c| c.broadcast(&mut v, 4))
                .unwrap();
            assert_eq!(comm.last_algorithm(), Some(Algorithm::ScatterAllgather));
            assert_eq!(v, vec![4; 33]);
            comm.broadcast(&mut v[..1], 0).unwrap();
            assert_eq!(comm.last_algorithm(), Some(Algorithm::Binomial));

            // Odd and even ranks apart; rank 4 stays out.
            let color = (rank < 4).then_some((rank % 2) as u32);
            let half = comm.split(color, -(rank as i32)).unwrap();
            match half {
                None => assert_eq!(rank, 4),
                Some(mut half) => {
                    assert_eq!(half.size(), 2);
                    // Keys reverse the order.
                    assert_eq!(half.rank(), usize::from(rank < 2));
                    assert_ne!(half.id(), comm.id());
                    let mut s = [rank as i32];
                    half.all_reduce(&mut s, ReduceOp::Sum).unwrap();
                    assert_eq!(s[0], if rank % 2 == 0 { 2 } else { 4 });
                }
            }

            let mut twin = comm.dup().unwrap();
            assert_ne!(twin.id(), comm.id());
            assert_eq!((twin.rank(), twin.size()), (rank, p));
            twin.barrier().unwrap();
            comm.barrier().unwrap();
            assert!(comm.poisoned().is_none());
            let inner = comm.into_inner();
            assert_eq!(inner.rank(), rank);
        });
    }

    #[test]
    fn invalid_arguments_leave_the_communicator_usable() {
        run(3, |mut comm| {
            let mut buf = [comm.rank() as i32; 4];
            let e = comm.broadcast(&mut buf, 3).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            let not_a_barrier = OpOptions::new().algorithm(Algorithm::Ring);
            let e = comm
                .with_options(not_a_barrier, |c| c.barrier())
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(comm.poisoned().is_none());
            comm.broadcast(&mut buf, 2).unwrap();
            assert_eq!(buf, [2; 4]);
        });
    }
}
