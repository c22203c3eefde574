//! Reduce to every root. Count = the vector's length. Ranks other than the root pass no
//! receive buffer (even ranks) or one that must stay untouched (odd ranks).

use fccl_collectives::algorithms::reduce::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{
    Affine, Builtin, RefOp, Value, WrappingAdd, garbage, reduce_ranks, rows, seed,
};
use super::{Case, Lane, Params, Suite, Turn, by_dtype, lanes, roots};

/// Checks every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    let mut lanes = lanes(s, parent, "reduce", ALGORITHMS).await;
    for (d, &dtype) in params.dtypes.iter().enumerate() {
        by_dtype!(dtype, builtins(s, &mut lanes, params, d));
    }
    if params.custom {
        cases(s, &mut lanes, params, &Affine, None).await;
        cases(s, &mut lanes, params, &WrappingAdd, None).await;
    }
}

async fn builtins<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params, d: usize) {
    let pairs = params.dtypes.len() * params.ops.len();
    for (o, &op) in params.ops.iter().enumerate() {
        let turn = Some((d * params.ops.len() + o, pairs));
        cases::<T, _>(s, lanes, params, &Builtin(op), turn).await;
    }
}

async fn cases<T: Value, R: RefOp<T>>(
    s: &mut Suite,
    lanes: &mut [Lane],
    params: &Params,
    rop: &R,
    turn: Turn,
) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    for (k, &count) in params.counts.iter().enumerate() {
        let seed = seed(&[2, T::DTYPE as u64, rop.code(), count as u64]);
        let table = s.cache.get(seed, p, || {
            let xs = rows(rop, seed, p, count);
            let want = reduce_ranks(rop, &xs, 0, p);
            (xs, want)
        });
        let (xs, want) = &*table;
        for lane in lanes.iter_mut() {
            let case = lane.case(Case::new("reduce", r, p).typed::<T>(Some(rop.name()), count));
            if !lane.runs(s, &case, cost, count * size_of::<T>(), rop.commutative()) {
                continue;
            }
            for root in roots(p, turn, k) {
                let mut case = case.clone();
                case.root = Some(root);
                let send = &xs[r];
                let mut recv = garbage::<T>(seed ^ root as u64, count);
                let before = recv.clone();
                let give = r == root || r % 2 == 1;
                let out = give.then_some(&mut recv[..]);
                let op = rop.reduction();
                if lane
                    .call(s, &case, async move |c| c.reduce(send, out, op, root).await)
                    .await
                    .is_some()
                {
                    if r == root {
                        s.compare(&case, "recv at the root", &recv, want);
                    } else {
                        let what = "recv off the root (must be untouched)";
                        s.compare(&case, what, &recv, &before);
                    }
                }
            }
        }
    }
}
