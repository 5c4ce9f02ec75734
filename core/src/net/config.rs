//! Network settings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::base::ids::AuthorId;

/// A peer this node should try to reach directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    /// The peer's node id (its device key).
    pub node: AuthorId,
    /// Direct socket addresses of the peer.
    pub addrs: Vec<SocketAddr>,
    /// The relay the peer can be reached through (its home relay, from an invite), if any.
    pub relay: Option<String>,
}

impl PeerAddr {
    /// A peer reachable at direct addresses only.
    pub fn direct(node: AuthorId, addrs: Vec<SocketAddr>) -> Self {
        PeerAddr {
            node,
            addrs,
            relay: None,
        }
    }
}

/// An iroh relay server this node uses to reach peers on other networks (see
/// `fieldsync relay`). Traffic through a relay stays end-to-end encrypted (QUIC between the
/// devices, and FieldSync's own encryption inside); the relay sees who talks to whom and
/// how much.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayServer {
    /// The relay's URL, e.g. `https://relay.example.org` (`http://` only for tests).
    pub url: String,
    /// The access token the relay asks for, if it restricts who may use it.
    pub token: Option<String>,
}

/// The longest relay URL or token accepted.
pub const MAX_RELAY_FIELD: usize = 2048;

impl RelayServer {
    /// Checks the URL (`http` or `https`, at most [`MAX_RELAY_FIELD`] bytes) and the token
    /// (1 to [`MAX_RELAY_FIELD`] printable ASCII characters); the message says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.url.is_empty() || self.url.len() > MAX_RELAY_FIELD {
            return Err(format!("a relay URL must be 1..={MAX_RELAY_FIELD} bytes"));
        }
        let url: iroh::RelayUrl = self
            .url
            .parse()
            .map_err(|_| format!("{:?} is not a URL", short(&self.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "relay URL {:?} must be http(s)://host[:port]",
                short(&self.url)
            ));
        }
        if let Some(token) = &self.token {
            if token.is_empty()
                || token.len() > MAX_RELAY_FIELD
                || !token.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(format!(
                    "a relay token must be 1..={MAX_RELAY_FIELD} printable ASCII characters"
                ));
            }
        }
        Ok(())
    }
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// How a node joins the network.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Local IPv4 address to bind (all interfaces by default; loopback in tests).
    pub bind_ip: Ipv4Addr,
    /// UDP port for QUIC; 0 picks a free port. An occupied port falls back to a free one.
    pub port: u16,
    /// Peers to contact first.
    pub bootstrap: Vec<PeerAddr>,
    /// Advertise and discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Relay servers for connections across networks and NATs (none by default: nothing
    /// is contacted but LAN peers, configured peers and these). The first is advertised in
    /// this node's invites; a peer on another network reaches the node through it, and iroh
    /// moves the connection to a direct path when the two can reach each other.
    pub relays: Vec<RelayServer>,
    /// Network id: only nodes with the same id talk to each other.
    pub network_id: [u8; 32],
    /// Retry delay bounds (milliseconds) for reconnecting to known peers.
    pub reconnect_backoff_ms: (u64, u64),
    /// Only these devices may sync with this node: their connections are accepted, their
    /// gossip is heard, they are dialled; everyone else is refused like a device without a
    /// role. `None` (default): any device with a role in the document.
    pub allow: Option<Vec<AuthorId>>,
    /// Find peers' addresses through p2panda's discovery protocol: random walks over the
    /// peers' address books, each step a new QUIC connection (off by default; mDNS is the
    /// separate [`NetworkConfig::mdns`]). It costs: three idle nodes on loopback sent
    /// 422 KB per node per minute with it (`make bench`, section 8). Off, a node reaches
    /// its bootstrap, invite, added and remembered peers, and members that dialled it
    /// (their address is learnt when they catch up with it).
    pub discovery: bool,
    /// How often an idle node announces its heads of every document (default 30 minutes).
    /// Heads also go out within 100 ms of every change, and a peer that (re)connects is
    /// caught up at once, so this period only bounds how long a missed announcement can go
    /// unnoticed; shorter periods cost radio wake-ups on phones.
    pub heads_interval: std::time::Duration,
    /// Quiet time after which a keep-alive packet goes out on a connection to a peer
    /// (default 30 s; p2panda-net's own is 5 s). A connection with no packet for three
    /// times this long (at least 10 s) is closed, so a peer that vanished is noticed after
    /// that long. Longer periods mean fewer radio wake-ups on phones; NAT bindings of mobile
    /// networks last 30 s or more.
    pub keep_alive: std::time::Duration,
}

