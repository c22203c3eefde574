//! The SQS requests of one endpoint, each counted, and how their failures read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, QueueAttributeName, SendMessageBatchRequestEntry,
};
use fccl_collectives::{Error, ErrorKind, Result, Usage};

use super::records::Body;
use crate::names::Names;
use tokio::time::Instant;

/// How long a message taken by a receive stays hidden from other receives: long enough
/// that a slow reader deletes it before it would come again.
pub(crate) const VISIBILITY_TIMEOUT_SECS: i32 = 30;

/// How long one `ReceiveMessage` long-polls, so that leaving and failures are noticed soon.
pub(crate) const WAIT_SECS: i32 = 1;

/// SQS bills each 64 KiB of a request's payload as one request.
const BILLED_CHUNK: u64 = 64 << 10;

/// The requests an endpoint made, as made and as billed, the fewest its messages needed,
/// and the payload bytes it sent.
#[derive(Default)]
pub(crate) struct Requests {
    pub(crate) made: AtomicU64,
    pub(crate) billed: AtomicU64,
    /// The fewest requests, in tenths of a request (a received record needs a tenth of a
    /// receive and a tenth of a delete).
    least_tenths: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
}

impl Requests {
    /// Counts a request whose payload is `payload` bytes.
    fn count(&self, payload: usize) {
        self.made.fetch_add(1, Ordering::Relaxed);
        self.billed.fetch_add(chunks(payload), Ordering::Relaxed);
    }

    /// Bills the 64 KiB chunks beyond the first of a counted request whose answer carried
    /// `payload` bytes (a receive).
    fn answered(&self, payload: usize) {
        self.billed
            .fetch_add(chunks(payload) - 1, Ordering::Relaxed);
    }

    /// Counts a message's `bytes` bytes of payload as sent.
    pub(crate) fn payload_sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a message that needs `batches` batch sends at least.
    pub(crate) fn message_sent(&self, batches: usize) {
        self.least_tenths
            .fetch_add(10 * batches as u64, Ordering::Relaxed);
    }

    /// Counts a record received for the first time: a tenth of a receive and of a delete.
    pub(crate) fn record_received(&self) {
        self.least_tenths.fetch_add(2, Ordering::Relaxed);
    }

    /// The counters as a [`Usage`], with billed requests at `usd_per_request`.
    pub(crate) fn usage(&self, usd_per_request: f64) -> Usage {
        let billed = self.billed.load(Ordering::Relaxed);
        Usage {
            usd: billed as f64 * usd_per_request,
            requests: self.made.load(Ordering::Relaxed),
            billed_requests: billed,
            least_requests: self.least_tenths.load(Ordering::Relaxed) as f64 / 10.0,
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
        }
    }
}

/// How many 64 KiB chunks SQS bills for `payload` bytes (at least one).
fn chunks(payload: usize) -> u64 {
    (payload as u64).div_ceil(BILLED_CHUNK).max(1)
}

/// Why a request failed: the queue is gone, or anything else (as an fccl error).
pub(crate) enum Failure {
    NoQueue,
    Other(Error),
}

impl Failure {
    /// The fccl error of a failure on the queue `label` (`rank R's queue NAME`).
    pub(crate) fn into_error(self, label: &str) -> Error {
        match self {
            Failure::NoQueue => deleted(label),
            Failure::Other(e) => e,
        }
    }
}

/// The error of the queue `label` (`rank R's queue NAME`), which is gone.
pub(crate) fn deleted(label: &str) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!("sqs: {label} was deleted: this job's messages through it are lost"),
    )
}

fn failure<E, R>(what: &str, e: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default();
    if code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist") {
        return Failure::NoQueue;
    }
    let detail = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
    };
    Failure::Other(Error::new(
        ErrorKind::Transport,
        format!("sqs: {what}: {detail}"),
    ))
}

/// Runs `request` until `deadline`, as a timeout error naming `what` past it.
async fn within<T>(
    deadline: Instant,
    what: &str,
    request: impl Future<Output = std::result::Result<T, Failure>>,
) -> std::result::Result<T, Failure> {
    match tokio::time::timeout_at(deadline, request).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Other(Error::new(
            ErrorKind::Timeout,
            format!("sqs: {what}: no answer before the deadline"),
        ))),
    }
}

/// The requests of one endpoint.
pub(crate) struct Queues {
    pub(crate) client: Client,
    pub(crate) requests: Requests,
    /// The message group of this endpoint's sends, when the job's queues are FIFO queues.
    pub(crate) fifo_group: Option<String>,
    /// The job's names, which hide the records' de-duplication ids on FIFO queues.
    pub(crate) names: Names,
}

impl Queues {
    /// Creates (or finds) queue `name` (`label` in errors) and returns its URL.
    pub(crate) async fn create(
        &self,
        name: &str,
        label: &str,
        max_message: usize,
        deadline: Instant,
    ) -> Result<String> {
        let what = format!("cannot create {label}");
        let mut request = self.client.create_queue().queue_name(name).attributes(
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECS.to_string(),
        );
        if self.fifo_group.is_some() {
            // Every record has its own de-duplication id, and each sender's group has its
            // own throughput limit (SQS's high-throughput mode for FIFO queues).
            request = request
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
                .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
                .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId");
        }
        if max_message > super::spec::DEFAULT_MAX_MESSAGE {
            request = request.attributes(
                QueueAttributeName::MaximumMessageSize,
                max_message.to_string(),
            );
        }
        self.requests.count(0);
        let out = within(deadline, &what, async {
            request.send().await.map_err(|e| failure(&what, e))
        })
        .await
        .map_err(|f| f.into_error(label))?;
        out.queue_url()
            .map(str::to_string)
            .ok_or_else(|| Error::new(ErrorKind::Transport, format!("sqs: {what}: no URL")))
    }

