//! Error feedback for `f16`/`bf16` encoding: the rounding error of one step is added to the
//! next step's values, so small gradients that round to zero are delayed, not lost
//! (EF-SGD, Karimireddy et al. 2019, applied to a rounding compressor).
//!
//! Each step encodes `z = x + residual` and keeps `residual = z − decode(encode(z))`. With a
//! power-of-two divisor that residual is exact: `decode(encode(z)) + residual == z` in
//! `f32`, bit for bit (the rounding error of a narrower format is an `f32` number).

use std::marker::PhantomData;

use super::half_float::{HalfFloat, encode};
use crate::error::{MlError, Result};

/// Half-precision encoding of a dense vector with a residual per coordinate.
#[derive(Clone, Debug, PartialEq)]
pub struct HalfFeedback<T> {
    residual: Vec<f32>,
    divisor: f32,
    kind: PhantomData<T>,
}

impl<T: HalfFloat> HalfFeedback<T> {
    /// Feedback for vectors of length `n`, encoded with `divisor` (see
    /// [`super::half_float`]; a power of two keeps the residual exact). Residuals start at 0.
    pub fn new(n: usize, divisor: f32) -> HalfFeedback<T> {
        HalfFeedback {
            residual: vec![0.0; n],
            divisor,
            kind: PhantomData,
        }
    }

    /// What has not been sent yet, in the input's units.
    pub fn residual(&self) -> &[f32] {
        &self.residual
    }

    /// Encodes `x + residual` and keeps what the rounding lost. On an error (a length
    /// mismatch or a value out of range) the residual is unchanged.
    pub fn encode(&mut self, x: &[f32]) -> Result<Vec<T>> {
        if x.len() != self.residual.len() {
            return Err(MlError::invalid(format!(
                "error feedback was set up for {} values but got {}",
                self.residual.len(),
                x.len()
            )));
        }
        let z: Vec<f32> = x.iter().zip(&self.residual).map(|(a, b)| a + b).collect();
        let y = encode::<T>(&z, self.divisor)?;
        for ((r, &zj), &h) in self.residual.iter_mut().zip(&z).zip(&y) {
            *r = zj - h.to_f32() * self.divisor;
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::decode;
    use half::{bf16, f16};
    use proptest::prelude::*;

    #[test]
    fn tiny_values_are_delayed_not_lost() {
        // 2e-8 rounds to 0 in f16 every time without feedback.
        let mut ef = HalfFeedback::<f16>::new(1, 1.0);
        let mut sent = 0.0f64;
        for _ in 0..100 {
            sent += f64::from(decode(&ef.encode(&[2e-8]).unwrap(), 1.0)[0]);
        }
        let total = sent + f64::from(ef.residual()[0]);
        assert!(sent > 0.0);
        assert!((total - 2e-6).abs() < 1e-12, "{total}");
        assert!(ef.encode(&[1.0, 2.0]).is_err());
        assert!(ef.encode(&[1e6]).is_err());
    }

    proptest! {
        #[test]
        fn residual_is_exact(xs in proptest::collection::vec(-1e4f32..1e4, 1..20), steps in 1usize..4, p in 0i32..4) {
            let d = 2f32.powi(p);
            let mut f = HalfFeedback::<f16>::new(xs.len(), d);
            let mut b = HalfFeedback::<bf16>::new(xs.len(), d);
            for _ in 0..steps {
                let (zf, zb): (Vec<f32>, Vec<f32>) = (
                    xs.iter().zip(f.residual()).map(|(x, r)| x + r).collect(),
                    xs.iter().zip(b.residual()).map(|(x, r)| x + r).collect(),
                );
                let (yf, yb) = (decode(&f.encode(&xs).unwrap(), d), decode(&b.encode(&xs).unwrap(), d));
                for j in 0..xs.len() {
                    prop_assert_eq!(yf[j] + f.residual()[j], zf[j]);
                    prop_assert_eq!(yb[j] + b.residual()[j], zb[j]);
                }
            }
        }
    }
}
