//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that pushes the WAL past its limit
//! (1,000 pages): that commit copies the WAL into the database file and syncs it, which made
//! one local write in a few hundred take several times longer than the others (the
//! local-write p99 of `make bench`). Here a commit hook wakes a background thread that runs
//! passive checkpoints on its own connection (they never block the writer; at most one per
//! [`MIN_GAP`]), and the writer's own automatic checkpoint moves to a larger WAL
//! ([`WRITER_CHECKPOINT_FRAMES`]) where it only finishes what the thread copied already.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::store::open_connection;
use crate::store::StoreError;

/// WAL size (pages) at which the writer still checkpoints inline. A passive checkpoint on
/// another connection copies the WAL but cannot reset it while commits keep arriving
/// (SQLite starts the WAL over only once every frame is copied and no commit came in
/// between), so under a steady stream of writes the WAL would grow without bound. At this
/// size the writer's own checkpoint copies the few frames the background one has not yet
/// copied, and the next commit starts the WAL over: once per a few thousand pages written,
/// instead of once per thousand with everything to copy.
const WRITER_CHECKPOINT_FRAMES: i64 = 4096;

/// Shortest time between two checkpoints (coalesces the wake-ups of a burst of commits).
const MIN_GAP: Duration = Duration::from_millis(50);

/// The background checkpoint thread of one writer connection.
pub(crate) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a second connection to the database at `path`, starts the thread and moves
    /// checkpoints of `writer` to it. On any failure the writer keeps SQLite's automatic
    /// checkpoints and the error is returned.
    pub(crate) fn start(writer: &Connection, path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path, false)?;
        let (wake, rx) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("fieldsync-checkpoint".into())
            .spawn(move || run(conn, rx))?;
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_FRAMES)?;
        let hook_wake = wake.clone();
        writer.commit_hook(Some(move || {
            // Full channel: a wake-up is already pending. Disconnected: closing.
            let _ = hook_wake.try_send(());
            false
        }));
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Detaches the hook from `writer`, stops the thread and waits for it (a checkpoint in
    /// progress finishes first), so that the database file is quiet when the store closes.
    pub(crate) fn stop(&mut self, writer: &Connection) {
        writer.commit_hook(None::<fn() -> bool>);
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint(conn: &Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::debug!("background checkpoint failed: {e}");
    }
}

fn run(conn: Connection, rx: Receiver<()>) {
    let mut due = rx.recv().is_ok();
    while due {
        checkpoint(&conn);
        // Rate limit: a commit during the gap is remembered and checkpointed after it; a
        // closed store ends the thread at once.
        let until = Instant::now() + MIN_GAP;
        due = false;
        loop {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(()) => due = true,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if !due {
            due = rx.recv().is_ok();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Normally stopped (and joined) by the store. Otherwise the writer's hook may still
        // hold a sender: detach the thread, which ends when the writer closes.
        self.wake.take();
        self.thread.take();
    }
}
