//! Dense `f32` vectors to and from `f16`/`bf16` for a half-width allreduce.
//!
//! Encoding divides by a *divisor* before rounding to the half type (round to nearest, ties
//! to even), which is what keeps a sum over ranks in range: the collectives add `f16`
//! values in `f32` but store every partial sum as `f16`, whose largest finite value is
//! 65504. PyTorch's `fp16_compress_hook` divides by the world size, which makes the
//! reduced vector the *mean* and keeps it in range whenever every rank's values are.
//! [`divisor_for`] picks a power of two that also covers values that are themselves beyond
//! the range. Decoding multiplies back by a multiplier of your choice (the divisor for the
//! sum, 1 for the mean) and accumulates in `f32`.
//!
//! Precision: a value in the normal range comes back with relative error at most 2⁻¹¹
//! (`f16`, 11 significant bits) or 2⁻⁸ (`bf16`, 8 bits); power-of-two divisors add no
//! error of their own. Magnitudes below `f16`'s smallest subnormal (about 6e-8, after
//! division) become zero and subnormals lose bits; [`super::HalfFeedback`] carries what is
//! lost into the next step. `bf16` has `f32`'s exponent range, so it neither overflows nor
//! underflows sooner than `f32`, but it is coarser.
//!
//! Overflow is an error, not a clamp: a value that would round to infinity (or a NaN or
//! infinite input) fails the whole encode with its index, so a bad divisor is found at once
//! instead of as a silently clipped gradient.

use half::{bf16, f16};

use crate::error::{MlError, Result};

