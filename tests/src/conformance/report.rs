//! What a case is called in a failure report, and the failures one rank collects.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::cache::Cache;

use fccl_collectives::{Algorithm, DataType, Element};

/// How many failures of one (scope, collective, algorithm) group are listed in full.
const SHOWN_PER_GROUP: usize = 3;

/// One call of the suite, as a failure report names it.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// The collective (`allreduce`, `allreduce_into`, `send/recv`, ...).
    pub(crate) coll: &'static str,
    /// The forced algorithm, or `None` for the selector's choice.
    pub(crate) alg: Option<Algorithm>,
    /// The element type, where there is one.
    pub(crate) dtype: Option<DataType>,
    /// The reduction's name, where there is one.
    pub(crate) op: Option<&'static str>,
    /// The count (its meaning is the collective's: see the family's docs).
    pub(crate) count: usize,
    /// The root, for rooted collectives.
    pub(crate) root: Option<usize>,
    /// The peer, for point-to-point messages.
    pub(crate) peer: Option<usize>,
    /// This rank in the communicator under test.
    pub(crate) rank: usize,
    /// The size of the communicator under test.
    pub(crate) size: usize,
}

impl Case {
    /// A case of `coll` on rank `rank` of `size`, with nothing else set.
    pub(crate) fn new(coll: &'static str, rank: usize, size: usize) -> Case {
        Case {
            coll,
            alg: None,
            dtype: None,
            op: None,
            count: 0,
            root: None,
            peer: None,
            rank,
            size,
        }
    }

    /// The same case with element type `T`, op `op` and `count`.
    pub(crate) fn typed<T: Element>(mut self, op: Option<&'static str>, count: usize) -> Case {
        self.dtype = Some(T::DTYPE);
        self.op = op;
        self.count = count;
        self
    }

    fn group(&self, scope: &str) -> String {
        let alg = self.alg.map_or("default", |a| a.name());
        format!("{scope}{} alg={alg}", self.coll)
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = self.alg.map_or("default", |a| a.name());
        write!(f, "{} alg={alg}", self.coll)?;
        if let Some(d) = self.dtype {
            write!(f, " dtype={d}")?;
        }
        if let Some(op) = self.op {
            write!(f, " op={op}")?;
        }
        write!(f, " count={}", self.count)?;
        if let Some(root) = self.root {
            write!(f, " root={root}")?;
        }
        if let Some(peer) = self.peer {
            write!(f, " peer={peer}")?;
        }
        write!(f, " | rank {} of {}", self.rank, self.size)
    }
}

/// The failures one rank found, and how many calls it made.
pub(crate) struct Suite {
    /// Inputs and references shared with the other ranks.
    pub(crate) cache: Arc<Cache>,
    /// Where the cases run (empty for the job's own communicators, else e.g. `split child: `).
    pub(crate) scope: String,
    failures: Vec<String>,
    per_group: HashMap<String, usize>,
    /// Calls made.
    pub(crate) calls: usize,
    /// Calls not made because the algorithm cannot run a non-commutative reduction, or
    /// needs shared objects the transport does not have.
    pub(crate) declined: usize,
    /// Calls not made because the communicator they would use failed earlier.
    pub(crate) after_failure: usize,
}

impl Suite {
    /// A rank's suite, sharing `cache` with the other ranks.
    pub(crate) fn new(cache: Arc<Cache>) -> Suite {
        Suite {
            cache,
            scope: String::new(),
            failures: Vec::new(),
            per_group: HashMap::new(),
            calls: 0,
            declined: 0,
            after_failure: 0,
        }
    }

    /// Records that `case` failed because of `what`.
    pub(crate) fn fail(&mut self, case: &Case, what: impl fmt::Display) {
        let n = self.per_group.entry(case.group(&self.scope)).or_default();
        *n += 1;
        if *n <= SHOWN_PER_GROUP {
            self.failures.push(format!("{}{case}: {what}", self.scope));
        }
    }

    /// Compares a result with the reference; records the first difference.
    pub(crate) fn compare<T: Element>(&mut self, case: &Case, what: &str, got: &[T], want: &[T]) {
        if got.len() != want.len() {
            self.fail(
                case,
                format!("{what} has {} elements, want {}", got.len(), want.len()),
            );
            return;
        }
        if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
            let wrong = got.iter().zip(want).filter(|(g, w)| g != w).count();
            self.fail(
                case,
                format!(
                    "{what}[{i}] = {:?}, want {:?} ({wrong} of {} elements differ)",
                    got[i],
                    want[i],
                    got.len()
                ),
            );
        }
    }

    /// The failures, with a line per group for those not listed in full.
    pub(crate) fn finish(mut self) -> Vec<String> {
        let mut more: Vec<(String, usize)> = self
            .per_group
            .into_iter()
            .filter(|&(_, n)| n > SHOWN_PER_GROUP)
            .collect();
        more.sort();
        for (group, n) in more {
            self.failures.push(format!(
                "{group}: {} more failures on this rank not listed",
                n - SHOWN_PER_GROUP
            ));
        }
        self.failures
    }
}
