//! Errors of the network layer.

use thiserror::Error;

/// Errors of the network layer.
#[derive(Debug, Error)]
pub enum NetError {
    /// The network is not running (call `start_network` first).
    #[error("network is not running")]
    NotRunning,
    /// The network is already running.
    #[error("network is already running")]
    AlreadyRunning,
    /// Starting a network component failed (bind error, actor failure, ...).
    #[error("network start failed: {0}")]
    Start(String),
    /// A configuration value is unusable (e.g. a malformed relay URL).
    #[error("invalid network configuration: {0}")]
    Config(String),
    /// Talking to the network layer failed.
    #[error("network error: {0}")]
    Io(String),
    /// An ephemeral payload exceeds the gossip size limit.
    #[error("ephemeral payload of {size} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Payload size.
        size: usize,
        /// Maximum.
        max: usize,
    },
}