mod sealed {
    pub trait Sealed {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A 16-bit float type gradients can be encoded to: `half::f16` or `half::bf16`.
pub trait HalfFloat: Copy + Send + Sync + 'static + sealed::Sealed {
    /// `f16` or `bf16`, for messages.
    const NAME: &'static str;
    /// The largest finite value.
    const MAX: f32;
    /// The unit roundoff: the largest relative rounding error in the normal range.
    const UNIT_ROUNDOFF: f32;
    /// Rounds to nearest, ties to even.
    fn from_f32(x: f32) -> Self;
    /// Exact widening.
    fn to_f32(self) -> f32;
}

impl HalfFloat for f16 {
    const NAME: &'static str = "f16";
    const MAX: f32 = 65504.0;
    const UNIT_ROUNDOFF: f32 = 1.0 / 2048.0; // 2^-11
    fn from_f32(x: f32) -> f16 {
        f16::from_f32(x)
    }
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
}

impl HalfFloat for bf16 {
    const NAME: &'static str = "bf16";
    const MAX: f32 = 3.389_531_4e38;
    const UNIT_ROUNDOFF: f32 = 1.0 / 256.0; // 2^-8
    fn from_f32(x: f32) -> bf16 {
        bf16::from_f32(x)
    }
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}

/// Checks a divisor or multiplier.
fn check_scale(what: &str, s: f32) -> Result<()> {
    if s.is_finite() && s > 0.0 {
        Ok(())
    } else {
        Err(MlError::invalid(format!(
            "the {what} must be positive and finite, not {s}"
        )))
    }
}

/// `x / divisor` rounded to `T`, element by element.
///
/// Fails, naming the first offending index, if the divisor is not positive and finite or a
/// value is not finite or would round beyond `T`'s range.
pub fn encode<T: HalfFloat>(x: &[f32], divisor: f32) -> Result<Vec<T>> {
    check_scale("divisor", divisor)?;
    let mut out = Vec::with_capacity(x.len());
    for (i, &v) in x.iter().enumerate() {
        let scaled = v / divisor;
        let h = T::from_f32(scaled);
        if !h.to_f32().is_finite() {
            return Err(MlError::invalid(format!(
                "value {v} at index {i} divided by {divisor} is {scaled}, which {} cannot hold \
                 (largest {}); pre-scale by a larger divisor",
                T::NAME,
                T::MAX
            )));
        }
        out.push(h);
    }
    Ok(out)
}

/// `y · multiplier` widened to `f32`, element by element.
pub fn decode<T: HalfFloat>(y: &[T], multiplier: f32) -> Vec<f32> {
    y.iter().map(|&h| h.to_f32() * multiplier).collect()
}

/// `acc[i] += y[i] · multiplier` in `f32` (e.g. to sum per-rank contributions without
/// rounding each partial sum to 16 bits).
///
/// # Panics
/// If the slices differ in length.
pub fn accumulate<T: HalfFloat>(y: &[T], multiplier: f32, acc: &mut [f32]) {
    assert_eq!(y.len(), acc.len(), "encoded and accumulator lengths");
    for (a, &h) in acc.iter_mut().zip(y) {
        *a += h.to_f32() * multiplier;
    }
}

/// A power-of-two divisor, at least `world`, under which `world` encoded values of
/// magnitude up to `max_abs` sum without leaving `T`'s range:
/// `world · max_abs / divisor ≤ T::MAX / 2` (half the range, leaving room for rounding).
///
/// Every rank must use the same divisor, so `max_abs` should be the maximum over ranks (a
/// `Max` allreduce of one value) or a known bound. Fails if `world` is 0 or `max_abs` is
/// negative or not finite.
pub fn divisor_for<T: HalfFloat>(max_abs: f32, world: usize) -> Result<f32> {
    if world == 0 || !(max_abs.is_finite() && max_abs >= 0.0) {
        return Err(MlError::invalid(format!(
            "a divisor needs a world of at least 1 and a finite bound (world {world}, bound {max_abs})"
        )));
    }
    let need = (f64::from(max_abs) * world as f64 / (f64::from(T::MAX) / 2.0)).max(world as f64);
    let divisor = 2f64.powi(need.log2().ceil() as i32);
    if divisor > f64::from(f32::MAX) {
        return Err(MlError::invalid(format!(
            "no f32 divisor keeps {world} × {max_abs} within {}",
            T::NAME
        )));
    }
    Ok(divisor as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fccl_collectives::ReduceOp;
    use fccl_collectives::kernels::reduce;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn f16_round_trip_within_unit_roundoff(m in 6.2e-5f32..65000.0, neg: bool, p in 0i32..4) {
            let x = if neg { -m } else { m };
            let d = 2f32.powi(p);
            // x · d keeps x / d (the encoded value) in f16's normal range.
            let y = encode::<f16>(&[x * d], d).unwrap();
            let back = decode(&y, d)[0];
            prop_assert!((back - x * d).abs() <= f16::UNIT_ROUNDOFF * (x * d).abs(), "{} vs {}", back, x * d);
        }

        #[test]
        fn bf16_round_trip_within_unit_roundoff(m in 1e-30f32..1e30, neg: bool) {
            let x = if neg { -m } else { m };
            let y = encode::<bf16>(&[x], 3.0).unwrap();
            let back = decode(&y, 3.0)[0];
            // A non-power-of-two divisor adds two f32 roundings (2^-24 each).
            let bound = (bf16::UNIT_ROUNDOFF + 2.0 * f32::EPSILON) * x.abs();
            prop_assert!((back - x).abs() <= bound, "{} vs {}", back, x);
        }
    }

    #[test]
    fn overflow_is_an_error_and_underflow_is_zero() {
        let err = encode::<f16>(&[1.0, 1e5], 1.0).unwrap_err().to_string();
        assert!(err.contains("value 100000 at index 1"), "{err}");
        assert!(err.contains("pre-scale by a larger divisor"), "{err}");
        assert!(encode::<f16>(&[65504.0], 1.0).is_ok());
        assert!(
            encode::<f16>(&[65520.0], 1.0).is_err(),
            "rounds up to infinity"
        );
        assert!(encode::<f16>(&[f32::NAN], 1.0).is_err());
        assert!(encode::<bf16>(&[f32::INFINITY], 1.0).is_err());
        assert!(
            encode::<bf16>(&[f32::MAX], 1.0).is_err(),
            "rounds up to infinity"
        );
        assert!(encode::<bf16>(&[1e38], 1.0).is_ok());
        assert!(encode::<f16>(&[1.0], 0.0).is_err());
        assert_eq!(
            decode(&encode::<f16>(&[2e-8], 1.0).unwrap(), 1.0),
            vec![0.0]
        );
        assert_eq!(
            decode(&encode::<bf16>(&[2e-8], 1.0).unwrap(), 1.0)[0],
            bf16::from_f32(2e-8).to_f32()
        );
    }

    /// Sums per-rank encodings as the collectives' `f16` sum kernel does.
    fn reduce_f16(ranks: &[Vec<f32>], divisor: f32) -> Result<Vec<f16>> {
        let mut acc = encode::<f16>(&ranks[0], divisor)?;
        for x in &ranks[1..] {
            reduce(ReduceOp::Sum, &mut acc, &encode::<f16>(x, divisor)?);
        }
        Ok(acc)
    }

    #[test]
    fn pre_scaling_keeps_a_sum_over_eight_ranks_in_range() {
        // Eight ranks whose values each fit in f16 but whose sum (up to 1e5) does not.
        let ranks: Vec<Vec<f32>> = (0..8)
            .map(|k| {
                vec![
                    12_500.0 + k as f32,
                    -9_000.0,
                    0.5,
                    40_000.0 / (k + 1) as f32,
                ]
            })
            .collect();
        let exact: Vec<f64> = (0..4)
            .map(|i| ranks.iter().map(|x| f64::from(x[i])).sum())
            .collect();
        let unscaled = reduce_f16(&ranks, 1.0).unwrap();
        assert!(
            unscaled[0].is_infinite(),
            "without pre-scaling the sum overflows"
        );
        let scaled = reduce_f16(&ranks, 8.0).unwrap();
        let sum = decode(&scaled, 8.0);
        for (i, (s, e)) in sum.iter().zip(&exact).enumerate() {
            // 8 roundings on encode and 7 on partial sums, each at most 2^-11 relative to
            // a magnitude no larger than Σ|x|.
            let magnitude: f64 = ranks.iter().map(|x| f64::from(x[i].abs())).sum();
            let bound = 15.0 * f64::from(f16::UNIT_ROUNDOFF) * magnitude;
            assert!((f64::from(*s) - e).abs() <= bound, "{s} vs {e}");
        }
        // The mean is the same vector decoded with multiplier 1.
        assert!((decode(&scaled, 1.0)[0] - sum[0] / 8.0).abs() < 1e-3);

        // Values of 1e5 on every rank do not even encode unscaled; divisor_for covers them.
        let big = vec![vec![1e5f32, -1e5]; 8];
        assert!(reduce_f16(&big, 8.0).is_ok_and(|s| s[0].is_infinite()));
        let d = divisor_for::<f16>(1e5, 8).unwrap();
        assert_eq!(d, 32.0);
        let sum = decode(&reduce_f16(&big, d).unwrap(), d);
        for (s, e) in sum.iter().zip([8e5f32, -8e5]) {
            assert!(
                (s - e).abs() <= 15.0 * f16::UNIT_ROUNDOFF * 8e5,
                "{s} vs {e}"
            );
        }
    }

    #[test]
    fn f32_accumulation_of_encoded_ranks() {
        let ranks = [vec![1.0f32, 2048.0], vec![1.0, 1.0]];
        let mut acc = vec![0.0f32; 2];
        for x in &ranks {
            accumulate(&encode::<f16>(x, 1.0).unwrap(), 1.0, &mut acc);
        }
        // 2048 + 1 is not an f16, but it is an f32.
        assert_eq!(acc, vec![2.0, 2049.0]);
        assert_eq!(divisor_for::<f16>(0.0, 4).unwrap(), 4.0);
        assert_eq!(divisor_for::<bf16>(1e30, 8).unwrap(), 8.0);
        assert!(divisor_for::<f16>(1.0, 0).is_err());
    }
}
