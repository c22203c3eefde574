//! [`SqsTransport`]: set-up, the [`Transport`] methods, and the counters tests read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sqs::config::{Credentials, Region, SharedCredentialsProvider};
use bytes::Bytes;
use fccl_collectives::{
    BoxFuture, CommId, Error, ErrorKind, JobSpec, LinkProfile, Rank, Result, Tag, Transport, Usage,
};
use tokio::time::Instant;

use super::endpoint::Inner;
use super::faults::SendFaults;
use super::queues::{Queues, Requests};
use super::records::{CONTEXT, Sealer, part_bytes};
use super::spec::{FIFO_SUFFIX, JOB_CODE_HEX, SqsSpec};
use crate::names::Names;
use crate::peers::Peers;
use crate::record::{Kind, reason_bytes};
use crate::tcp::io_thread::IoThread;

/// The list prices of SQS requests to standard and to FIFO queues: $0.40 and $0.50 per
/// million (after the first million a month; US East, https://aws.amazon.com/sqs/pricing/,
/// read 2026-12).
const USD_PER_REQUEST: f64 = 0.40e-6;
const USD_PER_FIFO_REQUEST: f64 = 0.50e-6;

/// One rank's endpoint of a job whose messages travel through SQS queues.
pub struct SqsTransport {
    inner: Arc<Inner>,
    io: IoThread,
}

/// An SDK configuration with fixed keys and nothing else, for tests against an SQS
/// look-alike (moto) and for callers that hold keys; the spec adds region and endpoint.
pub fn static_config(access_key_id: &str, secret_access_key: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "fccl static keys",
        )))
        .build()
}

/// The name of `rank`'s queue in `job`: `{prefix}-{job code}-{rank code}`, and `.fifo`
/// after it for FIFO queues. The job code (16 hex digits) is a keyed hash of the job id
/// under the job secret and the rank code (10 hex digits) a keyed permutation of the rank
/// (`crate::names`), so that whoever lists the account's queues learns neither the job id
/// nor which queue is which rank's; every queue of a job starts with
/// [`queue_prefix`]`(spec, job)`.
pub fn queue_name(spec: &SqsSpec, job: &JobSpec, rank: Rank) -> String {
    name_of(spec, &Names::new(&job.secret, job.id), rank)
}

/// What the name of every queue of `job` starts with: `{prefix}-{job code}-`.
pub fn queue_prefix(spec: &SqsSpec, job: &JobSpec) -> String {
    prefix_of(spec, &Names::new(&job.secret, job.id))
}

fn prefix_of(spec: &SqsSpec, names: &Names) -> String {
    format!("{}-{}-", spec.prefix, &names.job_part()[..JOB_CODE_HEX])
}

fn name_of(spec: &SqsSpec, names: &Names, rank: Rank) -> String {
    let fifo = if spec.fifo { FIFO_SUFFIX } else { "" };
    format!("{}{}{fifo}", prefix_of(spec, names), names.rank_code(rank))
}