/// The devices a running network talks to (see [`NetworkConfig::allow`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerFilter(Option<std::sync::Arc<std::collections::HashSet<AuthorId>>>);

impl PeerFilter {
    pub(crate) fn new(allow: Option<&[AuthorId]>) -> Self {
        PeerFilter(allow.map(|a| std::sync::Arc::new(a.iter().copied().collect())))
    }

    /// Whether `peer` may sync with this node at all.
    pub(crate) fn admits(&self, peer: &AuthorId) -> bool {
        self.0.as_ref().is_none_or(|set| set.contains(peer))
    }
}

/// How often an idle node announces its heads by default.
pub const DEFAULT_HEADS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1800);

/// The default [`NetworkConfig::keep_alive`].
pub const DEFAULT_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(30);

impl NetworkConfig {
    /// How often gossip exchanges peer samples per document (HyParView shuffles;
    /// iroh-gossip's own period is a minute): at the heads period, since a document's peers
    /// are few and known from their invites.
    pub(crate) fn shuffle_interval(&self) -> std::time::Duration {
        self.heads_interval.max(std::time::Duration::from_secs(1))
    }

    /// The connection idle timeout that goes with [`NetworkConfig::keep_alive`].
    pub(crate) fn idle_timeout(&self) -> std::time::Duration {
        (self.keep_alive * 3).max(std::time::Duration::from_secs(10))
    }
}

/// The network id FieldSync nodes use unless the app picks its own.
pub const DEFAULT_NETWORK_ID: [u8; 32] = *b"fieldsync/network/v1............";

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            bind_ip: Ipv4Addr::UNSPECIFIED,
            port: 0,
            bootstrap: Vec::new(),
            mdns: false,
            relays: Vec::new(),
            network_id: DEFAULT_NETWORK_ID,
            reconnect_backoff_ms: (250, 10_000),
            allow: None,
            discovery: false,
            heads_interval: DEFAULT_HEADS_INTERVAL,
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }
}

impl NetworkConfig {
    /// Loopback-only settings (127.0.0.1), for tests and single-machine demos.
    pub fn loopback(port: u16) -> Self {
        NetworkConfig {
            bind_ip: Ipv4Addr::LOCALHOST,
            port,
            ..Default::default()
        }
    }

    /// The address to advertise to peers for a bound socket.
    pub(crate) fn advertised(&self, bound: SocketAddr) -> Vec<SocketAddr> {
        if !bound.ip().is_unspecified() {
            return vec![bound];
        }
        // Bound to all interfaces: advertise loopback; LAN peers find us via mDNS.
        vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            bound.port(),
        )]
    }
}

/// When a node fetches the content of attachments it finds in documents without being
/// asked (`Node::set_attachment_policy`). Whatever the policy, `Node::fetch_attachment`
/// fetches on request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachmentPolicy {
    /// Only when asked (the default): content costs data and storage only when shown.
    #[default]
    OnDemand,
    /// As soon as a reference arrives, on any network.
    Always,
    /// As soon as a reference arrives while the network is not metered (Wi-Fi, Ethernet;
    /// the app says which with `Node::set_metered`), else when it stops being metered.
    Unmetered,
}

/// The attachment policy and what the app said about the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FetchSettings {
    pub policy: AttachmentPolicy,
    pub metered: bool,
}

impl FetchSettings {
    /// Whether content found in documents is fetched now.
    pub(crate) fn fetches_now(&self) -> bool {
        match self.policy {
            AttachmentPolicy::OnDemand => false,
            AttachmentPolicy::Always => true,
            AttachmentPolicy::Unmetered => !self.metered,
        }
    }
}
