//! Reduction kernels over whole slices.
//!
//! Each kernel is a plain loop over two slices that the compiler vectorises; past
//! [`PARALLEL_THRESHOLD_BYTES`] the slices are split across rayon's pool. `f16` and `bf16`
//! are widened to `f32` in small blocks with `half`'s slice conversions, combined in `f32`
//! and rounded once.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use rayon::prelude::*;

use crate::op::ReduceOp;

/// Slices at least this large (in bytes) are reduced on rayon's thread pool.
pub const PARALLEL_THRESHOLD_BYTES: usize = 1 << 20;

/// The part of each rayon task, in bytes: large enough to amortise the task, small enough to
/// stay in cache.
const PARALLEL_CHUNK_BYTES: usize = 256 << 10;

/// Block length for widening `f16`/`bf16` to `f32` on the stack.
const HALF_BLOCK: usize = 512;

/// The per-type kernels behind [`reduce`] and [`divide`]; implemented for every
/// [`Element`](crate::Element).
pub trait Kernels: Sized + Copy + Send + Sync {
    /// `acc[i] = acc[i] op x[i]` for a built-in op on one serial block (`Avg` adds).
    fn combine_serial(op: ReduceOp, acc: &mut [Self], x: &[Self]);
    /// `acc[i] = acc[i] / n`, truncating for integers.
    fn divide_serial(acc: &mut [Self], n: usize);
}

/// `acc[i] = acc[i] op x[i]` for every `i`; `Avg` adds (see [`divide`]).
///
/// # Panics
/// If the slices differ in length (callers validate lengths first).
pub fn reduce<T: Kernels>(op: ReduceOp, acc: &mut [T], x: &[T]) {
    assert_eq!(
        acc.len(),
        x.len(),
        "reduce over slices of different lengths"
    );
    let bytes = std::mem::size_of_val(acc);
    if bytes >= PARALLEL_THRESHOLD_BYTES {
        let chunk = (PARALLEL_CHUNK_BYTES / size_of::<T>()).max(1);
        acc.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(a, b)| T::combine_serial(op, a, b));
    } else {
        T::combine_serial(op, acc, x);
    }
}

/// `acc[i] = acc[i] / n`, the last step of `Avg`; integers truncate toward zero.
pub fn divide<T: Kernels>(acc: &mut [T], n: usize) {
    let bytes = std::mem::size_of_val(acc);
    if bytes >= PARALLEL_THRESHOLD_BYTES {
        let chunk = (PARALLEL_CHUNK_BYTES / size_of::<T>()).max(1);
        acc.par_chunks_mut(chunk)
            .for_each(|a| T::divide_serial(a, n));
    } else {
        T::divide_serial(acc, n);
    }
}

