//! The panic guard: no panic unwinds into Kotlin or Swift.
//!
//! Every fallible exported function body runs inside [`guard`] (sync) or [`guard_async`]
//! (async). A panic is logged and returned as [`FieldSyncError::Internal`]; the node stays
//! usable because the core's state is transactional and its lock tolerates poisoning.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tokio_util::sync::CancellationToken;

use crate::error::FieldSyncError;
use crate::runtime::runtime;

/// Runs `f`, turning a panic into `FieldSyncError.Internal`.
pub fn guard<T>(f: impl FnOnce() -> Result<T, FieldSyncError>) -> Result<T, FieldSyncError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panicked(p.as_ref())))
}

/// Runs `fut` on the SDK runtime, turning a panic into `FieldSyncError.Internal`.
///
/// Cancel safety: Dropping the returned future (Kotlin: cancelling the coroutine; Swift: cancelling the task)
/// aborts the spawned task at its next await point.
pub async fn guard_async<T, F>(fut: F) -> Result<T, FieldSyncError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, FieldSyncError>> + Send + 'static,
{
    let rt = match catch_unwind(runtime) {
        Ok(rt) => rt,
        Err(p) => return Err(panicked(p.as_ref())),
    };
    let mut task = AbortOnDrop(rt.spawn(fut));
    match (&mut task.0).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(panicked(e.into_panic().as_ref())),
        Err(_) => Err(FieldSyncError::closed()),
    }
}

/// Runs the blocking `f` on the SDK runtime's blocking pool, never on the caller's thread,
/// unless the node was shut down (then `Closed`, checked when `f` starts); a panic becomes
/// `FieldSyncError.Internal`. The body of every exported call that touches the database,
/// keys or the document engine.
///
/// Cancel safety: Dropping the returned future stops waiting; `f` itself runs to the end (a write is one
/// transaction: it lands whole or not at all).
pub async fn off_thread<T, F>(shutdown: CancellationToken, f: F) -> Result<T, FieldSyncError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, FieldSyncError> + Send + 'static,
{
    // One blocking task type for every call: each exported call's closure is boxed and its
    // result boxed as `Any` (a task type per call, ~90 of them, cost ~0.3 MB of library).
    let erased: ErasedCall = Box::new(move || f().map(|t| Box::new(t) as Box<dyn Any + Send>));
    let out = run_erased(shutdown, erased).await?;
    out.downcast::<T>()
        .map(|t| *t)
        .map_err(|_| FieldSyncError::internal("a blocking call returned another type"))
}

/// A call for the blocking pool, its result type erased.
type ErasedCall = Box<dyn FnOnce() -> Result<Box<dyn Any + Send>, FieldSyncError> + Send + 'static>;

/// Runs `f` on the SDK's blocking pool (see [`off_thread`]).
async fn run_erased(
    shutdown: CancellationToken,
    f: ErasedCall,
) -> Result<Box<dyn Any + Send>, FieldSyncError> {
    let rt = match catch_unwind(runtime) {
        Ok(rt) => rt,
        Err(p) => return Err(panicked(p.as_ref())),
    };
    let task = rt.spawn_blocking(move || {
        guard(|| {
            if shutdown.is_cancelled() {
                return Err(FieldSyncError::closed());
            }
            f()
        })
    });
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(panicked(e.into_panic().as_ref())),
        Err(_) => Err(FieldSyncError::closed()),
    }
}

/// Aborts a spawned task when the awaiting future is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panicked(payload: &(dyn Any + Send)) -> FieldSyncError {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string());
    tracing::error!(target: "fieldsync_ffi", "caught panic at the FFI boundary: {msg}");
    FieldSyncError::internal(format!("panic: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal_errors() {
        let r: Result<(), _> = guard(|| panic!("boom"));
        assert!(matches!(r, Err(FieldSyncError::Internal { reason }) if reason.contains("boom")));
    }

    #[test]
    fn async_panics_become_internal_errors() {
        let r: Result<(), _> = futures_lite_block_on(guard_async(async { panic!("async boom") }));
        assert!(
            matches!(r, Err(FieldSyncError::Internal { reason }) if reason.contains("async boom"))
        );
    }

    /// Polls a future to completion from a plain thread, like a foreign executor would.
    pub(crate) fn futures_lite_block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }
}
