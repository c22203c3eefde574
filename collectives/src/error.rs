//! The error type: opaque, with a stable [`ErrorKind`] and the context that helps a user
//! (which collective, which peer, which step).

use std::fmt;
use std::sync::Arc;

use crate::collective::Collective;
use crate::types::Rank;

/// A `Result` with fccl's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, stable across versions; the C API maps these one to one onto its codes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The call's arguments were wrong; the call had no effect and the communicator is usable.
    InvalidArgument,
    /// Ranks disagree on a collective's arguments (count, type, op, root or kind).
    Mismatch,
    /// A wait passed its deadline.
    Timeout,
    /// The medium failed (connection reset, server error, ...).
    Transport,
    /// A peer failed, aborted or left.
    Remote,
    /// Ranks could not find each other.
    Rendezvous,
    /// A peer could not prove it belongs to the job.
    Auth,
    /// The transport or build does not support the request.
    Unsupported,
    /// A bug in fccl.
    Internal,
}

impl ErrorKind {
    /// A short lower-case name (`timeout`, `invalid argument`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Mismatch => "mismatch",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Remote => "remote",
            ErrorKind::Rendezvous => "rendezvous",
            ErrorKind::Auth => "auth",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether an error of this kind poisons the communicator (every kind but
    /// `InvalidArgument`, which is refused before anything is sent).
    pub const fn poisons(self) -> bool {
        !matches!(self, ErrorKind::InvalidArgument)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An fccl error: a kind, a message, and where it happened. Cheap to clone.
#[derive(Clone)]
pub struct Error(Arc<Inner>);

struct Inner {
    kind: ErrorKind,
    message: String,
    collective: Option<Collective>,
    peer: Option<Rank>,
    step: Option<u32>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A new error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Arc::new(Inner {
            kind,
            message: message.into(),
            collective: None,
            peer: None,
            step: None,
            source: None,
        }))
    }

    /// Shorthand for an [`ErrorKind::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Error {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => f(inner),
            None => {
                let o = &self.0;
                let mut inner = Inner {
                    kind: o.kind,
                    message: o.message.clone(),
                    collective: o.collective,
                    peer: o.peer,
                    step: o.step,
                    source: o.source.clone(),
                };
                f(&mut inner);
                self = Error(Arc::new(inner));
            }
        }
        self
    }

    /// Names the collective, unless one is named already.
    pub fn with_collective(self, c: Collective) -> Error {
        if self.0.collective.is_some() {
            return self;
        }
        self.edit(|i| i.collective = Some(c))
    }

    /// Names the peer, unless one is named already.
    pub fn with_peer(self, peer: Rank) -> Error {
        if self.0.peer.is_some() {
            return self;
        }
        self.edit(|i| i.peer = Some(peer))
    }

    /// Names the algorithm step, unless one is named already.
    pub fn with_step(self, step: u32) -> Error {
        if self.0.step.is_some() {
            return self;
        }
        self.edit(|i| i.step = Some(step))
    }

    /// Attaches the underlying cause.
    pub fn with_source(self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.edit(|i| i.source = Some(Arc::new(source)))
    }

    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message, without the context.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The collective that failed, if known.
    pub fn collective(&self) -> Option<Collective> {
        self.0.collective
    }

    /// The peer involved, if known.
    pub fn peer(&self) -> Option<Rank> {
        self.0.peer
    }

    /// The algorithm step, if known.
    pub fn step(&self) -> Option<u32> {
        self.0.step
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.kind)?;
        if let Some(c) = self.0.collective {
            write!(f, " in {c}")?;
        }
        if let Some(p) = self.0.peer {
            write!(f, " with peer {p}")?;
        }
        if let Some(s) = self.0.step {
            write!(f, " at step {s}")?;
        }
        write!(f, ": {}", self.0.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("message", &self.0.message);
        if let Some(c) = self.0.collective {
            d.field("collective", &c);
        }
        if let Some(p) = self.0.peer {
            d.field("peer", &p);
        }
        if let Some(s) = self.0.step {
            d.field("step", &s);
        }
        if let Some(s) = &self.0.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}
