//! Issuing each collective: check the arguments, pick in place or out of place, and queue
//! the operation on the communicator. The blocking exports wait for the result, the
//! non-blocking ones hand it out in a request.
//!
//! In place follows NCCL: `sendbuf == recvbuf`, except for allgather (`sendbuf ==
//! recvbuf + rank * sendcount`), reduce-scatter (`recvbuf == sendbuf + rank * recvcount`),
//! gather (`sendbuf == recvbuf + root * sendcount` at the root) and scatter (`recvbuf ==
//! sendbuf + root * recvcount` at the root). Any other overlap is
//! `FCCL_ERR_INVALID_ARGUMENT`.

use std::ffi::{c_int, c_void};

use crate::buffers::Buf;
use crate::comm::fccl_comm;
use crate::displacements::Blocks;
use crate::error::Fail;
use crate::types::{data_type, fccl_datatype, fccl_redop, reduce_op, with_element};
use crate::worker::Pending;

/// An issued operation; the count is what a receive got (0 for the rest).
pub(crate) type Started = Pending<usize>;

/// `count * by`, or an error.
fn times(count: usize, by: usize) -> Result<usize, Fail> {
    count
        .checked_mul(by)
        .ok_or_else(|| Fail::invalid(format!("{count} x {by} elements are too many")))
}

/// Allreduce: `recvbuf = op(sendbuf of every rank)`.
pub(crate) fn allreduce(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    dtype: fccl_datatype,
    op: fccl_redop,
) -> Result<Started, Fail> {
    let (dt, op) = (data_type(dtype)?, reduce_op(op)?);
    let send = Buf::new(sendbuf, count, dt, "sendbuf")?;
    let recv = Buf::new(recvbuf, count, dt, "recvbuf")?;
    let in_place = Buf::in_place(&send, &recv, recv.at(0))?;
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        // SAFETY (every operation of this file): the caller keeps the buffers valid and
        // untouched until the operation ends; in place, only the receive slice exists.
        let r = unsafe { recv.slice_mut::<T>() };
        if in_place {
            comm.all_reduce(r, op).await?;
        } else {
            comm.all_reduce_into(unsafe { send.slice::<T>() }, r, op).await?;
        }
        Ok(0)
    })))
}

/// Reduce: the root's `recvbuf = op(sendbuf of every rank)`.
pub(crate) fn reduce(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    dtype: fccl_datatype,
    op: fccl_redop,
    root: c_int,
) -> Result<Started, Fail> {
    let (dt, op) = (data_type(dtype)?, reduce_op(op)?);
    let root = c.rank_arg("root", root)?;
    let send = Buf::new(sendbuf, count, dt, "sendbuf")?;
    let recv = if c.rank == root {
        let recv = Buf::new(recvbuf, count, dt, "recvbuf")?;
        Some((recv, Buf::in_place(&send, &recv, recv.at(0))?))
    } else {
        None
    };
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        match recv {
            Some((recv, true)) => {
                let mine = unsafe { send.slice::<T>() }.to_vec();
                let r = unsafe { recv.slice_mut::<T>() };
                comm.reduce(&mine, Some(r), op, root).await?;
            }
            Some((recv, false)) => {
                let r = unsafe { recv.slice_mut::<T>() };
                comm.reduce(unsafe { send.slice::<T>() }, Some(r), op, root).await?;
            }
            None => comm.reduce(unsafe { send.slice::<T>() }, None, op, root).await?,
        }
        Ok(0)
    })))
}

/// Broadcast: every rank's `recvbuf = the root's sendbuf` (`sendbuf` is read at the root
/// only).
pub(crate) fn broadcast(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    dtype: fccl_datatype,
    root: c_int,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    let root = c.rank_arg("root", root)?;
    let recv = Buf::new(recvbuf, count, dt, "recvbuf")?;
    let copy_from = if c.rank == root {
        let send = Buf::new(sendbuf, count, dt, "sendbuf")?;
        (!Buf::in_place(&send, &recv, recv.at(0))?).then_some(send)
    } else {
        None
    };
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        let r = unsafe { recv.slice_mut::<T>() };
        if let Some(send) = copy_from {
            r.copy_from_slice(unsafe { send.slice::<T>() });
        }
        comm.broadcast(r, root).await?;
        Ok(0)
    })))
}

/// Reduce-scatter: rank `i`'s `recvbuf` (`recvcount` elements) = block `i` of
/// `op(sendbuf of every rank)` (`size * recvcount` elements).
pub(crate) fn reduce_scatter(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    recvcount: usize,
    dtype: fccl_datatype,
    op: fccl_redop,
) -> Result<Started, Fail> {
    let (dt, op) = (data_type(dtype)?, reduce_op(op)?);
    let send = Buf::new(sendbuf, times(recvcount, c.size)?, dt, "sendbuf")?;
    let recv = Buf::new(recvbuf, recvcount, dt, "recvbuf")?;
    let in_place = Buf::in_place(&recv, &send, send.at(c.rank * recvcount))?;
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        if in_place {
            let all = unsafe { send.slice::<T>() }.to_vec();
            comm.reduce_scatter(&all, unsafe { recv.slice_mut::<T>() }, op).await?;
        } else {
            let s = unsafe { send.slice::<T>() };
            comm.reduce_scatter(s, unsafe { recv.slice_mut::<T>() }, op).await?;
        }
        Ok(0)
    })))
}

