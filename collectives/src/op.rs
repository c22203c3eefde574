//! Reduction operators: the built-in [`ReduceOp`]s and user-defined [`Reduction`]s.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::Error;
use crate::kernels;
use crate::types::Element;

/// A built-in reduction, numbered as NCCL numbers `ncclRedOp_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReduceOp {
    /// Sum (integers wrap on overflow).
    Sum = 0,
    /// Product (integers wrap on overflow).
    Prod = 1,
    /// Maximum.
    Max = 2,
    /// Minimum.
    Min = 3,
    /// Sum divided by the number of terms; integers truncate toward zero.
    Avg = 4,
}

impl ReduceOp {
    /// Every built-in op.
    pub const ALL: [ReduceOp; 5] = [
        ReduceOp::Sum,
        ReduceOp::Prod,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Avg,
    ];

    /// The lower-case name (`sum`, `prod`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Prod => "prod",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Avg => "avg",
        }
    }

    /// The op with NCCL number `code`.
    pub fn from_code(code: u8) -> Option<ReduceOp> {
        ReduceOp::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for ReduceOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReduceOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.to_ascii_lowercase();
        ReduceOp::ALL
            .into_iter()
            .find(|op| op.name() == lower)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown reduction '{s}' (expected sum, prod, max, min or avg)"
                ))
            })
    }
}

/// A user-defined combining function: `f(left, right)` sets `left[i] = left[i] ⊕ right[i]`,
/// where `left` holds the lower ranks' contribution.
pub type CombineFn<T> = dyn Fn(&mut [T], &[T]) + Send + Sync;

/// What a collective reduces with: a built-in op or a user-defined function.
///
/// Built-in ops convert into it (`ReduceOp::Sum.into()`), so every reducing collective takes
/// `impl Into<Reduction<T>>`. A non-commutative user function is applied in rank order,
/// `x0 ⊕ x1 ⊕ … ⊕ x(p-1)`, as MPI specifies; the selector then only picks algorithms that
/// keep that order.
pub struct Reduction<T> {
    kind: Kind<T>,
}

enum Kind<T> {
    Builtin(ReduceOp),
    Custom {
        f: Arc<CombineFn<T>>,
        commutative: bool,
    },
}

impl<T> Clone for Reduction<T> {
    fn clone(&self) -> Self {
        let kind = match &self.kind {
            Kind::Builtin(op) => Kind::Builtin(*op),
            Kind::Custom { f, commutative } => Kind::Custom {
                f: Arc::clone(f),
                commutative: *commutative,
            },
        };
        Reduction { kind }
    }
}

impl<T> fmt::Debug for Reduction<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Builtin(op) => write!(f, "Reduction({op})"),
            Kind::Custom { commutative, .. } => {
                write!(f, "Reduction(custom, commutative: {commutative})")
            }
        }
    }
}

impl<T> From<ReduceOp> for Reduction<T> {
    fn from(op: ReduceOp) -> Self {
        Reduction {
            kind: Kind::Builtin(op),
        }
    }
}

/// Header code of a commutative user function; a non-commutative one is this plus one.
const CUSTOM_CODE: u8 = 0x80;

impl<T: Element> Reduction<T> {
    /// A user-defined reduction. `f(left, right)` must set `left[i] = left[i] ⊕ right[i]`
    /// for every `i`, element by element (algorithms apply it to any sub-slices of the
    /// buffers, as MPI applies user ops to any run of elements), and `⊕` must be associative;
    /// say whether it is commutative.
    pub fn custom(
        f: impl Fn(&mut [T], &[T]) + Send + Sync + 'static,
        commutative: bool,
    ) -> Reduction<T> {
        Reduction {
            kind: Kind::Custom {
                f: Arc::new(f),
                commutative,
            },
        }
    }

    /// The built-in op, if this is one.
    pub fn builtin(&self) -> Option<ReduceOp> {
        match self.kind {
            Kind::Builtin(op) => Some(op),
            Kind::Custom { .. } => None,
        }
    }

    /// Whether operands may be combined in any order.
    pub fn is_commutative(&self) -> bool {
        match self.kind {
            Kind::Builtin(_) => true,
            Kind::Custom { commutative, .. } => commutative,
        }
    }

    /// The op's code in frame headers: NCCL's number for built-ins, `0x80`/`0x81` for a
    /// commutative/non-commutative user function.
    pub fn wire_code(&self) -> u8 {
        match self.kind {
            Kind::Builtin(op) => op as u8,
            Kind::Custom { commutative, .. } => CUSTOM_CODE + u8::from(!commutative),
        }
    }

    /// A name for tables and errors.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Builtin(op) => op.name(),
            Kind::Custom { .. } => "custom",
        }
    }

    /// `acc = acc ⊕ right`, where `acc` holds lower ranks than `right`.
    pub fn combine(&self, acc: &mut [T], right: &[T]) {
        match &self.kind {
            Kind::Builtin(op) => kernels::reduce(*op, acc, right),
            Kind::Custom { f, .. } => f(acc, right),
        }
    }

    /// `acc = left ⊕ acc`, where `left` holds lower ranks than `acc`.
    pub fn combine_from_left(&self, left: &[T], acc: &mut [T]) {
        match &self.kind {
            Kind::Builtin(op) => kernels::reduce(*op, acc, left),
            Kind::Custom {
                f,
                commutative: true,
            } => f(acc, left),
            Kind::Custom {
                f,
                commutative: false,
            } => {
                let mut out = left.to_vec();
                f(&mut out, acc);
                acc.copy_from_slice(&out);
            }
        }
    }

    /// The last step after `terms` contributions were combined: `Avg` divides, the rest do
    /// nothing.
    pub fn finish(&self, acc: &mut [T], terms: usize) {
        if let Kind::Builtin(ReduceOp::Avg) = self.kind {
            kernels::divide(acc, terms);
        }
    }
}
