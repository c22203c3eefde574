//! Test inputs and the sequential reference the suite compares against.
//!
//! Inputs are chosen so that every reduction is exact in every type, whatever order an
//! algorithm combines them in: integers use their full range with wrapping arithmetic
//! (exact modulo 2^bits, so the order does not matter), and floating-point inputs are small
//! integers or powers of two whose partial sums and products stay exactly representable even
//! in `f16` and `bf16` (integers up to 256 are exact in `bf16`, powers of two from 2^-8 to
//! 2^8 in both). The reference is computed here, element by element, without fccl's kernels.

use fccl_collectives::{Element, ReduceOp, Reduction};

/// splitmix64 over a seed, a rank and an index: the suite's deterministic "random" source.
pub(crate) fn hash(seed: u64, r: usize, i: usize) -> u64 {
    let mut z = seed
        ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (i as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed from a few words (collective, type, op, count), the same on every rank.
pub(crate) fn seed(words: &[u64]) -> u64 {
    words
        .iter()
        .enumerate()
        .fold(0x5EED, |acc, (k, &w)| hash(acc ^ w, k, 0))
}

/// What the values are for: moving (any value) or reducing with a built-in op.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// Data that is only moved.
    Data,
    /// Data reduced with this op.
    Op(ReduceOp),
}

/// An element type with test inputs and reference arithmetic.
pub(crate) trait Value: Element + Copy {
    /// Rank `r`'s input at index `i`.
    fn input(kind: Kind, seed: u64, r: usize, i: usize) -> Self;
    /// A value that no input has (floats) or an unrelated one (integers), for buffers an
    /// algorithm must overwrite or must leave alone.
    fn garbage(seed: u64, i: usize) -> Self;
    /// `a op b` as the op defines it (wrapping for integers).
    fn apply(op: ReduceOp, a: Self, b: Self) -> Self;
    /// `a / n`, truncating toward zero for integers.
    fn div(a: Self, n: usize) -> Self;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn input(_kind: Kind, seed: u64, r: usize, i: usize) -> Self {
                hash(seed, r, i) as $t
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn garbage(seed: u64, i: usize) -> Self {
                hash(seed ^ 0xBAD, usize::MAX, i) as $t
            }
            fn apply(op: ReduceOp, a: Self, b: Self) -> Self {
                match op {
                    ReduceOp::Sum | ReduceOp::Avg => a.wrapping_add(b),
                    ReduceOp::Prod => a.wrapping_mul(b),
                    ReduceOp::Max => a.max(b),
                    ReduceOp::Min => a.min(b),
                }
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap, clippy::cast_lossless)]
            fn div(a: Self, n: usize) -> Self {
                (a as i128 / n as i128) as $t
            }
        }
    )*};
}

int_value!(i8, u8, i32, u32, i64, u64);

/// A small exact float input for `kind` (see the module docs).
#[allow(clippy::cast_precision_loss)]
fn float_input(kind: Kind, seed: u64, r: usize, i: usize) -> f64 {
    let small = |r: usize| (hash(seed, r, i) % 7) as f64 - 3.0;
    let h = hash(seed, r, i);
    match kind {
        Kind::Data => (h % 2001) as f64 - 1000.0,
        Kind::Op(ReduceOp::Sum) => small(r),
        Kind::Op(ReduceOp::Prod) => [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0][(h % 6) as usize],
        Kind::Op(ReduceOp::Max | ReduceOp::Min) => (h % 201) as f64 - 100.0,
        // x_r = (r+1)·a_r - r·a_(r-1): every prefix sum x_0 + … + x_r is (r+1)·a_r, so every
        // average an allreduce, scan or exscan computes is the small integer a_r, exactly;
        // |x_r| <= 3(2r+1), so every partial sum stays below 3p² <= 192.
        Kind::Op(ReduceOp::Avg) => {
            let prev = if r == 0 { 0.0 } else { small(r - 1) };
            (r + 1) as f64 * small(r) - r as f64 * prev
        }
    }
}

