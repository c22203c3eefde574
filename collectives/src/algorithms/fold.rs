//! The fold of a non-power-of-two group onto a power of two that keeps rank order (the
//! MPICH way, Thakur, Rabenseifner and Gropp, IJHPCA 2005).
//!
//! With p' the largest power of two not above p and rem = p − p', ranks 2i and 2i + 1 for
//! i < rem pair up: the even one hands its data to the odd one and sits the power-of-two
//! phase out, the odd one acts as new rank i. A rank r ≥ 2·rem acts as new rank r − rem.
//! New rank i stands for the original ranks `first(i)..first(i + 1)`, a contiguous range in
//! rank order, so a power-of-two algorithm over new ranks combines contiguous rank ranges
//! in order and works on contiguous runs of blocks ("super-blocks").

use crate::algorithms::cost::pow2_floor;
use crate::types::Rank;

/// The fold of `p` ranks onto the largest power of two not above `p`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fold {
    pof2: usize,
    rem: usize,
}

/// What a rank does in a folded algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// An even rank below 2·rem: hands its data to `partner` (its odd neighbour), sits out.
    Out {
        /// The odd rank that acts for this one.
        partner: Rank,
    },
    /// Takes part as new rank `new`; `absorbs` is the even rank it acts for, if any.
    In {
        /// The rank in the power-of-two group.
        new: usize,
        /// The folded-out rank whose data this one takes over.
        absorbs: Option<Rank>,
    },
}

impl Fold {
    /// The fold of `p ≥ 1` ranks.
    pub(crate) fn new(p: usize) -> Fold {
        let pof2 = pow2_floor(p);
        Fold {
            pof2,
            rem: p - pof2,
        }
    }

    /// p', the size of the power-of-two group.
    pub(crate) fn pof2(self) -> usize {
        self.pof2
    }

    /// The number of folded-out ranks, p − p'.
    pub(crate) fn rem(self) -> usize {
        self.rem
    }

    /// What rank `r` does.
    pub(crate) fn role(self, r: Rank) -> Role {
        if r < 2 * self.rem {
            if r % 2 == 0 {
                Role::Out { partner: r + 1 }
            } else {
                Role::In {
                    new: r / 2,
                    absorbs: Some(r - 1),
                }
            }
        } else {
            Role::In {
                new: r - self.rem,
                absorbs: None,
            }
        }
    }

    /// Whether `r` is one of the `2·rem` ranks that pair up before and after.
    pub(crate) fn paired(self, r: Rank) -> bool {
        r < 2 * self.rem
    }

    /// The new rank `r` acts as, or `None` if it sits out.
    pub(crate) fn newrank(self, r: Rank) -> Option<usize> {
        match self.role(r) {
            Role::In { new, .. } => Some(new),
            Role::Out { .. } => None,
        }
    }

    /// The original rank that acts as new rank `i`.
    pub(crate) fn old_rank(self, i: usize) -> Rank {
        if i < self.rem {
            2 * i + 1
        } else {
            i + self.rem
        }
    }

    /// The first original rank new rank `i` stands for; `first(p') = p`.
    pub(crate) fn first(self, i: usize) -> Rank {
        if i < self.rem { 2 * i } else { i + self.rem }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ranks_stand_for_contiguous_ordered_ranges() {
        for p in 1..=13 {
            let f = Fold::new(p);
            assert!(f.pof2().is_power_of_two() && f.pof2() <= p && 2 * f.pof2() > p);
            assert_eq!(f.first(0), 0);
            assert_eq!(f.first(f.pof2()), p);
            for i in 0..f.pof2() {
                let old = f.old_rank(i);
                assert!(f.first(i) <= old && old < f.first(i + 1));
                assert_eq!(
                    f.role(old),
                    Role::In {
                        new: i,
                        absorbs: (f.first(i + 1) - f.first(i) == 2).then(|| f.first(i)),
                    }
                );
            }
            let outs = (0..p)
                .filter(|&r| matches!(f.role(r), Role::Out { partner } if partner == r + 1))
                .count();
            assert_eq!(outs, f.rem());
        }
    }
}
