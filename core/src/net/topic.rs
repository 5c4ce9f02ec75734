//! The network control task: one sync stream and one gossip stream per document, local
//! operations pushed to live sessions, replica heads announced, known peers re-dialled.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use p2panda_core::SigningKey;
use p2panda_net::gossip::GossipHandle;
use p2panda_net::sync::SyncHandle;
use p2panda_net::{AddressBook, Gossip};
use p2panda_sync::protocols::TopicLogSyncEvent;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::events::Event;
use crate::ids::{AuthorId, DocumentId};
use crate::net::ephemeral::{self, Ephemeral};
use crate::net::worker::IngestItem;
use crate::net::{insert_peer, FsLogSync, NetCommand, NetShared, PeerAddr};
use crate::node::NodeInner;
use crate::operation::{FieldSyncExtensions, FsOperation};

type FsSyncHandle = SyncHandle<FsOperation, TopicLogSyncEvent<FieldSyncExtensions>>;

pub(crate) struct TopicState {
    sync: FsSyncHandle,
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
    pub node: Weak<NodeInner>,
    pub key: SigningKey,
    pub sync: FsLogSync,
    pub gossip: Gossip,
    pub address_book: AddressBook,
    pub ingest_tx: Sender<IngestItem>,
    pub topics: HashMap<DocumentId, TopicState>,
    pub peers: Vec<PeerAddr>,
    pub backoff_ms: (u64, u64),
}