macro_rules! float_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn input(kind: Kind, seed: u64, r: usize, i: usize) -> Self {
                <$t as Element>::from_f64(float_input(kind, seed, r, i))
            }
            #[allow(clippy::cast_precision_loss)]
            fn garbage(seed: u64, i: usize) -> Self {
                <$t as Element>::from_f64(4096.0 + 4.0 * (hash(seed ^ 0xBAD, usize::MAX, i) % 64) as f64)
            }
            fn apply(op: ReduceOp, a: Self, b: Self) -> Self {
                let (a, b) = (a.to_f64(), b.to_f64());
                let v = match op {
                    ReduceOp::Sum | ReduceOp::Avg => a + b,
                    ReduceOp::Prod => a * b,
                    ReduceOp::Max => a.max(b),
                    ReduceOp::Min => a.min(b),
                };
                <$t as Element>::from_f64(v)
            }
            #[allow(clippy::cast_precision_loss)]
            fn div(a: Self, n: usize) -> Self {
                <$t as Element>::from_f64(a.to_f64() / n as f64)
            }
        }
    )*};
}

float_value!(half::f16, f32, f64, half::bf16);

/// A reduction together with its inputs and its sequential reference.
pub(crate) trait RefOp<T> {
    /// The name in failure reports.
    fn name(&self) -> &'static str;
    /// A number for seeds.
    fn code(&self) -> u64;
    /// What fccl is called with.
    fn reduction(&self) -> Reduction<T>;
    /// Whether the reduction is commutative.
    fn commutative(&self) -> bool;
    /// Rank `r`'s input at index `i`.
    fn input(&self, seed: u64, r: usize, i: usize) -> T;
    /// `acc ⊕ right`, where `acc` holds lower ranks.
    fn combine(&self, acc: T, right: T) -> T;
    /// The result after `terms` contributions were combined (`Avg` divides).
    fn finish(&self, acc: T, terms: usize) -> T;
}

/// A built-in op.
pub(crate) struct Builtin(pub(crate) ReduceOp);

impl<T: Value> RefOp<T> for Builtin {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn code(&self) -> u64 {
        self.0 as u64
    }
    fn reduction(&self) -> Reduction<T> {
        self.0.into()
    }
    fn commutative(&self) -> bool {
        true
    }
    fn input(&self, seed: u64, r: usize, i: usize) -> T {
        T::input(Kind::Op(self.0), seed, r, i)
    }
    fn combine(&self, acc: T, right: T) -> T {
        T::apply(self.0, acc, right)
    }
    fn finish(&self, acc: T, terms: usize) -> T {
        match self.0 {
            ReduceOp::Avg => T::div(acc, terms),
            _ => acc,
        }
    }
}

/// Composition of affine maps x ↦ m·x + c (mod 2^32), packed as `m << 32 | c` in a `u64`:
/// `a ⊕ b` applies `a`, then `b`. Associative (function composition) and not commutative,
/// so a result in any order but rank order is wrong.
pub(crate) fn affine(a: u64, b: u64) -> u64 {
    let (am, ac) = (a >> 32, a & 0xFFFF_FFFF);
    let (bm, bc) = (b >> 32, b & 0xFFFF_FFFF);
    let m = am.wrapping_mul(bm) & 0xFFFF_FFFF;
    let c = bm.wrapping_mul(ac).wrapping_add(bc) & 0xFFFF_FFFF;
    (m << 32) | c
}

/// The user-defined, non-commutative [`affine`] reduction on `u64`.
pub(crate) struct Affine;

impl RefOp<u64> for Affine {
    fn name(&self) -> &'static str {
        "custom-affine(non-commutative)"
    }
    fn code(&self) -> u64 {
        100
    }
    fn reduction(&self) -> Reduction<u64> {
        Reduction::custom(
            |acc: &mut [u64], right: &[u64]| {
                for (a, b) in acc.iter_mut().zip(right) {
                    *a = affine(*a, *b);
                }
            },
            false,
        )
    }
    fn commutative(&self) -> bool {
        false
    }
    fn input(&self, seed: u64, r: usize, i: usize) -> u64 {
        hash(seed, r, i)
    }
    fn combine(&self, acc: u64, right: u64) -> u64 {
        affine(acc, right)
    }
    fn finish(&self, acc: u64, _terms: usize) -> u64 {
        acc
    }
}

