//! `fieldsync node` (and `fieldsync serve`): a long-lived peer with the network on.
//!
//! Holds the data directory (see [`crate::control`]), answers the commands other `fieldsync`
//! invocations forward to it, prints what happens on the network, optionally admits devices
//! that announced their key bundle (`--admit`) and serves GraphQL (`--graphql`). Stops
//! cleanly on SIGINT or SIGTERM.

use std::collections::{BTreeSet, HashSet};
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use fieldsync::{
    AuthorId, DocumentError, Event, NetworkConfig, Node, NodeConfig, Origin, PeerAddr,
};
use serde_json::json;

use crate::control;
use crate::error::{self, CliError, Result};
use crate::fmt;
use crate::graphql;
use crate::progress::Progress;

/// Longest wait for the network to shut down on exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often `--admit` looks for devices to admit.
const ADMIT_EVERY: Duration = Duration::from_millis(500);
/// How often catch-up progress bars move.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Network options of `fieldsync node` and `fieldsync serve`.
#[derive(Args, Debug, Clone)]
pub struct NetArgs {
    /// UDP port for QUIC [default: the port of the last run, else a free one].
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Local IPv4 address to bind: all interfaces by default (LAN use); 127.0.0.1 keeps the
    /// node on this machine. Invites carry the bound address; with all interfaces they carry
    /// only a loopback address and LAN peers find the node by mDNS, so bind the LAN address
    /// (or use `--peer` on the other side) where mDNS does not work.
    #[arg(long, value_name = "IP", default_value_t = Ipv4Addr::UNSPECIFIED)]
    pub bind: Ipv4Addr,

    /// A peer to contact at start, as NODE_ID@IP:PORT (repeat for several). Remembered
    /// across restarts.
    #[arg(long = "peer", value_name = "NODE@ADDR", value_parser = parse_peer)]
    pub peers: Vec<PeerAddr>,

    /// Do not advertise or discover peers on the LAN with mDNS (on by default).
    #[arg(long)]
    pub no_mdns: bool,

    /// Also look up peers' addresses through p2panda's discovery protocol (off by
    /// default: it costs hundreds of KB a minute; --peer, invite, remembered peers and
    /// members that dialled in are reached without it).
    #[arg(long)]
    pub discovery: bool,

    /// When to fetch the content of attachments found in documents without being asked:
    /// on-demand (default: `doc attachment --doc`), always, or unmetered (this machine's
    /// network counts as unmetered).
    #[arg(long, value_name = "POLICY", default_value = "on-demand", value_parser = parse_policy)]
    pub fetch_attachments: fieldsync::AttachmentPolicy,

    /// Sync only with this device (node id); repeatable. Connections, gossip and dials of any
    /// other device are refused, whatever its role. Default: any device with a role.
    #[arg(long = "allow", value_name = "NODE_ID", value_parser = parse_node_id)]
    pub allow: Vec<AuthorId>,

    /// Also admit every device that announced its key bundle in a document this node is a
    /// member of and that syncs that document with this node, even without an invite token
    /// (e.g. it joined with an invite stripped of its token). Anyone who knows the document
    /// id then gets read access: use on trusted networks only. Devices that join with an
    /// invite of this node are admitted without this flag (the invite carries a join token
    /// that this node checks); revoke a document's invites through the SDK.
    #[arg(long)]
    pub admit: bool,

    /// A relay server (`fieldsync relay`) for peers on other networks, e.g.
    /// https://relay.example.org (repeatable; the first goes into invites). Its token comes
    /// from FIELDSYNC_RELAY_TOKEN or --relay-token-file. Default: none, nothing beyond the
    /// LAN and the given peers is contacted.
    #[arg(long = "relay", value_name = "URL")]
    pub relays: Vec<String>,

    /// Read the relays' access token from FILE.
    #[arg(long, value_name = "FILE", requires = "relays")]
    pub relay_token_file: Option<std::path::PathBuf>,
}

impl NetArgs {
    /// The relays with their token, checked.
    pub fn relay_servers(&self) -> Result<Vec<fieldsync::RelayServer>> {
        let token = match (
            &self.relay_token_file,
            std::env::var("FIELDSYNC_RELAY_TOKEN"),
        ) {
            (Some(path), _) => Some(crate::graphql::access::read_token(path)?),
            (None, Ok(t)) if !self.relays.is_empty() => Some(t.trim().to_string()),
            _ => None,
        };
        self.relays
            .iter()
            .map(|url| {
                let relay = fieldsync::RelayServer {
                    url: url.clone(),
                    token: token.clone(),
                };
                relay
                    .check()
                    .map_err(|e| crate::error::CliError::invalid(format!("--relay: {e}")))?;
                Ok(relay)
            })
            .collect()
    }
}

