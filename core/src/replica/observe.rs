//! Observers of documents: each loaded document with observers carries one Loro
//! subscription whose events are turned into [`Change`]s and queued for every observer
//! whose container they touch.
//!
//! - **Bounded**: each observer's queue holds at most [`QUEUE_BATCHES`] batches. One that
//!   falls behind loses its queue and is told to re-read (`lagged`), never grows memory.
//! - **Origin**: Loro marks local commits; for imports, the replica names the remote author
//!   ([`DocHub::remote`]) around each import of one author's updates. An import of several
//!   authors' updates at once (operations whose key arrived late), or a document rebuilt
//!   from the store (a rollback, a revocation sweep, a frozen log), tells observers to
//!   re-read instead.
//! - Loro emits events synchronously inside `commit` / `import` under the replica lock; the
//!   callback only converts and queues, it never takes the replica lock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use loro::event::DiffEvent;
use loro::{ContainerID, EventTriggerKind, LoroDoc, Subscription};

use crate::base::events::Origin;
use crate::base::ids::{AuthorId, DocumentId};
use crate::document::change::{self, Change, RawChange, Texts};
use crate::document::path::{self, PathSegment};
use crate::document::{DocumentError, TextUnit};

/// Most batches one observer's queue holds before it is told to re-read.
pub(crate) const QUEUE_BATCHES: usize = 256;

/// The changes of one commit or import, as one observer sees them.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeBatch {
    /// Who made them.
    pub origin: Origin,
    /// The changes under the observer's container, in order.
    pub changes: Vec<Change>,
}

/// One observer's queue.
pub(crate) struct ChangeQueue {
    /// The observed container (`None`: the whole document).
    pub(crate) target: Option<ContainerID>,
    /// The unit its text positions count in.
    pub(crate) unit: TextUnit,
    state: Mutex<QueueState>,
    pub(crate) notify: tokio::sync::Notify,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<ChangeBatch>,
    lagged: bool,
}

/// What an observer's queue gives next.
pub(crate) enum Queued {
    /// A batch of changes.
    Batch(ChangeBatch),
    /// Changes were lost: re-read.
    Lagged,
}

