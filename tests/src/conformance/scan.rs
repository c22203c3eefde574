//! Inclusive and exclusive scan. Count = the vector's length. Exscan must leave rank 0's
//! receive buffer as it was.

use fccl_collectives::algorithms::scan::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{
    Affine, Builtin, RefOp, Value, WrappingAdd, finished, garbage, prefixes, rows, seed,
};
use super::{Case, Lane, Params, Suite, by_dtype, lanes};

/// Checks both on every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    for inclusive in [true, false] {
        let coll = if inclusive { "scan" } else { "exscan" };
        let mut lanes = lanes(s, parent, coll, ALGORITHMS).await;
        for &dtype in &params.dtypes {
            by_dtype!(dtype, builtins(s, &mut lanes, params, inclusive));
        }
        if params.custom {
            cases(s, &mut lanes, params, inclusive, &Affine).await;
            cases(s, &mut lanes, params, inclusive, &WrappingAdd).await;
        }
    }
}

async fn builtins<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params, inclusive: bool) {
    for &op in &params.ops {
        cases::<T, _>(s, lanes, params, inclusive, &Builtin(op)).await;
    }
}

async fn cases<T: Value, R: RefOp<T>>(
    s: &mut Suite,
    lanes: &mut [Lane],
    params: &Params,
    inclusive: bool,
    rop: &R,
) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    let coll = if inclusive { "scan" } else { "exscan" };
    for &count in &params.counts {
        let seed = seed(&[
            10,
            u64::from(inclusive),
            T::DTYPE as u64,
            rop.code(),
            count as u64,
        ]);
        let table = s.cache.get(seed, p, || {
            let xs = rows(rop, seed, p, count);
            let pre = prefixes(rop, &xs);
            (xs, pre)
        });
        let (xs, pre) = &*table;
        let initial = garbage::<T>(seed, count);
        let want = match (inclusive, r) {
            (true, _) => finished(rop, &pre[r], r + 1),
            (false, 0) => initial.clone(),
            (false, _) => finished(rop, &pre[r - 1], r),
        };
        for lane in lanes.iter_mut() {
            let case = lane.case(Case::new(coll, r, p).typed::<T>(Some(rop.name()), count));
            if !lane.runs(s, &case, cost, count * size_of::<T>(), rop.commutative()) {
                continue;
            }
            let send = &xs[r];
            let mut recv = initial.clone();
            let out = &mut recv;
            let op = rop.reduction();
            let done = if inclusive {
                lane.call(s, &case, async move |c| c.scan(send, out, op).await)
                    .await
            } else {
                lane.call(s, &case, async move |c| c.exscan(send, out, op).await)
                    .await
            };
            if done.is_some() {
                let what = if !inclusive && r == 0 {
                    "recv at rank 0 (must be untouched)"
                } else {
                    "recv"
                };
                s.compare(&case, what, &recv, &want);
            }
        }
    }
}