    /// The URL of queue `name` (`label` in errors), asking again until `deadline` while it does not exist yet
    /// (its rank creates it as it joins).
    pub(crate) async fn resolve(
        &self,
        name: &str,
        label: &str,
        deadline: Instant,
    ) -> Result<String> {
        let what = format!("cannot find {label}");
        loop {
            self.requests.count(0);
            let asked = within(deadline, &what, async {
                let out = self
                    .client
                    .get_queue_url()
                    .queue_name(name)
                    .send()
                    .await
                    .map_err(|e| failure(&what, e))?;
                Ok(out.queue_url().unwrap_or_default().to_string())
            })
            .await;
            match asked {
                Ok(url) if !url.is_empty() => return Ok(url),
                Ok(_) | Err(Failure::NoQueue) => {}
                Err(Failure::Other(e)) if e.kind() == ErrorKind::Timeout => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("sqs: {label} was not created within the set-up timeout"),
                    ));
                }
                Err(Failure::Other(e)) => return Err(e),
            }
            if Instant::now() + Duration::from_millis(100) >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("sqs: {label} was not created within the set-up timeout"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `bodies` (at most 10) to the queue at `url` in one request; returns the
    /// indices of the bodies that SQS did not take. On FIFO queues each body goes in the
    /// message group of this endpoint's rank, with a keyed hash of its id for
    /// de-duplication (unique per record, and saying nothing of ranks or numbers).
    pub(crate) async fn send_batch(
        &self,
        url: &str,
        bodies: &[&Body],
        deadline: Instant,
        what: &str,
    ) -> std::result::Result<Vec<usize>, Failure> {
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&b.text);
                let entry = match &self.fifo_group {
                    Some(group) => entry
                        .message_group_id(group)
                        .message_deduplication_id(self.names.part(b.id.as_bytes())),
                    None => entry,
                };
                entry.build().expect("id and body are set")
            })
            .collect::<Vec<_>>();
        self.requests
            .count(bodies.iter().map(|b| b.text.len()).sum());
        let out = within(deadline, what, async {
            self.client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| failure(what, e))
        })
        .await?;
        Ok(out
            .failed()
            .iter()
            .filter_map(|f| f.id().parse().ok())
            .collect())
    }

    /// Long-polls the queue at `url` for up to 10 messages.
    pub(crate) async fn receive(
        &self,
        url: &str,
        deadline: Instant,
    ) -> std::result::Result<Vec<Message>, Failure> {
        let what = "cannot receive";
        self.requests.count(0);
        let out = within(deadline, what, async {
            self.client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(WAIT_SECS)
                .visibility_timeout(VISIBILITY_TIMEOUT_SECS)
                .send()
                .await
                .map_err(|e| failure(what, e))
        })
        .await?;
        let messages = out.messages.unwrap_or_default();
        self.requests
            .answered(messages.iter().map(|m| m.body().map_or(0, str::len)).sum());
        Ok(messages)
    }

    /// Deletes the received messages of `handles` (at most 10) from the queue at `url`.
    pub(crate) async fn delete_batch(
        &self,
        url: &str,
        handles: Vec<String>,
        deadline: Instant,
    ) -> std::result::Result<(), Failure> {
        let what = "cannot delete received messages";
        let entries = handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .expect("id and handle are set")
            })
            .collect::<Vec<_>>();
        self.requests.count(0);
        within(deadline, what, async {
            self.client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| failure(what, e))
        })
        .await
        .map(|_| ())
    }

    /// Deletes the queue at `url` (`label` in errors); a queue already gone is fine.
    pub(crate) async fn delete_queue(
        &self,
        url: &str,
        label: &str,
        deadline: Instant,
    ) -> Result<()> {
        let what = format!("cannot delete {label}");
        self.requests.count(0);
        let deleted = within(deadline, &what, async {
            self.client
                .delete_queue()
                .queue_url(url)
                .send()
                .await
                .map_err(|e| failure(&what, e))
        })
        .await;
        match deleted {
            Ok(_) | Err(Failure::NoQueue) => Ok(()),
            Err(Failure::Other(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_64_kib_of_a_payload_is_billed_as_a_request() {
        assert_eq!([0, 1, 65536, 65537, 256 << 10].map(chunks), [1, 1, 1, 2, 4]);
        let r = Requests::default();
        r.count(100 << 10);
        r.count(0);
        r.answered(200 << 10);
        assert_eq!(r.made.load(Ordering::Relaxed), 2);
        assert_eq!(r.billed.load(Ordering::Relaxed), 2 + 1 + 3);
    }

    #[test]
    fn the_fewest_requests_count_batches_and_tenths_of_records() {
        let r = Requests::default();
        r.message_sent(1);
        r.message_sent(2);
        r.payload_sent(1000);
        for _ in 0..15 {
            r.record_received();
        }
        let u = r.usage(0.5);
        assert_eq!(u.least_requests, 1.0 + 2.0 + 15.0 * 0.2);
        assert_eq!(u.bytes_sent, 1000);
        assert_eq!(u.requests, 0);
        assert_eq!(u.usd, 0.0);
    }
}
