//! Deterministic inputs and their expected results in closed form.
//!
//! Every value is a small integer, bounded so that every partial result an algorithm can
//! form (a sum or product over any subset of ranks) is exactly representable in the data
//! type, including `f16` (integers up to 2048) and `bf16` (up to 256). The results are
//! therefore exact whatever order the algorithm combines in, and the checker can compare
//! with `==`.
//!
//! Reductions use `x(r, i) = a(i) + b(r)` for sum, avg, max and min, whose reduction over
//! ranks `0..m` is `m·a(i) + Σb`, `a(i) + max b` and `a(i) + min b`; products use
//! `x(r, i) = ±2^e(r, i)` with `e ∈ {0, 1}`, whose product is a signed power of two with a
//! countable exponent. Data movement uses a value that depends on the source rank and the
//! element's index, so a block from the wrong rank or offset is caught.

use fccl_collectives::{DataType, Element, Rank, ReduceOp};

/// Sum and avg values stay within this magnitude even when the type allows more.
const MAX_REDUCE_VALUE: u64 = 32;

/// Data-movement values repeat with at most this period.
const MAX_MOVE_PERIOD: u64 = 1 << 20;

/// The largest `L` such that every integer in `-L..=L` (or `0..=L` for unsigned types) is
/// exactly representable in `dtype` and survives the trip through `f64`.
pub fn exact_limit(dtype: DataType) -> u64 {
    match dtype {
        DataType::Int8 => i8::MAX as u64,
        DataType::Uint8 => u8::MAX as u64,
        DataType::Int32 => i32::MAX as u64,
        DataType::Uint32 => u32::MAX as u64,
        DataType::Int64 | DataType::Uint64 | DataType::Float64 => 1 << 53,
        DataType::Float16 => 1 << 11,
        DataType::Float32 => 1 << 24,
        DataType::Bfloat16 => 1 << 8,
    }
}

/// Whether `dtype` has negative values.
fn is_signed(dtype: DataType) -> bool {
    !matches!(dtype, DataType::Uint8 | DataType::Uint32 | DataType::Uint64)
}

/// An exact expected value: an integer, or for avg a quotient that the type rounds (floats)
/// or truncates toward zero (integers), as the reduction kernels do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exact {
    /// An integer.
    Int(i64),
    /// `numerator / denominator`.
    Ratio(i64, i64),
}

impl Exact {
    /// The value as an element of type `T`.
    pub fn to<T: Element>(self) -> T {
        match self {
            // |v| <= 2^53, so the conversion to f64 is exact.
            Exact::Int(v) => T::from_f64(v as f64),
            Exact::Ratio(num, den) if T::DTYPE.is_float() => {
                // Rounding num/den to f64 first is innocuous: f64 has more than twice the
                // precision of every element type (and f64 itself rounds once).
                T::from_f64(num as f64 / den as f64)
            }
            Exact::Ratio(num, den) => T::from_f64((num / den) as f64),
        }
    }
}

/// The input pattern of one benchmark point: the values each rank contributes and the
/// results every collective must produce.
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    signed: bool,
    float: bool,
    limit: u64,
    /// Largest magnitude of a sum/avg/max/min input.
    width: i64,
    /// `b(r) = r % b_period`.
    b_period: i64,
    /// `a(i)` cycles through `a_period` values starting at `a_offset`.
    a_period: i64,
    a_offset: i64,
    /// Only ranks below this may contribute a factor 2 to a product.
    two_ranks: usize,
    /// Period of data-movement values.
    move_period: i64,
    move_offset: i64,
    ranks: usize,
}

