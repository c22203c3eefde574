//! The rendezvous server (placeholder: being written).

/// Limits and settings of a [`RendezvousServer`].
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {}

/// The rendezvous server.
pub struct RendezvousServer {}
