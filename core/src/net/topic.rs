//! The network control task: one sync stream and one gossip stream per document, local
//! operations pushed to live sessions, replica heads announced, known peers re-dialled.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use p2panda_core::SigningKey;
use p2panda_net::gossip::{GossipEvent, GossipHandle};
use p2panda_net::{AddressBook, Endpoint, Gossip};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::base::events::Event;
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::net::catchup::{Session, CATCHUP_PROTOCOL};
use crate::net::direct::{self, DIRECT_PROTOCOL};
use crate::net::ephemeral::{self, Ephemeral};
use crate::net::worker::{Backlog, Held, IngestItem};
use crate::net::{insert_peer, NetCommand, NetShared, PeerAddr};
use crate::replica::Replica;
use crate::wire::operation::FsOperation;

/// Most bytes of one document's gossip pushes waiting for validation; further pushes are
/// dropped (peers catch up from announced heads instead).
const MAX_GOSSIP_BACKLOG: usize = 1 << 20;

/// A peer announced its heights of one kind of log: acknowledge what it holds of ours, and
/// catch up with it when it holds something we lack.
fn on_heads(
    node: &Replica,
    doc: DocumentId,
    kind: LogKind,
    theirs: &crate::base::version::VersionVector,
    me: AuthorId,
    sender: AuthorId,
    cmds: &mpsc::UnboundedSender<NetCommand>,
) {
    if let Some(seq) = theirs.get(&me) {
        let _ = node.acknowledge_up_to(doc, kind, seq);
    }
    let behind = node.heads(doc, kind).is_ok_and(|ours| {
        theirs
            .iter()
            .any(|(author, seq)| ours.get(author).is_none_or(|o| o < *seq))
    });
    if behind {
        let _ = cmds.send(NetCommand::SyncWith(doc, sender));
    }
}