macro_rules! int_kernels {
    ($($t:ty => $wide:ty),*) => {$(
        impl Kernels for $t {
            fn combine_serial(op: ReduceOp, acc: &mut [Self], x: &[Self]) {
                let pairs = acc.iter_mut().zip(x);
                match op {
                    ReduceOp::Sum | ReduceOp::Avg => pairs.for_each(|(a, b)| *a = a.wrapping_add(*b)),
                    ReduceOp::Prod => pairs.for_each(|(a, b)| *a = a.wrapping_mul(*b)),
                    ReduceOp::Max => pairs.for_each(|(a, b)| *a = (*a).max(*b)),
                    ReduceOp::Min => pairs.for_each(|(a, b)| *a = (*a).min(*b)),
                }
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn divide_serial(acc: &mut [Self], n: usize) {
                let n = n as $wide;
                acc.iter_mut().for_each(|a| *a = (<$wide>::from(*a) / n) as $t);
            }
        }
    )*};
}

int_kernels!(i8 => i64, u8 => u64, i32 => i64, u32 => u64, i64 => i64, u64 => u64);

macro_rules! float_kernels {
    ($($t:ty),*) => {$(
        impl Kernels for $t {
            fn combine_serial(op: ReduceOp, acc: &mut [Self], x: &[Self]) {
                let pairs = acc.iter_mut().zip(x);
                match op {
                    ReduceOp::Sum | ReduceOp::Avg => pairs.for_each(|(a, b)| *a += *b),
                    ReduceOp::Prod => pairs.for_each(|(a, b)| *a *= *b),
                    // Compare-and-select vectorises; NaN in `x` is dropped as f32::max does.
                    ReduceOp::Max => pairs.for_each(|(a, b)| if *b > *a { *a = *b }),
                    ReduceOp::Min => pairs.for_each(|(a, b)| if *b < *a { *a = *b }),
                }
            }
            #[allow(clippy::cast_precision_loss)]
            fn divide_serial(acc: &mut [Self], n: usize) {
                let n = n as $t;
                acc.iter_mut().for_each(|a| *a /= n);
            }
        }
    )*};
}

float_kernels!(f32, f64);

macro_rules! half_kernels {
    ($($t:ty),*) => {$(
        impl Kernels for $t {
            fn combine_serial(op: ReduceOp, acc: &mut [Self], x: &[Self]) {
                let mut wa = [0f32; HALF_BLOCK];
                let mut wb = [0f32; HALF_BLOCK];
                for (a, b) in acc.chunks_mut(HALF_BLOCK).zip(x.chunks(HALF_BLOCK)) {
                    let (fa, fb) = (&mut wa[..a.len()], &mut wb[..b.len()]);
                    a.convert_to_f32_slice(fa);
                    b.convert_to_f32_slice(fb);
                    f32::combine_serial(op, fa, fb);
                    a.convert_from_f32_slice(fa);
                }
            }
            fn divide_serial(acc: &mut [Self], n: usize) {
                let mut wa = [0f32; HALF_BLOCK];
                for a in acc.chunks_mut(HALF_BLOCK) {
                    let fa = &mut wa[..a.len()];
                    a.convert_to_f32_slice(fa);
                    f32::divide_serial(fa, n);
                    a.convert_from_f32_slice(fa);
                }
            }
        }
    )*};
}

half_kernels!(f16, bf16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ops_wrap_and_avg_truncates() {
        let mut a = [i8::MAX, -7, 3, -128];
        reduce(ReduceOp::Sum, &mut a, &[1, 2, -4, -1]);
        assert_eq!(a, [i8::MIN, -5, -1, 127]);
        let mut m = [5u32, 1, 9];
        reduce(ReduceOp::Max, &mut m, &[4, 2, 9]);
        assert_eq!(m, [5, 2, 9]);
        reduce(ReduceOp::Min, &mut m, &[6, 0, 10]);
        assert_eq!(m, [5, 0, 9]);
        let mut d = [-7i32, 7, 8];
        divide(&mut d, 2);
        assert_eq!(d, [-3, 3, 4]);
        let mut big = [100i8, -100];
        divide(&mut big, 300);
        assert_eq!(big, [0, 0]);
    }

    #[test]
    fn half_types_accumulate_in_f32() {
        // 2048 + 1 is not representable in f16 (spacing 2), but max/min/prod round once.
        let mut a = vec![f16::from_f32(1.5); 1000];
        let b = vec![f16::from_f32(2.0); 1000];
        reduce(ReduceOp::Prod, &mut a, &b);
        assert!(a.iter().all(|v| v.to_f32() == 3.0));
        let mut c = vec![bf16::from_f32(3.0); 700];
        divide(&mut c, 2);
        assert!(c.iter().all(|v| v.to_f32() == 1.5));
    }

    #[test]
    fn parallel_path_matches_serial() {
        let n = PARALLEL_THRESHOLD_BYTES / 4 * 3 + 17;
        let x: Vec<f32> = (0..n).map(|i| (i % 97) as f32).collect();
        let mut par = x.clone();
        reduce(ReduceOp::Sum, &mut par, &x);
        let mut ser = x.clone();
        f32::combine_serial(ReduceOp::Sum, &mut ser, &x);
        assert_eq!(par, ser);
        assert_eq!(par[96], 192.0);
    }
}
