//! Through a relay next to direct (issue #31): catch-up throughput and edit-to-visible
//! latency between two nodes on loopback, first directly, then with every UDP datagram
//! dropped so that the only path left is a relay server (iroh-relay's, as `fieldsync relay`
//! runs it) over TCP on the same loopback.
//!
//! It runs in a network namespace of its own (`unshare -rn`): the firewall rule that drops
//! UDP (`iptables`/`ip6tables`) stays inside it, and nothing else on the machine is touched.
//! Loopback has no propagation delay, so the figures are the relay's own cost (an extra
//! hop through the server, TCP + WebSocket framing instead of UDP), not a WAN's latency.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use fieldsync::{NetworkConfig, PeerPath, RelayServer};
use iroh_relay::server::{RelayConfig, Server, ServerConfig};

use crate::net;
use crate::stats::Samples;

/// The subcommand the namespaced child runs.
pub const CHILD: &str = "relay-child";

/// Direct and relayed figures of one run.
pub struct Relayed {
    /// Operations of the catch-up.
    pub ops: u64,
    /// Catch-up throughput, ops/s: (direct, relayed).
    pub catchup: (f64, f64),
    /// Edit-to-visible latency p50 in ms: (direct, relayed).
    pub p50_ms: (f64, f64),
    /// Edit-to-visible latency p90 in ms: (direct, relayed).
    pub p90_ms: (f64, f64),
    /// Round-trip time the relayed path reported, in ms.
    pub relayed_rtt_ms: u32,
}

/// Runs the child in a fresh user + network namespace. `Err` says why it could not.
pub fn measure(ops: usize, edits: usize) -> Result<Relayed, String> {
    let text = crate::child::in_namespace([CHILD, &ops.to_string(), &edits.to_string()])
        .map_err(|e| format!("the relay child failed: {e}"))?;
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().map_err(|e| format!("{v:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let [ops, cd, cr, d50, r50, d90, r90, rtt] = v[..] else {
        return Err(format!("unexpected child output {text:?}"));
    };
    Ok(Relayed {
        ops: ops as u64,
        catchup: (cd, cr),
        p50_ms: (d50, r50),
        p90_ms: (d90, r90),
        relayed_rtt_ms: rtt as u32,
    })
}

/// Whether this process is alone in a fresh network namespace: `lo` is its only interface.
/// The firewall rule below must never reach the machine's own namespace.
fn in_fresh_namespace() -> bool {
    std::fs::read_to_string("/proc/net/dev").is_ok_and(|dev| {
        dev.lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .all(|name| name.trim() == "lo")
    })
}

/// Drops every UDP datagram in this namespace, IPv4 and IPv6: QUIC between the nodes can
/// no longer go direct; the relay (TCP) still works.
fn drop_udp() -> Result<(), String> {
    for tool in ["iptables", "ip6tables"] {
        let status = Command::new(tool)
            .args(["-A", "OUTPUT", "-p", "udp", "-j", "DROP"])
            .status()
            .map_err(|e| format!("cannot run {tool}: {e}"))?;
        if !status.success() {
            return Err(format!("{tool} failed: {status}"));
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn expect_path(what: &str, path: Option<PeerPath>, relayed: bool) -> PeerPath {
    let path = path.unwrap_or_else(|| panic!("{what}: no path recorded"));
    assert_eq!(
        path.relayed, relayed,
        "{what}: expected relayed = {relayed}, got {path:?}"
    );
    path
}

/// The child: prints "ops direct-ops/s relayed-ops/s direct-p50 relayed-p50 direct-p90
/// relayed-p90 relayed-rtt-ms".
pub fn child(ops: usize, edits: usize) -> String {
    assert!(
        in_fresh_namespace(),
        "{CHILD} runs only in a network namespace of its own (`fieldsync-bench` starts it with \
         `unshare -rn`): it drops UDP there"
    );
    let rt = crate::runtime();
    rt.block_on(async {
        let relay = RelayConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
        let mut config = ServerConfig::default();
        config.relay = Some(relay);
        let server = Server::spawn(config).await.expect("relay server");
        let url = format!("http://{}", server.http_addr().expect("relay http address"));
        let relayed = NetworkConfig {
            relays: vec![RelayServer {
                url: url.clone(),
                token: None,
            }],
            ..NetworkConfig::loopback(0)
        };

        let direct_catchup = net::catchup_with(ops, NetworkConfig::loopback(0)).await;
        expect_path("direct catch-up", direct_catchup.path, false);
        let (direct_lat, path) = net::latency_with(edits, NetworkConfig::loopback(0)).await;
        expect_path("direct latency", path, false);

        drop_udp().expect("drop UDP in the namespace");
        let relayed_catchup = net::catchup_with(ops, relayed.clone()).await;
        expect_path("relayed catch-up", relayed_catchup.path, true);
        let (relayed_lat, path) = net::latency_with(edits, relayed).await;
        let rtt = expect_path("relayed latency", path, true).rtt_ms;
        server.shutdown().await.expect("relay shutdown");

        let rate = |c: &net::Catchup| c.ops as f64 / c.elapsed.as_secs_f64();
        let pct = |s: &Samples, p: f64| ms(s.percentile(p));
        format!(
            "{} {:.0} {:.0} {:.2} {:.2} {:.2} {:.2} {}",
            direct_catchup.ops,
            rate(&direct_catchup),
            rate(&relayed_catchup),
            pct(&direct_lat, 50.0),
            pct(&relayed_lat, 50.0),
            pct(&direct_lat, 90.0),
            pct(&relayed_lat, 90.0),
            rtt
        )
    })
}