/// Next gossip event, or pending forever when the event stream is gone.
async fn recv_gossip_event(
    rx: &mut Option<broadcast::Receiver<GossipEvent>>,
) -> Option<GossipEvent> {
    match rx {
        Some(r) => match r.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => {
                *rx = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

pub(crate) struct TopicState {
    gossip: GossipHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for TopicState {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub(crate) struct Control {
    pub node: Weak<Replica>,
    /// The node's network state (gone with the node).
    pub shared: Weak<NetShared>,
    pub key: SigningKey,
    pub endpoint: Endpoint,
    pub session: Session,
    pub gossip: Gossip,
    pub address_book: AddressBook,
    pub ingest_tx: Sender<IngestItem>,
    pub topics: HashMap<DocumentId, TopicState>,
    pub peers: Vec<PeerAddr>,
    /// The devices this node syncs with (`NetworkConfig::allow`).
    pub filter: super::config::PeerFilter,
    pub backoff_ms: (u64, u64),
    /// Heads of every document go out at this period even when nothing changed.
    pub heads_interval: Duration,
    pub commands: mpsc::UnboundedSender<NetCommand>,
}

fn mark(shared: &NetShared, doc: DocumentId, peer: AuthorId, up: bool) -> bool {
    let mut connected = shared.connected.lock().unwrap_or_else(|p| p.into_inner());
    let set = connected.entry(doc).or_default();
    let changed = if up {
        set.insert(peer)
    } else {
        set.remove(&peer)
    };
    drop(connected);
    shared.seen(peer);
    if up {
        shared
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(doc)
            .or_default()
            .insert(peer);
    }
    changed
}

impl Control {
    pub(crate) async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<NetCommand>,
        mut local: broadcast::Receiver<(DocumentId, FsOperation)>,
    ) {
        let mut dirty: HashSet<DocumentId> = HashSet::new();
        let mut gossip_events = self.gossip.events().await.ok();
        let mut heads_tick = tokio::time::interval(Duration::from_millis(100));
        // Direct messages waiting for a peer are retried every 2 s (a local check; the
        // network is used only when some wait); heads of unchanged documents go out at the
        // slow `heads_interval`.
        let mut periodic = tokio::time::interval(Duration::from_secs(2));
        let mut idle_heads = tokio::time::interval_at(
            tokio::time::Instant::now() + self.heads_interval,
            self.heads_interval.max(Duration::from_millis(100)),
        );
        let mut backoff = Duration::from_millis(self.backoff_ms.0);
        let mut redial_at = Instant::now() + backoff;
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None => break,
                    Some(NetCommand::Subscribe(doc)) => {
                        if let Err(e) = self.subscribe(doc).await {
                            tracing::warn!("subscribing to {doc} failed: {e}");
                        }
                        dirty.insert(doc);
                    }
                    Some(NetCommand::SyncWith(doc, peer)) => self.catch_up(doc, peer),
                    Some(NetCommand::HeadsChanged(doc)) => {
                        dirty.insert(doc);
                    }
                    Some(NetCommand::Ephemeral(doc, payload)) => {
                        if let Some(t) = self.topics.get(&doc) {
                            let sealed = ephemeral::seal(&self.key, &Ephemeral::App(payload));
                            let _ = t.gossip.publish(sealed).await;
                        }
                    }
                    Some(NetCommand::FlushDirect(peer)) => self.flush_direct(peer),
                    Some(NetCommand::AddPeer(peer)) => {
                        self.dial(&peer).await;
                        if !self.peers.contains(&peer) {
                            self.peers.push(peer);
                        }
                    }
                },
                op = local.recv() => match op {
                    Ok((doc, op)) => {
                        if let Some(t) = self.topics.get(&doc) {
                            let wire = crate::wire::operation::encode_operation(&op);
                            let sealed = ephemeral::seal(&self.key, &Ephemeral::Op(wire));
                            if sealed.len() <= ephemeral::MAX_GOSSIP_BYTES {
                                let _ = t.gossip.publish(sealed).await;
                            }
                        }
                        dirty.insert(doc);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Missed pushes: peers notice from our heads and catch up.
                        dirty.extend(self.topics.keys().copied());
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = heads_tick.tick() => {
                    for doc in dirty.drain() {
                        self.announce_heads(doc).await;
                    }
                }
                event = recv_gossip_event(&mut gossip_events) => {
                    self.on_gossip_event(event);
                }
                _ = periodic.tick() => self.retry_direct(),
                _ = idle_heads.tick() => {
                    // Heads go out now and then even when idle: a peer that missed an
                    // announcement compares them and catches up.
                    dirty.extend(self.topics.keys().copied());
                }
                _ = tokio::time::sleep_until(redial_at) => {
                    if self.all_peers_connected() {
                        backoff = Duration::from_millis(self.backoff_ms.0);
                    } else {
                        for peer in self.peers.clone() {
                            self.dial(&peer).await;
                        }
                        backoff = (backoff * 2).min(Duration::from_millis(self.backoff_ms.1));
                    }
                    redial_at = Instant::now() + backoff;
                }
            }
        }
    }

    /// Gossip neighbours on a document's topic are its connected peers.
    fn on_gossip_event(&self, event: Option<GossipEvent>) {
        let Some(event) = event else { return };
        let changes: Vec<(p2panda_core::VerifyingKey, p2panda_core::Topic, bool)> = match event {
            GossipEvent::NeighbourUp { node, topic } => vec![(node, topic, true)],
            GossipEvent::NeighbourDown { node, topic } => vec![(node, topic, false)],
            GossipEvent::Joined { topic, nodes } => {
                nodes.into_iter().map(|n| (n, topic, true)).collect()
            }
            GossipEvent::Left { .. } => return,
        };
        for (node_id, topic, up) in changes {
            self.on_neighbour(node_id, topic, up);
        }
    }

    fn on_neighbour(
        &self,
        node_id: p2panda_core::VerifyingKey,
        topic: p2panda_core::Topic,
        up: bool,
    ) {
        let doc = DocumentId::from(p2panda_core::Hash::from(*topic.as_bytes()));
        if !self.topics.contains_key(&doc) {
            return;
        }
        let (Some(shared), Some(node)) = (self.shared(), self.node.upgrade()) else {
            return;
        };
        let peer = AuthorId::from(node_id);
        if up {
            self.catch_up(doc, peer);
        }
        if mark(&shared, doc, peer, up) {
            let event = if up {
                Event::PeerConnected {
                    peer,
                    document: doc,
                }
            } else {
                Event::PeerDisconnected {
                    peer,
                    document: doc,
                }
            };
            let _ = self.ingest_tx.send(IngestItem::Event(event));
        }
        drop(node);
    }

    /// Reaches a known peer directly, without waiting for discovery: its address goes into
    /// the address book, it joins our documents' gossip topics, and catch-ups start.
    async fn dial(&self, peer: &PeerAddr) {
        let _ = insert_peer(&self.address_book, peer).await;
        let node = peer.node.verifying_key();
        for doc in self.topics.keys() {
            let _ = self.address_book.add_topic(node, doc.topic()).await;
            self.catch_up(*doc, peer.node);
        }
    }

    /// Starts a catch-up session with `peer` unless one is already running (or the peer is
    /// not allowed).
    fn catch_up(&self, doc: DocumentId, peer: AuthorId) {
        if !self.filter.admits(&peer) {
            return;
        }
        let Some(shared) = self.shared() else { return };
        if !shared
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((doc, peer))
        {
            shared
                .rerun
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((doc, peer));
            return;
        }
        let endpoint = self.endpoint.clone();
        let session = self.session.clone();
        let commands = self.commands.clone();
        tokio::spawn(async move {
            match endpoint
                .connect(peer.verifying_key(), CATCHUP_PROTOCOL)
                .await
            {
                Ok(conn) => {
                    if let Err(e) = session.initiate(conn, doc, peer).await {
                        let reason = e.to_string();
                        tracing::debug!("catch-up of {doc} with {peer} failed: {reason}");
                        let _ = session.ingest.send(IngestItem::Event(Event::SyncFailed {
                            peer: Some(peer),
                            document: doc,
                            reason,
                        }));
                    }
                }
                // Not reaching a peer is expected (offline, no address yet, a first dial
                // racing discovery) and retried by the redial loop: a debug log, not an
                // event. `SyncFailed` means a session with a reached peer failed.
                Err(e) => tracing::debug!("catch-up of {doc}: {peer} not reached: {e}"),
            }
            shared
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(doc, peer));
            let again = shared
                .rerun
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(doc, peer));
            if again {
                let _ = commands.send(NetCommand::SyncWith(doc, peer));
            }
        });
    }

    /// Delivers the queued direct messages for `peer` unless a delivery already runs.
    fn flush_direct(&self, peer: AuthorId) {
        let Some(shared) = self.shared() else { return };
        if !shared
            .direct_in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer)
        {
            return;
        }
        let endpoint = self.endpoint.clone();
        let node = self.node.clone();
        tokio::spawn(async move {
            let result = match endpoint
                .connect(peer.verifying_key(), DIRECT_PROTOCOL)
                .await
            {
                Ok(conn) => direct::flush(&node, conn, peer)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(reason) = result {
                tracing::debug!("direct messages to {peer} not delivered yet: {reason}");
            }
            shared
                .direct_in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer);
        });
    }

    /// Retries every peer with undelivered direct messages.
    fn retry_direct(&self) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        match node.direct_backlog() {
            Ok(peers) => {
                drop(node);
                for peer in peers {
                    self.flush_direct(peer);
                }
            }
            Err(e) => tracing::warn!("reading the direct message queue failed: {e}"),
        }
    }

    fn shared(&self) -> Option<Arc<NetShared>> {
        self.shared.upgrade()
    }

    fn all_peers_connected(&self) -> bool {
        let Some(shared) = self.shared() else {
            return true;
        };
        let connected = shared.connected.lock().unwrap_or_else(|p| p.into_inner());
        self.peers
            .iter()
            .all(|p| connected.values().any(|set| set.contains(&p.node)))
    }

    async fn announce_heads(&self, doc: DocumentId) {
        let (Some(t), Some(node)) = (self.topics.get(&doc), self.node.upgrade()) else {
            return;
        };
        for kind in [LogKind::Delta, LogKind::Control] {
            let Ok(vv) = node.heads(doc, kind) else {
                continue;
            };
            let message = match kind {
                LogKind::Delta => Ephemeral::Heads(vv),
                LogKind::Control => Ephemeral::ControlHeads(vv),
                // Not announced: a snapshot is fetched with the catch-up that a peer's
                // update heads start.
                LogKind::Snapshot => continue,
            };
            let sealed = ephemeral::seal(&self.key, &message);
            if sealed.len() <= ephemeral::MAX_GOSSIP_BYTES {
                let _ = t.gossip.publish(sealed).await;
            }
        }
    }

    async fn subscribe(&mut self, doc: DocumentId) -> Result<(), String> {
        if self.topics.contains_key(&doc) {
            return Ok(());
        }
        let topic = doc.topic();
        let gossip = self.gossip.stream(topic).await.map_err(|e| e.to_string())?;
        let gsub = gossip.subscribe();
        let node = self.node.clone();
        let filter = self.filter.clone();
        let me = AuthorId::from(self.key.verifying_key());
        let cmds = self.commands.clone();
        let ingest = self.ingest_tx.clone();
        let gossip_task = tokio::spawn(async move {
            let mut gsub = gsub;
            let backlog = Backlog::default();
            while let Some(msg) = gsub.next().await {
                let Ok(bytes) = msg else { continue };
                let Some((sender, message)) = ephemeral::open(&bytes) else {
                    continue;
                };
                if sender == me {
                    continue;
                }
                let Some(node) = node.upgrade() else { break };
                // Heads, pushes and app payloads of devices without a role are ignored:
                // an outsider's heads must not acknowledge our outbox.
                if !filter.admits(&sender) || !node.may_sync(doc, &sender) {
                    tracing::debug!(%doc, %sender, "gossip from a device without a role ignored");
                    continue;
                }
                match message {
                    Ephemeral::App(sealed) => {
                        // Encrypted for the group: only readers get the payload.
                        if let Some(payload) = node.open_ephemeral(doc, &sealed) {
                            node.emit(Event::Ephemeral {
                                document: doc,
                                sender,
                                payload,
                            });
                        }
                    }
                    Ephemeral::Heads(vv) => {
                        on_heads(&node, doc, LogKind::Delta, &vv, me, sender, &cmds)
                    }
                    Ephemeral::ControlHeads(vv) => {
                        on_heads(&node, doc, LogKind::Control, &vv, me, sender, &cmds)
                    }
                    Ephemeral::Op(bytes) => {
                        if !backlog.has_room(bytes.len(), MAX_GOSSIP_BACKLOG) {
                            tracing::debug!("ingest backlog full: dropping a push from {sender}");
                            continue;
                        }
                        let item = IngestItem::Wire {
                            document: doc,
                            peer: sender,
                            held: Held::Backlog(backlog.acquire(bytes.len())),
                            bytes,
                        };
                        if ingest.send(item).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        for peer in &self.peers {
            let _ = self
                .address_book
                .add_topic(peer.node.verifying_key(), topic)
                .await;
            self.catch_up(doc, peer.node);
        }
        self.topics.insert(
            doc,
            TopicState {
                gossip,
                tasks: vec![gossip_task],
            },
        );
        Ok(())
    }
}
