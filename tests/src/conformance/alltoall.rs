//! All-to-all with equal blocks (count = the block one rank sends each peer) and with a
//! count per pair (count = the largest count of a pair; pairs get 0..=count elements, and
//! both buffers have spare elements at the end that must be left alone).

use fccl_collectives::algorithms::{alltoall, alltoallv};
use fccl_collectives::{Communicator, DataType};

use super::values::{Value, data, garbage, hash, seed};
use super::{Case, Lane, Params, Suite, by_dtype, lanes};

/// Checks every lane of both.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    let mut equal_lanes = lanes(s, parent, "alltoall", alltoall::ALGORITHMS).await;
    for &dtype in &params.dtypes {
        by_dtype!(dtype, equal(s, &mut equal_lanes, params));
    }
    drop(equal_lanes);
    let mut v_lanes = lanes(s, parent, "alltoallv", alltoallv::ALGORITHMS).await;
    for &dtype in &params.dtypes {
        by_dtype!(dtype, varying(s, &mut v_lanes, params));
    }
}

async fn equal<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    for &count in &params.blocks {
        let seed = seed(&[6, T::DTYPE as u64, count as u64]);
        // Block j of rank i's send buffer goes to rank j, which keeps it as block i.
        let want: Vec<T> = (0..p)
            .flat_map(|i| data::<T>(seed, i, p * count)[r * count..(r + 1) * count].to_vec())
            .collect();
        let mine = data::<T>(seed, r, p * count);
        for lane in lanes.iter_mut() {
            let case = lane.case(Case::new("alltoall", r, p).typed::<T>(None, count));
            if !lane.runs(s, &case, alltoall::cost, p * count * size_of::<T>(), true) {
                continue;
            }
            let send = &mine;
            let mut recv = garbage::<T>(seed, p * count);
            let out = &mut recv;
            if lane
                .call(s, &case, async move |c| c.all_to_all(send, out).await)
                .await
                .is_some()
            {
                s.compare(&case, "recv", &recv, &want);
            }
        }
    }
}

/// How many elements rank `i` sends rank `j`: 0..=max, the same on every rank.
fn pair_count(seed: u64, i: usize, j: usize, max: usize) -> usize {
    (hash(seed, i, j) % (max as u64 + 1)) as usize
}

async fn varying<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    const SPARE: usize = 3;
    for &max in &params.blocks {
        let seed = seed(&[7, T::DTYPE as u64, max as u64]);
        let counts =
            |i: usize| -> Vec<usize> { (0..p).map(|j| pair_count(seed, i, j, max)).collect() };
        let send_counts = counts(r);
        let recv_counts: Vec<usize> = (0..p).map(|i| pair_count(seed, i, r, max)).collect();
        let sent: usize = send_counts.iter().sum();
        let received: usize = recv_counts.iter().sum();
        let mine = data::<T>(seed, r, sent + SPARE);
        let mut want: Vec<T> = Vec::with_capacity(received + SPARE);
        for i in 0..p {
            let theirs = counts(i);
            let at: usize = theirs[..r].iter().sum();
            want.extend_from_slice(&data::<T>(seed, i, at + theirs[r])[at..]);
        }
        let initial = garbage::<T>(seed, received + SPARE);
        want.extend_from_slice(&initial[received..]);
        for lane in lanes.iter_mut() {
            let case = lane.case(Case::new("alltoallv", r, p).typed::<T>(None, max));
            if !lane.runs(s, &case, alltoallv::cost, sent * size_of::<T>(), true) {
                continue;
            }
            let (send, sc, rc) = (&mine, &send_counts, &recv_counts);
            let mut recv = initial.clone();
            let out = &mut recv;
            if lane
                .call(s, &case, async move |c| {
                    c.all_to_all_v(send, sc, out, rc).await
                })
                .await
                .is_some()
            {
                s.compare(&case, "recv", &recv, &want);
            }
        }
    }
}
