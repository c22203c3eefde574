//! Messages through Amazon SQS, for functions that can reach AWS but not each other.
//!
//! Every rank of a job owns one standard queue, `{prefix}-{job code}-{rank code}`, which it
//! creates as it joins (both codes keyed under the job secret, so the name tells neither
//! the job id nor the rank: [`queue_name`]); it finds the others' queues by name (retrying while peers create theirs)
//! and deletes its own when it leaves. A send cuts the message into records (sealed with a
//! MAC keyed by the job secret, see `crate::sealed`), encodes each in Z85 (base-85) as a
//! message body of at most `max_message` bytes, and sends them with `SendMessageBatch`. A
//! reader task long-polls its own queue with `ReceiveMessage`, deletes what it took with
//! `DeleteMessageBatch` (ten at a time, or fewer after two seconds), and, since a standard
//! queue delivers at least once and in any order, drops copies and reassembles parts in any
//! order before it delivers a message to the rank's mailbox once, ordered by the sender's
//! message number.
//!
//! With `fifo=true` the queues are FIFO queues (`….fifo`): each sender's records form one
//! message group and carry a de-duplication id (both keyed hashes too), so SQS itself drops copies of a record sent
//! again within five minutes; the receiver's checks stay, as a second line.
//!
//! - `spec.rs`: the `sqs://REGION/PREFIX?endpoint=URL&max_message=BYTES&fifo=true` spec.
//! - `records.rs`: bodies, and their de-duplication and reassembly.
//! - `queues.rs`: the SQS requests, counted.
//! - `endpoint.rs`: one rank's state, its sends, its reader and its leaving.
//! - `faults.rs`: copies, reordering and delays made on purpose, for tests.
//! - `transport.rs`: [`SqsTransport`], the [`Transport`](fccl_collectives::Transport).

mod endpoint;
mod faults;
mod queues;
mod records;
mod spec;
mod transport;

#[doc(hidden)]
pub use faults::SendFaults;
pub use spec::{
    DEFAULT_MAX_MESSAGE, FIFO_SUFFIX, MAX_MAX_MESSAGE, MAX_PREFIX, MIN_MAX_MESSAGE, SqsSpec,
};
pub use transport::{SqsTransport, queue_name, queue_prefix, static_config};
