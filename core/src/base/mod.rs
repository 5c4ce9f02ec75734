//! The base layer: identifiers, logs and version vectors, the events the node reports, and
//! the thread pool of CPU-bound work. It imports nothing else of the crate.

pub mod events;
pub mod ids;
pub mod join;
pub mod log;
pub mod pool;
pub mod version;