/// Allgather: every rank's `recvbuf` (`size * sendcount` elements) = every rank's
/// `sendbuf` in rank order.
pub(crate) fn allgather(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    sendcount: usize,
    dtype: fccl_datatype,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    let send = Buf::new(sendbuf, sendcount, dt, "sendbuf")?;
    let recv = Buf::new(recvbuf, times(sendcount, c.size)?, dt, "recvbuf")?;
    let in_place = Buf::in_place(&send, &recv, recv.at(c.rank * sendcount))?;
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        if in_place {
            let mine = unsafe { send.slice::<T>() }.to_vec();
            comm.all_gather(&mine, unsafe { recv.slice_mut::<T>() }).await?;
        } else {
            let s = unsafe { send.slice::<T>() };
            comm.all_gather(s, unsafe { recv.slice_mut::<T>() }).await?;
        }
        Ok(0)
    })))
}

/// All-to-all: block `j` (`count` elements) of rank `i`'s `sendbuf` goes to block `i` of
/// rank `j`'s `recvbuf`; both hold `size * count` elements.
pub(crate) fn alltoall(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    dtype: fccl_datatype,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    let total = times(count, c.size)?;
    let send = Buf::new(sendbuf, total, dt, "sendbuf")?;
    let recv = Buf::new(recvbuf, total, dt, "recvbuf")?;
    let in_place = Buf::in_place(&send, &recv, recv.at(0))?;
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        if in_place {
            let all = unsafe { send.slice::<T>() }.to_vec();
            comm.all_to_all(&all, unsafe { recv.slice_mut::<T>() }).await?;
        } else {
            let s = unsafe { send.slice::<T>() };
            comm.all_to_all(s, unsafe { recv.slice_mut::<T>() }).await?;
        }
        Ok(0)
    })))
}

/// All-to-all with a count and a displacement per peer (MPI's `MPI_Alltoallv`):
/// `sendcounts[j]` elements at `sendbuf + sdispls[j]` go to rank `j`, and the
/// `recvcounts[i]` elements from rank `i` land at `recvbuf + rdispls[i]`. NULL
/// displacements mean packed blocks in rank order. Receive blocks must not overlap.
#[allow(clippy::too_many_arguments)]
pub(crate) fn alltoallv(
    c: &fccl_comm,
    sendbuf: *const c_void,
    sendcounts: *const usize,
    sdispls: *const usize,
    recvbuf: *mut c_void,
    recvcounts: *const usize,
    rdispls: *const usize,
    dtype: fccl_datatype,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    // SAFETY: the caller promises `size` entries behind each non-null array.
    let sends = unsafe { Blocks::read(sendcounts, sdispls, c.size, "send") }?;
    let recvs = unsafe { Blocks::read(recvcounts, rdispls, c.size, "recv") }?;
    recvs.disjoint("recv")?;
    let send = Buf::new(sendbuf, sends.extent, dt, "sendbuf")?;
    let recv = Buf::new(recvbuf, recvs.extent, dt, "recvbuf")?;
    let in_place = Buf::in_place(&send, &recv, recv.at(0))?;
    let direct = !in_place && sends.is_packed() && recvs.is_packed();
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        let s = unsafe { send.slice::<T>() };
        if direct {
            let r = unsafe { recv.slice_mut::<T>() };
            comm.all_to_all_v(s, &sends.counts, r, &recvs.counts).await?;
        } else {
            let packed = sends.pack(s);
            let mut got = vec![<T as bytemuck::Zeroable>::zeroed(); recvs.total];
            comm.all_to_all_v(&packed, &sends.counts, &mut got, &recvs.counts).await?;
            recvs.unpack(&got, unsafe { recv.slice_mut::<T>() });
        }
        Ok(0)
    })))
}

/// Gather: the root's `recvbuf` (`size * sendcount` elements) = every rank's `sendbuf` in
/// rank order (`recvbuf` is written at the root only).
pub(crate) fn gather(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    sendcount: usize,
    dtype: fccl_datatype,
    root: c_int,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    let root = c.rank_arg("root", root)?;
    let send = Buf::new(sendbuf, sendcount, dt, "sendbuf")?;
    let recv = if c.rank == root {
        let recv = Buf::new(recvbuf, times(sendcount, c.size)?, dt, "recvbuf")?;
        Some((
            recv,
            Buf::in_place(&send, &recv, recv.at(root * sendcount))?,
        ))
    } else {
        None
    };
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        match recv {
            Some((recv, true)) => {
                let mine = unsafe { send.slice::<T>() }.to_vec();
                let r = unsafe { recv.slice_mut::<T>() };
                comm.gather(&mine, Some(r), root).await?;
            }
            Some((recv, false)) => {
                let r = unsafe { recv.slice_mut::<T>() };
                comm.gather(unsafe { send.slice::<T>() }, Some(r), root).await?;
            }
            None => comm.gather(unsafe { send.slice::<T>() }, None, root).await?,
        }
        Ok(0)
    })))
}

