//! Reduce-scatter: the reduction of all ranks' vectors, block i to rank i. n = the whole vector's bytes.
//!
//! On entry `buf` holds this rank's whole vector, cut into one block per rank by a
//! [`Blocks`] (blocks may differ in size and be empty); on return block `ctx.rank()` holds
//! the reduction over all ranks (not divided for `Avg`) and the other blocks hold scratch.

mod recursive_doubling;
mod recursive_halving;
mod ring;
mod scatter_reduce;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::algorithms::blocks::Blocks;
use crate::collective::Collective;
use crate::error::Result;
use crate::{Element, Rank, Reduction};

/// The reduce_scatter algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ring,
    Algorithm::RecursiveHalving,
    Algorithm::RecursiveDoubling,
    Algorithm::ScatterReduce,
];

/// The estimated time of `alg`, or `None` where it cannot run the call (ring and recursive
/// halving combine out of rank order, so they need a commutative reduction; scatter-reduce
/// needs shared objects).
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Ring if input.commutative => Some(ring::cost(input)),
        Algorithm::RecursiveHalving if input.commutative => Some(recursive_halving::cost(input)),
        Algorithm::RecursiveDoubling => Some(recursive_doubling::cost(input)),
        Algorithm::ScatterReduce if input.has_shared_objects() => Some(scatter_reduce::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends over `blocks` of `elem`-byte elements.
pub fn traffic(alg: Algorithm, blocks: &Blocks, elem: usize) -> Traffic {
    match alg {
        Algorithm::Ring => ring::traffic(blocks, elem),
        Algorithm::RecursiveHalving => recursive_halving::traffic(blocks, elem),
        Algorithm::RecursiveDoubling => recursive_doubling::traffic(blocks, elem),
        Algorithm::ScatterReduce => scatter_reduce::traffic(blocks, elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg`: reduces every rank's `buf` (cut into `blocks`) into block `ctx.rank()`.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    blocks: &Blocks,
    op: &Reduction<T>,
) -> Result<()> {
    match alg {
        Algorithm::Ring => ring::run(ctx, buf, blocks, op).await,
        Algorithm::RecursiveHalving => recursive_halving::run(ctx, buf, blocks, op).await,
        Algorithm::RecursiveDoubling => recursive_doubling::run(ctx, buf, blocks, op).await,
        Algorithm::ScatterReduce => scatter_reduce::run(ctx, buf, blocks, op).await,
        _ => Err(not_offered(Collective::ReduceScatter, alg)),
    }
}

/// The fold step both reduce-scatter algorithms over a power of two open with: a
/// folded-out rank hands its whole vector to its partner and waits (at step `last`) for its
/// own block, returning `None`; a taking-part rank absorbs its partner's vector (rank order
/// kept) and returns its new rank and the rank it absorbed, if any.
async fn fold_in<T: Element>(
    ctx: &OpCtx<'_>,
    fold: crate::algorithms::fold::Fold,
    buf: &mut [T],
    blocks: &Blocks,
    op: &Reduction<T>,
    last: u32,
) -> Result<Option<(usize, Option<Rank>)>> {
    use crate::algorithms::fold::Role;
    let r = ctx.rank();
    match fold.role(r) {
        Role::Out { partner } => {
            ctx.send(partner, 0, buf).await?;
            ctx.recv_into(partner, last, &mut buf[blocks.range(r)])
                .await?;
            Ok(None)
        }
        Role::In { new, absorbs } => {
            if let Some(even) = absorbs {
                let lower = ctx.recv::<T>(even, 0, buf.len()).await?;
                op.combine_from_left(&lower.as_slice(), buf);
            }
            Ok(Some((new, absorbs)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::algorithms::cost::{ceil_log2, pow2_floor};
    use crate::algorithms::pipeline::CHUNK_BYTES;
    use crate::frame::{CommId, Header, Tag};
    use crate::{Communicator, ErrorKind, LinkProfile, OpOptions, ReduceOp, local};

    pub(crate) const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];
    /// Elements of `i64` in one pipeline chunk.
    pub(crate) const CHUNK: usize = CHUNK_BYTES / 8;

    /// A context for calling an algorithm module directly on `i64` data, on a communicator
    /// id of its own; every call of one test needs its own `seq`.
    pub(crate) fn ctx_for<'a>(
        comm: &'a Communicator,
        members: &'a [usize],
        collective: Collective,
        header_op: u8,
        count: usize,
        seq: u64,
    ) -> OpCtx<'a> {
        let header = Header {
            collective,
            dtype: crate::DataType::Int64,
            op: header_op,
            tag: Tag {
                comm: CommId(0xFCC1),
                p2p: false,
                seq,
                step: 0,
                chunk: 0,
            },
            chunks: 1,
            root: 0,
            count: count as u64,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        OpCtx::new(
            comm.transport().as_ref(),
            members,
            comm.rank(),
            header,
            deadline,
        )
    }

    /// Block layouts for `p` ranks: uniform, balanced with a remainder, some empty blocks,
    /// all empty, and one block longer than two pipeline chunks.
    pub(crate) fn layouts(p: usize) -> Vec<Blocks> {
        let some_empty: Vec<usize> = (0..p).map(|i| if i % 3 == 0 { 0 } else { i + 1 }).collect();
        let one_big: Vec<usize> = (0..p)
            .map(|i| if i == p / 2 { 2 * CHUNK + 7 } else { i % 2 * 3 })
            .collect();
        vec![
            Blocks::uniform(p, 3),
            Blocks::balanced(5 * p + p / 2 + 1, p),
            Blocks::from_counts(&some_empty),
            Blocks::uniform(p, 0),
            Blocks::from_counts(&one_big),
        ]
    }

    /// Rank `q`'s input: distinct, deterministic, small enough that sums are exact.
    pub(crate) fn input(q: usize, len: usize) -> Vec<i64> {
        (0..len)
            .map(|e| ((q * 7919 + e * 104_729) % 1000) as i64 - 500)
            .collect()
    }

    /// The sum of the inputs of `p` ranks, computed sequentially.
    fn sum_reference(p: usize, len: usize) -> Vec<i64> {
        let mut sum = vec![0i64; len];
        for q in 0..p {
            sum.iter_mut().zip(input(q, len)).for_each(|(s, x)| *s += x);
        }
        sum
    }

    #[test]
    fn every_algorithm_matches_the_reference_through_the_communicator() {
        for p in RANKS {
            local::run_with_store(p, |mut comm| async move {
                let r = comm.rank();
                for &alg in ALGORITHMS {
                    for block in [0, 1, 5, 2 * CHUNK + 3] {
                        let send = input(r, p * block);
                        let mut recv = vec![0i64; block];
                        let options = OpOptions::new().algorithm(alg);
                        comm.with_options(options)
                            .reduce_scatter(&send, &mut recv, ReduceOp::Sum)
                            .await
                            .unwrap();
                        assert_eq!(comm.last_algorithm(), Some(alg));
                        let want = sum_reference(p, p * block);
                        assert_eq!(
                            recv,
                            want[r * block..(r + 1) * block],
                            "{alg} p={p} block={block} rank {r}"
                        );
                    }
                    // Max over f32, where a wrong partner shows as a wrong maximum.
                    let send: Vec<f32> =
                        (0..p * 4).map(|e| ((e * 5 + r * 3) % 11) as f32).collect();
                    let mut recv = vec![0f32; 4];
                    comm.with_options(OpOptions::new().algorithm(alg))
                        .reduce_scatter(&send, &mut recv, ReduceOp::Max)
                        .await
                        .unwrap();
                    let want: Vec<f32> = (r * 4..r * 4 + 4)
                        .map(|e| {
                            (0..p)
                                .map(|q| ((e * 5 + q * 3) % 11) as f32)
                                .fold(0.0, f32::max)
                        })
                        .collect();
                    assert_eq!(recv, want, "{alg} max p={p}");
                }
            });
        }
    }

    #[test]
    fn uneven_blocks_through_the_module() {
        for p in RANKS {
            local::run_with_store(p, |comm| async move {
                let r = comm.rank();
                let members: Vec<usize> = (0..p).collect();
                let mut seq = 0;
                for &alg in ALGORITHMS {
                    for blocks in layouts(p) {
                        seq += 1;
                        let n = blocks.total();
                        let ctx = ctx_for(&comm, &members, Collective::ReduceScatter, 0, n, seq);
                        let mut buf = input(r, n);
                        let op = Reduction::from(ReduceOp::Sum);
                        run(alg, &ctx, &mut buf, &blocks, &op).await.unwrap();
                        let want = sum_reference(p, n);
                        assert_eq!(
                            buf[blocks.range(r)],
                            want[blocks.range(r)],
                            "{alg} p={p} {blocks:?}"
                        );
                    }
                }
            });
        }
    }

    /// Concatenation of decimal-free digit strings: the high byte holds the length, the
    /// rest the digits in base 16. Associative, not commutative.
    fn concat(acc: &mut [i64], right: &[i64]) {
        for (a, &b) in acc.iter_mut().zip(right) {
            let (la, lb) = (*a >> 56, b >> 56);
            let digits = ((*a & 0xFF_FFFF_FFFF_FFFF) << (4 * lb)) | (b & 0xFF_FFFF_FFFF_FFFF);
            *a = ((la + lb) << 56) | digits;
        }
    }

    /// Rank `q`'s element `e`: one digit that depends on both.
    fn digit(q: usize, e: usize) -> i64 {
        (1 << 56) | ((q * 3 + e) % 16) as i64
    }

    /// Element `e` of x0 ⊕ … ⊕ x(p−1), built directly as the digits in rank order.
    fn concat_reference(p: usize, e: usize) -> i64 {
        let digits = (0..p).fold(0, |acc, q| (acc << 4) | (digit(q, e) & 0xF));
        ((p as i64) << 56) | digits
    }

    #[test]
    fn non_commutative_reduction_keeps_rank_order() {
        for p in RANKS {
            local::run(p, |mut comm| async move {
                let r = comm.rank();
                let op = Reduction::custom(concat, false);
                // Uniform blocks through the communicator: the selector must pick the
                // order-preserving algorithm, and refuse the others when forced.
                let send: Vec<i64> = (0..p * 3).map(|e| digit(r, e)).collect();
                let mut recv = vec![0i64; 3];
                comm.reduce_scatter(&send, &mut recv, op.clone())
                    .await
                    .unwrap();
                assert_eq!(comm.last_algorithm(), Some(Algorithm::RecursiveDoubling));
                let want: Vec<i64> = (r * 3..r * 3 + 3).map(|e| concat_reference(p, e)).collect();
                assert_eq!(recv, want, "p={p}");
                for alg in [Algorithm::Ring, Algorithm::RecursiveHalving] {
                    let e = comm
                        .with_options(OpOptions::new().algorithm(alg))
                        .reduce_scatter(&send, &mut recv, op.clone())
                        .await
                        .unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
                }
                // Uneven blocks through the module.
                let members: Vec<usize> = (0..p).collect();
                for (seq, blocks) in (1..).zip(layouts(p)) {
                    let n = blocks.total();
                    let ctx = ctx_for(&comm, &members, Collective::ReduceScatter, 0x81, n, seq);
                    let mut buf: Vec<i64> = (0..n).map(|e| digit(r, e)).collect();
                    run(Algorithm::RecursiveDoubling, &ctx, &mut buf, &blocks, &op)
                        .await
                        .unwrap();
                    // The same fold, applied sequentially in rank order.
                    let mut seq_ref: Vec<i64> = (0..n).map(|e| digit(0, e)).collect();
                    for q in 1..p {
                        let x: Vec<i64> = (0..n).map(|e| digit(q, e)).collect();
                        concat(&mut seq_ref, &x);
                    }
                    assert_eq!(buf[blocks.range(r)], seq_ref[blocks.range(r)], "p={p}");
                    let direct: Vec<i64> =
                        blocks.range(r).map(|e| concat_reference(p, e)).collect();
                    assert_eq!(buf[blocks.range(r)], direct);
                }
            });
        }
    }

    #[test]
    fn traffic_matches_the_closed_forms() {
        for p in 1..=13 {
            let mut all = layouts(p);
            all.push(Blocks::uniform(p, 2 * CHUNK));
            for blocks in all {
                let n = blocks.total() as u64 * 8;
                let (pof2, rem) = (pow2_floor(p) as u64, (p - pow2_floor(p)) as u64);
                let p64 = p as u64;
                let chunks: u64 = (0..p)
                    .map(|b| blocks.count(b).div_ceil(CHUNK).max(1) as u64)
                    .sum();
                assert_eq!(
                    traffic(Algorithm::Ring, &blocks, 8),
                    Traffic {
                        messages: (p64 - 1) * chunks,
                        bytes: (p64 - 1) * n
                    }
                );
                let folded: u64 = (0..rem as usize)
                    .map(|i| blocks.count(2 * i) as u64 * 8)
                    .sum();
                let lg = u64::from(ceil_log2(pof2 as usize));
                assert_eq!(
                    traffic(Algorithm::RecursiveHalving, &blocks, 8),
                    Traffic {
                        messages: pof2 * lg + 2 * rem,
                        bytes: (pof2 - 1) * n + rem * n + folded
                    }
                );
                let rd = traffic(Algorithm::RecursiveDoubling, &blocks, 8);
                if p.is_power_of_two() && blocks == Blocks::uniform(p, blocks.count(0)) {
                    // Round j: every rank sends the blocks outside its group of 2^(j+1) and
                    // its partner's block.
                    let bytes: u64 = (1..=lg)
                        .map(|j| p64 * (n - n * (1 << j) / p64 + n / p64))
                        .sum();
                    assert_eq!(rd.bytes, bytes, "p={p}");
                }
                assert!(
                    rd.messages >= pof2 * lg + 2 * rem && rd.messages <= 3 * pof2 * lg + 2 * rem
                );
            }
        }
    }

    #[test]
    fn the_selector_picks_halving_for_small_and_the_ring_for_large_vectors() {
        let tcp = LinkProfile {
            latency: Duration::from_micros(50),
            bandwidth: 1.25e9,
            ..LinkProfile::IN_PROCESS
        };
        for profile in [LinkProfile::IN_PROCESS, tcp] {
            for p in [2, 4, 6, 8, 16] {
                let pick = |bytes: usize, commutative: bool| {
                    let input = CostInput {
                        ranks: p,
                        bytes,
                        profile,
                        commutative,
                    };
                    crate::algorithms::selector::select(
                        Collective::ReduceScatter,
                        ALGORITHMS,
                        None,
                        |a| cost(a, &input),
                    )
                    .unwrap()
                };
                // On two ranks both are one exchange, which the ring pipelines.
                if p.is_power_of_two() && p > 2 {
                    assert_eq!(pick(1 << 10, true), Algorithm::RecursiveHalving, "p={p}");
                }
                assert_eq!(pick(64 << 20, true), Algorithm::Ring, "p={p}");
                assert_eq!(pick(1 << 10, false), Algorithm::RecursiveDoubling);
                assert_eq!(pick(64 << 20, false), Algorithm::RecursiveDoubling);
            }
        }
    }
}
