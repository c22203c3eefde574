//! What a rank's invocation carries in and out: the payload the launcher sends
//! ([`RankEvent`]) and the result the worker returns ([`RankResult`]).

use serde::{Deserialize, Serialize};

use fccl_collectives::{Error, JobSpec, Rank, Result};

/// The largest payload of a synchronous (RequestResponse) invocation that Lambda accepts,
/// in bytes: 6 MB, for the request and for the response alike
/// (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// How much of a rank's output its result carries at most: the end of it, so that a result
/// stays far below [`MAX_PAYLOAD`] whatever the job prints.
pub const OUTPUT_TAIL: usize = 64 * 1024;

/// The payload of one rank's invocation:
/// `{"job": "<job string>", "rank": R, "command": ["bench", "allreduce", ...]}`.
///
/// The job string holds the job's secret: the payload goes only to the job's function.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankEvent {
    /// The job string (see [`JobSpec`]).
    pub job: String,
    /// This invocation's rank.
    pub rank: Rank,
    /// The built-in job every rank runs (`bench ...`, `train ...`); user functions may leave
    /// it empty and ignore it.
    #[serde(default)]
    pub command: Vec<String>,
    /// How long the rank may run, in milliseconds from when its invocation starts, if
    /// less than the function's timeout: the launcher's own limit, so that a rank gives up
    /// and reports before the launcher stops waiting for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_ms: Option<u64>,
}

impl std::fmt::Debug for RankEvent {
    /// Leaves the job string out: it holds the job's secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RankEvent")
            .field("job", &"..")
            .field("rank", &self.rank)
            .field("command", &self.command)
            .field("time_limit_ms", &self.time_limit_ms)
            .finish()
    }
}

impl RankEvent {
    /// The event of `rank` of `job` running `command`.
    pub fn new(job: &JobSpec, rank: Rank, command: Vec<String>) -> RankEvent {
        RankEvent {
            job: job.to_string(),
            rank,
            command,
            time_limit_ms: None,
        }
    }

    /// Reads an event from an invocation's JSON payload. Errors say what is wrong with it
    /// and never repeat the job string.
    pub fn from_json(payload: &serde_json::Value) -> Result<RankEvent> {
        RankEvent::deserialize(payload).map_err(|e| {
            // serde quotes the strings it could not take, and one may be a job string.
            let why = redact_quoted(&e.to_string());
            Error::invalid(format!(
                "malformed fccl payload ({why}): expected {{\"job\": \"<job string>\", \
                 \"rank\": R, \"command\": [...]}}"
            ))
        })
    }

    /// The job and rank of this event, checked (the rank in range).
    pub fn job(&self) -> Result<(JobSpec, Rank)> {
        let job: JobSpec = self
            .job
            .parse()
            .map_err(|e: Error| Error::invalid(format!("payload's job: {}", e.message())))?;
        job.check_rank(self.rank)?;
        Ok((job, self.rank))
    }

    /// The payload as JSON bytes, refused if larger than Lambda accepts.
    pub fn to_payload(&self) -> Result<Vec<u8>> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| Error::invalid(format!("cannot encode the payload: {e}")))?;
        if bytes.len() > MAX_PAYLOAD {
            return Err(Error::invalid(format!(
                "the payload of rank {} is {} bytes, more than the {MAX_PAYLOAD} bytes a \
                 Lambda invocation accepts: shorten the command",
                self.rank,
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

/// `text` with every double-quoted part replaced by `".."`.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, piece) in text.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        out.push_str(if i % 2 == 1 { ".." } else { piece });
    }
    out
}

/// What the worker returns for its rank:
/// `{"rank": R, "ok": bool, "error": "..." | null, "output": "...", "timed_out": bool}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankResult {
    /// The rank.
    pub rank: Rank,
    /// Whether the rank's job succeeded (and its results were right).
    pub ok: bool,
    /// Why it did not.
    #[serde(default)]
    pub error: Option<String>,
    /// The end of what the rank's job printed (at most [`OUTPUT_TAIL`] bytes).
    #[serde(default)]
    pub output: String,
    /// Whether the rank stopped because its invocation was about to reach its deadline.
    #[serde(default)]
    pub timed_out: bool,
}

impl RankResult {
    /// A result with `output` cut to its last [`OUTPUT_TAIL`] bytes (at a character
    /// boundary).
    pub fn new(rank: Rank, outcome: std::result::Result<String, String>) -> RankResult {
        let (ok, error, output) = match outcome {
            Ok(output) => (true, None, output),
            Err(error) => (false, Some(error), String::new()),
        };
        RankResult {
            rank,
            ok,
            error,
            output: tail(&output, OUTPUT_TAIL).to_string(),
            timed_out: false,
        }
    }
}

/// The last `max` bytes of `text` or fewer, starting at a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_and_hide_the_secret() {
        let job = JobSpec::new(4, "tcp://127.0.0.1:9").unwrap();
        let event = RankEvent::new(&job, 3, vec!["bench".into(), "allreduce".into()]);
        let payload: serde_json::Value =
            serde_json::from_slice(&event.to_payload().unwrap()).unwrap();
        assert_eq!(payload["rank"], 3);
        assert_eq!(payload["command"], json!(["bench", "allreduce"]));
        let back = RankEvent::from_json(&payload).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.job().unwrap(), (job.clone(), 3));
        let secret: String = job.secret.0.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!format!("{event:?}").contains(&secret));
    }

    #[test]
    fn malformed_payloads_are_refused_clearly() {
        let job = JobSpec::new(2, "tcp://127.0.0.1:9").unwrap().to_string();
        for (payload, says) in [
            (json!({"rank": 0}), "missing field `job`"),
            (json!({"job": job, "rank": -1}), "malformed fccl payload"),
            (json!("hello"), "malformed fccl payload"),
            (
                json!({"job": job, "rank": 0, "extra": 1}),
                "unknown field `extra`",
            ),
        ] {
            let e = RankEvent::from_json(&payload).unwrap_err();
            assert!(e.to_string().contains(says), "{payload}: {e}");
        }
        let e = RankEvent::from_json(&json!({"job": job, "rank": 2}))
            .unwrap()
            .job()
            .unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = RankEvent::from_json(&json!({"job": "nope", "rank": 0}))
            .unwrap()
            .job()
            .unwrap_err();
        assert!(e.to_string().contains("payload's job"), "{e}");
    }

    #[test]
    fn payloads_larger_than_lambda_takes_are_refused() {
        let job = JobSpec::new(2, "tcp://127.0.0.1:9").unwrap();
        let event = RankEvent::new(&job, 0, vec!["x".repeat(MAX_PAYLOAD)]);
        let e = event.to_payload().unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
    }

    #[test]
    fn results_keep_the_tail_of_the_output() {
        let long = format!(
            "{}é{}",
            "a".repeat(OUTPUT_TAIL),
            "b".repeat(OUTPUT_TAIL - 1)
        );
        let r = RankResult::new(1, Ok(long));
        assert!(r.ok);
        assert!(r.output.len() <= OUTPUT_TAIL);
        assert!(r.output.ends_with('b'));
        let r = RankResult::new(2, Err("boom".into()));
        assert_eq!((r.ok, r.error.as_deref()), (false, Some("boom")));
        assert_eq!(tail("héllo", 4), "llo");
    }
}
