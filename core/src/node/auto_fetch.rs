//! Fetching attachments by policy (issue #29): while the network runs, a task watches for
//! remote changes of documents and, when [`AttachmentPolicy`] allows it now, fetches the
//! content of every attachment reference in them that this device does not hold whole.
//!
//! A relay cannot read the references: for a document where this device is a relay, the
//! scan asks its peers for their catalogs instead (`net/attachments.rs`) and carries what
//! they hold, so members that never meet the author fetch from the relay.
//!
//! A document is scanned (its values walked for `fsatt1:` strings) at most once a second
//! after changes arrive, and at most [`MAX_PER_SCAN`] references of it are fetched per
//! scan; a policy change or `Node::set_metered(false)` rescans every document. Fetches run
//! one at a time, so a burst of photos costs one transfer's memory.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::base::events::{Event, Origin};
use crate::base::ids::DocumentId;
use crate::net::{AttachmentPolicy, NetSlot};
use crate::node::Node;
use crate::replica::Replica;
use crate::wire::attachment::{AttachmentRef, REF_PREFIX};

/// Most references fetched from one document per scan.
pub(crate) const MAX_PER_SCAN: usize = 256;
/// How long changes gather before a scan.
const SETTLE: Duration = Duration::from_secs(1);

impl Node {
    /// Sets when this node fetches attachments it finds in documents without being asked
    /// (default [`AttachmentPolicy::OnDemand`]). Takes effect at once: with a policy that
    /// fetches now, every document is scanned again.
    pub fn set_attachment_policy(&self, policy: AttachmentPolicy) {
        self.net
            .fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .policy = policy;
        self.net.fetch_wake.notify_one();
    }

    /// Tells the node whether the device's network is metered (mobile data) or not
    /// (Wi-Fi, Ethernet): [`AttachmentPolicy::Unmetered`] fetches only while it is not.
    /// Apps call it from their network monitor; the default is not metered.
    pub fn set_metered(&self, metered: bool) {
        self.net
            .fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .metered = metered;
        self.net.fetch_wake.notify_one();
    }

    /// Starts the fetcher task for a network that just started.
    pub(crate) fn start_fetcher(&self) {
        let events = self.subscribe();
        let task = tokio::spawn(run(
            Arc::downgrade(&self.replica),
            Arc::downgrade(&self.net),
            events,
        ));
        let old = self
            .net
            .fetcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
        self.net.fetch_wake.notify_one();
    }

    /// Stops the fetcher task (the network stopped).
    pub(crate) fn stop_fetcher(&self) {
        if let Some(task) = self
            .net
            .fetcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

async fn run(
    replica: Weak<Replica>,
    net: Weak<NetSlot>,
    mut events: crate::base::events::EventStream,
) {
    let wake = match net.upgrade() {
        Some(n) => n.fetch_wake.clone(),
        None => return,
    };
    let mut changed: HashSet<DocumentId> = HashSet::new();
    let mut rescan_all = true;
    // When the gathered changes are scanned: one deadline from the first change, so a
    // steady stream of events cannot postpone the scan.
    let mut due = Some(tokio::time::Instant::now() + SETTLE);
    loop {
        let at = due.unwrap_or_else(|| tokio::time::Instant::now() + SETTLE);
        tokio::select! {
            event = events.next() => {
                match event {
                    Some(Event::DocumentChanged { document, origin: Origin::Remote(_) }) => {
                        changed.insert(document);
                    }
                    // A relay reads nothing, so no change event: a catch-up that brought
                    // operations is its cue.
                    Some(Event::SyncFinished { document, received_ops, .. })
                        if received_ops > 0 =>
                    {
                        changed.insert(document);
                    }
                    Some(Event::Lagged { .. }) => rescan_all = true,
                    Some(_) => {}
                    None => return,
                }
                if due.is_none() && (rescan_all || !changed.is_empty()) {
                    due = Some(tokio::time::Instant::now() + SETTLE);
                }
            }
            _ = wake.notified() => {
                rescan_all = true;
                due.get_or_insert(tokio::time::Instant::now() + SETTLE);
            }
            _ = tokio::time::sleep_until(at), if due.is_some() => {
                due = None;
                let (Some(replica), Some(net)) = (replica.upgrade(), net.upgrade()) else {
                    return;
                };
                let fetches = net.fetch.lock().unwrap_or_else(|p| p.into_inner()).fetches_now();
                if !fetches {
                    // Remembered: a later policy change rescans everything anyway.
                    changed.clear();
                    rescan_all = false;
                    continue;
                }
                let node = Node { replica, net };
                let docs: Vec<DocumentId> = if rescan_all {
                    node.replica.documents().unwrap_or_default()
                } else {
                    changed.iter().copied().collect()
                };
                changed.clear();
                rescan_all = false;
                for doc in docs {
                    fetch_missing(&node, doc).await;
                }
            }
        }
    }
}

/// Fetches the attachments referenced in `doc` that are not held whole here; on a relay
/// (which cannot read the references), the ones its peers hold.
async fn fetch_missing(node: &Node, doc: DocumentId) {
    let relay = node
        .document(doc)
        .and_then(|d| Ok(d.my_role()?))
        .is_ok_and(|r| r == Some(crate::auth::Role::Relay));
    if relay {
        match node.carry_attachments(doc, MAX_PER_SCAN).await {
            Ok(n) if n > 0 => tracing::debug!(%doc, "carried {n} attachment(s)"),
            Ok(_) => {}
            Err(e) => tracing::debug!(%doc, "carrying attachments failed: {e}"),
        }
        return;
    }
    let Ok(json) = node.document(doc).and_then(|d| Ok(d.to_json()?)) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&json) else {
        return;
    };
    let mut refs = Vec::new();
    collect_refs(&value, &mut refs);
    let missing = refs.into_iter().filter_map(|text| {
        let r = AttachmentRef::parse(&text).ok()?;
        let held = node
            .replica
            .attachment_row(&r)
            .is_ok_and(|row| row.complete);
        (!held).then_some((text, r))
    });
    for (text, r) in missing.take(MAX_PER_SCAN) {
        // The policy may have changed (the network became metered) during the scan.
        let fetches = node
            .net
            .fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fetches_now();
        if !fetches {
            return;
        }
        // Fetched unasked only into free budget: evicting for it would evict and refetch
        // in turn for ever.
        if r.size > node.replica.attachment_room() {
            tracing::debug!(%doc, "attachment of {} bytes not fetched by policy: over the budget", r.size);
            continue;
        }
        match node.fetch_attachment(doc, &text).await {
            Ok(f) if f.complete => {}
            Ok(f) => tracing::debug!(%doc, "attachment not fetched by policy: {f:?}"),
            Err(e) => tracing::debug!(%doc, "attachment fetch by policy failed: {e}"),
        }
    }
}

/// Every string of `value` that looks like an attachment reference, distinct.
fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.starts_with(REF_PREFIX) && !out.contains(s) => {
            out.push(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_anywhere_once() {
        let v = serde_json::json!({
            "a": "fsatt1:x",
            "b": ["plain", "fsatt1:y", {"c": "fsatt1:x"}],
            "d": 3,
        });
        let mut out = Vec::new();
        collect_refs(&v, &mut out);
        out.sort();
        assert_eq!(out, vec!["fsatt1:x".to_string(), "fsatt1:y".to_string()]);
    }
}
