//! One rank's invocation, and what its answer means.

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use fccl_collectives::Rank;

use super::report::{RankReport, RankStatus};
use crate::lambda::{OUTPUT_TAIL, RankResult, tail};

/// Invokes `function` synchronously for `rank` with `payload`, once, and reads its answer.
pub(super) async fn invoke(
    client: &aws_sdk_lambda::Client,
    function: &str,
    rank: Rank,
    payload: Vec<u8>,
) -> RankReport {
    let sent = client
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .log_type(LogType::Tail)
        .payload(Blob::new(payload))
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            let status = function_error_of(&e)
                .unwrap_or_else(|| RankStatus::NotInvoked(not_invoked(function, &e)));
            return RankReport::new(rank, status);
        }
    };
    let log_tail = answer.log_result().and_then(decode_log);
    let body = answer.payload().map(|b| b.as_ref()).unwrap_or_default();
    let mut report = match answer.function_error() {
        Some(kind) => RankReport::new(rank, function_error(kind, body)),
        None => from_result(rank, body),
    };
    report.log_tail = log_tail;
    report
}

/// The function error in a failed request, if that is what it is: Lambda answers a
/// function that failed with HTTP 200 and `X-Amz-Function-Error`, but the `cargo lambda
/// watch` emulator answers HTTP 500 with the same `{"errorType", "errorMessage"}` body.
fn function_error_of(e: &SdkError<InvokeError, HttpResponse>) -> Option<RankStatus> {
    let SdkError::ServiceError(service) = e else {
        return None;
    };
    let body = service.raw().body().bytes()?;
    let parsed: serde_json::Value = serde_json::from_slice(body).ok()?;
    parsed.get("errorMessage")?;
    Some(function_error("Unhandled", body))
}

/// Why an invocation failed, in the service's own words.
fn not_invoked(function: &str, e: &SdkError<InvokeError, HttpResponse>) -> String {
    match e {
        SdkError::ServiceError(service) => {
            let error = service.err();
            let status = service.raw().status().as_u16();
            let said = match (error.code(), error.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => format!("HTTP {status}: {}", tail(&body_text(service.raw()), 1024)),
            };
            if matches!(error, InvokeError::ResourceNotFoundException(_)) || status == 404 {
                format!("there is no function {function} ({said})")
            } else {
                format!("invoking {function} failed ({said})")
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
            "cannot reach the Lambda endpoint ({}): is the address right, and is it running?",
            causes(e)
        ),
        _ => format!("invoking {function} failed: {}", causes(e)),
    }
}

/// The body of a raw response, as text.
fn body_text(response: &HttpResponse) -> String {
    response
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default()
}

/// An error and its sources, each said once: `a: b: c`.
fn causes(e: &dyn std::error::Error) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(error) = next {
        let text = error.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = error.source();
    }
    said.join(": ")
}

/// The status of a rank whose function failed (a panic, an error the handler returned, a
/// timeout, a crash): Lambda's `{"errorType": ..., "errorMessage": ...}`.
fn function_error(kind: &str, body: &[u8]) -> RankStatus {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let message = field("errorMessage")
        .unwrap_or_else(|| tail(&String::from_utf8_lossy(body), OUTPUT_TAIL).to_string());
    // The Rust runtime names Rust types (`&alloc::boxed::Box<dyn ...>`): no help to a reader.
    let error_type = field("errorType").filter(|t| !t.contains("::"));
    let why = match error_type {
        Some(t) => format!("function error ({kind}, {t}): {message}"),
        None => format!("function error ({kind}): {message}"),
    };
    // Lambda's own words for a function stopped at its timeout.
    if message.contains("Task timed out") {
        RankStatus::TimedOut(why)
    } else {
        RankStatus::Failed(why)
    }
}

/// The report of a rank whose function answered: its [`RankResult`].
fn from_result(rank: Rank, body: &[u8]) -> RankReport {
    let result: RankResult = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            let text = String::from_utf8_lossy(body);
            return RankReport::new(
                rank,
                RankStatus::Failed(format!(
                    "the function's answer is not an fccl rank result ({e}): {}",
                    tail(&text, 1024)
                )),
            );
        }
    };
    let status = match (result.ok, result.error) {
        _ if result.rank != rank => RankStatus::Failed(format!(
            "the function answered for rank {} instead",
            result.rank
        )),
        (true, _) => RankStatus::Succeeded,
        (false, error) => {
            let why = error.unwrap_or_else(|| "no reason given".to_string());
            if result.timed_out {
                RankStatus::TimedOut(why)
            } else {
                RankStatus::Failed(why)
            }
        }
    };
    let mut report = RankReport::new(rank, status);
    report.output = result.output;
    report
}

/// The log tail Lambda returns (base64), as text.
fn decode_log(encoded: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_reports() {
        let ok = br#"{"rank":2,"ok":true,"error":null,"output":"table"}"#;
        let r = from_result(2, ok);
        assert_eq!(
            (r.status, r.output.as_str()),
            (RankStatus::Succeeded, "table")
        );
        let r = from_result(1, ok);
        assert!(matches!(r.status, RankStatus::Failed(ref w) if w.contains("rank 2")));
        let late = br#"{"rank":0,"ok":false,"error":"deadline","output":"","timed_out":true}"#;
        assert_eq!(
            from_result(0, late).status,
            RankStatus::TimedOut("deadline".into())
        );
        let bad = br#"{"rank":0,"ok":false,"error":"peer 1 failed","output":""}"#;
        assert_eq!(
            from_result(0, bad).status,
            RankStatus::Failed("peer 1 failed".into())
        );
        let r = from_result(0, b"\"hello\"");
        assert!(matches!(r.status, RankStatus::Failed(ref w) if w.contains("not an fccl")));
    }

    #[test]
    fn function_errors_say_what_the_function_said() {
        let body = br#"{"errorType":"Panic","errorMessage":"rank 1 panics"}"#;
        assert_eq!(
            function_error("Unhandled", body),
            RankStatus::Failed("function error (Unhandled, Panic): rank 1 panics".into())
        );
        let body = br#"{"errorMessage":"2026-01-01 Task timed out after 3.00 seconds"}"#;
        assert!(matches!(
            function_error("Unhandled", body),
            RankStatus::TimedOut(_)
        ));
        assert_eq!(
            function_error("Unhandled", b"oops"),
            RankStatus::Failed("function error (Unhandled): oops".into())
        );
        assert_eq!(decode_log("aGVsbG8=").as_deref(), Some("hello"));
    }
}
