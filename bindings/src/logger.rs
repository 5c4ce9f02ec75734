//! Forwarding `tracing` output to the app's logger (logcat, os_log).

use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::error::FieldSyncError;

/// Severity of a log record. Release builds of the library (the published packages) carry
/// records up to `Info`; `Debug` and `Trace` records come from debug builds only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something unexpected that FieldSync recovered from.
    Warn,
    /// Lifecycle: node opened, network started, peer connected.
    Info,
    /// Details useful when debugging sync.
    Debug,
    /// Very verbose.
    Trace,
}

impl LogLevel {
    fn from_tracing(l: &Level) -> Self {
        match *l {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

/// Receives FieldSync's log records, implemented by the app (e.g. forwarding to
/// `android.util.Log` or `os_log`). Named `FieldSyncLogger` rather than `Logger` so it does not
/// clash with `os.Logger` (Swift) or `java.util.logging.Logger` / `org.slf4j.Logger` (Kotlin)
/// in the very files that implement it. Called from any thread, including SDK worker threads;
/// keep it fast and non-blocking. Whatever it throws is swallowed.
#[uniffi::export(foreign)]
pub trait FieldSyncLogger: Send + Sync {
    /// One log record: `target` is the Rust module path (e.g. `fieldsync::node`), `message`
    /// the formatted message followed by its `key=value` fields.
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// The installed logger; swapped by `setLogger`.
static LOGGER: RwLock<Option<Arc<dyn FieldSyncLogger>>> = RwLock::new(None);
/// Most verbose level forwarded, as `LogLevel as u8`.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
/// Whether our global subscriber is installed (`Ok`) or another one was there first (`Err`).
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

thread_local! {
    /// Set while a record is being forwarded, so logging from inside the app's logger (or
    /// the FFI call into it) cannot recurse.
    static IN_LOGGER: Cell<bool> = const { Cell::new(false) };
}

/// Installs `logger` to receive FieldSync log records at `max_level` and more severe, or
/// removes the current logger when `logger` is `null`/`nil`. May be called again at any time to
/// replace the logger or change the level.
///
/// Errors: `Internal` if the process already has another global `tracing` subscriber installed (only
/// possible when FieldSync is embedded next to other Rust code that installs one).
#[uniffi::export(default(max_level = None))]
pub fn set_logger(
    logger: Option<Arc<dyn FieldSyncLogger>>,
    max_level: Option<LogLevel>,
) -> Result<(), FieldSyncError> {
    crate::guard(|| {
        let installed = INSTALLED.get_or_init(|| {
            let subscriber = tracing_subscriber::registry().with(ForwardLayer);
            tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())
        });
        if let Err(e) = installed {
            return Err(FieldSyncError::internal(format!(
                "cannot install the log forwarder: {e}"
            )));
        }
        MAX_LEVEL.store(max_level.unwrap_or(LogLevel::Info) as u8, Ordering::Relaxed);
        *LOGGER.write().unwrap_or_else(|p| p.into_inner()) = logger;
        Ok(())
    })
}

/// The `tracing` layer that hands records to the installed `FieldSyncLogger`.
struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at runtime, so never let tracing cache a yes/no per callsite.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        LogLevel::from_tracing(metadata.level()) as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if IN_LOGGER.with(|f| f.replace(true)) {
            return;
        }
        let logger = LOGGER.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(logger) = logger {
            let meta = event.metadata();
            let mut visitor = MessageVisitor::default();
            event.record(&mut visitor);
            let level = LogLevel::from_tracing(meta.level());
            // A throwing app logger must not unwind into the code that logged.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                logger.log(level, meta.target().to_string(), visitor.finish())
            }));
        }
        IN_LOGGER.with(|f| f.set(false));
    }
}

/// Formats an event as `message key=value key=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }
}
