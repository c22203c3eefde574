//! Rendezvous messages and their wire format (placeholder: being written).

use std::net::SocketAddr;
use std::time::Duration;

use fccl_collectives::JobId;

/// `HMAC-SHA256(secret, "fccl rendezvous v1" || job id)`, see the module docs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct JobKey(pub [u8; 32]);

/// What a rank registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The operator token, if the server wants one.
    pub token: Option<String>,
    /// The job.
    pub job: JobId,
    /// The job key.
    pub key: JobKey,
    /// The job's size.
    pub size: u32,
    /// This rank.
    pub rank: u32,
    /// How long this rank waits for the others.
    pub wait: Duration,
    /// The rank's own addresses (the local address of its connection to the server).
    pub private: Vec<SocketAddr>,
}

/// Where one rank can be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddrs {
    /// The endpoint the server observed.
    pub public: SocketAddr,
    /// The addresses the rank reported.
    pub private: Vec<SocketAddr>,
}
