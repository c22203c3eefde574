//! The blocking collectives and point-to-point calls: each queues its operation on the
//! communicator and waits for it.
//!
//! Every call returns once the operation has ended on this rank; the buffers are used only
//! during the call. Calls on one communicator may come from any thread and run in the
//! order they were issued. Counts are elements, not bytes; buffers must be aligned to
//! their element size. Argument errors are `FCCL_ERR_INVALID_ARGUMENT` and leave the
//! communicator usable; any other error poisons it (later calls fail fast).

use std::ffi::{c_int, c_void};

use crate::collectives;
use crate::comm::fccl_comm;
use crate::error::fccl_result;
use crate::request::run_blocking;
use crate::types::{fccl_datatype, fccl_redop};

/// Reduces `sendbuf` (`count` elements) of every rank with `op` into every rank's `recvbuf`. In place when `sendbuf == recvbuf`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_allreduce(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::allreduce(c, sendbuf, recvbuf, count, datatype, op)
    })
}

/// Reduces `sendbuf` (`count` elements) of every rank with `op` into the `root`'s `recvbuf` (ignored, and may be NULL, elsewhere). In place at the root when `sendbuf == recvbuf`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_reduce(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    root: c_int,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::reduce(c, sendbuf, recvbuf, count, datatype, op, root)
    })
}

/// Copies the `root`'s `sendbuf` (`count` elements; ignored, and may be NULL, elsewhere) into every rank's `recvbuf`. In place when `sendbuf == recvbuf`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_broadcast(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    root: c_int,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::broadcast(c, sendbuf, recvbuf, count, datatype, root)
    })
}

/// Reduces `sendbuf` (`size * recvcount` elements) of every rank with `op`; rank `i` gets block `i` of the result in `recvbuf` (`recvcount` elements). In place when `recvbuf == sendbuf + rank * recvcount` (NCCL's offset).
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_reduce_scatter(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    recvcount: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::reduce_scatter(c, sendbuf, recvbuf, recvcount, datatype, op)
    })
}

/// Gathers `sendbuf` (`sendcount` elements) of every rank into every rank's `recvbuf` (`size * sendcount` elements, rank order). In place when `sendbuf == recvbuf + rank * sendcount` (NCCL's offset).
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_allgather(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    sendcount: usize,
    datatype: fccl_datatype,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::allgather(c, sendbuf, recvbuf, sendcount, datatype)
    })
}

/// Sends block `j` (`count` elements) of `sendbuf` to rank `j`, which stores it as block `i` (this rank) of its `recvbuf`; both buffers hold `size * count` elements. In place when `sendbuf == recvbuf`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_alltoall(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::alltoall(c, sendbuf, recvbuf, count, datatype)
    })
}

/// All-to-all with a count and a displacement per peer, as `MPI_Alltoallv`: the `sendcounts[j]` elements at `sendbuf + sdispls[j]` go to rank `j`, and the `recvcounts[i]` elements from rank `i` land at `recvbuf + rdispls[i]` (displacements in elements). NULL `sdispls` or `rdispls` means packed blocks in rank order. Receive blocks must not overlap each other. The four arrays (`size` entries each) are read during the call only. In place when `sendbuf == recvbuf` (the send blocks are read before anything is written).
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_alltoallv(
    sendbuf: *const c_void,
    sendcounts: *const usize,
    sdispls: *const usize,
    recvbuf: *mut c_void,
    recvcounts: *const usize,
    rdispls: *const usize,
    datatype: fccl_datatype,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::alltoallv(
            c, sendbuf, sendcounts, sdispls, recvbuf, recvcounts, rdispls, datatype,
        )
    })
}

/// Gathers `sendbuf` (`sendcount` elements) of every rank into the `root`'s `recvbuf` (`size * sendcount` elements, rank order; ignored, and may be NULL, elsewhere). In place at the root when `sendbuf == recvbuf + root * sendcount`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_gather(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    sendcount: usize,
    datatype: fccl_datatype,
    root: c_int,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::gather(c, sendbuf, recvbuf, sendcount, datatype, root)
    })
}

/// Sends block `i` (`recvcount` elements) of the `root`'s `sendbuf` (`size * recvcount` elements; ignored, and may be NULL, elsewhere) to rank `i`'s `recvbuf`. In place at the root when `recvbuf == sendbuf + root * recvcount`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_scatter(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    recvcount: usize,
    datatype: fccl_datatype,
    root: c_int,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::scatter(c, sendbuf, recvbuf, recvcount, datatype, root)
    })
}

/// Inclusive prefix reduction: rank `i`'s `recvbuf` = `sendbuf` of ranks 0..=i reduced with `op` (`count` elements; `FCCL_AVG` divides by i + 1). In place when `sendbuf == recvbuf`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_scan(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::scan(c, sendbuf, recvbuf, count, datatype, op, true)
    })
}

/// Exclusive prefix reduction: rank `i > 0`'s `recvbuf` = `sendbuf` of ranks 0..i reduced with `op` (`count` elements; `FCCL_AVG` divides by i); rank 0's `recvbuf` is left as it was. In place when `sendbuf == recvbuf`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_exscan(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::scan(c, sendbuf, recvbuf, count, datatype, op, false)
    })
}

/// Returns once every rank has entered the barrier.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_barrier(comm: *mut fccl_comm) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), collectives::barrier)
}

/// Sends `count` elements of `buf` to `peer` with a user `tag` (0 or more). Messages with the same peer and tag arrive in the order they were sent. Completes once the transport has the message (not necessarily the peer).
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_send(
    buf: *const c_void,
    count: usize,
    datatype: fccl_datatype,
    peer: c_int,
    tag: c_int,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, std::ptr::null_mut(), |c| {
        collectives::send(c, buf, count, datatype, peer, tag)
    })
}

/// Receives the next message with `tag` from `peer` into the front of `buf` (room for `count` elements) and writes how many elements it had to `*received` (unless NULL). A longer message is `FCCL_ERR_MISMATCH`.
///
/// # Safety
/// The buffers must hold the elements described, `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_recv(
    buf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    peer: c_int,
    tag: c_int,
    received: *mut usize,
    comm: *mut fccl_comm,
) -> fccl_result {
    run_blocking(comm, received, |c| {
        collectives::recv(c, buf, count, datatype, peer, tag)
    })
}