fn mark(shared: &NetShared, doc: DocumentId, peer: AuthorId, up: bool) -> bool {
    let mut connected = shared.connected.lock().unwrap_or_else(|p| p.into_inner());
    let set = connected.entry(doc).or_default();
    let changed = if up {
        set.insert(peer)
    } else {
        set.remove(&peer)
    };
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
        let mut heads_tick = tokio::time::interval(Duration::from_millis(100));
        let mut periodic = tokio::time::interval(Duration::from_secs(2));
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
                    Some(NetCommand::HeadsChanged(doc)) => {
                        dirty.insert(doc);
                    }
                    Some(NetCommand::Ephemeral(doc, payload)) => {
                        if let Some(t) = self.topics.get(&doc) {
                            let sealed = ephemeral::seal(&self.key, &Ephemeral::App(payload));
                            let _ = t.gossip.publish(sealed).await;
                        }
                    }
                    Some(NetCommand::AddPeer(peer)) => {
                        let _ = insert_peer(&self.address_book, &peer).await;
                        if !self.peers.contains(&peer) {
                            self.peers.push(peer);
                        }
                    }
                },
                op = local.recv() => match op {
                    Ok((doc, op)) => {
                        if let Some(t) = self.topics.get(&doc) {
                            let _ = t.sync.publish(op);
                        }
                        dirty.insert(doc);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Live pushes were lost: restart the streams so sessions catch up.
                        let docs: Vec<_> = self.topics.keys().copied().collect();
                        for doc in docs {
                            self.topics.remove(&doc);
                            let _ = self.subscribe(doc).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = heads_tick.tick() => {
                    for doc in dirty.drain() {
                        self.announce_heads(doc).await;
                    }
                }
                _ = periodic.tick() => {
                    // Re-announce heads while local ops wait for acknowledgement.
                    if let Some(node) = self.node.upgrade() {
                        for doc in self.topics.keys() {
                            if node.pending_count(*doc).unwrap_or(0) > 0 {
                                dirty.insert(*doc);
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(redial_at) => {
                    if self.all_peers_connected() {
                        backoff = Duration::from_millis(self.backoff_ms.0);
                    } else {
                        for peer in &self.peers {
                            let _ = insert_peer(&self.address_book, peer).await;
                        }
                        backoff = (backoff * 2).min(Duration::from_millis(self.backoff_ms.1));
                    }
                    redial_at = Instant::now() + backoff;
                }
            }
        }
    }

    fn shared(&self) -> Option<Arc<NetShared>> {
        self.node.upgrade().map(|n| n.net.shared.clone())
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
        if let Ok(vv) = node.heads(doc) {
            let sealed = ephemeral::seal(&self.key, &Ephemeral::Heads(vv));
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
        let sync = self
            .sync
            .stream(topic, true)
            .await
            .map_err(|e| e.to_string())?;
        let sub = sync.subscribe().await.map_err(|e| e.to_string())?;
        let gossip = self.gossip.stream(topic).await.map_err(|e| e.to_string())?;
        let gsub = gossip.subscribe();
        let node = self.node.clone();
        let ingest = self.ingest_tx.clone();
        let sync_task = tokio::spawn(async move {
            let mut sub = sub;
            while let Some(item) = sub.next().await {
                let Ok(from) = item else {
                    // Lagged: lost events are recovered by the next session.
                    continue;
                };
                let peer = AuthorId::from(from.remote);
                let Some(shared) = node.upgrade().map(|n| n.net.shared.clone()) else {
                    break;
                };
                let item = match from.event {
                    TopicLogSyncEvent::OperationReceived { operation, .. } => IngestItem::Op {
                        document: doc,
                        peer,
                        op: operation,
                    },
                    TopicLogSyncEvent::SessionStarted => {
                        if !mark(&shared, doc, peer, true) {
                            continue;
                        }
                        IngestItem::Event(Event::PeerConnected {
                            peer,
                            document: doc,
                        })
                    }
                    TopicLogSyncEvent::SyncStarted { metrics } => {
                        if mark(&shared, doc, peer, true) {
                            let connected = IngestItem::Event(Event::PeerConnected {
                                peer,
                                document: doc,
                            });
                            if ingest.send(connected).is_err() {
                                break;
                            }
                        }
                        IngestItem::Event(Event::SyncStarted {
                            peer,
                            document: doc,
                            incoming_ops: metrics.inbound_sync_operations.into(),
                        })
                    }
                    TopicLogSyncEvent::SyncFinished { metrics } => {
                        IngestItem::Event(Event::SyncFinished {
                            peer,
                            document: doc,
                            received_ops: metrics.received_sync_operations.into(),
                            sent_ops: metrics.sent_sync_operations.into(),
                        })
                    }
                    TopicLogSyncEvent::LiveModeStarted => continue,
                    TopicLogSyncEvent::SessionFinished { .. } => {
                        if !mark(&shared, doc, peer, false) {
                            continue;
                        }
                        IngestItem::Event(Event::PeerDisconnected {
                            peer,
                            document: doc,
                        })
                    }
                    TopicLogSyncEvent::Failed { error } => {
                        mark(&shared, doc, peer, false);
                        IngestItem::Event(Event::SyncFailed {
                            peer: Some(peer),
                            document: doc,
                            reason: error,
                        })
                    }
                };
                if ingest.send(item).is_err() {
                    break;
                }
            }
        });
        let node = self.node.clone();
        let me = AuthorId::from(self.key.verifying_key());
        let gossip_task = tokio::spawn(async move {
            let mut gsub = gsub;
            while let Some(msg) = gsub.next().await {
                let Ok(bytes) = msg else { continue };
                let Some((sender, message)) = ephemeral::open(&bytes) else {
                    continue;
                };
                if sender == me {
                    continue;
                }
                let Some(node) = node.upgrade() else { break };
                match message {
                    Ephemeral::App(payload) => node.emit(Event::Ephemeral {
                        document: doc,
                        sender,
                        payload,
                    }),
                    Ephemeral::Heads(vv) => {
                        if let Some(seq) = vv.get(&me) {
                            let _ = node.acknowledge_up_to(doc, seq);
                        }
                    }
                }
            }
        });
        self.topics.insert(
            doc,
            TopicState {
                sync,
                gossip,
                tasks: vec![sync_task, gossip_task],
            },
        );
        Ok(())
    }
}
