//! The network layer: peer-to-peer sync over QUIC, with p2panda-net's AddressBook,
//! Endpoint, Discovery (+ optional mDNS) and Gossip, one gossip topic per document.
//!
//! - **Catch-up** ([`catchup`], protocol `fieldsync/catchup/1`): on every new neighbour of a
//!   document, both sides send their log heights and then every operation the other lacks,
//!   as length-prefixed frames of wire-encoded operations. It replaced p2panda-net's
//!   `LogSync`, whose concurrent sessions deadlocked in 0.7.1 (see [`catchup`]).
//! - **Gossip** (`topic`): local operations are pushed to the document's topic as they are
//!   committed; replica heads are announced after changes so a peer that missed a push
//!   catches up; ephemeral app payloads ([`ephemeral`]) ride the same topic, signed.
//! - **Direct messages** ([`direct`], protocol `fieldsync/direct/2`): queued ratchet
//!   envelopes delivered in order and acknowledged.
//!
//! - **Links and bundles** ([`link`], [`bundle`]): the same catch-up exchange over a link
//!   the app supplies (authenticated and encrypted by FieldSync) or written to a signed
//!   file; both on a [`standalone`] session that needs no QUIC endpoint.
//!
//! Everything received goes through the ingest worker (`worker`): decoded and authenticated
//! on all cores, then stored and applied by the replica, which the network holds as a
//! `Weak<Replica>`. The network never imports the facade (`crate::node`).

mod addresses;
pub(crate) mod attachments;
mod budget;
pub(crate) mod bundle;
pub mod catchup;
pub mod config;
pub mod direct;
pub mod ephemeral;
mod error;
pub(crate) mod link;
mod standalone;
pub mod status;
pub mod sync_store;
mod topic;
mod worker;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

use p2panda_net::addrs::NodeInfo;
use p2panda_net::iroh_endpoint::{EndpointAddr, IrohConfig, RelayUrl};
use p2panda_net::iroh_mdns::MdnsDiscoveryMode;
use p2panda_net::utils::from_verifying_key;
use p2panda_net::{AddressBook, Discovery, Endpoint, Gossip, MdnsDiscovery};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::base::ids::{AuthorId, DocumentId};
use crate::replica::Replica;

pub use config::{
    AttachmentPolicy, NetworkConfig, PeerAddr, RelayServer, DEFAULT_HEADS_INTERVAL,
    DEFAULT_NETWORK_ID, MAX_RELAY_FIELD,
};
pub use error::NetError;
pub use status::{PeerPath, PeerSeen, SyncStatus};
pub use sync_store::SyncStore;

/// Commands from the node to the running network.
#[derive(Debug)]
pub(crate) enum NetCommand {
    /// Start syncing a document.
    Subscribe(DocumentId),
    /// Publish an ephemeral payload on a document's gossip topic.
    Ephemeral(DocumentId, Vec<u8>),
    /// The node's replica of a document changed: announce heads soon.
    HeadsChanged(DocumentId),
    /// Catch up a document with a peer (one session per pair at a time).
    SyncWith(DocumentId, AuthorId),
    /// Reach this peer (from an invite).
    AddPeer(PeerAddr),
    /// Deliver the queued direct messages for this peer.
    FlushDirect(AuthorId),
}

/// Network state shared with the node for status queries.
#[derive(Default)]
pub(crate) struct NetShared {
    /// Peers currently in a sync session, per document.
    pub connected: Mutex<HashMap<DocumentId, std::collections::BTreeSet<AuthorId>>>,
    /// Peers ever seen per document (kept across restarts of the network).
    pub known: Mutex<HashMap<DocumentId, std::collections::BTreeSet<AuthorId>>>,
    /// Catch-up sessions this node runs right now, per (document, peer).
    pub in_flight: Mutex<std::collections::HashSet<(DocumentId, AuthorId)>>,
    /// Catch-ups asked for while one with the same (document, peer) ran: run again when it
    /// ends (it may have started before what the request is about).
    pub rerun: Mutex<std::collections::HashSet<(DocumentId, AuthorId)>>,
    /// Peers a direct-message delivery runs to right now.
    pub direct_in_flight: Mutex<std::collections::HashSet<AuthorId>>,
    /// Rejected operations per (peer, document).
    pub rejected: Mutex<HashMap<(Option<AuthorId>, DocumentId), u64>>,
    /// When a catch-up of each document with any peer last finished (ms since the epoch).
    pub last_sync: Mutex<HashMap<DocumentId, i64>>,
    /// When each peer was last connected (ms since the epoch): updated when a sync session
    /// with it starts, ends or finishes a catch-up.
    pub last_seen: Mutex<HashMap<AuthorId, i64>>,
    /// The path the last sync session with each peer took (relayed or direct, its RTT).
    pub paths: Arc<Mutex<HashMap<AuthorId, status::PeerPath>>>,
}

