//! Catch-up progress bars for `fieldsync node` on a terminal.
//!
//! One bar per (peer, document) catch-up session: its length is the number of operations
//! the peer announced ([`Event::SyncStarted`](fieldsync::Event)), its position the number of
//! operations the document gained since (its stored op count, capped at the length), and it
//! ends with the real counts of [`Event::SyncFinished`](fieldsync::Event). Without a terminal,
//! or with `--json`, the node prints plain start/finish lines instead.

use std::collections::HashMap;
use std::sync::Mutex;

use fieldsync::{AuthorId, DocumentId, Node};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fmt;

struct Bar {
    bar: ProgressBar,
    base: u64,
}

/// The bars of the running catch-up sessions, and printing that does not tear them.
pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<(AuthorId, DocumentId), Bar>>,
}

impl Progress {
    /// Bars drawn on stdout.
    pub fn new() -> Self {
        Progress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// Prints a line above the bars.
    pub fn println(&self, line: &str) {
        if self.multi.println(line).is_err() {
            println!("{line}");
        }
    }

    /// A session announced `incoming` operations: starts a bar (none for zero).
    pub fn started(&self, node: &Node, peer: AuthorId, doc: DocumentId, incoming: u64) {
        if incoming == 0 {
            return;
        }
        let base = op_count(node, doc);
        let bar = self.multi.add(ProgressBar::new(incoming));
        bar.set_style(
            ProgressStyle::with_template("  catch-up {msg} [{bar:30}] {pos}/{len} ops")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(format!("{} ← {}", fmt::short(&doc), fmt::short(&peer)));
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = bars.insert((peer, doc), Bar { bar, base }) {
            old.bar.finish_and_clear();
        }
    }

    /// A session ended: removes its bar.
    pub fn finished(&self, peer: AuthorId, doc: DocumentId) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = bars.remove(&(peer, doc)) {
            b.bar.finish_and_clear();
        }
    }

    /// Moves every bar to the operations its document gained since its session started.
    pub fn tick(&self, node: &Node) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for ((_, doc), b) in bars.iter() {
            let gained = op_count(node, *doc).saturating_sub(b.base);
            b.bar
                .set_position(gained.min(b.bar.length().unwrap_or(gained)));
        }
    }
}

fn op_count(node: &Node, doc: DocumentId) -> u64 {
    node.document(doc)
        .and_then(|d| Ok(d.op_count()?))
        .unwrap_or(0)
}
