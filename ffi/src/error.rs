//! Result codes, error strings, the thread-local last error, and the panic boundary every
//! export goes through.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use fccl::{Error, ErrorKind};

/// The result of every fccl call: `FCCL_SUCCESS` (0) or an error code, one per kind of the
/// Rust library's `ErrorKind`, plus `FCCL_ERR_PANIC`. An `int`, so that any value a caller
/// passes back (to `fccl_get_error_string`) is well defined.
#[allow(non_camel_case_types)]
pub type fccl_result = c_int;

/// The call succeeded.
pub const FCCL_SUCCESS: fccl_result = 0;
/// The call's arguments were wrong (a NULL pointer, a bad data type, overlapping buffers, a
/// root out of range...); the call had no effect and the communicator is usable.
pub const FCCL_ERR_INVALID_ARGUMENT: fccl_result = 1;
/// Ranks disagree on a collective's arguments (count, type, op, root or kind).
pub const FCCL_ERR_MISMATCH: fccl_result = 2;
/// A wait passed its deadline (the job's timeout).
pub const FCCL_ERR_TIMEOUT: fccl_result = 3;
/// The medium failed (connection reset, server error...).
pub const FCCL_ERR_TRANSPORT: fccl_result = 4;
/// A peer failed, aborted or left (or the communicator was aborted here).
pub const FCCL_ERR_REMOTE: fccl_result = 5;
/// Ranks could not find each other.
pub const FCCL_ERR_RENDEZVOUS: fccl_result = 6;
/// A peer could not prove it belongs to the job.
pub const FCCL_ERR_AUTH: fccl_result = 7;
/// The transport or build does not support the request.
pub const FCCL_ERR_UNSUPPORTED: fccl_result = 8;
/// A bug in fccl.
pub const FCCL_ERR_INTERNAL: fccl_result = 9;
/// fccl panicked (a bug in fccl); the communicator involved is poisoned.
pub const FCCL_ERR_PANIC: fccl_result = 10;

/// The code of an error kind.
pub(crate) fn code_of(kind: ErrorKind) -> fccl_result {
    match kind {
        ErrorKind::InvalidArgument => FCCL_ERR_INVALID_ARGUMENT,
        ErrorKind::Mismatch => FCCL_ERR_MISMATCH,
        ErrorKind::Timeout => FCCL_ERR_TIMEOUT,
        ErrorKind::Transport => FCCL_ERR_TRANSPORT,
        ErrorKind::Remote => FCCL_ERR_REMOTE,
        ErrorKind::Rendezvous => FCCL_ERR_RENDEZVOUS,
        ErrorKind::Auth => FCCL_ERR_AUTH,
        ErrorKind::Unsupported => FCCL_ERR_UNSUPPORTED,
        _ => FCCL_ERR_INTERNAL,
    }
}

/// A static, NUL-terminated description of a code.
fn describe(code: fccl_result) -> &'static CStr {
    match code {
        FCCL_SUCCESS => c"success",
        FCCL_ERR_INVALID_ARGUMENT => c"invalid argument",
        FCCL_ERR_MISMATCH => c"ranks disagree on a collective's arguments",
        FCCL_ERR_TIMEOUT => c"timeout",
        FCCL_ERR_TRANSPORT => c"transport failure",
        FCCL_ERR_REMOTE => c"a peer failed or aborted",
        FCCL_ERR_RENDEZVOUS => c"rendezvous failure",
        FCCL_ERR_AUTH => c"authentication failure",
        FCCL_ERR_UNSUPPORTED => c"unsupported",
        FCCL_ERR_INTERNAL => c"internal error",
        FCCL_ERR_PANIC => c"internal panic",
        _ => c"unknown result code",
    }
}

/// A failed call inside the library: its code and message.
#[derive(Clone, Debug)]
pub(crate) struct Fail {
    pub(crate) code: fccl_result,
    pub(crate) message: String,
}

impl Fail {
    /// An `FCCL_ERR_INVALID_ARGUMENT` failure.
    pub(crate) fn invalid(message: impl Into<String>) -> Fail {
        Fail {
            code: FCCL_ERR_INVALID_ARGUMENT,
            message: message.into(),
        }
    }

    /// An `FCCL_ERR_PANIC` failure.
    pub(crate) fn panic(message: impl Into<String>) -> Fail {
        Fail {
            code: FCCL_ERR_PANIC,
            message: message.into(),
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail {
            code: code_of(e.kind()),
            message: e.to_string(),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `fail` as this thread's last error and returns its code.
pub(crate) fn record(fail: Fail) -> fccl_result {
    let text = CString::new(fail.message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
    fail.code
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string());
    format!("fccl panicked: {what}")
}

/// Runs the body of an export: a panic becomes `FCCL_ERR_PANIC` (and `on_panic` runs, to
/// poison a communicator), a failure is recorded as the thread's last error.
pub(crate) fn boundary(
    on_panic: impl FnOnce(&str),
    body: impl FnOnce() -> Result<(), Fail>,
) -> fccl_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => FCCL_SUCCESS,
        Ok(Err(fail)) => record(fail),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // A second panic here must not cross the boundary either.
            let _ = catch_unwind(AssertUnwindSafe(|| on_panic(&message)));
            record(Fail::panic(message))
        }
    }
}

/// [`boundary`] for an export that touches no communicator.
pub(crate) fn call(body: impl FnOnce() -> Result<(), Fail>) -> fccl_result {
    boundary(|_| {}, body)
}

/// A static, NUL-terminated description of `result` (never NULL; unknown codes get
/// "unknown result code"). The string is owned by the library and lives for the whole
/// process. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn fccl_get_error_string(result: fccl_result) -> *const c_char {
    describe(result).as_ptr()
}

/// The message of the last call that failed on the calling thread (which collective,
/// which peer, which step), or "" if none has. Thread-local: a failure on another thread
/// never shows here. The string is owned by the library and stays valid until the next
/// fccl call on this thread; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn fccl_get_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_code() {
        let kinds = [
            ErrorKind::InvalidArgument,
            ErrorKind::Mismatch,
            ErrorKind::Timeout,
            ErrorKind::Transport,
            ErrorKind::Remote,
            ErrorKind::Rendezvous,
            ErrorKind::Auth,
            ErrorKind::Unsupported,
            ErrorKind::Internal,
        ];
        let codes: Vec<i32> = kinds.iter().map(|&k| code_of(k)).collect();
        assert_eq!(codes, (1..=9).collect::<Vec<_>>());
    }

    #[test]
    fn panics_become_codes_and_last_errors_stay_on_their_thread() {
        let code = call(|| panic!("boom"));
        assert_eq!(code, FCCL_ERR_PANIC);
        let last = unsafe { std::ffi::CStr::from_ptr(fccl_get_last_error()) };
        assert!(last.to_str().unwrap().contains("boom"));
        std::thread::spawn(|| {
            let last = unsafe { std::ffi::CStr::from_ptr(fccl_get_last_error()) };
            assert_eq!(last.to_bytes(), b"");
        })
        .join()
        .unwrap();
    }
}
