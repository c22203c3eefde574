//! The non-blocking collectives and point-to-point calls (`MPI_Iallreduce` style): each
//! queues its operation on the communicator and returns at once with a request, to be
//! completed by `fccl_wait` or `fccl_test`.
//!
//! The buffers must stay valid, and must not be touched, until the request is reported
//! done (as in MPI). A communicator may have any number of outstanding operations; they run
//! in the order they were issued, blocking calls included, and every rank must issue them
//! in the same order. Argument errors are reported by the call itself (and no request is
//! made); the operation's own errors by `fccl_wait` or `fccl_test`.

use std::ffi::{c_int, c_void};

use crate::collectives;
use crate::comm::fccl_comm;
use crate::error::fccl_result;
use crate::request::{fccl_request, issue};
use crate::types::{fccl_datatype, fccl_redop};

/// Non-blocking `fccl_allreduce`: reduces `sendbuf` (`count` elements) of every rank with `op` into every rank's `recvbuf`. In place when `sendbuf == recvbuf`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_allreduce`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_iallreduce(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::allreduce(c, sendbuf, recvbuf, count, datatype, op)
    })
}

/// Non-blocking `fccl_reduce`: reduces `sendbuf` (`count` elements) of every rank with `op` into the `root`'s `recvbuf` (ignored, and may be NULL, elsewhere). In place at the root when `sendbuf == recvbuf`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_reduce`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_ireduce(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    root: c_int,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::reduce(c, sendbuf, recvbuf, count, datatype, op, root)
    })
}

/// Non-blocking `fccl_broadcast`: copies the `root`'s `sendbuf` (`count` elements; ignored, and may be NULL, elsewhere) into every rank's `recvbuf`. In place when `sendbuf == recvbuf`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_broadcast`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_ibroadcast(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    root: c_int,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::broadcast(c, sendbuf, recvbuf, count, datatype, root)
    })
}

/// Non-blocking `fccl_reduce_scatter`: reduces `sendbuf` (`size * recvcount` elements) of every rank with `op`; rank `i` gets block `i` of the result in `recvbuf` (`recvcount` elements). In place when `recvbuf == sendbuf + rank * recvcount` (NCCL's offset). Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_reduce_scatter`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_ireduce_scatter(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    recvcount: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::reduce_scatter(c, sendbuf, recvbuf, recvcount, datatype, op)
    })
}

/// Non-blocking `fccl_allgather`: gathers `sendbuf` (`sendcount` elements) of every rank into every rank's `recvbuf` (`size * sendcount` elements, rank order). In place when `sendbuf == recvbuf + rank * sendcount` (NCCL's offset). Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_allgather`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_iallgather(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    sendcount: usize,
    datatype: fccl_datatype,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::allgather(c, sendbuf, recvbuf, sendcount, datatype)
    })
}

/// Non-blocking `fccl_alltoall`: sends block `j` (`count` elements) of `sendbuf` to rank `j`, which stores it as block `i` (this rank) of its `recvbuf`; both buffers hold `size * count` elements. In place when `sendbuf == recvbuf`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_alltoall`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_ialltoall(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::alltoall(c, sendbuf, recvbuf, count, datatype)
    })
}

/// Non-blocking `fccl_alltoallv`: all-to-all with a count and a displacement per peer, as `MPI_Alltoallv`: the `sendcounts[j]` elements at `sendbuf + sdispls[j]` go to rank `j`, and the `recvcounts[i]` elements from rank `i` land at `recvbuf + rdispls[i]` (displacements in elements). NULL `sdispls` or `rdispls` means packed blocks in rank order. Receive blocks must not overlap each other. The four arrays (`size` entries each) are read during the call only. In place when `sendbuf == recvbuf` (the send blocks are read before anything is written). Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_alltoallv`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_ialltoallv(
    sendbuf: *const c_void,
    sendcounts: *const usize,
    sdispls: *const usize,
    recvbuf: *mut c_void,
    recvcounts: *const usize,
    rdispls: *const usize,
    datatype: fccl_datatype,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::alltoallv(
            c, sendbuf, sendcounts, sdispls, recvbuf, recvcounts, rdispls, datatype,
        )
    })
}

/// Non-blocking `fccl_gather`: gathers `sendbuf` (`sendcount` elements) of every rank into the `root`'s `recvbuf` (`size * sendcount` elements, rank order; ignored, and may be NULL, elsewhere). In place at the root when `sendbuf == recvbuf + root * sendcount`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_gather`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_igather(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    sendcount: usize,
    datatype: fccl_datatype,
    root: c_int,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::gather(c, sendbuf, recvbuf, sendcount, datatype, root)
    })
}

/// Non-blocking `fccl_scatter`: sends block `i` (`recvcount` elements) of the `root`'s `sendbuf` (`size * recvcount` elements; ignored, and may be NULL, elsewhere) to rank `i`'s `recvbuf`. In place at the root when `recvbuf == sendbuf + root * recvcount`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_scatter`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_iscatter(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    recvcount: usize,
    datatype: fccl_datatype,
    root: c_int,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::scatter(c, sendbuf, recvbuf, recvcount, datatype, root)
    })
}

/// Non-blocking `fccl_scan`: inclusive prefix reduction: rank `i`'s `recvbuf` = `sendbuf` of ranks 0..=i reduced with `op` (`count` elements; `FCCL_AVG` divides by i + 1). In place when `sendbuf == recvbuf`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_scan`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_iscan(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::scan(c, sendbuf, recvbuf, count, datatype, op, true)
    })
}

/// Non-blocking `fccl_exscan`: exclusive prefix reduction: rank `i > 0`'s `recvbuf` = `sendbuf` of ranks 0..i reduced with `op` (`count` elements; `FCCL_AVG` divides by i); rank 0's `recvbuf` is left as it was. In place when `sendbuf == recvbuf`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_exscan`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_iexscan(
    sendbuf: *const c_void,
    recvbuf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    op: fccl_redop,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::scan(c, sendbuf, recvbuf, count, datatype, op, false)
    })
}

/// Non-blocking `fccl_barrier`: returns once every rank has entered the barrier. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_barrier`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_ibarrier(
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::barrier(c)
    })
}

/// Non-blocking `fccl_send`: sends `count` elements of `buf` to `peer` with a user `tag` (0 or more). Messages with the same peer and tag arrive in the order they were sent. Completes once the transport has the message (not necessarily the peer). Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_send`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_isend(
    buf: *const c_void,
    count: usize,
    datatype: fccl_datatype,
    peer: c_int,
    tag: c_int,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, std::ptr::null_mut(), |c| {
        collectives::send(c, buf, count, datatype, peer, tag)
    })
}

/// Non-blocking `fccl_recv`: receives the next message with `tag` from `peer` into the front of `buf` (room for `count` elements) and writes how many elements it had to `*received` when the request completes (unless NULL). A longer message is `FCCL_ERR_MISMATCH`. Writes the request to `*request` on success.
///
/// # Safety
/// As `fccl_recv`, and the buffers (and `received`) stay valid until the request is done; `request` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_irecv(
    buf: *mut c_void,
    count: usize,
    datatype: fccl_datatype,
    peer: c_int,
    tag: c_int,
    received: *mut usize,
    comm: *mut fccl_comm,
    request: *mut *mut fccl_request,
) -> fccl_result {
    issue(comm, request, received, |c| {
        collectives::recv(c, buf, count, datatype, peer, tag)
    })
}
