//! The tcp transport endpoint of one rank.

use fccl_collectives::{Error, ErrorKind, JobSpec, Rank, Result};

use super::spec::TcpSpec;

/// One rank's endpoint of a tcp job.
pub struct TcpTransport {
    _rank: Rank,
}

impl TcpTransport {
    /// Joins `job` as `rank` through the rendezvous server of `spec`: registers, learns the
    /// other ranks' endpoints, and (for [`Mesh::Full`](super::Mesh::Full)) connects every
    /// pair. Every phase ends by the job's set-up timeout.
    pub async fn connect(job: &JobSpec, rank: Rank, spec: &TcpSpec) -> Result<TcpTransport> {
        let _ = (job, rank, spec);
        Err(Error::new(
            ErrorKind::Unsupported,
            "tcp transport: under construction",
        ))
    }
}
