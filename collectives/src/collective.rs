//! The kinds of operation a communicator runs, as named in headers, errors and the CLI.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A collective (or point-to-point) operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Collective {
    /// Reduce across ranks; every rank gets the result.
    AllReduce = 1,
    /// Reduce across ranks; the root gets the result.
    Reduce = 2,
    /// The root's buffer to every rank.
    Broadcast = 3,
    /// Reduce, then rank `i` keeps block `i`.
    ReduceScatter = 4,
    /// Every rank's block to every rank.
    AllGather = 5,
    /// Block `j` of rank `i` to block `i` of rank `j`, equal blocks.
    AllToAll = 6,
    /// All-to-all with a count per pair.
    AllToAllV = 7,
    /// Every rank's block to the root.
    Gather = 8,
    /// Block `i` of the root to rank `i`.
    Scatter = 9,
    /// Inclusive prefix reduction.
    Scan = 10,
    /// Exclusive prefix reduction.
    ExScan = 11,
    /// Wait until every rank has arrived.
    Barrier = 12,
    /// Tagged point-to-point messages.
    SendRecv = 13,
    /// Communicator creation (`split`, `dup`).
    Split = 14,
}

impl Collective {
    /// Every operation, in header-code order.
    pub const ALL: [Collective; 14] = [
        Collective::AllReduce,
        Collective::Reduce,
        Collective::Broadcast,
        Collective::ReduceScatter,
        Collective::AllGather,
        Collective::AllToAll,
        Collective::AllToAllV,
        Collective::Gather,
        Collective::Scatter,
        Collective::Scan,
        Collective::ExScan,
        Collective::Barrier,
        Collective::SendRecv,
        Collective::Split,
    ];

    /// The name used on the command line, in JSON and in `FCCL_ALGO_<NAME>` (upper-cased).
    pub const fn name(self) -> &'static str {
        match self {
            Collective::AllReduce => "allreduce",
            Collective::Reduce => "reduce",
            Collective::Broadcast => "broadcast",
            Collective::ReduceScatter => "reduce_scatter",
            Collective::AllGather => "allgather",
            Collective::AllToAll => "alltoall",
            Collective::AllToAllV => "alltoallv",
            Collective::Gather => "gather",
            Collective::Scatter => "scatter",
            Collective::Scan => "scan",
            Collective::ExScan => "exscan",
            Collective::Barrier => "barrier",
            Collective::SendRecv => "sendrecv",
            Collective::Split => "split",
        }
    }

    /// The operation with header code `code`.
    pub fn from_code(code: u8) -> Option<Collective> {
        Collective::ALL.into_iter().find(|c| *c as u8 == code)
    }
}

impl fmt::Display for Collective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Collective {
    type Err = Error;

    /// Parses a name, ignoring case, `-` and `_` (`all-reduce`, `reduce_scatter`, `bcast`).
    fn from_str(s: &str) -> Result<Self, Error> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        let alias = match norm.as_str() {
            "bcast" => "broadcast",
            "reducescatter" => "reduce_scatter",
            "p2p" | "sendrecv" => "sendrecv",
            other => other,
        };
        Collective::ALL
            .into_iter()
            .find(|c| c.name() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = Collective::ALL.iter().map(|c| c.name()).collect();
                Error::invalid(format!(
                    "unknown collective '{s}' (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}