impl NetShared {
    /// The peers in a sync session for `document` now (`connected`), or ever seen for it
    /// (`known`), in byte order.
    pub(crate) fn peers_of(
        map: &Mutex<HashMap<DocumentId, std::collections::BTreeSet<AuthorId>>>,
        document: DocumentId,
    ) -> Vec<AuthorId> {
        map.lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&document)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Records that a catch-up of `document` with `peer` just finished.
    pub(crate) fn synced(&self, document: DocumentId, peer: AuthorId) {
        let now = crate::store::now_millis();
        self.last_sync
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(document, now);
        self.seen(peer);
    }

    /// Records that `peer` is (or was until now) connected.
    pub(crate) fn seen(&self, peer: AuthorId) {
        self.last_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, crate::store::now_millis());
    }
}

/// The node's slot for a running network.
#[derive(Default)]
pub(crate) struct NetSlot {
    pub running: tokio::sync::Mutex<Option<Network>>,
    /// The configuration the network was last started with (for `Node::network_changed`).
    pub config: Mutex<Option<NetworkConfig>>,
    pub commands: Mutex<Option<mpsc::UnboundedSender<NetCommand>>>,
    pub shared: Arc<NetShared>,
    /// When attachments are fetched unasked (kept across network restarts).
    pub fetch: Mutex<config::FetchSettings>,
    /// Wakes the attachment fetcher (a policy change, a new network).
    pub fetch_wake: Arc<tokio::sync::Notify>,
    /// The attachment fetcher's task while the network runs.
    pub fetcher: Mutex<Option<tokio::task::AbortHandle>>,
}

impl NetSlot {
    /// Sends a command if the network runs; silently drops it otherwise.
    pub(crate) fn send(&self, cmd: NetCommand) {
        let guard = self.commands.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = guard.as_ref() {
            let _ = tx.send(cmd);
        }
    }
}

/// A running network: p2panda-net actors plus FieldSync's tasks. Dropping it stops all.
pub(crate) struct Network {
    endpoint: Endpoint,
    _address_book: AddressBook,
    _discovery: Option<Discovery>,
    _mdns: Option<MdnsDiscovery>,
    _gossip: Gossip,
    tasks: Vec<JoinHandle<()>>,
    ingest: Option<std::thread::JoinHandle<()>>,
    ingest_tx: std::sync::mpsc::Sender<worker::IngestItem>,
    addrs: Vec<SocketAddr>,
    relay: Option<String>,
}

/// Information about a started network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    /// This node's id (same as its author id).
    pub node: AuthorId,
    /// Addresses peers can use to reach this node directly.
    pub addrs: Vec<SocketAddr>,
    /// The relay peers on other networks reach this node through (the first configured
    /// one), advertised in invites.
    pub relay: Option<String>,
}

fn start_err(e: impl std::fmt::Display) -> NetError {
    NetError::Start(e.to_string())
}

/// Adds a peer's direct addresses to the address book as a bootstrap node.
pub(crate) async fn insert_peer(
    address_book: &AddressBook,
    peer: &PeerAddr,
) -> Result<(), NetError> {
    let mut addr = EndpointAddr::new(from_verifying_key(peer.node.verifying_key()));
    for a in &peer.addrs {
        addr = addr.with_ip_addr(*a);
    }
    if let Some(relay) = &peer.relay {
        match relay.parse::<RelayUrl>() {
            Ok(url) => addr = addr.with_relay_url(url),
            Err(e) => tracing::debug!("peer {}: relay url {relay:?}: {e}", peer.node),
        }
    }
    address_book
        .insert_node_info(NodeInfo::from(addr).bootstrap())
        .await
        .map_err(|e| NetError::Io(e.to_string()))?;
    Ok(())
}

