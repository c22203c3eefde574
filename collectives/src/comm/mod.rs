//! The communicator: a group of ranks that run collectives together.

mod collectives;
mod options;
mod p2p;
mod split;

pub use options::{OpOptions, WithOptions};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::algorithms::Algorithm;
use crate::algorithms::context::OpCtx;
use crate::algorithms::cost::CostInput;
use crate::algorithms::selector;
use crate::collective::Collective;
use crate::error::{Error, Result};
use crate::frame::{CommId, Header, Tag};
use crate::transport::{LinkProfile, Transport};
use crate::types::{DataType, Rank};

/// How long a collective waits for a peer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A group of ranks that run collectives together, like an MPI communicator.
///
/// Collectives take `&mut self`, so each rank issues them one at a time and in program
/// order; every rank must issue the same collectives in the same order. Every wait has a
/// deadline (the timeout, see [`OpOptions`]). Any error but
/// [`ErrorKind::InvalidArgument`] poisons the communicator: later calls fail at once, and the
/// other ranks are told so that they fail fast too.
pub struct Communicator {
    transport: Arc<dyn Transport>,
    id: CommId,
    /// Transport rank of each communicator rank.
    members: Arc<[Rank]>,
    rank: Rank,
    seq: u64,
    timeout: Duration,
    hard_deadline: Option<Instant>,
    poisoned: Option<Error>,
    options: OpOptions,
    last_algorithm: Option<Algorithm>,
    p2p_sent: HashMap<(Rank, u32), u64>,
    p2p_received: HashMap<(Rank, u32), u64>,
}

/// One call in progress: its header template and deadline.
struct Call {
    header: Header,
    deadline: Instant,
}

impl std::fmt::Debug for Communicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Communicator")
            .field("id", &self.id)
            .field("rank", &self.rank)
            .field("size", &self.size())
            .field("poisoned", &self.poisoned.is_some())
            .finish_non_exhaustive()
    }
}

impl Communicator {
    /// The communicator over every rank of `transport`'s job.
    pub fn new(transport: Arc<dyn Transport>) -> Communicator {
        let members: Arc<[Rank]> = (0..transport.size()).collect();
        let rank = transport.rank();
        Communicator::with_members(transport, CommId::WORLD, members, rank)
    }

    fn with_members(
        transport: Arc<dyn Transport>,
        id: CommId,
        members: Arc<[Rank]>,
        rank: Rank,
    ) -> Communicator {
        Communicator {
            transport,
            id,
            members,
            rank,
            seq: 0,
            timeout: DEFAULT_TIMEOUT,
            hard_deadline: None,
            poisoned: None,
            options: OpOptions::default(),
            last_algorithm: None,
            p2p_sent: HashMap::new(),
            p2p_received: HashMap::new(),
        }
    }

    /// This rank, `0..size()`.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The communicator's id (distinct for every sub-communicator).
    pub fn id(&self) -> CommId {
        self.id
    }

