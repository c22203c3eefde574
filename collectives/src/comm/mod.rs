//! The communicator: a group of ranks that run collectives together.

mod collectives;
mod options;
mod p2p;
mod posted;
mod split;

pub use options::{Hint, OpOptions, WithOptions};
pub use posted::{PostedRecv, PostedSend};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::algorithms::Algorithm;
use crate::algorithms::context::OpCtx;
use crate::algorithms::cost::{CostInput, Traffic};
use crate::algorithms::selector;
use crate::collective::Collective;
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{CommId, Header, Tag};
use crate::transport::{LinkProfile, Transport, Usage};
use crate::types::{DataType, Rank};

/// How long a collective waits for a peer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What one rank costs per second while it runs a collective, for the [`Hint::Cheap`]
/// estimate: a 2 GB x86 AWS Lambda function at the list price of $0.0000166667 per GB-second
/// (aws.amazon.com/lambda/pricing, us-east-1, 2026).
pub const USD_PER_RANK_SECOND: f64 = 2.0 * 0.000_016_666_7;

/// A group of ranks that run collectives together, like an MPI communicator.
///
/// Collectives take `&mut self`, so each rank issues them one at a time and in program
/// order; every rank must issue the same collectives in the same order. Every wait has a
/// deadline (the timeout, see [`OpOptions`]). Any error but
/// [`ErrorKind::InvalidArgument`] poisons the communicator: later calls fail at once, and the
/// other ranks are told so that they fail fast too.
pub struct Communicator {
    /// The media, the first one the primary (point-to-point messages and reports).
    media: Arc<[Arc<dyn Transport>]>,
    id: CommId,
    /// Transport rank of each communicator rank.
    members: Arc<[Rank]>,
    rank: Rank,
    seq: u64,
    timeout: Duration,
    hard_deadline: Option<Instant>,
    poisoned: Option<Error>,
    options: OpOptions,
    hint: Hint,
    last_plan: Option<Plan>,
    p2p_sent: HashMap<(Rank, u32), u64>,
    p2p_received: HashMap<(Rank, u32), u64>,
}

/// What the selector chose for a call: an algorithm, and the medium it runs over (an
/// index into the communicator's media).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The medium: an index into [`Communicator::media`].
    pub medium: usize,
}

