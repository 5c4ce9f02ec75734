//! The network half of the [`Node`] API: start/stop, invites, join, status, ephemeral.

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::join::JoinState;
use crate::document::DocumentError;
use crate::net::attachments::{self, AttachmentFetch, FetchEnd};
use crate::net::ephemeral::MAX_EPHEMERAL_PAYLOAD;

/// How long an attachment fetch keeps dialling a peer it was given or is connected to.
const DIAL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
use crate::net::status::PeerSeen;
use crate::net::{
    NetCommand, NetError, NetShared, Network, NetworkConfig, NetworkInfo, PeerAddr, SyncStatus,
};
use crate::node::{Document, Error, Node, Result};
use crate::wire::{Invite, InviteError};

const META_KNOWN_PEERS: &str = "known_peers";
const META_LAST_PORT: &str = "last_port";

/// A remembered peer as stored: node id, addresses, relay URL.
type StoredPeer = (String, Vec<String>, Option<String>);

fn encode_peers(peers: &[PeerAddr]) -> Vec<u8> {
    let list: Vec<StoredPeer> = peers
        .iter()
        .map(|p| {
            (
                p.node.to_string(),
                p.addrs.iter().map(|a| a.to_string()).collect(),
                p.relay.clone(),
            )
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

fn decode_peers(bytes: &[u8]) -> Vec<PeerAddr> {
    // Earlier builds stored (node, addresses) pairs.
    let list: Vec<StoredPeer> = serde_json::from_slice(bytes).unwrap_or_else(|_| {
        serde_json::from_slice::<Vec<(String, Vec<String>)>>(bytes)
            .unwrap_or_default()
            .into_iter()
            .map(|(node, addrs)| (node, addrs, None))
            .collect()
    });
    list.into_iter()
        .filter_map(|(node, addrs, relay)| {
            Some(PeerAddr {
                node: node.parse().ok()?,
                addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
                relay,
            })
        })
        .collect()
}

impl Node {
    fn known_peers(&self) -> Vec<PeerAddr> {
        self.replica
            .meta_get(META_KNOWN_PEERS)
            .ok()
            .flatten()
            .map(|b| decode_peers(&b))
            .unwrap_or_default()
    }

    fn remember_peer(&self, peer: &PeerAddr) -> Result<()> {
        let mut peers = self.known_peers();
        peers.retain(|p| p.node != peer.node);
        peers.push(peer.clone());
        self.replica
            .meta_set(META_KNOWN_PEERS, &encode_peers(&peers))?;
        Ok(())
    }

    /// Starts networking: binds QUIC, contacts bootstrap and remembered peers, and syncs every
    /// document. Offline edits made before go out now. Must run inside a tokio runtime.
    pub async fn start_network(&self, config: NetworkConfig) -> Result<NetworkInfo> {
        if let Err(e) = self.refresh_key_bundle() {
            tracing::warn!("refreshing the key bundle failed: {e}");
        }
        let mut running = self.net.running.lock().await;
        if running.is_some() {
            return Err(NetError::AlreadyRunning.into());
        }
        let docs = self.replica.documents()?;
        let known = self.known_peers();
        *self.net.config.lock().unwrap_or_else(|p| p.into_inner()) = Some(config.clone());
        let mut config = config;
        if config.port == 0 {
            // Come back on the same port so that peers holding our old address (from an
            // invite) reach us again; a taken port falls back to a free one.
            if let Some(bytes) = self.replica.meta_get(META_LAST_PORT)? {
                if let Ok(b) = <[u8; 2]>::try_from(bytes.as_slice()) {
                    config.port = u16::from_be_bytes(b);
                }
            }
        }
        let (network, commands) =
            Network::start(&self.replica, self.net.shared.clone(), config, docs, known).await?;
        if let Some(port) = network.addrs().first().map(|a| a.port()) {
            self.replica.meta_set(META_LAST_PORT, &port.to_be_bytes())?;
        }
        let info = NetworkInfo {
            node: self.author(),
            addrs: network.addrs().to_vec(),
            relay: network.relay().map(str::to_owned),
        };
        *self.net.commands.lock().unwrap_or_else(|p| p.into_inner()) = Some(commands);
        *running = Some(network);
        self.start_fetcher();
        Ok(info)
    }

    /// Stops networking. The node keeps working offline; edits queue in the outbox.
    pub async fn stop_network(&self) -> Result<()> {
        let network = self.net.running.lock().await.take();
        self.stop_fetcher();
        *self.net.commands.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.net
            .shared
            .connected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        match network {
            Some(n) => {
                n.stop().await;
                Ok(())
            }
            None => Err(NetError::NotRunning.into()),
        }
    }

    /// Tells the node that the device's network changed (Wi-Fi to mobile data, a new address
    /// after sleep, a VPN coming up): the QUIC endpoint is rebound and every known peer is
    /// dialled again at once, instead of waiting for dead paths to time out. With `config`,
    /// the network restarts with it (another port, say); without, with the configuration it
    /// was started with (same port if still free). Returns the new addresses, or `None` if
    /// the network is not running (nothing to do: the next start binds afresh).
    pub async fn network_changed(
        &self,
        config: Option<NetworkConfig>,
    ) -> Result<Option<NetworkInfo>> {
        if !self.is_online().await {
            return Ok(None);
        }
        let config = match config {
            Some(c) => c,
            None => self
                .net
                .config
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_default(),
        };
        match self.stop_network().await {
            Ok(()) | Err(crate::Error::Net(NetError::NotRunning)) => {}
            Err(e) => return Err(e),
        }
        Ok(Some(self.start_network(config).await?))
    }

    /// Fetches the attachment `reference` names (found in `document`) from the document's
    /// peers, connected ones first, until it is complete. Chunks are checked against the
    /// attachment's manifest as they arrive; a peer sending a wrong one is dropped and the
    /// next is asked. What arrived is kept: a fetch cut short (network lost, node closed)
    /// resumes where it stopped.
    ///
    /// # Errors
    /// `InvalidArgument` for a string that is no reference; `NotRunning` without a network.
    pub async fn fetch_attachment(
        &self,
        document: DocumentId,
        reference: &str,
    ) -> Result<AttachmentFetch> {
        let peers = self.peers_of(document);
        // Then every other member (tried once each: an unreachable one costs one dial).
        let mut order: Vec<(AuthorId, std::time::Duration)> =
            peers.into_iter().map(|p| (p, DIAL_PATIENCE)).collect();
        for m in self.replica.members(document).unwrap_or_default() {
            if !order.iter().any(|(p, _)| *p == m) {
                order.push((m, std::time::Duration::ZERO));
            }
        }
        self.fetch_in_order(document, reference, &order, None).await
    }

    /// The document's connected peers, then its other known ones.
    fn peers_of(&self, document: DocumentId) -> Vec<AuthorId> {
        let shared = &self.net.shared;
        let mut peers = NetShared::peers_of(&shared.connected, document);
        for k in NetShared::peers_of(&shared.known, document) {
            if !peers.contains(&k) {
                peers.push(k);
            }
        }
        peers
    }

    /// [`Node::fetch_attachment`] from `peers`, in this order. `chunk_limit` stops after
    /// that many chunks per peer (to cut a transfer short on purpose; `None` for all).
    pub async fn fetch_attachment_from(
        &self,
        document: DocumentId,
        reference: &str,
        peers: &[AuthorId],
        chunk_limit: Option<u32>,
    ) -> Result<AttachmentFetch> {
        let order: Vec<_> = peers.iter().map(|p| (*p, DIAL_PATIENCE)).collect();
        self.fetch_in_order(document, reference, &order, chunk_limit)
            .await
    }

    /// The body of the attachment fetches: each peer in turn, each dialled for up to its
    /// patience.
    async fn fetch_in_order(
        &self,
        document: DocumentId,
        reference: &str,
        peers: &[(AuthorId, std::time::Duration)],
        chunk_limit: Option<u32>,
    ) -> Result<AttachmentFetch> {
        let r = crate::wire::attachment::AttachmentRef::parse(reference)
            .map_err(|e| DocumentError::InvalidArgument(e.to_string()))?;
        if let Ok(row) = self.replica.attachment_row(&r) {
            if row.complete {
                return Ok(AttachmentFetch {
                    complete: true,
                    ..Default::default()
                });
            }
        }
        self.fetch_id_in_order(document, r.id, peers, chunk_limit)
            .await
    }

    /// Carries the attachments of `document` that its peers hold and this node does not
    /// (a relay's way: it cannot read the references in the document): asks each
    /// connected or known peer for its catalog and fetches what is missing, at most
    /// `limit` attachments. Returns how many were fetched whole.
    pub(crate) async fn carry_attachments(
        &self,
        document: DocumentId,
        limit: usize,
    ) -> Result<usize> {
        let endpoint = {
            let running = self.net.running.lock().await;
            running.as_ref().ok_or(NetError::NotRunning)?.endpoint()
        };
        let peers = self.peers_of(document);
        let mut carried = 0;
        let mut budget = limit;
        for peer in peers {
            if budget == 0 {
                break;
            }
            let Ok(conn) = endpoint
                .connect(peer.verifying_key(), attachments::ATTACHMENT_PROTOCOL)
                .await
            else {
                continue;
            };
            let ids = attachments::catalog(&conn, document).await;
            conn.close(0u32.into(), b"done");
            let Ok(ids) = ids else { continue };
            for id in ids {
                if budget == 0 {
                    break;
                }
                if self.replica.attachment_complete(&id) {
                    continue;
                }
                budget -= 1;
                let got = self
                    .fetch_id_in_order(document, id, &[(peer, DIAL_PATIENCE)], None)
                    .await?;
                carried += usize::from(got.complete);
            }
        }
        Ok(carried)
    }

    /// [`Node::fetch_in_order`] by attachment id.
    async fn fetch_id_in_order(
        &self,
        document: DocumentId,
        id: p2panda_core::Hash,
        peers: &[(AuthorId, std::time::Duration)],
        chunk_limit: Option<u32>,
    ) -> Result<AttachmentFetch> {
        let endpoint = {
            let running = self.net.running.lock().await;
            running.as_ref().ok_or(NetError::NotRunning)?.endpoint()
        };
        let hex = id.to_hex();
        self.replica
            .emit(crate::base::events::Event::AttachmentFetchStarted {
                document,
                attachment: hex.clone(),
            });
        let report = self
            .fetch_id_from_peers(document, id, peers, chunk_limit, endpoint)
            .await;
        let reason = (!report.complete).then(|| report.why_not());
        self.replica
            .emit(crate::base::events::Event::AttachmentFetchEnded {
                document,
                attachment: hex,
                complete: report.complete,
                reason,
            });
        Ok(report)
    }

    /// The peers of [`Node::fetch_id_in_order`], in turn.
    async fn fetch_id_from_peers(
        &self,
        document: DocumentId,
        id: p2panda_core::Hash,
        peers: &[(AuthorId, std::time::Duration)],
        chunk_limit: Option<u32>,
        endpoint: p2panda_net::Endpoint,
    ) -> AttachmentFetch {
        let node = std::sync::Arc::downgrade(&self.replica);
        let mut report = AttachmentFetch::default();
        for (peer, patience) in peers {
            if *peer == self.author() {
                continue;
            }
            // A peer just added (`add_peer`) reaches the address book a moment later: a
            // failed dial is retried for up to its patience.
            let deadline = tokio::time::Instant::now() + *patience;
            let conn = loop {
                match endpoint
                    .connect(peer.verifying_key(), attachments::ATTACHMENT_PROTOCOL)
                    .await
                {
                    Ok(c) => break Some(c),
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        report.failed.push((*peer, format!("no connection: {e}")));
                        break None;
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            };
            let Some(conn) = conn else {
                continue;
            };
            match attachments::fetch(&node, conn, document, id, chunk_limit).await {
                Ok((end, bytes)) => {
                    report.transferred += bytes;
                    match end {
                        FetchEnd::Complete => {
                            report.complete = true;
                            if let Err(e) = self.replica.enforce_attachment_budget(&id) {
                                tracing::warn!("keeping attachments within the budget: {e}");
                            }
                            return report;
                        }
                        FetchEnd::Partial => {
                            if chunk_limit.is_some() {
                                return report;
                            }
                        }
                        FetchEnd::Refused => report.refused_by.push(*peer),
                        FetchEnd::Corrupt(reason) => {
                            tracing::warn!(%peer, "attachment fetch: {reason}; peer dropped");
                            report.corrupt_peers.push(*peer);
                        }
                    }
                }
                Err(e) => report.failed.push((*peer, e.to_string())),
            }
        }
        report
    }

    /// Whether the network is running.
    pub async fn is_online(&self) -> bool {
        self.net.running.lock().await.is_some()
    }

    /// Addresses and id of the running network.
    pub async fn network_info(&self) -> Result<NetworkInfo> {
        let running = self.net.running.lock().await;
        let network = running.as_ref().ok_or(NetError::NotRunning)?;
        Ok(NetworkInfo {
            node: self.author(),
            addrs: network.addrs().to_vec(),
            relay: network.relay().map(str::to_owned),
        })
    }

    /// An invite for `document`: its id plus how to reach this node (empty addresses while
    /// offline). Suitable for a QR code.
    pub async fn invite(&self, document: DocumentId) -> Result<String> {
        self.invite_with(document, InviteOptions::default()).await
    }

    /// [`Node::invite`] with an expiry and a use limit other than the defaults (7 days, one
    /// device).
    pub async fn invite_with(
        &self,
        document: DocumentId,
        options: InviteOptions,
    ) -> Result<String> {
        self.document(document)?;
        if options.max_uses == 0 {
            return Err(Error::Document(DocumentError::InvalidArgument(
                "an invite must admit at least one device".into(),
            )));
        }
        let (addrs, relay) = match self.net.running.lock().await.as_ref() {
            Some(n) => (n.addrs().to_vec(), n.relay().map(str::to_owned)),
            None => (
                Vec::new(),
                self.net
                    .config
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .and_then(|c| c.relays.first().map(|r| r.url.clone())),
            ),
        };
        let credentials =
            self.replica
                .invite_credentials(document, options.valid_for, options.max_uses)?;
        let (key_bundle, token) = match credentials {
            Some(((bundle, token), op)) => {
                if let Some(op) = op {
                    self.replica.publish_local(document, op);
                }
                (Some(bundle), Some(token))
            }
            None => (None, None),
        };
        Ok(Invite {
            document,
            node: self.author(),
            addrs,
            key_bundle,
            token,
            relay,
        }
        .encode())
    }

    /// Joins a document from an invite: registers it, remembers the inviting peer and, when
    /// the network runs, connects and catches up in the background. For an encrypted
    /// document the invite's key bundle and token let this node ask the inviter to add it
    /// (a direct message, delivered as soon as the inviter is reachable); the inviter's node
    /// admits it without the app's help, and the document becomes readable once the group
    /// welcome syncs ([`crate::Event::MemberJoined`] on the inviter's side).
    pub async fn join(&self, invite: &str) -> Result<Document> {
        let invite = Invite::parse(invite)?;
        if invite.node == self.author() {
            return Err(Error::Invite(InviteError::Malformed(
                "this invite was issued by this node".into(),
            )));
        }
        let peer = PeerAddr {
            node: invite.node,
            addrs: invite.addrs.clone(),
            relay: invite.relay.clone(),
        };
        self.remember_peer(&peer)?;
        let doc = self.document_or_register(invite.document)?;
        // Ask to be admitted unless this device already reads the document with a role
        // (a repeated join); documents without roles (legacy) only need it to read.
        let member = match doc.my_role()? {
            Some(_) => true,
            None => self.replica.legacy(invite.document)? && doc.can_read()?,
        };
        let requested = !member && self.replica.request_join(&invite)?;
        self.net.send(NetCommand::AddPeer(peer));
        self.net.send(NetCommand::Subscribe(invite.document));
        if requested {
            self.net.send(NetCommand::FlushDirect(invite.node));
        }
        Ok(doc)
    }

    /// This device's request to be admitted to `document` ([`Node::join`]) while it is not
    /// a member that reads it: waiting (delivered or not) or refused, with the reason
    /// ([`crate::Event::JoinRefused`] reports a refusal when it arrives). `None` if it made
    /// no request or reads the document.
    pub fn join_state(&self, document: DocumentId) -> Result<Option<JoinState>> {
        let Some(state) = self.replica.join_state(document)? else {
            return Ok(None);
        };
        let doc = self.document(document)?;
        let admitted =
            doc.can_read()? && (doc.my_role()?.is_some() || self.replica.legacy(document)?);
        Ok((!admitted).then_some(state))
    }

    /// Adds a peer to contact (and remembers it across restarts).
    pub async fn add_peer(&self, peer: PeerAddr) -> Result<()> {
        self.remember_peer(&peer)?;
        self.net.send(NetCommand::AddPeer(peer));
        Ok(())
    }

    /// Sync status of a document: pending local ops, connected and known peers.
    pub async fn sync_status(&self, document: DocumentId) -> Result<SyncStatus> {
        let pending_local_ops = self.replica.pending_count(document)?;
        let online = self.is_online().await;
        let shared = &self.net.shared;
        let list = |m| NetShared::peers_of(m, document);
        let rejected_ops = shared
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((_, d), _)| *d == document)
            .map(|(_, n)| *n)
            .sum();
        let connected_peers = list(&shared.connected);
        let known_peers = list(&shared.known);
        let peers = {
            let seen = shared.last_seen.lock().unwrap_or_else(|p| p.into_inner());
            let paths = shared.paths.lock().unwrap_or_else(|p| p.into_inner());
            let mut peers: Vec<PeerSeen> = known_peers
                .iter()
                .map(|p| PeerSeen {
                    peer: *p,
                    connected: connected_peers.contains(p),
                    last_seen_ms: seen.get(p).copied(),
                    path: paths.get(p).copied(),
                })
                .collect();
            peers.sort_by_key(|p| (!p.connected, std::cmp::Reverse(p.last_seen_ms)));
            peers
        };
        Ok(SyncStatus {
            document,
            online,
            pending_local_ops,
            connected_peers,
            known_peers,
            peers,
            rejected_ops,
            last_sync_ms: shared
                .last_sync
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&document)
                .copied(),
            join: self.join_state(document)?,
        })
    }

    /// Sends an ephemeral payload (presence, cursor) to the members currently online for
    /// `document`. Best effort, signed, encrypted for the document's group (unless the
    /// document is plain), at most a few KiB. Needs a reading role; devices without one
    /// neither send nor receive them.
    pub async fn publish_ephemeral(&self, document: DocumentId, payload: Vec<u8>) -> Result<()> {
        let max = MAX_EPHEMERAL_PAYLOAD - crate::crypto::ENVELOPE_OVERHEAD - 1;
        if payload.len() > max {
            return Err(NetError::PayloadTooLarge {
                size: payload.len(),
                max,
            }
            .into());
        }
        self.document(document)?;
        if !self.is_online().await {
            return Err(NetError::NotRunning.into());
        }
        let sealed = self.replica.seal_ephemeral(document, &payload)?;
        self.net.send(NetCommand::Ephemeral(document, sealed));
        Ok(())
    }
}

impl Document {
    /// An invite string for this document (see [`Node::invite`]).
    pub async fn invite(&self) -> Result<String> {
        self.node().invite(self.id).await
    }

    /// See [`Node::invite_with`].
    pub async fn invite_with(&self, options: InviteOptions) -> Result<String> {
        self.node().invite_with(self.id, options).await
    }
}

/// How long an invite admits devices, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InviteOptions {
    /// How long after it is issued the invite admits devices (default 7 days).
    pub valid_for: std::time::Duration,
    /// How many devices it admits (default 1; each admin's node counts its own).
    pub max_uses: u32,
}

impl Default for InviteOptions {
    fn default() -> Self {
        InviteOptions {
            valid_for: std::time::Duration::from_secs(7 * 24 * 3600),
            max_uses: 1,
        }
    }
}