/// A user-defined commutative reduction: wrapping addition of `i32`.
pub(crate) struct WrappingAdd;

impl RefOp<i32> for WrappingAdd {
    fn name(&self) -> &'static str {
        "custom-add(commutative)"
    }
    fn code(&self) -> u64 {
        101
    }
    fn reduction(&self) -> Reduction<i32> {
        Reduction::custom(
            |acc: &mut [i32], right: &[i32]| {
                for (a, b) in acc.iter_mut().zip(right) {
                    *a = a.wrapping_add(*b);
                }
            },
            true,
        )
    }
    fn commutative(&self) -> bool {
        true
    }
    #[allow(clippy::cast_possible_truncation)]
    fn input(&self, seed: u64, r: usize, i: usize) -> i32 {
        hash(seed, r, i) as i32
    }
    fn combine(&self, acc: i32, right: i32) -> i32 {
        acc.wrapping_add(right)
    }
    fn finish(&self, acc: i32, _terms: usize) -> i32 {
        acc
    }
}

/// Every rank's `len` inputs: `rows[r][i]`.
pub(crate) fn rows<T, R: RefOp<T>>(rop: &R, seed: u64, p: usize, len: usize) -> Vec<Vec<T>> {
    (0..p)
        .map(|r| (0..len).map(|i| rop.input(seed, r, i)).collect())
        .collect()
}

/// Rank `r`'s `len` values that are only moved.
pub(crate) fn data<T: Value>(seed: u64, r: usize, len: usize) -> Vec<T> {
    (0..len).map(|i| T::input(Kind::Data, seed, r, i)).collect()
}

/// `len` garbage values.
pub(crate) fn garbage<T: Value>(seed: u64, len: usize) -> Vec<T> {
    (0..len).map(|i| T::garbage(seed, i)).collect()
}

/// The reference reduction of `rows[lo..hi]` in rank order, finished for `hi - lo` terms.
pub(crate) fn reduce_ranks<T: Copy, R: RefOp<T>>(
    rop: &R,
    rows: &[Vec<T>],
    lo: usize,
    hi: usize,
) -> Vec<T> {
    assert!(lo < hi, "a reduction needs at least one rank");
    let mut acc = rows[lo].clone();
    for row in &rows[lo + 1..hi] {
        for (a, &b) in acc.iter_mut().zip(row) {
            *a = rop.combine(*a, b);
        }
    }
    for a in &mut acc {
        *a = rop.finish(*a, hi - lo);
    }
    acc
}

/// Prefix reductions in rank order, not finished: `out[r] = rows[0] ⊕ … ⊕ rows[r]`.
pub(crate) fn prefixes<T: Copy, R: RefOp<T>>(rop: &R, rows: &[Vec<T>]) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::with_capacity(rows.len());
    for row in rows {
        let next = match out.last() {
            None => row.clone(),
            Some(acc) => acc
                .iter()
                .zip(row)
                .map(|(&a, &b)| rop.combine(a, b))
                .collect(),
        };
        out.push(next);
    }
    out
}

/// `acc` finished for `terms` contributions.
pub(crate) fn finished<T: Copy, R: RefOp<T>>(rop: &R, acc: &[T], terms: usize) -> Vec<T> {
    acc.iter().map(|&a| rop.finish(a, terms)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_is_associative_and_not_commutative() {
        let (a, b, c) = (hash(1, 0, 0), hash(1, 1, 0), hash(1, 2, 0));
        assert_eq!(affine(affine(a, b), c), affine(a, affine(b, c)));
        assert_ne!(affine(a, b), affine(b, a));
    }

    #[test]
    fn float_avg_inputs_have_exact_prefix_averages() {
        for r in 0..8 {
            let sum: f64 = (0..=r)
                .map(|k| float_input(Kind::Op(ReduceOp::Avg), 7, k, 3))
                .sum();
            assert_eq!(sum % (r + 1) as f64, 0.0);
        }
    }

    #[test]
    fn integer_avg_truncates_toward_zero() {
        assert_eq!(<i8 as Value>::div(-7, 2), -3);
        assert_eq!(<u8 as Value>::div(255, 8), 31);
        assert_eq!(<i8 as Value>::apply(ReduceOp::Sum, 100, 100), -56);
    }
}
