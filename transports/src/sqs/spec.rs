//! The SQS transport spec:
//! `sqs://REGION/PREFIX[?endpoint=URL][&max_message=BYTES][&fifo=true]`.

use fccl_collectives::{Error, Result};

/// The default largest message body: the queue default of SQS (and of moto), 256 KiB.
pub const DEFAULT_MAX_MESSAGE: usize = 256 << 10;

/// The smallest `max_message` SQS accepts as a queue's `MaximumMessageSize`.
pub const MIN_MAX_MESSAGE: usize = 1 << 10;

/// The largest `max_message`: SQS raised its message size limit from 256 KiB to 1 MiB in
/// 2025 (the newer SDKs document `SendMessage` bodies "up to 1 MiB or 1,048,576 bytes").
pub const MAX_MAX_MESSAGE: usize = 1 << 20;

/// The hex digits of the job code in a queue name.
pub(crate) const JOB_CODE_HEX: usize = 16;

/// The longest queue name prefix: a queue name is `{prefix}-{job code}-{rank code}` (16 and
/// 10 hex digits) and SQS allows 80 characters, so 52.
pub const MAX_PREFIX: usize = 80 - 1 - JOB_CODE_HEX - 1 - 10;

/// The suffix SQS requires of a FIFO queue's name, which counts towards its 80 characters.
pub const FIFO_SUFFIX: &str = ".fifo";

/// A parsed `sqs://` spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSpec {
    /// The AWS region, as `us-east-1`.
    pub region: String,
    /// The prefix of this job's queue names: letters, digits, `-` and `_`.
    pub prefix: String,
    /// Where to send requests instead of the region's SQS endpoint (moto, a VPC endpoint).
    pub endpoint: Option<String>,
    /// The largest message body in bytes: records are cut so that their Z85 encoding fits,
    /// and a `SendMessageBatch` carries at most this much.
    pub max_message: usize,
    /// Whether the job's queues are FIFO queues (one message group per sending rank, a
    /// de-duplication id per record) rather than standard ones.
    pub fifo: bool,
}

impl SqsSpec {
    /// Parses `spec`, refusing anything but `sqs://REGION/PREFIX` with the options
    /// `endpoint=URL`, `max_message=BYTES` and `fifo=true|false` with an
    /// [`InvalidArgument`](fccl_collectives::ErrorKind::InvalidArgument) error (which
    /// names what is wrong but does not repeat the spec).
    pub fn parse(spec: &str) -> Result<SqsSpec> {
        let bad = |why: &str| Error::invalid(format!("sqs spec: {why}"));
        let rest = spec
            .strip_prefix("sqs://")
            .ok_or_else(|| bad("must start with sqs://REGION/PREFIX"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (region, prefix) = path
            .split_once('/')
            .ok_or_else(|| bad("must be sqs://REGION/PREFIX"))?;
        let region_ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            return Err(bad(
                "the region must be an AWS region name such as us-east-1",
            ));
        }
        if prefix.is_empty() || prefix.len() > MAX_PREFIX {
            return Err(bad(&format!(
                "the queue name prefix must have 1 to {MAX_PREFIX} characters"
            )));
        }
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "the queue name prefix may only have letters, digits, - and _",
            ));
        }
        let mut parsed = SqsSpec {
            region: region.to_string(),
            prefix: prefix.to_string(),
            endpoint: None,
            max_message: DEFAULT_MAX_MESSAGE,
            fifo: false,
        };
        let mut seen_max = false;
        let mut seen_fifo = false;
        for option in query.into_iter().flat_map(|q| q.split('&')) {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| bad("options are KEY=VALUE"))?;
            match key {
                "endpoint" if parsed.endpoint.is_none() => {
                    let scheme_ok = value.starts_with("http://") || value.starts_with("https://");
                    if !scheme_ok || value.len() <= "https://".len() {
                        return Err(bad("the endpoint must be an http:// or https:// URL"));
                    }
                    parsed.endpoint = Some(value.to_string());
                }
                "max_message" if !seen_max => {
                    seen_max = true;
                    parsed.max_message = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (MIN_MAX_MESSAGE..=MAX_MAX_MESSAGE).contains(n))
                        .ok_or_else(|| {
                            bad(&format!(
                                "max_message must be a number of bytes from {MIN_MAX_MESSAGE} \
                                 to {MAX_MAX_MESSAGE}"
                            ))
                        })?;
                }
                "fifo" if !seen_fifo => {
                    seen_fifo = true;
                    parsed.fifo = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("fifo must be true or false")),
                    };
                }
                "endpoint" | "max_message" | "fifo" => {
                    return Err(bad(&format!("{key} given twice")));
                }
                _ => {
                    return Err(bad(&format!(
                        "unknown option {key:?} (the options are endpoint, max_message and \
                         fifo)"
                    )));
                }
            }
        }
        if parsed.fifo && parsed.prefix.len() > MAX_PREFIX - FIFO_SUFFIX.len() {
            return Err(bad(&format!(
                "with fifo=true the queue name prefix may have at most {} characters",
                MAX_PREFIX - FIFO_SUFFIX.len()
            )));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use fccl_collectives::ErrorKind;

    use super::*;

    #[test]
    fn parses_regions_prefixes_and_options() {
        let s = SqsSpec::parse("sqs://us-east-1/fccl").unwrap();
        assert_eq!(
            (s.region.as_str(), s.prefix.as_str()),
            ("us-east-1", "fccl")
        );
        assert_eq!((s.endpoint, s.max_message), (None, DEFAULT_MAX_MESSAGE));
        assert!(!s.fifo);
        assert!(SqsSpec::parse("sqs://us-east-1/f?fifo=true").unwrap().fifo);
        assert!(!SqsSpec::parse("sqs://us-east-1/f?fifo=false").unwrap().fifo);
        let s = SqsSpec::parse(
            "sqs://eu-west-2/my_jobs-1?endpoint=http://127.0.0.1:5000&max_message=16384",
        )
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!((s.prefix.as_str(), s.max_message), ("my_jobs-1", 16384));
        let long = "p".repeat(MAX_PREFIX);
        assert!(SqsSpec::parse(&format!("sqs://us-east-1/{long}")).is_ok());
    }

    #[test]
    fn refuses_bad_specs() {
        let long = format!("sqs://us-east-1/{}", "p".repeat(MAX_PREFIX + 1));
        let fifo_long = format!("sqs://us-east-1/{}?fifo=true", "p".repeat(MAX_PREFIX - 4));
        for spec in [
            "sqs",
            "sqs://",
            "sqs://us-east-1",
            "sqs://us-east-1/",
            "sqs:///fccl",
            "sqs://US_EAST/fccl",
            "sqs://us-east-1/a.b",
            "sqs://us-east-1/a/b",
            "sqs://us-east-1/fccl?x=1",
            "sqs://us-east-1/fccl?endpoint",
            "sqs://us-east-1/fccl?endpoint=ftp://h",
            "sqs://us-east-1/fccl?max_message=100",
            "sqs://us-east-1/fccl?max_message=2000000",
            "sqs://us-east-1/fccl?max_message=1k",
            "sqs://us-east-1/fccl?max_message=2048&max_message=4096",
            "sqs://us-east-1/fccl?fifo=yes",
            "sqs://us-east-1/fccl?fifo=true&fifo=true",
            "redis://h:1",
            long.as_str(),
            fifo_long.as_str(),
        ] {
            let e = SqsSpec::parse(spec).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{spec}");
        }
        let e = SqsSpec::parse("sqs://user:hunter2@us-east-1/p").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
