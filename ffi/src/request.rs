//! Requests: the handles of non-blocking operations, completed by `fccl_wait` or
//! `fccl_test` (as `MPI_Wait` and `MPI_Test`).

use std::ffi::c_int;

use crate::collectives::Started;
use crate::comm::{fccl_comm, with_comm};
use crate::error::{Fail, call, fccl_result};

/// A non-blocking operation in progress. Opaque; it is freed by the `fccl_wait` or
/// `fccl_test` that reports it done, which also set the caller's pointer to NULL.
#[allow(non_camel_case_types)]
pub struct fccl_request {
    pending: Started,
    /// Where a receive writes how many elements it got (NULL: nowhere).
    received: *mut usize,
}

/// Runs a blocking operation: issues it, waits for it, and writes what a receive got to
/// `received` (unless NULL) on success.
pub(crate) fn run_blocking(
    comm: *const fccl_comm,
    received: *mut usize,
    start: impl FnOnce(&fccl_comm) -> Result<Started, Fail>,
) -> fccl_result {
    with_comm(comm, |c| {
        let n = start(c)?.wait()?;
        if !received.is_null() {
            // SAFETY: non-null and writable per the caller.
            unsafe { received.write(n) };
        }
        Ok(())
    })
}

/// Issues a non-blocking operation and writes its request to `request` on success.
pub(crate) fn issue(
    comm: *const fccl_comm,
    request: *mut *mut fccl_request,
    received: *mut usize,
    start: impl FnOnce(&fccl_comm) -> Result<Started, Fail>,
) -> fccl_result {
    with_comm(comm, |c| {
        if request.is_null() {
            return Err(Fail::invalid("request must not be NULL"));
        }
        let pending = start(c)?;
        let handle = Box::new(fccl_request { pending, received });
        // SAFETY: non-null and writable per the caller.
        unsafe { request.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Ends a request: frees it, clears the caller's pointer, and passes the result on.
fn complete(
    slot: *mut *mut fccl_request,
    received: *mut usize,
    result: Result<usize, Fail>,
) -> Result<(), Fail> {
    // SAFETY: `slot` was checked non-null by the caller and held this handle.
    unsafe { slot.write(std::ptr::null_mut()) };
    let n = result?;
    if !received.is_null() {
        // SAFETY: the issuing call's caller promised it writable until the request ends.
        unsafe { received.write(n) };
    }
    Ok(())
}

/// Blocks until the operation of `*request` ends, frees the request, sets `*request` to
/// NULL, and returns the operation's result (a receive's count is written on success).
/// A NULL `*request` returns `FCCL_SUCCESS` at once. A request may be waited for on any
/// thread, but on one thread at a time.
///
/// # Safety
/// `request` must point to NULL or to a live request from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_wait(request: *mut *mut fccl_request) -> fccl_result {
    call(|| {
        if request.is_null() {
            return Err(Fail::invalid("request must not be NULL"));
        }
        // SAFETY: checked non-null; it holds NULL or a live request.
        let raw = unsafe { request.read() };
        if raw.is_null() {
            return Ok(());
        }
        // SAFETY: a live request from `issue`, owned by the caller until now.
        let handle = unsafe { Box::from_raw(raw) };
        let received = handle.received;
        let result = handle.pending.wait();
        complete(request, received, result)
    })
}

/// Tells whether the operation of `*request` has ended, without blocking. If it runs still,
/// `*done` = 0 and the result is `FCCL_SUCCESS`. If it has ended, `*done` = 1, the request
/// is freed, `*request` is set to NULL, and the result is the operation's. A NULL
/// `*request` gives `*done` = 1 and `FCCL_SUCCESS`.
///
/// # Safety
/// `request` must point to NULL or to a live request from this library; `done` must be
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_test(
    request: *mut *mut fccl_request,
    done: *mut c_int,
) -> fccl_result {
    call(|| {
        if request.is_null() || done.is_null() {
            return Err(Fail::invalid("request and done must not be NULL"));
        }
        // SAFETY: checked non-null; it holds NULL or a live request.
        let raw = unsafe { request.read() };
        if raw.is_null() {
            // SAFETY: checked non-null, writable per the caller.
            unsafe { done.write(1) };
            return Ok(());
        }
        // SAFETY: a live request; only this thread uses it now.
        let Some(result) = (unsafe { &*raw }).pending.poll() else {
            // SAFETY: as above.
            unsafe { done.write(0) };
            return Ok(());
        };
        // SAFETY: as above.
        unsafe { done.write(1) };
        // SAFETY: a live request from `issue`, owned by the caller until now.
        let handle = unsafe { Box::from_raw(raw) };
        complete(request, handle.received, result)
    })
}
