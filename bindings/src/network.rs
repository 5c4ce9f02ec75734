//! Records of the network half of the API (the methods live on `Node` and `Document`).

use std::net::{Ipv4Addr, SocketAddr};

use crate::error::FieldSyncError;
use crate::validate;

/// How a node joins the network (`Node.startNetwork(options)`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NetworkOptions {
    /// Local IPv4 address to bind. `null`/`nil` (default) binds every interface, so peers
    /// on the LAN can connect; `"127.0.0.1"` keeps the node on loopback (tests, demos).
    #[uniffi(default = None)]
    pub bind_ip: Option<String>,
    /// UDP port for QUIC; 0 (default) picks a free port.
    #[uniffi(default = 0)]
    pub port: u16,
    /// Peers to contact first, in addition to the ones remembered from invites.
    #[uniffi(default = [])]
    pub bootstrap: Vec<PeerAddress>,
    /// Advertise and discover peers on the local network with mDNS.
    #[uniffi(default = false)]
    pub mdns: bool,
    /// Relay servers (`fieldsync relay`, run by your organisation) for reaching devices on
    /// other networks and behind NATs. None by default: nothing is contacted but LAN peers,
    /// configured peers and these. The first one is advertised in this node's invites.
    #[uniffi(default = [])]
    pub relays: Vec<RelayServer>,
}

/// A relay server and the access token it asks for.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RelayServer {
    /// The relay's URL, e.g. `"https://relay.example.org"` (`http://` only for tests).
    pub url: String,
    /// The relay's access token, if it restricts who may use it.
    #[uniffi(default = None)]
    pub token: Option<String>,
}

/// A peer to reach: its node id, socket addresses (`"ip:port"`) and relay.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PeerAddress {
    /// The peer's node id (its author id, 64 hex characters).
    pub node_id: String,
    /// Direct socket addresses, e.g. `"198.51.100.20:4433"`.
    pub addresses: Vec<String>,
    /// The relay the peer can be reached through from other networks, if any.
    #[uniffi(default = None)]
    pub relay: Option<String>,
}

/// The running network's identity and addresses.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NetworkInfo {
    /// This node's id (equal to its author id).
    pub node_id: String,
    /// Socket addresses peers can reach this node on.
    pub addresses: Vec<String>,
    /// The relay peers on other networks reach this node through (the first configured).
    pub relay: Option<String>,
}

/// Sync state of one document.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// The document id.
    pub document: String,
    /// Whether the network is running.
    pub online: bool,
    /// This device's operations of the document no peer has acknowledged yet.
    pub pending_local_ops: u64,
    /// Peers connected for this document now.
    pub connected_peers: Vec<String>,
    /// Peers known for this document.
    pub known_peers: Vec<String>,
    /// Operations of this document rejected from peers so far.
    pub rejected_ops: u64,
    /// When a sync session of this document with a peer last finished, in milliseconds since
    /// the Unix epoch; `null`/`nil` if none finished since the node opened.
    pub last_sync_ms: Option<i64>,
    /// The known peers with when each was last connected, connected ones first.
    pub peers: Vec<PeerSeen>,
    /// This device's request to be admitted to the document while it waits or after a
    /// refusal; `null`/`nil` if it made none or reads the document.
    pub join: Option<crate::join::JoinRequestState>,
}

/// A peer of a document and when it was last seen.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PeerSeen {
    /// The peer's node id.
    pub peer: String,
    /// Whether it is in a sync session for the document now.
    pub connected: bool,
    /// When it was last connected, in milliseconds since the Unix epoch; `null`/`nil` if
    /// not since the node opened.
    pub last_seen_ms: Option<i64>,
    /// Whether the last sync session with it went through a relay (`false`: a direct
    /// path); `null`/`nil` if there was none since the node opened.
    pub relayed: Option<bool>,
    /// That session's round-trip time in milliseconds; `null`/`nil` as for `relayed`.
    pub rtt_ms: Option<u32>,
}

/// Most bootstrap peers and addresses per peer accepted.
const MAX_PEERS: usize = 64;
const MAX_ADDRS: usize = 16;

