//! Communicator handles: creating them (from a job string or the environment), asking them
//! their rank and size, splitting, finalizing, aborting and destroying them.
//!
//! A `fccl_comm` may be used from any thread; the operations issued on it run one at a time,
//! in the order they were issued (see the worker). Every rank must issue the same
//! collectives in the same order, so issue from one thread at a time.

use std::ffi::{CStr, c_char, c_int};

use fccl::{Communicator, JobSpec};

use crate::error::{Fail, boundary, call, fccl_result};
use crate::runtime::runtime;
use crate::worker::Worker;

/// The `color` of `fccl_comm_split` for a rank that joins no new communicator.
pub const FCCL_SPLIT_NOCOLOR: c_int = -1;

/// A communicator: a group of ranks that run collectives together. Opaque; create it with
/// `fccl_comm_init_rank`, `fccl_comm_init_from_env` or `fccl_comm_split`, free it with
/// `fccl_comm_destroy` or `fccl_comm_abort`.
#[allow(non_camel_case_types)]
pub struct fccl_comm {
    pub(crate) rank: usize,
    pub(crate) size: usize,
    pub(crate) worker: Worker,
}

impl fccl_comm {
    /// A handle over `comm`, running on the shared runtime.
    fn new(comm: Communicator, owns_media: bool) -> Result<fccl_comm, Fail> {
        Ok(fccl_comm {
            rank: comm.rank(),
            size: comm.size(),
            worker: Worker::start(comm, owns_media)?,
        })
    }

    /// Checks a rank argument (a root or a peer) named `what`.
    pub(crate) fn rank_arg(&self, what: &str, r: c_int) -> Result<usize, Fail> {
        usize::try_from(r)
            .ok()
            .filter(|&r| r < self.size)
            .ok_or_else(|| {
                Fail::invalid(format!(
                    "{what} {r} is out of range for a communicator of {} ranks",
                    self.size
                ))
            })
    }
}

/// Runs the body of an export on the communicator `comm` (not NULL): a panic poisons it.
pub(crate) fn with_comm(
    comm: *const fccl_comm,
    body: impl FnOnce(&fccl_comm) -> Result<(), Fail>,
) -> fccl_result {
    // SAFETY: the caller passes NULL or a live handle from this library.
    let Some(c) = (unsafe { comm.as_ref() }) else {
        return call(|| Err(Fail::invalid("comm is NULL")));
    };
    boundary(|message| c.worker.shared().poison(message), || body(c))
}

/// Writes `value` to `out` (checked non-null before).
fn write<T>(out: *mut T, value: T) {
    // SAFETY: every caller checked `out` and the C caller promises it is writable.
    unsafe { out.write(value) }
}

/// Joins a job as `rank` and puts a new communicator over every rank of the job in `*comm`.
/// `job` is a job string (from `fccl_job_create`, `fccl job new` or `FCCL_JOB`); it is only
/// read during the call. Blocks until every rank has joined or the job's setup timeout
/// passes. `*comm` is written only on success; free it with `fccl_comm_destroy`.
///
/// # Safety
/// `comm` must be writable; `job` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_init_rank(
    comm: *mut *mut fccl_comm,
    job: *const c_char,
    rank: c_int,
) -> fccl_result {
    call(|| {
        if comm.is_null() || job.is_null() {
            return Err(Fail::invalid("comm and job must not be NULL"));
        }
        // SAFETY: non-null and NUL-terminated per the caller.
        let text = unsafe { CStr::from_ptr(job) }
            .to_str()
            .map_err(|_| Fail::invalid("the job string is not UTF-8"))?;
        let job: JobSpec = text.parse()?;
        let rank =
            usize::try_from(rank).map_err(|_| Fail::invalid(format!("rank {rank} is negative")))?;
        job.check_rank(rank)?;
        let inner = runtime()?.block_on(fccl::connect(&job, rank))?;
        let handle = Box::new(fccl_comm::new(inner, true)?);
        write(comm, Box::into_raw(handle));
        Ok(())
    })
}

/// Joins the job this process was started for (`FCCL_JOB` and `FCCL_RANK`, as `fccl run`
/// sets them) and puts a new communicator over every rank of the job in `*comm`. Blocks
/// as `fccl_comm_init_rank`. `*comm` is written only on success; free it with
/// `fccl_comm_destroy`.
///
/// # Safety
/// `comm` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_init_from_env(comm: *mut *mut fccl_comm) -> fccl_result {
    call(|| {
        if comm.is_null() {
            return Err(Fail::invalid("comm must not be NULL"));
        }
        let inner = runtime()?.block_on(fccl::init_from_env())?;
        let handle = Box::new(fccl_comm::new(inner, true)?);
        write(comm, Box::into_raw(handle));
        Ok(())
    })
}