impl Pattern {
    /// The pattern for `ranks` ranks exchanging elements of `dtype`.
    pub fn new(dtype: DataType, ranks: usize) -> Pattern {
        let ranks = ranks.max(1);
        let signed = is_signed(dtype);
        let limit = exact_limit(dtype);
        // Σ|x| over all ranks stays below the limit, so every partial sum is exact and no
        // integer sum reaches the sentinel.
        let width = MAX_REDUCE_VALUE.min((limit - 1) / ranks as u64) as i64;
        let b_max = width / 2;
        let a_max = width - b_max;
        let (a_period, a_offset) = if signed {
            (2 * a_max + 1, -a_max)
        } else {
            (a_max + 1, 0)
        };
        // At most `exponent` factors of 2 in any product: |product| <= 2^exponent <= limit.
        let exponent = (limit.ilog2() as usize).min(30);
        let move_period = limit.min(MAX_MOVE_PERIOD) as i64;
        let move_offset = if signed { -(move_period / 2) } else { 0 };
        Pattern {
            signed,
            float: dtype.is_float(),
            limit,
            width,
            b_period: b_max + 1,
            a_period,
            a_offset,
            two_ranks: 2 * exponent,
            move_period,
            move_offset,
            ranks,
        }
    }

    /// The largest magnitude of a sum, avg, max or min input.
    pub fn width(&self) -> i64 {
        self.width
    }

    fn a(&self, i: usize) -> i64 {
        (i as u64 % self.a_period as u64) as i64 + self.a_offset
    }

    fn b(&self, r: Rank) -> i64 {
        (r as u64 % self.b_period as u64) as i64
    }

    /// Whether rank `r`'s product factor at index `i` is 2 (else 1).
    fn is_two(&self, r: Rank, i: usize) -> bool {
        r < self.two_ranks && (r + i) % 2 == 0
    }

    /// Whether rank `r`'s product factor at index `i` is negative.
    fn is_negative(&self, r: Rank, i: usize) -> bool {
        self.signed && r == i % self.ranks && i % 3 == 0
    }

    /// What rank `r` contributes at index `i` to a reduction with `op`.
    pub fn input(&self, op: ReduceOp, r: Rank, i: usize) -> i64 {
        match op {
            ReduceOp::Prod => {
                let magnitude = if self.is_two(r, i) { 2 } else { 1 };
                if self.is_negative(r, i) {
                    -magnitude
                } else {
                    magnitude
                }
            }
            _ => self.a(i) + self.b(r),
        }
    }

    /// The reduction with `op` of ranks `0..m`'s inputs at index `i` (`m >= 1`; avg divides
    /// by `m`).
    pub fn reduced(&self, op: ReduceOp, m: usize, i: usize) -> Exact {
        let m64 = m as i64;
        // Σ_{r<m} (r % P) = full cycles of 0..P plus a partial cycle.
        let p = self.b_period;
        let (cycles, rest) = (m64 / p, m64 % p);
        let b_sum = cycles * p * (p - 1) / 2 + rest * (rest - 1) / 2;
        let b_max = (m64 - 1).min(p - 1);
        let sum = m64 * self.a(i) + b_sum;
        match op {
            ReduceOp::Sum => Exact::Int(sum),
            ReduceOp::Avg => Exact::Ratio(sum, m64),
            ReduceOp::Max => Exact::Int(self.a(i) + b_max),
            ReduceOp::Min => Exact::Int(self.a(i)),
            ReduceOp::Prod => {
                // Ranks r < min(m, two_ranks) with r ≡ i (mod 2) contribute a 2.
                let k = m.min(self.two_ranks);
                let twos = if i % 2 == 0 { k.div_ceil(2) } else { k / 2 };
                let negative = self.signed && i % self.ranks < m && i % 3 == 0;
                let magnitude = 1i64 << twos;
                Exact::Int(if negative { -magnitude } else { magnitude })
            }
        }
    }

    /// The value rank `src` holds at index `i` of a buffer it sends (broadcast, gather,
    /// all-to-all, ...).
    pub fn moved(&self, src: Rank, i: usize) -> i64 {
        let h = (src as u64).wrapping_mul(7919).wrapping_add(i as u64) % self.move_period as u64;
        h as i64 + self.move_offset
    }

    /// A value no correct output of this pattern holds where an output is expected (NaN
    /// for floats), written into output buffers before checked iterations so that an
    /// algorithm that forgets to write is caught.
    pub fn sentinel<T: Element>(&self) -> T {
        if self.float {
            T::from_f64(f64::NAN)
        } else {
            T::from_f64(self.limit as f64)
        }
    }
}