fn socket_addr(s: &str) -> Result<SocketAddr, FieldSyncError> {
    if s.is_empty() || s.len() > 64 {
        return Err(FieldSyncError::invalid(format!(
            "socket address {:?} must be 1..=64 bytes",
            s.chars().take(64).collect::<String>()
        )));
    }
    s.parse()
        .map_err(|_| FieldSyncError::invalid(format!("{s:?} is not an ip:port socket address")))
}

/// A relay as the core takes it, checked (`InvalidArgument` saying what is wrong).
fn checked_relay(
    url: String,
    token: Option<String>,
) -> Result<fieldsync::RelayServer, FieldSyncError> {
    let relay = fieldsync::RelayServer { url, token };
    relay.check().map_err(FieldSyncError::invalid)?;
    Ok(relay)
}

impl TryFrom<PeerAddress> for fieldsync::PeerAddr {
    type Error = FieldSyncError;

    fn try_from(p: PeerAddress) -> Result<Self, FieldSyncError> {
        if p.addresses.len() > MAX_ADDRS {
            return Err(FieldSyncError::invalid(format!(
                "at most {MAX_ADDRS} addresses per peer"
            )));
        }
        Ok(fieldsync::PeerAddr {
            node: validate::author_id(&p.node_id)?,
            addrs: p
                .addresses
                .iter()
                .map(|a| socket_addr(a))
                .collect::<Result<_, _>>()?,
            relay: match p.relay {
                Some(url) => Some(checked_relay(url, None)?.url),
                None => None,
            },
        })
    }
}

impl From<fieldsync::PeerAddr> for PeerAddress {
    fn from(p: fieldsync::PeerAddr) -> Self {
        PeerAddress {
            node_id: p.node.to_string(),
            addresses: p.addrs.iter().map(|a| a.to_string()).collect(),
            relay: p.relay,
        }
    }
}

impl TryFrom<NetworkOptions> for fieldsync::NetworkConfig {
    type Error = FieldSyncError;

    fn try_from(o: NetworkOptions) -> Result<Self, FieldSyncError> {
        let bind_ip: Ipv4Addr = match &o.bind_ip {
            None => Ipv4Addr::UNSPECIFIED,
            Some(ip) => ip.parse().map_err(|_| {
                FieldSyncError::invalid(format!(
                    "bind_ip {:?} is not an IPv4 address",
                    ip.chars().take(64).collect::<String>()
                ))
            })?,
        };
        if o.bootstrap.len() > MAX_PEERS {
            return Err(FieldSyncError::invalid(format!(
                "at most {MAX_PEERS} bootstrap peers"
            )));
        }
        if o.relays.len() > MAX_PEERS {
            return Err(FieldSyncError::invalid(format!(
                "at most {MAX_PEERS} relays"
            )));
        }
        let relays = o
            .relays
            .into_iter()
            .map(|r| checked_relay(r.url, r.token))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(fieldsync::NetworkConfig {
            bind_ip,
            port: o.port,
            bootstrap: o
                .bootstrap
                .into_iter()
                .map(fieldsync::PeerAddr::try_from)
                .collect::<Result<_, _>>()?,
            mdns: o.mdns,
            relays,
            ..Default::default()
        })
    }
}

impl From<fieldsync::NetworkInfo> for NetworkInfo {
    fn from(i: fieldsync::NetworkInfo) -> Self {
        NetworkInfo {
            node_id: i.node.to_string(),
            addresses: i.addrs.iter().map(|a| a.to_string()).collect(),
            relay: i.relay,
        }
    }
}

impl From<fieldsync::SyncStatus> for SyncStatus {
    fn from(s: fieldsync::SyncStatus) -> Self {
        SyncStatus {
            document: s.document.to_string(),
            online: s.online,
            pending_local_ops: s.pending_local_ops,
            connected_peers: s.connected_peers.iter().map(|a| a.to_string()).collect(),
            known_peers: s.known_peers.iter().map(|a| a.to_string()).collect(),
            rejected_ops: s.rejected_ops,
            last_sync_ms: s.last_sync_ms,
            peers: s
                .peers
                .into_iter()
                .map(|p| PeerSeen {
                    peer: p.peer.to_string(),
                    connected: p.connected,
                    last_seen_ms: p.last_seen_ms,
                    relayed: p.path.map(|p| p.relayed),
                    rtt_ms: p.path.map(|p| p.rtt_ms),
                })
                .collect(),
            join: s.join.map(Into::into),
        }
    }
}