/// Writes this rank's rank in `comm` (`0 .. size - 1`) to `*rank`. Thread-safe.
///
/// # Safety
/// `comm` must be a live communicator; `rank` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_rank(comm: *const fccl_comm, rank: *mut c_int) -> fccl_result {
    with_comm(comm, |c| {
        if rank.is_null() {
            return Err(Fail::invalid("rank must not be NULL"));
        }
        write(rank, c_int::try_from(c.rank).unwrap_or(c_int::MAX));
        Ok(())
    })
}

/// Writes the number of ranks of `comm` to `*size`. Thread-safe.
///
/// # Safety
/// `comm` must be a live communicator; `size` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_size(comm: *const fccl_comm, size: *mut c_int) -> fccl_result {
    with_comm(comm, |c| {
        if size.is_null() {
            return Err(Fail::invalid("size must not be NULL"));
        }
        write(size, c_int::try_from(c.size).unwrap_or(c_int::MAX));
        Ok(())
    })
}

/// Splits `comm` like `MPI_Comm_split`: ranks passing the same `color` (0 or more) form a
/// new communicator, ordered by `key` and then by their rank in `comm`; a rank passing
/// `FCCL_SPLIT_NOCOLOR` gets NULL. Every rank of `comm` must call it (a collective). On
/// success `*newcomm` is the new communicator (or NULL); free it with `fccl_comm_destroy`
/// before its parent. It shares the parent's connections, so it stops working when the
/// parent is finalized, destroyed or aborted.
///
/// # Safety
/// `comm` must be a live communicator; `newcomm` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_split(
    comm: *mut fccl_comm,
    color: c_int,
    key: c_int,
    newcomm: *mut *mut fccl_comm,
) -> fccl_result {
    with_comm(comm, |c| {
        if newcomm.is_null() {
            return Err(Fail::invalid("newcomm must not be NULL"));
        }
        let color = match color {
            FCCL_SPLIT_NOCOLOR => None,
            c => Some(u32::try_from(c).map_err(|_| {
                Fail::invalid(format!(
                    "color {c} is neither 0 or more nor FCCL_SPLIT_NOCOLOR"
                ))
            })?),
        };
        let pending = c
            .worker
            .submit(move |inner| Box::pin(async move { inner.split(color, key).await }))?;
        let child = match pending.wait()? {
            Some(inner) => Box::into_raw(Box::new(fccl_comm::new(inner, false)?)),
            None => std::ptr::null_mut(),
        };
        write(newcomm, child);
        Ok(())
    })
}

/// Waits for every operation issued on `comm`, then leaves the job (for a communicator from
/// `fccl_comm_init_*`: its connections close, and its sub-communicators stop working).
/// Later operations on `comm` fail with `FCCL_ERR_INVALID_ARGUMENT`; free it with
/// `fccl_comm_destroy`. Calling it is optional: `fccl_comm_destroy` does the same.
///
/// # Safety
/// `comm` must be a live communicator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_finalize(comm: *mut fccl_comm) -> fccl_result {
    with_comm(comm, |c| c.worker.finalize())
}

/// Ends `comm` at once and frees it: tells the peers (best effort) so that their pending
/// operations fail fast, drops the operations still queued (their requests end with
/// `FCCL_ERR_REMOTE`), closes the connections of a communicator from `fccl_comm_init_*`,
/// and frees the handle. NULL is fine. `comm` must not be used afterwards.
///
/// # Safety
/// `comm` must be NULL or a live communicator that no other thread is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_abort(comm: *mut fccl_comm) -> fccl_result {
    if comm.is_null() {
        return crate::error::FCCL_SUCCESS;
    }
    // SAFETY: a live handle from this library, no longer used by the caller.
    let handle = unsafe { Box::from_raw(comm) };
    call(move || {
        let result = handle.worker.abort();
        drop(handle);
        result
    })
}

/// Frees `comm` after every operation issued on it has ended (as `fccl_comm_finalize`,
/// which it implies). NULL is fine. `comm` must not be used afterwards; requests issued on
/// it stay valid and must still be waited for.
///
/// # Safety
/// `comm` must be NULL or a live communicator that no other thread is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_comm_destroy(comm: *mut fccl_comm) -> fccl_result {
    if comm.is_null() {
        return crate::error::FCCL_SUCCESS;
    }
    // SAFETY: a live handle from this library, no longer used by the caller.
    let handle = unsafe { Box::from_raw(comm) };
    call(move || {
        drop(handle);
        Ok(())
    })
}
