//! Sweeps: one benchmark over several rank counts, element types and reductions, as
//! nccl-tests (`-d all`, `-o all`) and the OSU benchmarks run them.
//!
//! A sweep is run one rank count at a time (a communicator has one size); on each, every
//! spec of [`Sweep::specs`] runs in turn, each over every size.

use std::fmt::Display;

use fccl_collectives::{DataType, Error, ReduceOp, Result};

use crate::sizes::shapes;
use crate::spec::BenchSpec;

/// A benchmark over every combination of rank count, element type and reduction: `base`
/// with each of `dtypes` and `ops` (its own `dtype` and `op` are ignored), on each of
/// `ranks`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// Everything but the element type and the reduction: collective, sizes, iterations...
    pub base: BenchSpec,
    /// The rank counts, in the order they run.
    pub ranks: Vec<usize>,
    /// The element types, in the order they run on each rank count.
    pub dtypes: Vec<DataType>,
    /// The reductions, in the order they run for each element type. Collectives that do
    /// not reduce run once per element type, whatever the list.
    pub ops: Vec<ReduceOp>,
}

impl Sweep {
    /// A sweep of `base` alone: its own rank count, element type and reduction.
    pub fn single(base: BenchSpec, ranks: usize) -> Sweep {
        Sweep {
            ranks: vec![ranks],
            dtypes: vec![base.dtype],
            ops: vec![base.op],
            base,
        }
    }

    /// The specs every rank count runs, in order: each element type with each reduction
    /// (nccl-tests' order); for collectives that do not reduce, each element type once.
    pub fn specs(&self) -> Vec<BenchSpec> {
        let ops = if self.base.reduces() {
            &self.ops[..]
        } else {
            &self.ops[..self.ops.len().min(1)]
        };
        let mut specs = Vec::with_capacity(self.dtypes.len() * ops.len());
        for &dtype in &self.dtypes {
            for &op in ops {
                specs.push(BenchSpec {
                    dtype,
                    op,
                    ..self.base.clone()
                });
            }
        }
        specs
    }

    /// The number of points (records) the specs give on `ranks` ranks.
    pub fn points_on(&self, ranks: usize) -> usize {
        self.specs()
            .iter()
            .map(|s| shapes(s.collective, ranks, s.dtype, &s.sizes).len())
            .sum()
    }

    /// The number of points of the whole sweep.
    pub fn points(&self) -> usize {
        self.ranks.iter().map(|&n| self.points_on(n)).sum()
    }

    /// Checks every list (not empty, nothing twice) and every spec on every rank count,
    /// so that a sweep fails before its first point rather than half-way through.
    pub fn validate(&self) -> Result<()> {
        distinct("rank count", &self.ranks)?;
        distinct("element type", &self.dtypes)?;
        distinct("reduction", &self.ops)?;
        if let Some(n) = self.ranks.iter().find(|&&n| n == 0) {
            return Err(Error::invalid(format!(
                "rank count {n}: a job needs at least 1 rank"
            )));
        }
        for &ranks in &self.ranks {
            for spec in self.specs() {
                spec.validate(ranks)?;
            }
        }
        Ok(())
    }
}

/// Refuses an empty list of `what`, or one that names a value twice.
fn distinct<T: PartialEq + Display>(what: &str, values: &[T]) -> Result<()> {
    if values.is_empty() {
        return Err(Error::invalid(format!("no {what} to run")));
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(Error::invalid(format!("{what} {v} is listed twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fccl_collectives::Collective;

    fn sweep(collective: Collective) -> Sweep {
        Sweep {
            base: BenchSpec::new(collective, vec![8, 1024]),
            ranks: vec![2, 3],
            dtypes: vec![DataType::Float32, DataType::Int32],
            ops: vec![ReduceOp::Sum, ReduceOp::Max],
        }
    }

    #[test]
    fn reducing_collectives_run_every_type_with_every_op() {
        let s = sweep(Collective::AllReduce);
        let pairs: Vec<_> = s.specs().iter().map(|s| (s.dtype, s.op)).collect();
        assert_eq!(
            pairs,
            [
                (DataType::Float32, ReduceOp::Sum),
                (DataType::Float32, ReduceOp::Max),
                (DataType::Int32, ReduceOp::Sum),
                (DataType::Int32, ReduceOp::Max),
            ]
        );
        assert_eq!((s.points_on(2), s.points()), (8, 16));
        assert!(s.validate().is_ok());
    }

    #[test]
    fn other_collectives_run_every_type_once() {
        let s = sweep(Collective::AllGather);
        let specs = s.specs();
        assert_eq!(specs.len(), 2);
        assert!(specs.iter().all(|s| s.op_name() == "none"));
        // 8 bytes of f32 are 2 elements: a block each on 2 ranks, none on 3.
        assert_eq!((s.points_on(2), s.points_on(3)), (4, 4));
        assert_eq!(
            Sweep::single(specs[1].clone(), 4).specs(),
            [specs[1].clone()]
        );
    }

    #[test]
    fn bad_sweeps_are_refused_before_they_run() {
        let mut s = sweep(Collective::Broadcast);
        s.base.root = 2;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("root 2 is out of range for 2 ranks"), "{e}");
        let mut s = sweep(Collective::AllReduce);
        s.ranks = vec![2, 4, 2];
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("rank count 2 is listed twice"), "{e}");
        s.ranks = vec![2, 0];
        assert!(s.validate().unwrap_err().to_string().contains("at least 1"));
        s.ranks = vec![2];
        s.dtypes = vec![];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("no element type")
        );
        s.dtypes = vec![DataType::Float16];
        s.ops = vec![ReduceOp::Min, ReduceOp::Min];
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("reduction min is listed twice"), "{e}");
    }
}
