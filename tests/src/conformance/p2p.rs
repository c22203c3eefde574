//! Point-to-point messages: every rank to every rank (itself included) in every type, with
//! a receive buffer longer than the message; messages with one tag arrive in order; tags
//! are matched, not arrival order; receives posted ahead (`post_recv`) before any send,
//! awaited after a collective, keep their place in the order.

use fccl_collectives::{Communicator, DataType};

use super::values::{Value, data, garbage, seed};
use super::{Case, Lane, Suite, by_dtype, lanes};

/// Elements a receive buffer has beyond the message; they must stay untouched.
const SPARE: usize = 3;

/// Checks send and receive.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator) {
    let mut lanes = lanes(s, parent, "send/recv", &[]).await;
    let Some(lane) = lanes.first_mut() else {
        return;
    };
    for dtype in DataType::ALL {
        by_dtype!(dtype, all_pairs(s, lane));
    }
    in_order(s, lane).await;
    by_tag(s, lane).await;
    posted(s, lane).await;
}

async fn all_pairs<T: Value>(s: &mut Suite, lane: &mut Lane) {
    let (r, p) = lane.rank_size();
    const TAG: u32 = 11;
    for count in [0, 1, 7, 1000] {
        let seed = seed(&[11, T::DTYPE as u64, count as u64]);
        let case = Case::new("send/recv", r, p).typed::<T>(None, count);
        // The medium buffers messages, so every send can go before every receive.
        for dst in 0..p {
            let mut case = case.clone();
            case.peer = Some(dst);
            let msg = data::<T>(seed, r * p + dst, count);
            let m = &msg;
            lane.call(s, &case, async move |c| c.send(m, dst, TAG).await)
                .await;
        }
        for src in 0..p {
            let mut case = case.clone();
            case.peer = Some(src);
            let mut buf = garbage::<T>(seed, count + SPARE);
            let mut want = data::<T>(seed, src * p + r, count);
            want.extend_from_slice(&buf[count..]);
            let b = &mut buf;
            if let Some(n) = lane
                .call(s, &case, async move |c| c.recv(b, src, TAG).await)
                .await
            {
                if n != count {
                    s.fail(&case, format!("recv returned {n} elements, want {count}"));
                }
                s.compare(&case, "recv buffer", &buf, &want);
            }
        }
    }
}

async fn in_order(s: &mut Suite, lane: &mut Lane) {
    let (r, p) = lane.rank_size();
    let (next, prev) = ((r + 1) % p, (r + p - 1) % p);
    const TAG: u32 = 12;
    let seed = seed(&[12]);
    let mut case = Case::new("send/recv in order", r, p).typed::<u32>(None, 3);
    case.peer = Some(next);
    for k in 0..3 {
        let msg = data::<u32>(seed ^ k as u64, r, 10 + k);
        let m = &msg;
        lane.call(s, &case, async move |c| c.send(m, next, TAG).await)
            .await;
    }
    case.peer = Some(prev);
    for k in 0..3 {
        let mut buf = vec![0u32; 20];
        let b = &mut buf;
        if let Some(n) = lane
            .call(s, &case, async move |c| c.recv(b, prev, TAG).await)
            .await
        {
            let want = data::<u32>(seed ^ k as u64, prev, 10 + k);
            if n != want.len() {
                s.fail(
                    &case,
                    format!("message {k} has {n} elements, want {}", want.len()),
                );
            } else {
                s.compare(&case, &format!("message {k}"), &buf[..n], &want);
            }
        }
    }
}

async fn by_tag(s: &mut Suite, lane: &mut Lane) {
    let (r, p) = lane.rank_size();
    let (next, prev) = ((r + 1) % p, (r + p - 1) % p);
    let mut case = Case::new("send/recv by tag", r, p).typed::<i64>(None, 4);
    case.peer = Some(next);
    for tag in [1u32, 2] {
        let msg = vec![i64::from(tag) * 1000 + r as i64; 4];
        let m = &msg;
        lane.call(s, &case, async move |c| c.send(m, next, tag).await)
            .await;
    }
    case.peer = Some(prev);
    // Receive in the other order than sent: tags are matched.
    for tag in [2u32, 1] {
        let mut buf = [0i64; 4];
        let b = &mut buf;
        if lane
            .call(s, &case, async move |c| c.recv(b, prev, tag).await)
            .await
            .is_some()
        {
            let want = [i64::from(tag) * 1000 + prev as i64; 4];
            s.compare(&case, &format!("message with tag {tag}"), &buf, &want);
        }
    }
}

async fn posted(s: &mut Suite, lane: &mut Lane) {
    let (r, p) = lane.rank_size();
    const TAG: u32 = 13;
    let seed = seed(&[13]);
    let case = Case::new("post_recv/post_send", r, p).typed::<f64>(None, 5);
    // Every rank posts a receive from every rank before any rank sends, then a second
    // message from each rank is received with a plain recv: the posted receive keeps the
    // first place in the order. A collective runs while the receives are outstanding.
    let result = lane
        .call(s, &case, async move |c| {
            let mut firsts = Vec::new();
            for src in 0..p {
                firsts.push(c.post_recv::<f64>(src, TAG)?);
            }
            let mut sends = Vec::new();
            for dst in 0..p {
                let first = data::<f64>(seed, r * p + dst, 5);
                sends.push(c.post_send(&first, dst, TAG)?);
                let second = data::<f64>(seed ^ 1, r * p + dst, 6);
                sends.push(c.post_send(&second, dst, TAG)?);
            }
            for send in sends.into_iter().rev() {
                send.await?;
            }
            let mut sum = [r as u64 + 1];
            c.all_reduce(&mut sum, fccl_collectives::ReduceOp::Sum)
                .await?;
            let mut got = Vec::new();
            for (src, first) in firsts.into_iter().enumerate().rev() {
                let mut one = vec![0.0f64; 5];
                let n1 = first.recv_into(&mut one).await?;
                let mut two = vec![0.0f64; 8];
                let n2 = c.recv(&mut two, src, TAG).await?;
                got.push((src, n1, one, n2, two));
            }
            Ok((sum[0], got))
        })
        .await;
    let Some((sum, got)) = result else {
        return;
    };
    let want_sum = (p * (p + 1) / 2) as u64;
    if sum != want_sum {
        s.fail(
            &case,
            format!("allreduce beside posted receives gave {sum}, want {want_sum}"),
        );
    }
    for (src, n1, one, n2, two) in got {
        if n1 != 5 || n2 != 6 {
            s.fail(
                &case,
                format!("from {src}: lengths {n1} and {n2}, want 5 and 6"),
            );
            continue;
        }
        let first = data::<f64>(seed, src * p + r, 5);
        let second = data::<f64>(seed ^ 1, src * p + r, 6);
        s.compare(&case, &format!("posted receive from {src}"), &one, &first);
        s.compare(
            &case,
            &format!("plain receive from {src}"),
            &two[..6],
            &second,
        );
    }
}
