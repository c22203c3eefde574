//! Per-call options and the guard that applies them.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::Communicator;
use crate::algorithms::Algorithm;

/// What the selector optimises when a communicator has several media
/// ([`Communicator::with_media`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Hint {
    /// The least time, by the α-β-γ model of each medium.
    #[default]
    Fast,
    /// The fewest dollars: every rank's running time at Lambda prices plus each medium's
    /// per-request and per-byte prices (an SQS request costs, a TCP byte does not).
    Cheap,
}

impl std::str::FromStr for Hint {
    type Err = crate::error::Error;
    /// `fast` or `cheap`.
    fn from_str(s: &str) -> Result<Hint, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fast" => Ok(Hint::Fast),
            "cheap" => Ok(Hint::Cheap),
            _ => Err(crate::error::Error::invalid(format!(
                "unknown hint '{s}' (known: fast, cheap)"
            ))),
        }
    }
}

/// Options for the calls made through [`Communicator::with_options`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpOptions {
    /// Run this algorithm instead of the selector's choice (and of `FCCL_ALGO_*`).
    pub algorithm: Option<Algorithm>,
    /// Wait at most this long instead of the communicator's timeout.
    pub timeout: Option<Duration>,
}

impl OpOptions {
    /// No options: the selector's choice and the communicator's timeout.
    pub fn new() -> OpOptions {
        OpOptions::default()
    }

    /// Forces `algorithm`.
    pub fn algorithm(mut self, algorithm: Algorithm) -> OpOptions {
        self.algorithm = Some(algorithm);
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> OpOptions {
        self.timeout = Some(timeout);
        self
    }
}

/// A communicator with options in force; dereferences to the [`Communicator`], whose
/// defaults come back when this is dropped.
pub struct WithOptions<'c> {
    comm: &'c mut Communicator,
    saved: OpOptions,
}

impl<'c> WithOptions<'c> {
    pub(super) fn new(comm: &'c mut Communicator, options: OpOptions) -> WithOptions<'c> {
        let saved = std::mem::replace(&mut comm.options, options);
        WithOptions { comm, saved }
    }
}

impl Deref for WithOptions<'_> {
    type Target = Communicator;
    fn deref(&self) -> &Communicator {
        self.comm
    }
}

impl DerefMut for WithOptions<'_> {
    fn deref_mut(&mut self) -> &mut Communicator {
        self.comm
    }
}

impl Drop for WithOptions<'_> {
    fn drop(&mut self) {
        self.comm.options = self.saved;
    }
}