impl ChangeQueue {
    pub(crate) fn new(target: Option<ContainerID>, unit: TextUnit) -> Arc<Self> {
        Arc::new(ChangeQueue {
            target,
            unit,
            state: Mutex::new(QueueState::default()),
            notify: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the next item, if any.
    pub(crate) fn pop(&self) -> Option<Queued> {
        let mut st = self.lock();
        if st.lagged {
            st.lagged = false;
            return Some(Queued::Lagged);
        }
        st.items.pop_front().map(Queued::Batch)
    }

    fn push(&self, batch: ChangeBatch) {
        {
            let mut st = self.lock();
            if st.lagged {
                // Already told to re-read: what follows is in what it will read.
            } else if st.items.len() >= QUEUE_BATCHES {
                st.items.clear();
                st.lagged = true;
            } else {
                st.items.push_back(batch);
            }
        }
        self.notify.notify_one();
    }

    /// Empties the queue and clears its lagged flag: the observer is about to read the value
    /// now (under the replica lock, so nothing it reads is also queued).
    pub(crate) fn reset(&self) {
        let mut st = self.lock();
        st.items.clear();
        st.lagged = false;
    }

    fn lag(&self) {
        {
            let mut st = self.lock();
            st.items.clear();
            st.lagged = true;
        }
        self.notify.notify_one();
    }
}

/// The observers of one document.
#[derive(Default)]
pub(crate) struct DocHub {
    inner: Mutex<HubInner>,
}

#[derive(Default)]
struct HubInner {
    queues: Vec<Weak<ChangeQueue>>,
    /// The author whose updates are being imported (set by the replica around an import).
    remote: Option<AuthorId>,
    /// Copies of the document's texts (see [`Texts`]).
    texts: Texts,
    /// The copies disagree with the document: every event lags observers until
    /// [`DocHub::refresh`].
    stale: bool,
    /// While an import runs: its converted events, delivered once the import is known to
    /// have applied only the named author's changes.
    held: Option<Vec<(Origin, Vec<RawChange>)>>,
}

impl DocHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an observer's queue.
    pub(crate) fn add(&self, queue: &Arc<ChangeQueue>) {
        let mut inner = self.lock();
        inner.queues.retain(|q| q.strong_count() > 0);
        inner.queues.push(Arc::downgrade(queue));
    }

    /// True while any observer lives.
    pub(crate) fn observed(&self) -> bool {
        self.lock().queues.iter().any(|q| q.strong_count() > 0)
    }

    /// Names the author of the updates imported into `doc` while `f` runs. Their changes
    /// are held until `f` returns: if the import also applied changes of other peers (Loro
    /// keeps an update whose dependencies are missing and applies it when they arrive), the
    /// batch cannot be attributed and observers re-read instead.
    pub(crate) fn remote<T>(&self, author: AuthorId, doc: &LoroDoc, f: impl FnOnce() -> T) -> T {
        /// Clears the import's state however `f` ends (a panic included).
        struct Reset<'a>(&'a DocHub);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                let mut inner = self.0.lock();
                inner.remote = None;
                inner.held = None;
            }
        }
        let before = doc.oplog_vv();
        {
            let mut inner = self.lock();
            inner.remote = Some(author);
            inner.held = Some(Vec::new());
        }
        let reset = Reset(self);
        let out = f();
        let peer = author.loro_peer_id();
        let after = doc.oplog_vv();
        let others = after
            .iter()
            .any(|(p, c)| *p != peer && before.get(p).copied().unwrap_or(0) < *c);
        let held = self.lock().held.take().unwrap_or_default();
        drop(reset);
        let queues = self.queues();
        if others {
            for q in &queues {
                q.lag();
            }
        } else {
            for (origin, changes) in held {
                deliver(&queues, &origin, &changes);
            }
        }
        out
    }

    /// Tells every observer to re-read: the loaded document was dropped (a rolled-back
    /// write or import, a revocation sweep, a frozen log) and what they were sent may be
    /// gone.
    pub(crate) fn lag_all(&self) {
        let mut inner = self.lock();
        inner.stale = true;
        for q in inner.queues.iter().filter_map(Weak::upgrade) {
            q.lag();
        }
    }

    fn queues(&self) -> Vec<Arc<ChangeQueue>> {
        self.lock()
            .queues
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Subscribes to `doc` (a newly loaded document, or the first observer's): copies its
    /// texts; if `reload`, observers re-read (the document was rebuilt from the store).
    pub(crate) fn attach(self: &Arc<Self>, doc: &LoroDoc, reload: bool) -> Subscription {
        {
            let mut inner = self.lock();
            inner.texts = Texts::of(doc);
            inner.stale = false;
            if reload {
                for q in inner.queues.iter().filter_map(Weak::upgrade) {
                    q.lag();
                }
            }
        }
        let hub = Arc::downgrade(self);
        doc.subscribe_root(Arc::new(move |event| {
            if let Some(hub) = hub.upgrade() {
                hub.on_event(&event);
            }
        }))
    }

    /// Copies the texts of `doc` again after observers were told to re-read.
    pub(crate) fn refresh(&self, doc: &LoroDoc) {
        let mut inner = self.lock();
        if inner.stale {
            inner.texts = Texts::of(doc);
            inner.stale = false;
        }
    }

    fn on_event(&self, event: &DiffEvent<'_>) {
        let mut inner = self.lock();
        let queues: Vec<Arc<ChangeQueue>> = inner.queues.iter().filter_map(Weak::upgrade).collect();
        if queues.is_empty() {
            // Nobody observes: the text copies fall out of step until the next observer
            // (`Replica::observe` refreshes them).
            inner.stale = true;
            return;
        }
        let origin = match (event.triggered_by, inner.remote) {
            (EventTriggerKind::Local, _) => Some(Origin::Local),
            (_, Some(author)) => Some(Origin::Remote(author)),
            (_, None) => None,
        };
        let converted = if inner.stale {
            None
        } else {
            let diffs = event.events.iter().map(change::located).collect();
            match change::of_event(&mut inner.texts, diffs, &change::live_json) {
                Ok(all) => Some(all),
                Err(_) => {
                    inner.stale = true;
                    None
                }
            }
        };
        let (Some(origin), Some(all)) = (origin, converted) else {
            drop(inner);
            for q in queues {
                q.lag();
            }
            return;
        };
        if let Some(held) = inner.held.as_mut() {
            held.push((origin, all));
            return;
        }
        drop(inner);
        deliver(&queues, &origin, &all);
    }
}

/// Gives each observer the changes under its container.
fn deliver(queues: &[Arc<ChangeQueue>], origin: &Origin, all: &[RawChange]) {
    for q in queues {
        let changes: Vec<Change> = all
            .iter()
            .filter(|c| q.target.as_ref().is_none_or(|t| c.under(t)))
            .map(|c| c.project(q.unit))
            .collect();
        if !changes.is_empty() {
            q.push(ChangeBatch {
                origin: origin.clone(),
                changes,
            });
        }
    }
}

impl crate::replica::Replica {
    /// A new observer of document `id`, or of the container at `path` (and everything
    /// below it), counting text in `unit`.
    pub(crate) fn observe(
        &self,
        id: DocumentId,
        path: Option<&[PathSegment]>,
        unit: TextUnit,
    ) -> Result<(Arc<ChangeQueue>, String), DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let doc = self.loaded(st, id)?;
        let target = match path {
            None => None,
            Some(p) => {
                path::check(p)?;
                Some(path::container(&doc.loro, p).ok_or_else(|| {
                    DocumentError::InvalidArgument("no container at that path".into())
                })?)
            }
        };
        // The value now, read under the same lock the queue starts under: nothing in it is
        // also queued.
        let json = observed_value(&doc.loro, target.as_ref())?;
        let queue = ChangeQueue::new(target, unit);
        let hub = st.observers.entry(id).or_default().clone();
        hub.add(&queue);
        let doc = st.docs.get_mut(&id).ok_or(DocumentError::NotFound(id))?;
        match &doc.observing {
            None => doc.observing = Some(hub.attach(&doc.loro, false)),
            Some(_) => hub.refresh(&doc.loro),
        }
        Ok((queue, json))
    }

    /// The JSON `queue`'s observer sees now, after it was told to re-read; empties the
    /// queue under the same lock (what it held is in the JSON) and refreshes the text copies
    /// of the observers' converter if they were out of step.
    pub(crate) fn observed_json(
        &self,
        id: DocumentId,
        queue: &ChangeQueue,
    ) -> Result<String, DocumentError> {
        let target = queue.target.as_ref();
        let mut guard = self.lock();
        let st = &mut *guard;
        let doc = self.loaded(st, id)?;
        let json = observed_value(&doc.loro, target)?;
        queue.reset();
        if let (Some(hub), Some(doc)) = (st.observers.get(&id), st.docs.get(&id)) {
            hub.refresh(&doc.loro);
        }
        Ok(json)
    }
}

/// What an observer of `target` (or of the whole document) sees of `doc`, as JSON.
fn observed_value(doc: &LoroDoc, target: Option<&ContainerID>) -> Result<String, DocumentError> {
    match target {
        None => crate::document::json::canonical_json(doc),
        Some(t) => crate::document::tree::container_json(doc, t),
    }
}
