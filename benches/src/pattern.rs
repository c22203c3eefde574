//! The deterministic input data and the expected results, computed in closed form with
//! exact integer arithmetic (never with fccl's kernels).
//!
//! Moved data (broadcast, gathers, all-to-all, ...) is `(131 r + 7 i + 1) mod MOVE_MOD`,
//! which names its rank and index. Reduced data (Sum, Avg, Max, Min) is `c(i) + e(r, i)`
//! with `c(i) = 1 + 7i mod cm` and `e` equal to +1 on rank `i mod p`, -1 on rank
//! `(i + 1) mod p` and 0 elsewhere: the `e` terms cancel, so the sum is `p c(i)` and the
//! average is exactly `c(i)`; `cm` keeps every partial sum within the type's exact range.
//! Prod data is 1 except for a 2 on every `q`-th rank, so products are small powers of two,
//! exact in every float type and exact modulo 2^k in the integer types (which wrap).

use fccl_collectives::ReduceOp;

use crate::elem::BenchElem;

/// The value moved from rank `r` at index `i`.
pub fn moved<T: BenchElem>(r: usize, i: usize) -> T {
    T::from_int((131 * r as i128 + 7 * i as i128 + 1) % T::MOVE_MOD)
}

/// The data a reducing collective's rank contributes, as exact integers.
#[derive(Clone, Copy, Debug)]
pub struct ReducePattern {
    op: ReduceOp,
    p: usize,
    cm: i128,
    q: usize,
}

impl ReducePattern {
    /// The pattern for `op` over `p` ranks in type `T`.
    pub fn new<T: BenchElem>(op: ReduceOp, p: usize) -> ReducePattern {
        let cm = ((T::RED_LIMIT - 1) / p as i128).clamp(1, 100);
        let q = p.div_ceil(8).max(2);
        ReducePattern { op, p, cm, q }
    }

    /// Rank `r`'s input at index `i`, as an exact integer.
    pub fn value(&self, r: usize, i: usize) -> i128 {
        if self.op == ReduceOp::Prod {
            return if (r + i) % self.q == 0 { 2 } else { 1 };
        }
        let c = 1 + (7 * i as i128) % self.cm;
        let e = if self.p < 2 {
            0
        } else if r == i % self.p {
            1
        } else if r == (i + 1) % self.p {
            -1
        } else {
            0
        };
        c + e
    }

    /// Rank `r`'s input at index `i` in type `T`.
    pub fn input<T: BenchElem>(&self, r: usize, i: usize) -> T {
        T::from_int(self.value(r, i))
    }

    /// The expected reduction of ranks `ranks` at index `i` (after the `Avg` division by
    /// the number of terms).
    pub fn expect(&self, ranks: std::ops::Range<usize>, i: usize) -> Expect {
        let terms = ranks.len();
        let mut vals = ranks.map(|r| self.value(r, i));
        let first = vals.next().unwrap_or(0);
        let v = match self.op {
            ReduceOp::Sum | ReduceOp::Avg => vals.fold(first, |a, b| a + b),
            ReduceOp::Prod => vals.fold(first, |a, b| a * b),
            ReduceOp::Max => vals.fold(first, i128::max),
            ReduceOp::Min => vals.fold(first, i128::min),
        };
        if self.op == ReduceOp::Avg {
            Expect::Ratio(v, terms as i128)
        } else {
            Expect::Exact(v)
        }
    }
}

/// An expected result: an exact integer, or for `Avg` a sum and the number of terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this integer (wrapped to the type for integer types).
    Exact(i128),
    /// `sum / terms`: integers wrap the sum to the type, then truncate toward zero; floats
    /// allow one rounding when the quotient is not an integer.
    Ratio(i128, i128),
}

impl Expect {
    /// Whether `got` is this result in type `T`.
    pub fn matches<T: BenchElem>(self, got: T) -> bool {
        match self {
            Expect::Exact(v) => got == T::from_int(v),
            Expect::Ratio(sum, terms) => match T::from_int(sum).as_int() {
                Some(wrapped) => got == T::from_int(wrapped / terms),
                None if sum % terms == 0 => got == T::from_int(sum / terms),
                None => {
                    let want = sum as f64 / terms as f64;
                    (got.to_f64() - want).abs() <= 2.0 * T::REL_TOL * want.abs()
                }
            },
        }
    }
}

/// The first index where `got[i]` differs from `want(i)`, if any.
pub fn first_mismatch<T: BenchElem>(got: &[T], want: impl Fn(usize) -> T) -> Option<usize> {
    got.iter().enumerate().position(|(i, g)| *g != want(i))
}

/// The first index where `got[i]` does not match the expected reduction `want(i)`.
pub fn first_mismatch_reduced<T: BenchElem>(
    got: &[T],
    want: impl Fn(usize) -> Expect,
) -> Option<usize> {
    got.iter()
        .enumerate()
        .position(|(i, g)| !want(i).matches(*g))
}
