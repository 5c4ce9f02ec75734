//! The SDK-owned tokio runtime that runs every async FFI call.
//!
//! One multi-thread runtime per process, created on first use. Async exports do not use
//! UniFFI's `async_runtime = "tokio"` (async-compat): that wrapper only *enters* a runtime
//! context, and without an ambient runtime it lazily starts its own single-threaded one, so
//! tasks the core spawns (network sessions) would end up on that extra thread. Instead every
//! async body is spawned here ([`crate::guard_async`]) and the foreign executor only awaits the
//! join handle, which needs no runtime context.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide runtime (2 to 4 worker threads, named `fieldsync-rt`).
pub(crate) fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 4);
        Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("fieldsync-rt")
            .enable_all()
            .build()
            // Without a runtime no async call can work; failing here means the process cannot
            // create threads at all. The panic is caught by the caller's guard.
            .expect("cannot start the FieldSync tokio runtime")
    })
}
