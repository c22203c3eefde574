//! Sub-communicators: `split` (sizes, ranks ordered by key then rank, colour `None`, and
//! collectives on the children) and `dup` (same ranks, traffic apart from the parent's).

use fccl_collectives::{Communicator, ReduceOp};

use super::{
    Case, JOB_TIMEOUT, Lane, Params, Suite, allgather, allreduce, barrier, broadcast, reduce, scan,
};

/// A lane without a forced algorithm over a fresh duplicate of `parent`, with the job's
/// timeout: ranks reach it after running different amounts of work on their children.
async fn base(s: &mut Suite, parent: &mut Communicator, coll: &'static str) -> Option<Lane> {
    match parent.dup().await {
        Ok(mut comm) => {
            comm.set_timeout(JOB_TIMEOUT);
            Some(Lane {
                alg: None,
                comm,
                broken: false,
            })
        }
        Err(e) => {
            s.fail(
                &Case::new(coll, parent.rank(), parent.size()),
                format!("dup() failed: {e}"),
            );
            None
        }
    }
}

/// Checks `split` and the collectives of its children.
pub(super) async fn check_split(s: &mut Suite, world: &mut Communicator) {
    let Some(mut base) = base(s, world, "split").await else {
        return;
    };
    let (r, p) = base.rank_size();

    // Two colours by parity, keys reversing the order.
    let key = -i32::try_from(r).expect("a small rank");
    let case = Case::new("split(color=rank%2, key=-rank)", r, p);
    let color = u32::from(r % 2 == 1);
    if let Some(child) = base
        .call(s, &case, async move |c| c.split(Some(color), key).await)
        .await
    {
        let same: Vec<usize> = (0..p).filter(|q| q % 2 == r % 2).collect();
        let want_rank = same.iter().filter(|&&q| q > r).count();
        match child {
            None => s.fail(&case, "got no communicator for a colour"),
            Some(mut child) => {
                if (child.rank(), child.size()) != (want_rank, same.len()) {
                    s.fail(
                        &case,
                        format!(
                            "child is rank {} of {}, want rank {want_rank} of {}",
                            child.rank(),
                            child.size(),
                            same.len()
                        ),
                    );
                } else {
                    let scope = format!("split(color={color}, key=-rank) child: ");
                    on_child(s, &mut child, scope).await;
                }
            }
        }
    }

    // Rank 0 opts out; the rest keep their order (equal keys).
    let case = Case::new("split(color=None at rank 0, key=0)", r, p);
    let color = (r != 0).then_some(7);
    if let Some(child) = base
        .call(s, &case, async move |c| c.split(color, 0).await)
        .await
    {
        match (r, child) {
            (0, None) => {}
            (0, Some(_)) => s.fail(&case, "rank 0 passed no colour but got a communicator"),
            (_, None) => s.fail(&case, "got no communicator for a colour"),
            (_, Some(mut child)) => {
                if (child.rank(), child.size()) != (r - 1, p - 1) {
                    s.fail(
                        &case,
                        format!(
                            "child is rank {} of {}, want rank {} of {}",
                            child.rank(),
                            child.size(),
                            r - 1,
                            p - 1
                        ),
                    );
                } else {
                    let scope = "split(color=None at rank 0) child: ".to_string();
                    let before = std::mem::replace(&mut s.scope, scope);
                    allreduce::check(s, &mut child, &Params::small()).await;
                    s.scope = before;
                }
            }
        }
    }
}

async fn on_child(s: &mut Suite, child: &mut Communicator, scope: String) {
    let before = std::mem::replace(&mut s.scope, scope);
    let params = Params::small();
    barrier::check_returns(s, child).await;
    allreduce::check(s, child, &params).await;
    reduce::check(s, child, &params).await;
    broadcast::check(s, child, &params).await;
    allgather::check(s, child, &params).await;
    scan::check(s, child, &params).await;
    s.scope = before;
}

/// Checks `dup`: the same ranks, and collectives on parent and duplicate interleaved
/// without their traffic mixing.
pub(super) async fn check_dup(s: &mut Suite, world: &mut Communicator) {
    let Some(mut base) = base(s, world, "dup").await else {
        return;
    };
    let (r, p) = base.rank_size();
    let case = Case::new("dup", r, p);
    let Some(dup) = base.call(s, &case, async |c| c.dup().await).await else {
        return;
    };
    if (dup.rank(), dup.size()) != (r, p) || dup.id() == base.comm.id() {
        s.fail(
            &case,
            format!(
                "dup is rank {} of {} with id {}, parent rank {r} of {p} with id {}",
                dup.rank(),
                dup.size(),
                dup.id(),
                base.comm.id()
            ),
        );
        return;
    }
    let mut dup = Lane {
        alg: None,
        comm: dup,
        broken: false,
    };
    let p64 = p as i64;
    let r64 = r as i64;
    for round in 0..3i64 {
        // The same collective with different data on both, in opposite orders.
        let mut on_base = vec![r64 + round; 5];
        let mut on_dup = vec![100 * (r64 + round); 5];
        let case = case.clone().typed::<i64>(Some("sum"), 5);
        let (b, d) = (&mut on_base, &mut on_dup);
        let done = if round % 2 == 0 {
            let x = base.call(s, &case, async move |c| {
                c.all_reduce(b, ReduceOp::Sum).await
            });
            let x = x.await;
            let y = dup.call(s, &case, async move |c| {
                c.all_reduce(d, ReduceOp::Sum).await
            });
            x.and(y.await)
        } else {
            let y = dup.call(s, &case, async move |c| {
                c.all_reduce(d, ReduceOp::Sum).await
            });
            let y = y.await;
            let x = base.call(s, &case, async move |c| {
                c.all_reduce(b, ReduceOp::Sum).await
            });
            y.and(x.await)
        };
        if done.is_none() {
            return;
        }
        let sum = p64 * (p64 - 1) / 2 + p64 * round;
        s.compare(&case, "allreduce on the parent", &on_base, &[sum; 5]);
        s.compare(&case, "allreduce on the dup", &on_dup, &[100 * sum; 5]);
    }
}