impl SqsTransport {
    /// Joins `job` as `rank` with credentials from the standard AWS chain (environment,
    /// profile files, the Lambda or container role).
    pub async fn connect(job: &JobSpec, rank: Rank, spec: &SqsSpec) -> Result<SqsTransport> {
        let io = IoThread::start(rank)?;
        // The region comes from the spec, so the chain never asks an instance's metadata
        // service for one.
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(spec.region.clone()));
        let config = io
            .handle
            .spawn(loader.load())
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("sqs set-up failed: {e}")))?;
        SqsTransport::join(job, rank, spec, &config, io).await
    }

    /// Joins `job` as `rank` with the SDK configuration `base` (its credentials; the spec
    /// sets region and endpoint): creates this rank's queue and finds every other rank's
    /// (by the job's set-up timeout), then starts reading.
    pub async fn connect_with_config(
        job: &JobSpec,
        rank: Rank,
        spec: &SqsSpec,
        base: &SdkConfig,
    ) -> Result<SqsTransport> {
        let io = IoThread::start(rank)?;
        SqsTransport::join(job, rank, spec, base, io).await
    }

    async fn join(
        job: &JobSpec,
        rank: Rank,
        spec: &SqsSpec,
        base: &SdkConfig,
        io: IoThread,
    ) -> Result<SqsTransport> {
        job.validate()?;
        job.check_rank(rank)?;
        let mut config =
            aws_sdk_sqs::config::Builder::from(base).region(Region::new(spec.region.clone()));
        if let Some(endpoint) = &spec.endpoint {
            config = config.endpoint_url(endpoint);
        }
        let client = aws_sdk_sqs::Client::from_conf(config.build());
        let setup = io
            .handle
            .spawn(setup(job.clone(), rank, spec.clone(), client));
        let inner = setup
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("sqs set-up failed: {e}")))??;
        Ok(SqsTransport { inner, io })
    }

    /// How many records this rank's queue held that it refused (not Z85, a bad MAC, a
    /// malformed head, parts that do not make up their message) and so never delivered.
    pub fn rejected_records(&self) -> u64 {
        self.inner.rejected.load(Ordering::SeqCst)
    }

    /// How many records came again (SQS delivers at least once) and were dropped.
    pub fn duplicate_records(&self) -> u64 {
        self.inner.duplicates.load(Ordering::SeqCst)
    }

    /// How many data messages this endpoint sent to its peers (not to itself).
    pub fn messages_sent(&self) -> u64 {
        self.inner.messages_sent.load(Ordering::SeqCst)
    }

    /// How many data messages from its peers this endpoint delivered (each once, however
    /// often its records came).
    pub fn messages_delivered(&self) -> u64 {
        self.inner.messages_delivered.load(Ordering::SeqCst)
    }

    /// How many SQS requests this endpoint made.
    pub fn requests(&self) -> u64 {
        self.inner.queues.requests.made.load(Ordering::Relaxed)
    }

    /// How many requests SQS bills for them (each 64 KiB of a request's payload is one).
    pub fn billed_requests(&self) -> u64 {
        self.inner.queues.requests.billed.load(Ordering::Relaxed)
    }

    /// The name of `rank`'s queue.
    pub fn queue_name(&self, rank: Rank) -> &str {
        &self.inner.names[rank]
    }

    /// The URL of `rank`'s queue.
    pub fn queue_url(&self, rank: Rank) -> &str {
        &self.inner.urls[rank]
    }

    /// The Z85 bodies `send(to, tag, msg)` would send, as the next message to `to`,
    /// without sending them: for tests that deliver copies out of order.
    #[doc(hidden)]
    pub fn encode_for_test(&self, to: Rank, tag: Tag, msg: &[u8]) -> Result<Vec<String>> {
        let bodies = self.inner.bodies(to, Kind::Data, tag, msg)?;
        Ok(bodies.into_iter().map(|b| b.text).collect())
    }

    /// Makes every later data message this endpoint sends arrive as a faulty standard queue
    /// might deliver it (records shuffled, copied, late; see [`SendFaults`]): for tests
    /// that show the receivers still deliver each message once and whole. The first call
    /// counts; later ones are ignored.
    #[doc(hidden)]
    pub fn inject_faults(&self, faults: SendFaults) {
        let _ = self.inner.faults.set(super::faults::Faulty::new(faults));
    }

    /// A record sealed for `to` with every head field chosen, as Z85: for tests of
    /// records that a sender of this job could make but never does.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub fn forge_for_test(
        &self,
        to: Rank,
        tag: Tag,
        message: u64,
        part: u32,
        parts: u32,
        total: u64,
        payload: &[u8],
    ) -> String {
        let head = super::records::Head {
            kind: Kind::Data,
            source: self.inner.rank,
            tag,
            message,
            part,
            parts,
            total,
        };
        super::records::encode(&self.inner.sealer.seal(&head, to, payload))
    }

    /// The list price of one (billed) request to this job's kind of queue.
    fn usd_per_request(&self) -> f64 {
        if self.inner.queues.fifo_group.is_some() {
            USD_PER_FIFO_REQUEST
        } else {
            USD_PER_REQUEST
        }
    }

    /// Runs `f` on the endpoint's I/O thread, where the SDK's connections live.
    async fn on_io<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Inner>) -> BoxFuture<'static, Result<T>> + Send + 'static,
    ) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        self.io
            .handle
            .spawn(async move { f(inner).await })
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("sqs I/O failed: {e}")))?
    }
}