impl Network {
    /// Spawns the stack and FieldSync's tasks.
    pub(crate) async fn start(
        node: &Arc<Replica>,
        shared: Arc<NetShared>,
        config: NetworkConfig,
        documents: Vec<DocumentId>,
        known_peers: Vec<PeerAddr>,
    ) -> Result<(Network, mpsc::UnboundedSender<NetCommand>), NetError> {
        let key = node.signing_key().clone();
        let store = SyncStore::open(&node.db_path(), &node.store_cipher()).map_err(start_err)?;
        let address_book = AddressBook::builder().spawn().await.map_err(start_err)?;
        let mut builder = Endpoint::builder(address_book.clone())
            .signing_key(key.clone())
            .network_id(config.network_id)
            .config(IrohConfig {
                bind_ip_v4: config.bind_ip,
                bind_port_v4: config.port,
                bind_ip_v6: Ipv6Addr::LOCALHOST,
                bind_port_v6: 0,
                keep_alive_interval: config.keep_alive,
                max_idle_timeout: config.idle_timeout(),
            });
        for relay in &config.relays {
            relay.check().map_err(NetError::Config)?;
            let url: RelayUrl = relay
                .url
                .parse()
                .map_err(|e| NetError::Config(format!("relay url {:?}: {e}", relay.url)))?;
            builder = match &relay.token {
                Some(token) => builder.relay_url_with_token(url, token.clone()),
                None => builder.relay_url(url),
            };
        }
        let endpoint = builder.spawn().await.map_err(start_err)?;
        let bound = endpoint
            .endpoint()
            .await
            .map_err(start_err)?
            .bound_sockets()
            .into_iter()
            .find(|a| a.is_ipv4())
            .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(config.bind_ip), config.port));
        let addrs = config.advertised(bound);
        let mdns = if config.mdns {
            Some(
                MdnsDiscovery::builder(address_book.clone(), endpoint.clone())
                    .mode(MdnsDiscoveryMode::Active)
                    .spawn()
                    .await
                    .map_err(start_err)?,
            )
        } else {
            None
        };
        let discovery = if config.discovery {
            Some(
                Discovery::builder(address_book.clone(), endpoint.clone())
                    .spawn()
                    .await
                    .map_err(start_err)?,
            )
        } else {
            None
        };
        let filter = config::PeerFilter::new(config.allow.as_deref());
        let mut gossip_config = p2panda_net::gossip::GossipConfig::default();
        gossip_config.membership.shuffle_interval = config.shuffle_interval();
        let gossip = Gossip::builder(address_book.clone(), endpoint.clone())
            .config(gossip_config)
            .spawn()
            .await
            .map_err(start_err)?;
        let mut peers = config.bootstrap.clone();
        peers.extend(known_peers);
        peers.retain(|p| filter.admits(&p.node));
        for peer in &peers {
            insert_peer(&address_book, peer).await?;
        }

        let weak: Weak<Replica> = Arc::downgrade(node);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ingest_tx, ingest_rx) = std::sync::mpsc::channel();
        let ingest = worker::spawn_ingest(
            weak.clone(),
            Arc::downgrade(&shared),
            ingest_rx,
            cmd_tx.clone(),
        )
        .map_err(start_err)?;
        let session_ingest = ingest_tx.clone();
        // Room for one operation of the largest accepted size beside the default budget.
        let budget = budget::ReceiveBudget::new(
            budget::DEFAULT_RECEIVE_BUDGET.max(2 * node.max_operation_bytes()),
            budget::DEFAULT_CONNECTION_BUDGET,
        );
        let session = catchup::Session {
            node: weak.clone(),
            store,
            ingest: ingest_tx.clone(),
            max_frame: node.max_operation_bytes(),
            budget: budget.clone(),
            filter: filter.clone(),
            addresses: Some(Arc::new(addresses::LearnedAddresses::new(
                address_book.clone(),
                shared.paths.clone(),
            ))),
        };
        endpoint
            .accept(catchup::CATCHUP_PROTOCOL, session.clone())
            .await
            .map_err(start_err)?;
        endpoint
            .accept(
                direct::DIRECT_PROTOCOL,
                direct::DirectService {
                    node: weak.clone(),
                    budget,
                    filter: filter.clone(),
                },
            )
            .await
            .map_err(start_err)?;
        endpoint
            .accept(
                attachments::ATTACHMENT_PROTOCOL,
                attachments::AttachmentService {
                    node: weak.clone(),
                    filter: filter.clone(),
                },
            )
            .await
            .map_err(start_err)?;
        let control = topic::Control {
            node: weak,
            shared: Arc::downgrade(&shared),
            key,
            endpoint: endpoint.clone(),
            session,
            gossip: gossip.clone(),
            address_book: address_book.clone(),
            ingest_tx,
            topics: HashMap::new(),
            peers,
            filter,
            backoff_ms: config.reconnect_backoff_ms,
            heads_interval: config.heads_interval,
            commands: cmd_tx.clone(),
        };
        let local_ops = node.local_ops_receiver();
        let control_task = tokio::spawn(control.run(cmd_rx, local_ops));
        for doc in documents {
            let _ = cmd_tx.send(NetCommand::Subscribe(doc));
        }
        Ok((
            Network {
                endpoint,
                _address_book: address_book,
                _discovery: discovery,
                _mdns: mdns,
                _gossip: gossip,
                tasks: vec![control_task],
                ingest: Some(ingest),
                ingest_tx: session_ingest,
                addrs,
                relay: config.relays.first().map(|r| r.url.clone()),
            },
            cmd_tx,
        ))
    }

    /// Addresses peers can use to reach this node.
    pub(crate) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The relay advertised to peers (the first configured one).
    pub(crate) fn relay(&self) -> Option<&str> {
        self.relay.as_deref()
    }

    /// The endpoint (for connections the facade opens, e.g. attachment fetches).
    pub(crate) fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    /// Stops every task and closes the QUIC endpoint.
    pub(crate) async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        if let Ok(ep) = self.endpoint.endpoint().await {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), ep.close()).await;
        }
        let _ = self.ingest_tx.send(worker::IngestItem::Stop);
        if let Some(handle) = self.ingest.take() {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}