/// Fills `buf` with `value(i)` for every index `i`.
pub fn fill<T: Element>(buf: &mut [T], value: impl Fn(usize) -> i64) {
    for (i, x) in buf.iter_mut().enumerate() {
        *x = Exact::Int(value(i)).to();
    }
}

/// The first index `i` where `buf[i] != expected(i)`, if there is one.
pub fn first_mismatch<T: Element>(buf: &[T], expected: impl Fn(usize) -> Exact) -> Option<usize> {
    buf.iter()
        .enumerate()
        .position(|(i, x)| *x != expected(i).to::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reduction of ranks `0..m` computed the slow way, in exact arithmetic.
    fn reference(p: &Pattern, op: ReduceOp, m: usize, i: usize) -> Exact {
        let xs: Vec<i64> = (0..m).map(|r| p.input(op, r, i)).collect();
        match op {
            ReduceOp::Sum => Exact::Int(xs.iter().sum()),
            ReduceOp::Avg => Exact::Ratio(xs.iter().sum(), m as i64),
            ReduceOp::Prod => Exact::Int(xs.iter().product()),
            ReduceOp::Max => Exact::Int(*xs.iter().max().unwrap()),
            ReduceOp::Min => Exact::Int(*xs.iter().min().unwrap()),
        }
    }

    #[test]
    fn closed_forms_match_a_direct_reduction() {
        for dtype in DataType::ALL {
            for n in [1, 2, 3, 5, 8, 13, 40, 300] {
                let p = Pattern::new(dtype, n);
                for op in ReduceOp::ALL {
                    for m in 1..=n.min(50) {
                        for i in 0..70 {
                            assert_eq!(
                                p.reduced(op, m, i),
                                reference(&p, op, m, i),
                                "{dtype} {op} n={n} m={m} i={i}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn inputs_and_partial_results_stay_exact() {
        for dtype in DataType::ALL {
            let limit = exact_limit(dtype) as i64;
            for n in [1, 2, 3, 8, 64] {
                let p = Pattern::new(dtype, n);
                for op in ReduceOp::ALL {
                    for i in 0..100 {
                        let abs = (0..n).map(|r| p.input(op, r, i).abs());
                        let bound: i64 = if op == ReduceOp::Prod {
                            abs.product()
                        } else {
                            abs.sum()
                        };
                        assert!(bound <= limit, "{dtype} {op} n={n} i={i}");
                        if !is_signed(dtype) {
                            assert!((0..n).all(|r| p.input(op, r, i) >= 0));
                        }
                    }
                }
                for i in 0..1000 {
                    let v = p.moved(n - 1, i);
                    assert!(v.abs() <= limit && (is_signed(dtype) || v >= 0));
                }
            }
        }
    }

    #[test]
    fn inputs_differ_between_ranks_and_indices() {
        let p = Pattern::new(DataType::Float32, 8);
        assert_eq!(p.width(), 32);
        let ranks: Vec<i64> = (0..8).map(|r| p.input(ReduceOp::Sum, r, 0)).collect();
        let mut distinct = ranks.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 8);
        assert_ne!(p.moved(0, 5), p.moved(1, 5));
        assert_ne!(p.moved(0, 5), p.moved(0, 6));
    }

    #[test]
    fn avg_rounds_like_the_type() {
        assert_eq!(Exact::Ratio(7, 2).to::<i32>(), 3);
        assert_eq!(Exact::Ratio(-7, 2).to::<i32>(), -3);
        assert_eq!(Exact::Ratio(7, 2).to::<f32>(), 3.5);
        assert_eq!(Exact::Ratio(1, 3).to::<f32>(), 1.0f32 / 3.0);
        let third = half::f16::from_f32(1.0f32 / 3.0);
        assert_eq!(Exact::Ratio(1, 3).to::<half::f16>(), third);
    }

    #[test]
    fn sentinel_never_matches_an_output() {
        let p = Pattern::new(DataType::Uint8, 4);
        let s: u8 = p.sentinel();
        assert_eq!(s, 255);
        assert_eq!(first_mismatch(&[0, s], |i| Exact::Int(i as i64)), Some(1));
        let f = Pattern::new(DataType::Float32, 4).sentinel::<f32>();
        assert!(f.is_nan());
    }
}