/// Creates this rank's queue, finds the others' and starts the reader (on the I/O thread).
async fn setup(
    job: JobSpec,
    rank: Rank,
    spec: SqsSpec,
    client: aws_sdk_sqs::Client,
) -> Result<Arc<Inner>> {
    let deadline = Instant::now() + job.setup_timeout;
    let job_names = Names::new(&job.secret, job.id);
    let queues = Queues {
        client,
        requests: Requests::default(),
        // The group (a sender's) is named like a queue, by its rank code.
        fifo_group: spec.fifo.then(|| format!("g{}", job_names.rank_code(rank))),
        names: job_names.clone(),
    };
    let names: Vec<String> = (0..job.size)
        .map(|r| name_of(&spec, &job_names, r))
        .collect();
    let labels: Vec<String> = (0..job.size)
        .map(|r| format!("rank {r}'s queue {}", names[r]))
        .collect();
    let own = queues
        .create(&names[rank], &labels[rank], spec.max_message, deadline)
        .await?;
    let found = futures_util::future::join_all(
        (0..job.size)
            .filter(|&r| r != rank)
            .map(|r| queues.resolve(&names[r], &labels[r], deadline)),
    )
    .await;
    let mut found = found.into_iter();
    let mut urls = Vec::with_capacity(job.size);
    for r in 0..job.size {
        urls.push(if r == rank {
            own.clone()
        } else {
            found.next().expect("one per peer")?
        });
    }
    let inner = Arc::new(Inner {
        sealer: Sealer::new(CONTEXT, &job.secret, job.id),
        max_message: spec.max_message,
        part: part_bytes(spec.max_message),
        next_message: (0..job.size).map(|_| AtomicU64::new(0)).collect(),
        peers: Peers::new(rank, job.size, "sqs"),
        rejected: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        messages_sent: AtomicU64::new(0),
        messages_delivered: AtomicU64::new(0),
        state: Inner::read_state(job.size),
        reader: Mutex::new(None),
        faults: OnceLock::new(),
        queues,
        names,
        labels,
        urls,
        job,
        rank,
    });
    let reader = tokio::spawn(Arc::clone(&inner).read_loop());
    *inner.reader.lock().unwrap_or_else(|p| p.into_inner()) = Some(reader.abort_handle());
    Ok(inner)
}

impl Transport for SqsTransport {
    fn name(&self) -> &'static str {
        "sqs"
    }

    fn rank(&self) -> Rank {
        self.inner.rank
    }

    fn size(&self) -> usize {
        self.inner.job.size
    }

    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let Some(msg) = self.inner.peers.before_send(to, tag, msg)? else {
                return Ok(());
            };
            self.on_io(move |inner| {
                Box::pin(async move {
                    let deadline = Instant::now() + inner.job.timeout;
                    inner.queues.requests.payload_sent(msg.len());
                    inner.messages_sent.fetch_add(1, Ordering::SeqCst);
                    let bodies = inner.bodies(to, Kind::Data, tag, &msg)?;
                    match inner.faults.get() {
                        Some(faulty) => {
                            super::faults::send_bodies(&inner, faulty, to, bodies, deadline).await
                        }
                        None => inner.send_bodies(to, &bodies, deadline).await,
                    }
                })
            })
            .await
        })
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            let peers = &self.inner.peers;
            peers.check_peer(from)?;
            let gone = || peers.gone_error(from, tag);
            peers.mailbox.recv(from, tag, deadline, gone).await
        })
    }

    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let peers: Vec<Rank> = peers
                .iter()
                .copied()
                .filter(|&p| p < self.inner.job.size && p != self.inner.rank)
                .collect();
            let reason = reason_bytes(reason).to_vec();
            let _ = self
                .on_io(move |inner| {
                    Box::pin(async move {
                        let sends = peers
                            .iter()
                            .map(|&p| inner.send_control(p, Kind::Abort, comm, &reason));
                        futures_util::future::join_all(sends).await;
                        Ok(())
                    })
                })
                .await;
        })
    }

    /// A message through SQS: a send and a long-polled receive, tens of milliseconds each
    /// way; billed per request.
    fn profile(&self) -> LinkProfile {
        LinkProfile {
            latency: Duration::from_millis(20),
            bandwidth: 50e6,
            max_message_bytes: self.inner.part,
            usd_per_request: self.usd_per_request(),
            usd_per_byte: 0.0,
            shared_objects: false,
            via_server: true,
        }
    }

    /// Every request counted since the endpoint was made (set-up included).
    fn usage(&self) -> Option<Usage> {
        Some(self.inner.queues.requests.usage(self.usd_per_request()))
    }

    /// Says goodbye to every peer, waits (up to a few seconds) for their goodbyes, deletes
    /// this rank's queue, then stops the I/O thread.
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.inner.peers.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            let left = self
                .on_io(|inner| Box::pin(async move { inner.leave().await }))
                .await;
            self.io.stop_and_join().await;
            left
        })
    }
}

impl Drop for SqsTransport {
    /// Leaves as [`Transport::close`] does, in the background on the I/O thread, which
    /// then stops.
    fn drop(&mut self) {
        if self.inner.peers.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let stop = self.io.take_stop();
        self.io.handle.spawn(async move {
            let _ = inner.leave().await;
            if let Some(stop) = stop {
                let _ = stop.send(());
            }
        });
    }
}