/// Scatter: rank `i`'s `recvbuf` (`recvcount` elements) = block `i` of the root's
/// `sendbuf` (`size * recvcount` elements, read at the root only).
pub(crate) fn scatter(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    recvcount: usize,
    dtype: fccl_datatype,
    root: c_int,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    let root = c.rank_arg("root", root)?;
    let recv = Buf::new(recvbuf, recvcount, dt, "recvbuf")?;
    let send = if c.rank == root {
        let send = Buf::new(sendbuf, times(recvcount, c.size)?, dt, "sendbuf")?;
        Some((
            send,
            Buf::in_place(&recv, &send, send.at(root * recvcount))?,
        ))
    } else {
        None
    };
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        match send {
            Some((send, true)) => {
                let all = unsafe { send.slice::<T>() }.to_vec();
                let r = unsafe { recv.slice_mut::<T>() };
                comm.scatter(Some(&all), r, root).await?;
            }
            Some((send, false)) => {
                let r = unsafe { recv.slice_mut::<T>() };
                comm.scatter(Some(unsafe { send.slice::<T>() }), r, root).await?;
            }
            None => comm.scatter(None, unsafe { recv.slice_mut::<T>() }, root).await?,
        }
        Ok(0)
    })))
}

/// Inclusive (`inclusive`) or exclusive prefix reduction into `recvbuf`; the exclusive one
/// leaves rank 0's `recvbuf` as it was.
pub(crate) fn scan(
    c: &fccl_comm,
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    dtype: fccl_datatype,
    op: fccl_redop,
    inclusive: bool,
) -> Result<Started, Fail> {
    let (dt, op) = (data_type(dtype)?, reduce_op(op)?);
    let send = Buf::new(sendbuf, count, dt, "sendbuf")?;
    let recv = Buf::new(recvbuf, count, dt, "recvbuf")?;
    let in_place = Buf::in_place(&send, &recv, recv.at(0))?;
    with_element!(dt, T => c.worker.submit(move |comm| Box::pin(async move {
        let mine;
        let s: &[T] = if in_place {
            mine = unsafe { send.slice::<T>() }.to_vec();
            &mine
        } else {
            unsafe { send.slice::<T>() }
        };
        let r = unsafe { recv.slice_mut::<T>() };
        if inclusive {
            comm.scan(s, r, op).await?;
        } else {
            comm.exscan(s, r, op).await?;
        }
        Ok(0)
    })))
}

/// Barrier.
pub(crate) fn barrier(c: &fccl_comm) -> Result<Started, Fail> {
    c.worker
        .submit(|comm| Box::pin(async move { comm.barrier().await.map(|()| 0) }))
}

/// Checks a user tag.
fn tag(tag: c_int) -> Result<u32, Fail> {
    u32::try_from(tag).map_err(|_| Fail::invalid(format!("tag {tag} is negative")))
}

/// Sends `count` elements of `buf` to `peer` with `tag`.
pub(crate) fn send(
    c: &fccl_comm,
    buf: *const c_void,
    count: usize,
    dtype: fccl_datatype,
    peer: c_int,
    user_tag: c_int,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    let peer = c.rank_arg("peer", peer)?;
    let user_tag = tag(user_tag)?;
    let data = Buf::new(buf, count, dt, "buf")?;
    with_element!(dt, T => c.worker.submit_posted(move |comm| {
        let send = comm.post_send(unsafe { data.slice::<T>() }, peer, user_tag)?;
        Ok(Box::pin(async move { send.await.map(|()| 0) }))
    }))
}

/// Receives the next message with `tag` from `peer` into `buf` (at most `count` elements);
/// the result is how many elements it had.
pub(crate) fn recv(
    c: &fccl_comm,
    buf: *mut c_void,
    count: usize,
    dtype: fccl_datatype,
    peer: c_int,
    user_tag: c_int,
) -> Result<Started, Fail> {
    let dt = data_type(dtype)?;
    let peer = c.rank_arg("peer", peer)?;
    let user_tag = tag(user_tag)?;
    let data = Buf::new(buf, count, dt, "buf")?;
    with_element!(dt, T => c.worker.submit_posted(move |comm| {
        let recv = comm.post_recv::<T>(peer, user_tag)?;
        Ok(Box::pin(async move { recv.recv_into(unsafe { data.slice_mut::<T>() }).await }))
    }))
}
