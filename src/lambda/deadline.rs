//! Fitting a job into an invocation: Lambda ends a function at its deadline (15 minutes at
//! most) without warning, so a rank must give up a little before it, with an error it can
//! still report, rather than be killed in the middle of a collective.

use std::time::{Duration, SystemTime};

use fccl_collectives::{Error, ErrorKind, JobSpec, Result};

/// How long before the invocation's deadline a rank stops: time to report its error and
/// leave its job.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// Deadlines in milliseconds since 1970 below this (September 2001) are no point in time
/// of a running function: the `cargo lambda watch` emulator sends the function's timeout
/// (600000) in `Lambda-Runtime-Deadline-Ms`, where Lambda sends the deadline itself.
const EARLIEST_DEADLINE_MS: u64 = 1_000_000_000_000;

/// The deadline of an invocation received at `received` whose runtime context says
/// `deadline_ms` (`lambda_runtime::Context::deadline`): that time, or for a value too small
/// to be one (an emulator's), that many milliseconds after `received`.
pub fn invocation_deadline(deadline_ms: u64, received: SystemTime) -> SystemTime {
    if deadline_ms < EARLIEST_DEADLINE_MS {
        received + Duration::from_millis(deadline_ms)
    } else {
        SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms)
    }
}

/// The time a rank of an invocation ending at `deadline` has left at `now`, less
/// [`DEADLINE_MARGIN`]; an [`ErrorKind::Timeout`] error if none is left.
pub fn time_left(deadline: SystemTime, now: SystemTime) -> Result<Duration> {
    let left = deadline.duration_since(now).unwrap_or(Duration::ZERO);
    match left.checked_sub(DEADLINE_MARGIN) {
        Some(usable) if !usable.is_zero() => Ok(usable),
        _ => Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "the invocation has {} ms left, less than the {} ms a rank keeps to report: \
                 give the function a longer timeout",
                left.as_millis(),
                DEADLINE_MARGIN.as_millis()
            ),
        )),
    }
}

/// Clamps `job`'s collective and set-up timeouts to `left`, the time the invocation has.
pub fn clamp_job(job: &mut JobSpec, left: Duration) {
    job.timeout = job.timeout.min(left);
    job.setup_timeout = job.setup_timeout.min(left);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_keeps_a_margin_before_the_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let left = time_left(now + Duration::from_secs(10), now).unwrap();
        assert_eq!(left, Duration::from_secs(10) - DEADLINE_MARGIN);
        for late in [now, now - Duration::from_secs(1), now + DEADLINE_MARGIN] {
            let e = time_left(late, now).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Timeout);
            assert!(e.to_string().contains("longer timeout"), "{e}");
        }
    }

    #[test]
    fn deadlines_are_points_in_time_or_an_emulators_durations() {
        let received = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_228_522_011);
        assert_eq!(
            invocation_deadline(1_796_228_600_000, received),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_228_600_000)
        );
        assert_eq!(
            invocation_deadline(600_000, received),
            received + Duration::from_secs(600)
        );
    }

    #[test]
    fn timeouts_shrink_to_the_time_left_and_never_grow() {
        let mut job = JobSpec::new(2, "tcp://h:1").unwrap();
        job.timeout = Duration::from_secs(30);
        job.setup_timeout = Duration::from_secs(60);
        clamp_job(&mut job, Duration::from_secs(45));
        assert_eq!(job.timeout, Duration::from_secs(30));
        assert_eq!(job.setup_timeout, Duration::from_secs(45));
        clamp_job(&mut job, Duration::from_secs(5));
        assert_eq!(
            (job.timeout, job.setup_timeout),
            (Duration::from_secs(5), Duration::from_secs(5))
        );
    }
}
