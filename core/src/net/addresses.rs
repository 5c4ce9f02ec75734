//! Addresses learnt from members that dialled in: the address a peer's QUIC connection
//! came from is the socket it listens on too, so once a member has caught up with this
//! node, this node can dial it back (send it direct messages, catch it up) without
//! p2panda's discovery walks, which cost an idle node hundreds of KB a minute.
//!
//! Only peers that passed the catch-up gate (a role in the document, admitted by
//! `NetworkConfig::allow`) and that the address book does not know yet are recorded, at
//! most [`MAX_LEARNED`] of them with at most [`MAX_ADDRS`] addresses each: identities are
//! free, members are not.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use iroh::endpoint::Connection;
use iroh::TransportAddr;
use p2panda_net::AddressBook;

use crate::base::ids::AuthorId;
use crate::net::config::PeerAddr;
use crate::net::status::PeerPath;

/// Most peers whose addresses are learnt.
pub(crate) const MAX_LEARNED: usize = 1024;
/// Most addresses kept per peer.
pub(crate) const MAX_ADDRS: usize = 4;

/// The learnt addresses, and the address book they go to.
pub(crate) struct LearnedAddresses {
    book: AddressBook,
    seen: Mutex<HashMap<AuthorId, Vec<SocketAddr>>>,
    /// The path each peer's last sync session took (shown in the sync status).
    paths: Arc<Mutex<HashMap<AuthorId, PeerPath>>>,
}

impl std::fmt::Debug for LearnedAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LearnedAddresses")
    }
}

impl LearnedAddresses {
    pub(crate) fn new(book: AddressBook, paths: Arc<Mutex<HashMap<AuthorId, PeerPath>>>) -> Self {
        LearnedAddresses {
            book,
            seen: Mutex::new(HashMap::new()),
            paths,
        }
    }

    /// Records the path a sync session with `peer` (who passed the gate, or whom this node
    /// dialled) takes now: relayed or direct, and its round-trip time.
    pub(crate) fn record_path(&self, conn: &Connection, peer: AuthorId) {
        let paths = conn.paths();
        let Some(path) = paths.iter().find(|p| p.is_selected()) else {
            return;
        };
        let observed = PeerPath {
            relayed: path.is_relay(),
            rtt_ms: u32::try_from(path.rtt().as_millis()).unwrap_or(u32::MAX),
            at_ms: crate::store::now_millis(),
        };
        let mut map = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() < MAX_LEARNED || map.contains_key(&peer) {
            map.insert(peer, observed);
        }
    }

    /// Records the IP addresses `conn` (from `peer`, who passed the gate) uses.
    pub(crate) async fn learn(&self, conn: &Connection, peer: AuthorId) {
        let addrs: Vec<SocketAddr> = conn
            .paths()
            .iter()
            .filter_map(|p| match p.remote_addr() {
                TransportAddr::Ip(a) => Some(*a),
                _ => None,
            })
            .take(MAX_ADDRS)
            .collect();
        let relay = conn.paths().iter().find_map(|p| match p.remote_addr() {
            TransportAddr::Relay(url) => Some(url.to_string()),
            _ => None,
        });
        if (addrs.is_empty() && relay.is_none()) || !self.note(peer, &addrs) {
            return;
        }
        // A peer the address book knows already (from an invite, `--peer`, a remembered
        // address) keeps that entry: the address it dialled from may be a short-lived NAT
        // mapping, and the entry may hold more than addresses.
        if !matches!(self.book.node_info(peer.verifying_key()).await, Ok(None)) {
            return;
        }
        let peer = PeerAddr {
            node: peer,
            addrs,
            relay,
        };
        if let Err(e) = crate::net::insert_peer(&self.book, &peer).await {
            tracing::debug!("recording the address of {}: {e}", peer.node);
        }
    }

    /// True if `addrs` are new for `peer` and there is room for them.
    fn note(&self, peer: AuthorId, addrs: &[SocketAddr]) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.get(&peer).is_some_and(|known| known == addrs) {
            return false;
        }
        if seen.len() >= MAX_LEARNED && !seen.contains_key(&peer) {
            return false;
        }
        seen.insert(peer, addrs.to_vec());
        true
    }
}