    /// The default timeout of every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the default timeout of every call.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// A time no wait may pass, whatever the timeout (a Lambda invocation's end, say).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.hard_deadline = deadline;
    }

    /// The transport's link profile.
    pub fn profile(&self) -> LinkProfile {
        self.transport.profile()
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The algorithm the last collective ran, for reports such as `fccl bench`'s.
    pub fn last_algorithm(&self) -> Option<Algorithm> {
        self.last_algorithm
    }

    /// The error that poisoned the communicator, if one did.
    pub fn poisoned(&self) -> Option<&Error> {
        self.poisoned.as_ref()
    }

    /// Runs the calls made through the returned guard with `options` (an algorithm, a
    /// timeout); the communicator's defaults come back when the guard is dropped.
    ///
    /// ```
    /// # use fccl_collectives::{local, Algorithm, OpOptions, ReduceOp};
    /// local::run(3, |mut comm| async move {
    ///     let mut v = vec![1.0f32; 10];
    ///     let options = OpOptions::new().algorithm(Algorithm::Ring);
    ///     comm.with_options(options).all_reduce(&mut v, ReduceOp::Sum).await.unwrap();
    ///     assert_eq!(v, vec![3.0; 10]);
    /// });
    /// ```
    pub fn with_options(&mut self, options: OpOptions) -> WithOptions<'_> {
        WithOptions::new(self, options)
    }

    /// Leaves the job: releases what the transport holds for this rank. Other communicators
    /// on the same transport stop working too.
    pub async fn close(self) -> Result<()> {
        self.transport.close().await
    }

    /// Fails at once if the communicator is poisoned.
    fn check_usable(&self, collective: Collective) -> Result<()> {
        match &self.poisoned {
            None => Ok(()),
            Some(e) => Err(Error::new(
                e.kind(),
                format!("communicator is poisoned by an earlier error: {e}"),
            )
            .with_collective(collective)),
        }
    }

    fn check_rank(&self, what: &str, r: Rank) -> Result<()> {
        if r >= self.size() {
            return Err(Error::invalid(format!(
                "{what} {r} is out of range for a communicator of {} ranks",
                self.size()
            )));
        }
        Ok(())
    }

    /// Checks that the communicator is usable and picks the algorithm; no side effects.
    fn plan(
        &self,
        collective: Collective,
        offered: &[Algorithm],
        bytes: usize,
        commutative: bool,
        cost: fn(Algorithm, &CostInput) -> Option<f64>,
    ) -> Result<Algorithm> {
        self.check_usable(collective)?;
        let input = CostInput {
            ranks: self.size(),
            bytes,
            profile: self.transport.profile(),
            commutative,
        };
        selector::select(collective, offered, self.options.algorithm, |a| {
            cost(a, &input)
        })
        .map_err(|e| e.with_collective(collective))
    }

    fn deadline(&self) -> Instant {
        let timeout = self.options.timeout.unwrap_or(self.timeout);
        let by_timeout = Instant::now() + timeout;
        match self.hard_deadline {
            Some(hard) => by_timeout.min(hard),
            None => by_timeout,
        }
    }

    /// Starts a collective call: takes the next sequence number and fixes the deadline.
    fn start(
        &mut self,
        collective: Collective,
        dtype: DataType,
        op: u8,
        root: Rank,
        count: usize,
        algorithm: Option<Algorithm>,
    ) -> Call {
        self.seq += 1;
        self.last_algorithm = algorithm;
        Call {
            header: Header {
                collective,
                dtype,
                op,
                tag: Tag {
                    comm: self.id,
                    p2p: false,
                    seq: self.seq,
                    step: 0,
                    chunk: 0,
                },
                chunks: 1,
                root: u32::try_from(root).unwrap_or(u32::MAX),
                count: count as u64,
            },
            deadline: self.deadline(),
        }
    }

    fn ctx(&self, call: &Call) -> OpCtx<'_> {
        OpCtx::new(
            self.transport.as_ref(),
            &self.members,
            self.rank,
            call.header,
            call.deadline,
        )
    }

    /// Ends a call: an error poisons the communicator and is passed on to the peers.
    async fn end<R>(&mut self, collective: Collective, result: Result<R>) -> Result<R> {
        let e = match result {
            Ok(r) => return Ok(r),
            Err(e) => e.with_collective(collective),
        };
        if e.kind().poisons() && self.poisoned.is_none() {
            self.poisoned = Some(e.clone());
            let peers: Vec<Rank> = self
                .members
                .iter()
                .enumerate()
                .filter(|&(r, _)| r != self.rank)
                .map(|(_, &t)| t)
                .collect();
            let reason = format!("rank {} failed: {e}", self.rank);
            let abort = self.transport.abort(self.id, &peers, &reason);
            // Best effort: a dead medium must not hold the error back.
            let _ = tokio::time::timeout(Duration::from_secs(1), abort).await;
        }
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn poison_is_reported_with_the_original_kind() {
        let t = crate::transport::local::LocalTransport::fabric(1)
            .pop()
            .unwrap();
        let mut c = Communicator::new(Arc::new(t));
        c.poisoned = Some(Error::new(ErrorKind::Timeout, "x"));
        let e = c.check_usable(Collective::Barrier).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.to_string().contains("poisoned"));
    }
}
