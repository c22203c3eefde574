//! Gradient compression for the allreduce and parameter-server paths.
//!
//! - [`half_float`]: dense `f32` vectors to `f16`/`bf16` with a pre-scaling divisor (as
//!   PyTorch's `fp16_compress_hook` divides by the world size) so that sums across ranks
//!   stay in range, and decoding with `f32` accumulation. Out-of-range values are an error,
//!   never a silent infinity.
//! - [`half_feedback`]: error feedback for that rounding (what `f16` loses this step is
//!   sent the next).
//! - [`topk`]: top-k sparsification with error feedback (Stich et al. 2018): what is not
//!   sent stays in a residual, bit for bit.

pub mod half_feedback;
pub mod half_float;
pub mod topk;

pub use half_feedback::HalfFeedback;
pub use half_float::{HalfFloat, accumulate, decode, divisor_for, encode};
pub use topk::TopK;