/// One call in progress: its header template, deadline and medium.
struct Call {
    header: Header,
    deadline: Instant,
    medium: usize,
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
        Communicator::with_members(Arc::new([transport]), CommId::WORLD, members, rank)
    }

    /// The communicator over every rank of a job joined through several media (say direct
    /// TCP and a Redis server, as FMI's channel policy mixes them): every collective runs
    /// over the medium whose cost model the [`Hint`] favours; point-to-point messages go over
    /// the first. Every medium must be an endpoint of the same rank of the same job.
    pub fn with_media(media: Vec<Arc<dyn Transport>>) -> Result<Communicator> {
        let Some(first) = media.first() else {
            return Err(Error::invalid("a communicator needs at least one medium"));
        };
        let (rank, size) = (first.rank(), first.size());
        if let Some(odd) = media.iter().find(|m| m.rank() != rank || m.size() != size) {
            return Err(Error::invalid(format!(
                "every medium must be rank {rank} of {size} ranks, but a {} medium is rank {} \
                 of {}",
                odd.name(),
                odd.rank(),
                odd.size()
            )));
        }
        let members: Arc<[Rank]> = (0..size).collect();
        Ok(Communicator::with_members(
            media.into(),
            CommId::WORLD,
            members,
            rank,
        ))
    }

    fn with_members(
        media: Arc<[Arc<dyn Transport>]>,
        id: CommId,
        members: Arc<[Rank]>,
        rank: Rank,
    ) -> Communicator {
        Communicator {
            media,
            id,
            members,
            rank,
            seq: 0,
            timeout: DEFAULT_TIMEOUT,
            hard_deadline: None,
            poisoned: None,
            options: OpOptions::default(),
            hint: Hint::Fast,
            last_plan: None,
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

    /// The primary transport's link profile.
    pub fn profile(&self) -> LinkProfile {
        self.transport().profile()
    }

    /// The primary transport (the first medium).
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.media[0]
    }

    /// Every medium, the primary first.
    pub fn media(&self) -> &[Arc<dyn Transport>] {
        &self.media
    }

    /// What this rank has asked of its media so far, summed over the media that count it
    /// ([`Transport::usage`]); `None` when none does. The media are shared by every
    /// communicator split from the same job, so this counts their requests too.
    pub fn usage(&self) -> Option<Usage> {
        self.media
            .iter()
            .filter_map(|m| m.usage())
            .reduce(|a, b| a.plus(&b))
    }

    /// What the selector optimises when there are several media.
    pub fn hint(&self) -> Hint {
        self.hint
    }

    /// Sets what the selector optimises when there are several media: time or dollars.
    /// Every rank must set the same hint, since it decides which medium a call uses.
    pub fn set_hint(&mut self, hint: Hint) {
        self.hint = hint;
    }

    /// The algorithm the last collective ran, for reports such as `fccl bench`'s.
    pub fn last_algorithm(&self) -> Option<Algorithm> {
        self.last_plan.map(|p| p.algorithm)
    }

    /// The name of the medium the last collective ran over ([`Transport::name`]).
    pub fn last_medium(&self) -> Option<&'static str> {
        self.last_plan.map(|p| self.media[p.medium].name())
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

    /// Leaves the job: releases what every medium holds for this rank. Other communicators
    /// on the same media stop working too. Every medium is closed; the first error is
    /// returned.
    pub async fn close(self) -> Result<()> {
        let closes = self.media.iter().map(|m| m.close());
        let results = futures_util::future::join_all(closes).await;
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
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

    /// Checks that the communicator is usable and picks the algorithm and the medium: on
    /// each medium the selector's choice, then the medium whose estimate the hint favours
    /// (the first on a tie). `traffic` gives an algorithm's requests and bytes on a medium,
    /// for the dollar estimate. No side effects.
    fn plan(
        &self,
        collective: Collective,
        offered: &[Algorithm],
        bytes: usize,
        commutative: bool,
        cost: fn(Algorithm, &CostInput) -> Option<f64>,
        traffic: &dyn Fn(Algorithm, &LinkProfile) -> Traffic,
    ) -> Result<Plan> {
        self.check_usable(collective)?;
        let mut best: Option<(f64, Plan)> = None;
        let mut refused = None;
        for (medium, transport) in self.media.iter().enumerate() {
            let input = CostInput {
                ranks: self.size(),
                bytes,
                profile: transport.profile(),
                commutative,
            };
            // Message algorithms pay for a server in between, store-native ones model it.
            let messages = CostInput {
                profile: input.profile.for_messages(input.ranks),
                ..input
            };
            let estimate = |a: Algorithm| {
                cost(
                    a,
                    if a.needs_shared_objects() {
                        &input
                    } else {
                        &messages
                    },
                )
            };
            let algorithm =
                match selector::select(collective, offered, self.options.algorithm, estimate) {
                    Ok(a) => a,
                    Err(e) => {
                        refused.get_or_insert(e);
                        continue;
                    }
                };
            let seconds = estimate(algorithm).unwrap_or(f64::INFINITY);
            let score = match self.hint {
                Hint::Fast => seconds,
                Hint::Cheap => dollars(
                    seconds,
                    self.size(),
                    traffic(algorithm, &input.profile),
                    &input.profile,
                ),
            };
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, Plan { algorithm, medium }));
            }
        }
        match (best, refused) {
            (Some((_, plan)), _) => Ok(plan),
            (None, Some(e)) => Err(e.with_collective(collective)),
            (None, None) => Err(Error::invalid("a communicator needs at least one medium")),
        }
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
        plan: Plan,
    ) -> Call {
        self.seq += 1;
        self.last_plan = Some(plan);
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
            medium: plan.medium,
        }
    }

    fn ctx(&self, call: &Call) -> OpCtx<'_> {
        OpCtx::new(
            self.media[call.medium].as_ref(),
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
            self.tell_members(&format!("rank {} failed: {e}", self.rank))
                .await;
        }
        Err(e)
    }

    /// Aborts the communicator, as `MPI_Abort` on a communicator or NCCL's
    /// `ncclCommAbort` do: every other member's wait in it (and every later call there)
    /// ends with [`ErrorKind::Remote`] naming this rank and `reason`, and every later call
    /// here fails with [`ErrorKind::Remote`] too. The notice goes out on every medium, best
    /// effort and for at most a second; the media stay open for the job's other
    /// communicators.
    ///
    /// ```
    /// # use fccl_collectives::{local, ErrorKind, ReduceOp};
    /// let kinds = local::run(2, |mut comm| async move {
    ///     let mut v = [1.0f32];
    ///     if comm.rank() == 1 {
    ///         comm.abort("out of memory").await;
    ///     }
    ///     comm.all_reduce(&mut v, ReduceOp::Sum).await.unwrap_err().kind()
    /// });
    /// assert_eq!(kinds, [ErrorKind::Remote, ErrorKind::Remote]);
    /// ```
    pub async fn abort(&mut self, reason: &str) {
        if self.poisoned.is_none() {
            let here = format!("this rank aborted the communicator: {reason}");
            self.poisoned = Some(Error::new(ErrorKind::Remote, here));
        }
        self.tell_members(&format!(
            "rank {} aborted the communicator: {reason}",
            self.rank
        ))
        .await;
    }

    /// Tells every other member, on every medium (a peer may be waiting on any of them),
    /// that this communicator failed here. Best effort: a dead medium must not hold the
    /// caller back for more than a second.
    async fn tell_members(&self, reason: &str) {
        let peers: Vec<Rank> = self
            .members
            .iter()
            .enumerate()
            .filter(|&(r, _)| r != self.rank)
            .map(|(_, &t)| t)
            .collect();
        let aborts = self.media.iter().map(|m| m.abort(self.id, &peers, reason));
        let all = futures_util::future::join_all(aborts);
        let _ = tokio::time::timeout(Duration::from_secs(1), all).await;
    }
}

/// The dollars a call costs: every rank's running time, plus the medium's requests and
/// bytes at its prices.
#[allow(clippy::cast_precision_loss)]
fn dollars(seconds: f64, ranks: usize, traffic: Traffic, profile: &LinkProfile) -> f64 {
    seconds * ranks as f64 * USD_PER_RANK_SECOND
        + traffic.messages as f64 * profile.usd_per_request
        + traffic.bytes as f64 * profile.usd_per_byte
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