/// GraphQL options of `fieldsync node` (`fieldsync serve` requires `--graphql`).
#[derive(Args, Debug, Clone)]
pub struct GraphqlArgs {
    /// Serve the GraphQL API on ADDR (e.g. 127.0.0.1:8080): POST /graphql for queries and
    /// mutations, /graphql/ws for subscriptions (graphql-transport-ws or graphql-ws), and the
    /// web console at /.
    #[arg(long, value_name = "ADDR")]
    pub graphql: Option<SocketAddr>,

    #[command(flatten)]
    pub access: AccessArgs,
}

/// Who may use the GraphQL API.
#[derive(Args, Debug, Clone, Default)]
pub struct AccessArgs {
    /// Read the access token from PATH. The token is always required: from FIELDSYNC_TOKEN,
    /// else this file, else DATA/graphql.token, generated (mode 0600) and printed once on the
    /// first serve. Clients send `Authorization: Bearer TOKEN` (over WebSocket also
    /// `{"token": TOKEN}` in the connection_init payload).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,

    /// Let web pages from ORIGIN (e.g. https://console.example.org) use the API; repeatable.
    /// By default only the console served by this node may; requests from any other page
    /// are refused.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,

    /// Serve GraphQL schema introspection (off by default).
    #[arg(long)]
    pub introspection: bool,
}

/// Parses a node id (64 hex characters).
fn parse_node_id(s: &str) -> std::result::Result<AuthorId, String> {
    s.trim()
        .parse()
        .map_err(|e| format!("not a node id (64 hex characters): {e}"))
}

/// Parses `NODE_ID@IP:PORT`.
fn parse_peer(s: &str) -> std::result::Result<PeerAddr, String> {
    let (node, addr) = s
        .split_once('@')
        .ok_or_else(|| format!("expected NODE_ID@IP:PORT, got {s:?}"))?;
    let node: AuthorId = node
        .parse()
        .map_err(|e| format!("bad node id {node:?} (64 hex characters): {e}"))?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("bad address {addr:?} (expected IP:PORT): {e}"))?;
    if addr.port() == 0 {
        return Err(format!("bad address {addr}: port 0"));
    }
    Ok(PeerAddr {
        node,
        addrs: vec![addr],
        relay: None,
    })
}

/// Runs the node on `data` until SIGINT or SIGTERM.
pub fn run(data: &Path, json: bool, net: NetArgs, gql: GraphqlArgs) -> Result<()> {
    if !fieldsync::Node::exists(data) {
        return Err(error::no_node(data));
    }
    // An existing directory of an older version may be wider: restricted before the lock
    // file and the control socket are created in it.
    crate::dispatch::private_dir(data)?;
    let _lock = control::lock_for_node(data)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(serve(data, json, net, gql));
    rt.shutdown_timeout(Duration::from_secs(5));
    result
}

