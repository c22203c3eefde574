//! Job strings: making one for ranks started elsewhere, and reading this process's from the
//! environment. A job string holds the job's secret: pass it only to the job's ranks.

use std::ffi::{CStr, CString, c_char, c_int};

use fccl::JobSpec;

use crate::error::{Fail, call, fccl_result};

/// Hands `text` to C as a string the caller frees with `fccl_string_free`.
fn to_c(text: String) -> Result<*mut c_char, Fail> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| Fail::invalid("the string holds a NUL byte"))
}

/// Makes a new job of `nranks` ranks over the transport `transport` (a spec such as
/// `tcp://HOST:PORT` of a running `fccl rendezvous`, `redis://HOST:PORT` or
/// `memcached://HOST:PORT`), with a fresh id and secret and the default timeouts, and puts
/// its job string in `*job` (as `fccl job new` prints it). Give every rank the string and
/// its rank, and each calls `fccl_comm_init_rank`. `*job` is written only on success; free
/// it with `fccl_string_free`. Thread-safe.
///
/// # Safety
/// `transport` must be a NUL-terminated string; `job` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_job_create(
    nranks: c_int,
    transport: *const c_char,
    job: *mut *mut c_char,
) -> fccl_result {
    call(|| {
        if transport.is_null() || job.is_null() {
            return Err(Fail::invalid("transport and job must not be NULL"));
        }
        // SAFETY: non-null and NUL-terminated per the caller.
        let transport = unsafe { CStr::from_ptr(transport) }
            .to_str()
            .map_err(|_| Fail::invalid("the transport spec is not UTF-8"))?;
        let size = usize::try_from(nranks)
            .map_err(|_| Fail::invalid(format!("nranks {nranks} is negative")))?;
        let spec = JobSpec::new(size, transport)?;
        let text = to_c(spec.to_string())?;
        // SAFETY: non-null and writable per the caller.
        unsafe { job.write(text) };
        Ok(())
    })
}

/// Reads the job this process was started for: the job string from `FCCL_JOB` into `*job`
/// (free it with `fccl_string_free`) and the rank from `FCCL_RANK` into `*rank`, as `fccl
/// run` sets them. `FCCL_ERR_INVALID_ARGUMENT` if either is missing or malformed. Outputs
/// are written only on success. Thread-safe (it reads the environment).
///
/// # Safety
/// `job` and `rank` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_job_from_env(job: *mut *mut c_char, rank: *mut c_int) -> fccl_result {
    call(|| {
        if job.is_null() || rank.is_null() {
            return Err(Fail::invalid("job and rank must not be NULL"));
        }
        let Some((spec, r)) = fccl::job_from_env()? else {
            return Err(Fail::invalid(format!(
                "{} and {} are not set: start the ranks with `fccl run -n N -- PROGRAM`",
                fccl::JOB_ENV,
                fccl::RANK_ENV
            )));
        };
        let r = c_int::try_from(r).map_err(|_| Fail::invalid("the rank is too large"))?;
        let text = to_c(spec.to_string())?;
        // SAFETY: non-null and writable per the caller.
        unsafe {
            job.write(text);
            rank.write(r);
        }
        Ok(())
    })
}

/// Writes the number of ranks of the job string `job` to `*nranks`. Thread-safe.
///
/// # Safety
/// `job` must be a NUL-terminated string; `nranks` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_job_size(job: *const c_char, nranks: *mut c_int) -> fccl_result {
    call(|| {
        if job.is_null() || nranks.is_null() {
            return Err(Fail::invalid("job and nranks must not be NULL"));
        }
        // SAFETY: non-null and NUL-terminated per the caller.
        let spec: JobSpec = unsafe { CStr::from_ptr(job) }
            .to_str()
            .map_err(|_| Fail::invalid("the job string is not UTF-8"))?
            .parse()?;
        let n = c_int::try_from(spec.size).map_err(|_| Fail::invalid("the job is too large"))?;
        // SAFETY: non-null and writable per the caller.
        unsafe { nranks.write(n) };
        Ok(())
    })
}

/// Frees a string that fccl made (`fccl_job_create`, `fccl_job_from_env`). NULL is fine.
///
/// # Safety
/// `s` must be NULL or a string from fccl not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by `CString::into_raw` in this library, freed once.
        drop(unsafe { CString::from_raw(s) });
    }
}
