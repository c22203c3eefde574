//! One benchmark point's buffers for each collective: how they are filled, how the
//! collective is called on them, and what they must hold afterwards.

mod buffers;
mod expect;
mod invoke;

use fccl_collectives::{Collective, Element, Rank, ReduceOp};

use crate::pattern::Pattern;
use crate::sizes::Shape;
use crate::spec::BenchSpec;

/// The buffers of one rank for one benchmark point.
pub(crate) struct Case<T> {
    collective: Collective,
    rank: Rank,
    ranks: usize,
    root: Rank,
    op: ReduceOp,
    pattern: Pattern,
    /// Elements of the point's vector (see [`Shape`]).
    count: usize,
    /// Elements per rank's block, for collectives with blocks.
    block: usize,
    /// What the rank sends (pristine input of in-place collectives).
    send: Vec<T>,
    /// What the rank receives, and the work buffer of in-place collectives.
    recv: Vec<T>,
    /// All-to-all-v counts of this rank.
    send_counts: Vec<usize>,
    recv_counts: Vec<usize>,
}

impl<T: Element> Case<T> {
    /// Allocates and fills this rank's buffers for `shape`.
    pub(crate) fn new(spec: &BenchSpec, shape: Shape, rank: Rank, ranks: usize) -> Case<T> {
        let mut case = Case {
            collective: spec.collective,
            rank,
            ranks,
            root: spec.root,
            op: spec.op,
            pattern: Pattern::new(spec.dtype, ranks),
            count: shape.count,
            block: shape.block(ranks),
            send: Vec::new(),
            recv: Vec::new(),
            send_counts: Vec::new(),
            recv_counts: Vec::new(),
        };
        case.allocate();
        case
    }

    /// The rank whose output a fault injected for testing corrupts: one that checks it.
    pub(crate) fn fault_rank(collective: Collective, ranks: usize, root: Rank) -> Rank {
        match collective {
            Collective::Reduce | Collective::Gather => root,
            _ => ranks - 1,
        }
    }

    /// Sets the output to a wrong value, to test that the checker notices.
    pub(crate) fn corrupt(&mut self) {
        let sentinel = self.pattern.sentinel();
        if let Some(x) = self.recv.last_mut() {
            *x = sentinel;
        }
    }
}