async fn serve(data: &Path, json: bool, net: NetArgs, gql: GraphqlArgs) -> Result<()> {
    let node = Node::open(NodeConfig::new(data))?;
    let mut events = node.subscribe();
    #[cfg(unix)]
    let control = crate::control_server::ControlSocket::bind(data)?;
    let mut sigterm = terminate_signal()?;

    let config = NetworkConfig {
        bind_ip: net.bind,
        port: net.port.unwrap_or(0),
        bootstrap: net.peers.clone(),
        mdns: !net.no_mdns,
        discovery: net.discovery,
        allow: (!net.allow.is_empty()).then(|| net.allow.clone()),
        relays: net.relay_servers()?,
        ..Default::default()
    };
    for p in &net.peers {
        node.add_peer(p.clone()).await?;
    }
    let token = match gql.graphql {
        Some(_) => Some(graphql::access::resolve_token(
            data,
            std::env::var("FIELDSYNC_TOKEN").ok().as_deref(),
            gql.access.token_file.as_deref(),
        )?),
        None => None,
    };
    node.set_attachment_policy(net.fetch_attachments);
    let info = node.start_network(config).await?;
    let graphql_addr = match (gql.graphql, &token) {
        (Some(addr), Some((token, _))) => Some(
            graphql::server::start(
                node.clone(),
                graphql::server::ServeOptions {
                    addr,
                    token: token.clone(),
                    allowed_origins: gql.access.allow_origin.clone(),
                    introspection: gql.access.introspection,
                },
            )
            .await?,
        ),
        _ => None,
    };
    // The token is shown once, when it is generated; afterwards it stays in its file.
    let (token_file, new_token) = match &token {
        Some((t, graphql::access::TokenOrigin::Generated(p))) => {
            (Some(p.display().to_string()), Some(t.clone()))
        }
        Some((_, graphql::access::TokenOrigin::File(p))) => (Some(p.display().to_string()), None),
        _ => (None, None),
    };

    let out = Printer {
        json,
        progress: (!json && std::io::stdout().is_terminal()).then(|| Arc::new(Progress::new())),
    };
    out.event(
        json!({
            "event": "ready",
            "node": node.author().to_string(),
            "addrs": info.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "mdns": !net.no_mdns,
            "relay": info.relay,
            "admit": net.admit,
            "graphql": graphql_addr.map(|a| a.to_string()),
            "graphql_token_file": token_file,
            "graphql_token": new_token,
            "data_dir": data.display().to_string(),
        }),
        || {
            let mut s = format!(
                "node {} online on {}{}",
                node.author(),
                addrs(&info.addrs),
                if net.no_mdns { "" } else { " (mDNS on)" }
            );
            if let Some(relay) = &info.relay {
                s.push_str(&format!("\nreachable from other networks through the relay {relay}"));
            }
            if let Some(a) = graphql_addr {
                s.push_str(&format!(
                    "\nGraphQL on http://{a}/graphql (ws://{a}/graphql/ws), console on http://{a}/"
                ));
                match (&new_token, &token_file) {
                    (Some(t), Some(f)) => s.push_str(&format!(
                        "\naccess token (saved to {f}; shown only now): {t}"
                    )),
                    (None, Some(f)) => s.push_str(&format!("\naccess token: in {f}")),
                    _ => s.push_str("\naccess token: from FIELDSYNC_TOKEN"),
                }
            }
            s.push_str("\nCtrl-C stops the node; other fieldsync commands on this data directory are forwarded to it");
            s
        },
    );

    #[cfg(unix)]
    let control_task = tokio::spawn(control.serve(node.clone()));
    let admit_task = net
        .admit
        .then(|| tokio::spawn(admit_loop(node.clone(), out.clone())));
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);

    let me = node.author();
    let stop_reason = loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(ev) => out.node_event(&node, &ev, &me),
                None => break "node closed",
            },
            _ = ticker.tick(), if out.progress.is_some() => {
                if let Some(p) = &out.progress {
                    p.tick(&node);
                }
            }
            _ = tokio::signal::ctrl_c() => break "SIGINT",
            _ = sigterm.recv() => break "SIGTERM",
        }
    };
    #[cfg(unix)]
    control_task.abort();
    if let Some(t) = admit_task {
        t.abort();
    }
    let stopped = tokio::time::timeout(STOP_TIMEOUT, node.stop_network()).await;
    node.flush()?;
    out.event(json!({"event": "stopped", "reason": stop_reason}), || {
        format!("stopped ({stop_reason})")
    });
    match stopped {
        Ok(r) => Ok(r?),
        Err(_) => Err(CliError::msg(format!(
            "the network did not stop within {} s",
            STOP_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(unix)]
fn terminate_signal() -> Result<tokio::signal::unix::Signal> {
    Ok(tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::terminate(),
    )?)
}

/// Never fires where there is no SIGTERM.
#[cfg(not(unix))]
fn terminate_signal() -> Result<NoSignal> {
    Ok(NoSignal)
}

#[cfg(not(unix))]
struct NoSignal;

#[cfg(not(unix))]
impl NoSignal {
    async fn recv(&mut self) -> Option<()> {
        std::future::pending().await
    }
}

/// Admits devices whose key bundle arrived, for documents this node is a member of.
async fn admit_loop(node: Node, out: Printer) {
    let mut failed: HashSet<(fieldsync::DocumentId, AuthorId)> = HashSet::new();
    loop {
        tokio::time::sleep(ADMIT_EVERY).await;
        let Ok(docs) = node.documents() else { continue };
        for id in docs {
            let Ok(doc) = node.document(id) else { continue };
            let Ok(members) = doc.members() else { continue };
            if members.is_empty() || !doc.can_read().unwrap_or(false) {
                continue;
            }
            let Ok(st) = node.sync_status(id).await else {
                continue;
            };
            let candidates: BTreeSet<AuthorId> = st
                .connected_peers
                .iter()
                .chain(st.known_peers.iter())
                .copied()
                .filter(|p| !members.contains(p) && *p != node.author())
                .collect();
            for peer in candidates {
                if failed.contains(&(id, peer)) {
                    continue;
                }
                match doc.add_announced_member(peer) {
                    Ok(()) => {
                        let _ = node.flush();
                        out.event(
                            json!({"event": "member_admitted", "document": id.to_string(), "member": peer.to_string()}),
                            || format!("admitted {} to document {}", fmt::short(&peer), fmt::short(&id)),
                        );
                    }
                    // Not announced (yet): a relay, or the announcement has not synced.
                    Err(DocumentError::InvalidArgument(m)) if m.starts_with("no key bundle") => {}
                    Err(e) => {
                        failed.insert((id, peer));
                        out.event(
                            json!({"event": "admit_failed", "document": id.to_string(), "member": peer.to_string(), "reason": e.to_string()}),
                            || format!("could not admit {} to {}: {e}", fmt::short(&peer), fmt::short(&id)),
                        );
                    }
                }
            }
        }
    }
}

/// Prints node events as text lines (with catch-up progress bars on a terminal) or one JSON
/// object per line.
#[derive(Clone)]
struct Printer {
    json: bool,
    progress: Option<Arc<Progress>>,
}

impl Printer {
    fn event(&self, v: serde_json::Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{v}");
        } else if let Some(p) = &self.progress {
            p.println(&text());
        } else {
            println!("{}", text());
        }
    }

    fn node_event(&self, node: &Node, ev: &Event, me: &AuthorId) {
        if let Some(p) = &self.progress {
            match ev {
                Event::SyncStarted {
                    peer,
                    document,
                    incoming_ops,
                } => {
                    // The bar shows it; no line.
                    p.started(node, *peer, *document, *incoming_ops);
                    if *incoming_ops > 0 {
                        return;
                    }
                }
                Event::SyncFinished { peer, document, .. } => p.finished(*peer, *document),
                _ => {}
            }
        }
        let s = |d: &fieldsync::DocumentId| d.to_string();
        let (v, text) = match ev {
            Event::DocumentChanged { document, origin } => {
                let by = match origin {
                    Origin::Local => "local".to_string(),
                    Origin::Remote(a) => a.to_string(),
                };
                let who = match origin {
                    Origin::Local => "this node".to_string(),
                    Origin::Remote(a) if a == me => "this node (earlier run)".to_string(),
                    Origin::Remote(a) => fmt::short(a),
                };
                (
                    json!({"event": "document_changed", "document": s(document), "origin": by}),
                    format!("document {} changed by {who}", fmt::short(document)),
                )
            }
            Event::PeerConnected { peer, document } => (
                json!({"event": "peer_connected", "peer": peer.to_string(), "document": s(document)}),
                format!(
                    "peer {} connected for document {}",
                    fmt::short(peer),
                    fmt::short(document)
                ),
            ),
            Event::PeerDisconnected { peer, document } => (
                json!({"event": "peer_disconnected", "peer": peer.to_string(), "document": s(document)}),
                format!(
                    "peer {} left document {}",
                    fmt::short(peer),
                    fmt::short(document)
                ),
            ),
            Event::SyncStarted {
                peer,
                document,
                incoming_ops,
            } => (
                json!({"event": "catch_up_started", "peer": peer.to_string(), "document": s(document), "incoming_ops": incoming_ops}),
                format!(
                    "catch-up with {} on {}: {incoming_ops} op(s) incoming…",
                    fmt::short(peer),
                    fmt::short(document)
                ),
            ),
            Event::SyncFinished {
                peer,
                document,
                received_ops,
                sent_ops,
            } => (
                json!({"event": "catch_up_finished", "peer": peer.to_string(), "document": s(document), "received_ops": received_ops, "sent_ops": sent_ops}),
                format!(
                    "catch-up with {} on {} done: received {received_ops} op(s), sent {sent_ops}",
                    fmt::short(peer),
                    fmt::short(document)
                ),
            ),
            Event::SyncFailed {
                peer,
                document,
                reason,
            } => (
                json!({"event": "sync_failed", "peer": peer.map(|p| p.to_string()), "document": s(document), "reason": reason}),
                format!(
                    "sync of {} with {} failed (retrying): {reason}",
                    fmt::short(document),
                    peer.map(|p| fmt::short(&p))
                        .unwrap_or_else(|| "a peer".into())
                ),
            ),
            Event::OperationsRejected {
                peer,
                document,
                total,
                reason,
            } => (
                json!({"event": "operations_rejected", "peer": peer.map(|p| p.to_string()), "document": s(document), "total": total, "reason": reason}),
                format!(
                    "rejected operations for {} from {} ({total} so far): {reason}",
                    fmt::short(document),
                    peer.map(|p| fmt::short(&p))
                        .unwrap_or_else(|| "a peer".into())
                ),
            ),
            Event::Ephemeral {
                document,
                sender,
                payload,
            } => (
                json!({"event": "ephemeral", "document": s(document), "sender": sender.to_string(), "bytes": payload.len()}),
                format!(
                    "ephemeral message on {} from {} ({} bytes)",
                    fmt::short(document),
                    fmt::short(sender),
                    payload.len()
                ),
            ),
            Event::MemberJoined { document, member } => (
                json!({"event": "member_joined", "document": s(document), "member": member.to_string()}),
                format!(
                    "admitted {} to document {} (it presented this node's invite)",
                    fmt::short(member),
                    fmt::short(document)
                ),
            ),
            Event::JoinRefused {
                document,
                requester,
                inviter,
                reason,
            } => (
                json!({"event": "join_refused", "document": s(document), "requester": requester.to_string(), "inviter": inviter.to_string(), "reason": reason.to_string()}),
                if inviter == me {
                    format!(
                        "refused {}'s request to join document {}: {reason}",
                        fmt::short(requester),
                        fmt::short(document)
                    )
                } else {
                    format!(
                        "{} refused this node's request to join document {}: {reason} (ask for a new invite)",
                        fmt::short(inviter),
                        fmt::short(document)
                    )
                },
            ),
            Event::AttachmentFetchStarted {
                document,
                attachment,
            } => (
                json!({"event": "attachment_fetch_started", "document": s(document), "attachment": attachment}),
                format!(
                    "fetching attachment {} of document {}",
                    &attachment[..attachment.len().min(12)],
                    fmt::short(document)
                ),
            ),
            Event::AttachmentFetchEnded {
                document,
                attachment,
                complete,
                reason,
            } => (
                json!({"event": "attachment_fetch_ended", "document": s(document), "attachment": attachment, "complete": complete, "reason": reason}),
                match reason {
                    None => format!(
                        "attachment {} of document {} is here",
                        &attachment[..attachment.len().min(12)],
                        fmt::short(document)
                    ),
                    Some(r) => format!(
                        "attachment {} of document {} not fetched: {r}",
                        &attachment[..attachment.len().min(12)],
                        fmt::short(document)
                    ),
                },
            ),
            Event::AttachmentProgress {
                document,
                attachment,
                bytes,
                total,
            } => (
                json!({"event": "attachment_progress", "document": s(document), "attachment": attachment, "bytes": bytes, "total": total}),
                format!(
                    "attachment {} of document {}: {bytes} of {total} bytes",
                    &attachment[..attachment.len().min(12)],
                    fmt::short(document)
                ),
            ),
            Event::DirectMessage { from, payload } => (
                json!({"event": "direct_message", "from": from.to_string(), "bytes": payload.len()}),
                format!(
                    "direct message from {} ({} bytes)",
                    fmt::short(from),
                    payload.len()
                ),
            ),
            Event::ForkDetected {
                document,
                author,
                seq,
            } => (
                json!({"event": "fork_detected", "document": s(document), "author": author.to_string(), "seq": seq}),
                format!(
                    "{} signed two different operations for position {seq} of its log in document {}: its log is frozen there on every replica",
                    fmt::short(author),
                    fmt::short(document)
                ),
            ),
            Event::IdentityCloned { document, seq } => (
                json!({"event": "identity_cloned", "document": s(document), "seq": seq}),
                format!(
                    "another device writes with this node's identity (position {seq} of its log in document {}): writes are refused; start a new node in a fresh data directory and join again",
                    fmt::short(document)
                ),
            ),
            Event::Lagged { missed } => (
                json!({"event": "lagged", "missed": missed}),
                format!("(missed {missed} events: printing too slowly)"),
            ),
        };
        self.event(v, || text);
    }
}

fn addrs(a: &[SocketAddr]) -> String {
    a.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_policy(s: &str) -> std::result::Result<fieldsync::AttachmentPolicy, String> {
    match s {
        "on-demand" => Ok(fieldsync::AttachmentPolicy::OnDemand),
        "always" => Ok(fieldsync::AttachmentPolicy::Always),
        "unmetered" => Ok(fieldsync::AttachmentPolicy::Unmetered),
        other => Err(format!(
            "{other:?} is no policy: on-demand, always or unmetered"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_needs_node_id_and_address() {
        let id = format!("58{}", "66".repeat(31));
        assert!(parse_peer("127.0.0.1:4000")
            .unwrap_err()
            .contains("NODE_ID@"));
        assert!(parse_peer(&format!("{id}@nowhere"))
            .unwrap_err()
            .contains("bad address"));
        assert!(parse_peer("zz@127.0.0.1:4000")
            .unwrap_err()
            .contains("bad node id"));
    }
}
