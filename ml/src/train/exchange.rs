//! How a synchronous step sums the ranks' gradients, and in which format they travel.
//!
//! - `none`: a dense `f32` allreduce (`4d` bytes per rank and step);
//! - `f16` / `bf16`: a dense allreduce of half-precision values (`2d` bytes), each rank's
//!   values divided by the world size before the conversion (so the sum cannot overflow
//!   where the mean does not) and accumulated in `f32` by the reduction kernel; the
//!   rounding error stays in a residual and joins the next step (error feedback);
//! - `topk:F`: each rank sends its `k = ⌈F·d⌉` largest (index, value) pairs by allgather
//!   (`8k` bytes per rank) and keeps the rest in a residual (error feedback); the pairs of
//!   every rank are added up.
//!
//! Uncompressed gradients that are sparse enough travel as exact (index, value) pairs
//! instead ([`sum_sparse`]: a count allgather, then an allgather of the pairs padded to the
//! longest, `8·max nnz` bytes per rank), merged in rank order on every rank.
//!
//! The compressed formats change the arithmetic, so they are held to the same final loss
//! within a tolerance, not to the same weights.

use std::str::FromStr;

use half::{bf16, f16};

use fccl_collectives::{Communicator, Element, ReduceOp};

use crate::compress::{HalfFeedback, HalfFloat, TopK, decode};
use crate::error::{MlError, Result};
use crate::model::SparseGradient;

/// The format gradients travel in.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// Dense `f32`.
    None,
    /// Dense IEEE half precision with error feedback.
    F16,
    /// Dense bfloat16 with error feedback.
    Bf16,
    /// The given fraction of the largest coordinates, with error feedback.
    TopK(f64),
}

impl FromStr for Compression {
    type Err = MlError;

    /// `none`, `f16`, `bf16` or `topk:FRACTION` (0 < FRACTION ≤ 1).
    fn from_str(s: &str) -> Result<Compression> {
        match s {
            "none" => Ok(Compression::None),
            "f16" => Ok(Compression::F16),
            "bf16" => Ok(Compression::Bf16),
            _ => match s.strip_prefix("topk:").map(str::parse::<f64>) {
                Some(Ok(f)) if f > 0.0 && f <= 1.0 => Ok(Compression::TopK(f)),
                _ => Err(MlError::invalid(format!(
                    "unknown compression {s:?}: use none, f16, bf16 or topk:FRACTION with \
                     0 < FRACTION <= 1"
                ))),
            },
        }
    }
}

/// Sums gradients over the ranks in one [`Compression`] format, keeping the residuals.
#[derive(Debug)]
pub struct GradientExchange {
    state: State,
    len: usize,
}

#[derive(Debug)]
enum State {
    Dense,
    F16(HalfFeedback<f16>),
    Bf16(HalfFeedback<bf16>),
    TopK(TopK),
}

impl GradientExchange {
    /// An exchange of gradients of `len` coordinates among `world` ranks.
    pub fn new(compression: Compression, len: usize, world: usize) -> Result<GradientExchange> {
        let divisor = world.max(1).next_power_of_two() as f32;
        let state = match compression {
            Compression::None => State::Dense,
            Compression::F16 => State::F16(HalfFeedback::new(len, divisor)),
            Compression::Bf16 => State::Bf16(HalfFeedback::new(len, divisor)),
            Compression::TopK(f) => State::TopK(TopK::new(len, f)?),
        };
        Ok(GradientExchange { state, len })
    }

    /// The bytes this rank puts into one exchange.
    pub fn bytes_per_rank(&self) -> usize {
        match &self.state {
            State::Dense => 4 * self.len,
            State::F16(_) | State::Bf16(_) => 2 * self.len,
            State::TopK(t) => 8 * t.k(),
        }
    }

    /// Replaces this rank's `grad` by the sum of every rank's (what the format delivers of
    /// it; the rest waits in the residual).
    pub async fn sum(&mut self, comm: &mut Communicator, grad: &mut [f32]) -> Result<()> {
        if grad.len() != self.len {
            return Err(MlError::invalid(format!(
                "the exchange was set up for {} coordinates but got {}",
                self.len,
                grad.len()
            )));
        }
        match &mut self.state {
            State::Dense => comm.all_reduce(grad, ReduceOp::Sum).await?,
            State::F16(feedback) => half_sum(comm, feedback, grad).await?,
            State::Bf16(feedback) => half_sum(comm, feedback, grad).await?,
            State::TopK(topk) => topk_sum(comm, topk, grad).await?,
        }
        Ok(())
    }
}

async fn half_sum<T: HalfFloat + Element>(
    comm: &mut Communicator,
    feedback: &mut HalfFeedback<T>,
    grad: &mut [f32],
) -> Result<()> {
    let divisor = comm.size().max(1).next_power_of_two() as f32;
    let mut encoded = feedback.encode(grad)?;
    comm.all_reduce(&mut encoded, ReduceOp::Sum).await?;
    grad.copy_from_slice(&decode(&encoded, divisor));
    Ok(())
}

/// Marks an unused (index, value) slot of a rank that had fewer than `k` pairs to send.
const NO_INDEX: u32 = u32::MAX;

async fn topk_sum(comm: &mut Communicator, topk: &mut TopK, grad: &mut [f32]) -> Result<()> {
    let k = topk.k();
    let picked = topk.compress(grad)?;
    let mut mine = vec![NO_INDEX; 2 * k];
    for (slot, (j, v)) in picked.iter().enumerate() {
        mine[2 * slot] = j;
        mine[2 * slot + 1] = v.to_bits();
    }
    let mut all = vec![0u32; 2 * k * comm.size()];
    comm.all_gather(&mine, &mut all).await?;
    grad.fill(0.0);
    for pair in all.chunks_exact(2).filter(|p| p[0] != NO_INDEX) {
        grad[pair[0] as usize] += f32::from_bits(pair[1]);
    }
    Ok(())
}

/// The sum over the ranks of every rank's sparse `grad`, exactly (the values of an index
/// added in rank order), on every rank.
pub async fn sum_sparse(comm: &mut Communicator, grad: &SparseGradient) -> Result<SparseGradient> {
    let mut counts = vec![0u64; comm.size()];
    comm.all_gather(&[grad.len() as u64], &mut counts).await?;
    let longest = counts.iter().copied().max().unwrap_or(0) as usize;
    let mut mine = vec![NO_INDEX; 2 * longest];
    for (slot, (j, v)) in grad.iter().enumerate() {
        mine[2 * slot] = j;
        mine[2 * slot + 1] = v.to_bits();
    }
    let mut all = vec![0u32; 2 * longest * comm.size()];
    comm.all_gather(&mine, &mut all).await?;
    let pairs = all
        .chunks_exact(2)
        .filter(|p| p[0] != NO_INDEX)
        .map(|p| (p[0], f32::from_bits(p[1])))
        .collect();
    Ok(SparseGradient::from_pairs(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_ones_are_refused() {
        assert_eq!("f16".parse::<Compression>().unwrap(), Compression::F16);
        assert_eq!(
            "topk:0.01".parse::<Compression>().unwrap(),
            Compression::TopK(0.01)
        );
        for bad in ["topk:0", "topk:2", "topk:x", "fp8"] {
            let e = bad.parse::<Compression>().unwrap_err().to_string();
            assert!(e.contains("unknown compression"), "{bad}: {e}");
        }
    }
}
