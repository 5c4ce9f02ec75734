//! `fieldsync relay` between networks that cannot reach each other, in network namespaces
//! the tests create (root and `ip` needed; without them each test prints SKIPPED and why).
//!
//! Every address is inside the namespaces (10.201.x.x, 10.203.x.x, 192.168.77.x); nothing
//! outside this machine is contacted. The namespaces are removed on every path (drop guard).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, init, json, run, wait_until, NodeProc, TIMEOUT};
use serde_json::Value;

const TOKEN: &str = "relay-test-token-0123456789abcdef";

/// Namespaces created by one test, deleted when dropped.
struct Namespaces {
    names: Vec<String>,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Namespaces {
    /// Creates namespaces named `<prefix><pid><suffix>` with their loopback up.
    fn new(prefix: &str, suffixes: &[&str]) -> Namespaces {
        let pid = std::process::id() % 100_000;
        let mut ns = Namespaces { names: Vec::new() };
        for s in suffixes {
            let name = format!("{prefix}{pid}{s}");
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stderr(Stdio::null())
                .status();
            ip(&["netns", "add", &name]);
            ns.names.push(name.clone());
            exec(&name, &["ip", "link", "set", "lo", "up"]);
        }
        ns
    }

    fn name(&self, suffix: &str) -> &str {
        self.names
            .iter()
            .find(|n| n.ends_with(suffix))
            .expect("namespace")
    }

    /// A veth pair between two namespaces with an address (CIDR) on each end.
    fn link(&self, (a, a_addr): (&str, &str), (b, b_addr): (&str, &str), tag: &str) {
        let pid = std::process::id() % 100_000;
        let (ea, eb) = (format!("f{pid}{tag}a"), format!("f{pid}{tag}b"));
        ip(&["link", "add", &ea, "type", "veth", "peer", "name", &eb]);
        ip(&["link", "set", &ea, "netns", self.name(a)]);
        ip(&["link", "set", &eb, "netns", self.name(b)]);
        exec(self.name(a), &["ip", "addr", "add", a_addr, "dev", &ea]);
        exec(self.name(b), &["ip", "addr", "add", b_addr, "dev", &eb]);
        exec(self.name(a), &["ip", "link", "set", &ea, "up"]);
        exec(self.name(b), &["ip", "link", "set", &eb, "up"]);
    }

    fn exec(&self, ns: &str, args: &[&str]) {
        exec(self.name(ns), args)
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn exec(ns: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns];
    all.extend_from_slice(args);
    ip(&all);
}

/// Why namespaces cannot be used here, if they cannot.
fn skip_reason(need_iptables: bool) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root to create network namespaces".into());
    }
    let probe = format!("fsprobe{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
        }
        Ok(o) => {
            return Some(format!(
                "`ip netns add` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return Some(format!("no `ip` command (iproute2): {e}")),
    }
    if need_iptables
        && !Command::new("iptables")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return Some("no `iptables` command (Debian package iptables)".into());
    }
    None
}

/// `fieldsync --data DATA --json ARGS...` run inside namespace `ns`.
fn ns_cmd(ns: &str, data: &Path, token: Option<&str>) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, bin(), "--json", "--data"])
        .arg(data)
        .env_remove("FIELDSYNC_DATA")
        .env_remove("FIELDSYNC_TOKEN")
        .env_remove("FIELDSYNC_RELAY_TOKEN")
        .stdin(Stdio::null());
    if let Some(t) = token {
        c.env("FIELDSYNC_RELAY_TOKEN", t);
    }
    c
}

fn start_relay(ns: &str, data: &Path, listen: &str) -> (NodeProc, String) {
    let mut c = ns_cmd(ns, data, Some(TOKEN));
    c.args(["relay", "--http", listen]);
    let relay = NodeProc::spawn("relay", data, c, "relay_listening");
    let url = relay.ready["url"].as_str().expect("relay url").to_string();
    (relay, url)
}

fn start_node(
    name: &'static str,
    ns: &str,
    data: &Path,
    bind: &str,
    relay: &str,
    token: Option<&str>,
) -> NodeProc {
    let mut c = ns_cmd(ns, data, token);
    c.args(["node", "--bind", bind, "--no-mdns", "--relay", relay]);
    NodeProc::spawn(name, data, c, "ready")
}

fn content(data: &Path, doc: &str) -> String {
    let out = run(data, &["--json", "doc", "show", doc]);
    if !out.status.success() {
        return String::new();
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["content"].to_string()
}

/// The path `data`'s node recorded for `peer` in `doc` (`status`), if any.
fn path_to(data: &Path, doc: &str, peer: &str) -> Option<Value> {
    let st = json(data, &["status"]);
    st["documents"]
        .as_array()?
        .iter()
        .find(|d| d["id"] == doc)?["peers"]
        .as_array()?
        .iter()
        .find(|p| p["peer"] == peer)
        .map(|p| p["path"].clone())
        .filter(|p| !p.is_null())
}

/// A and B in two namespaces with no route to each other, the relay in a third that both
/// reach (and that forwards nothing): A invites B, B joins, both edit and converge through
/// the relay; the relay is cut, both edit offline, the relay comes back, they converge. A
/// device without the relay's token (C) is refused by the relay and never reads the
/// document.
#[test]
fn nodes_without_a_route_converge_through_the_relay_and_after_it_was_cut() {
    if let Some(why) = skip_reason(false) {
        println!("SKIPPED: {why}");
        return;
    }
    let ns = Namespaces::new("fsr", &["r", "a", "b", "c"]);
    ns.link(("a", "10.201.1.2/24"), ("r", "10.201.1.1/24"), "a");
    ns.link(("b", "10.201.2.2/24"), ("r", "10.201.2.1/24"), "b");
    ns.link(("c", "10.201.3.2/24"), ("r", "10.201.3.1/24"), "c");
    // The relay's own address; the relay's namespace forwards nothing between A, B and C.
    ns.exec("r", &["ip", "addr", "add", "10.201.0.1/32", "dev", "lo"]);
    ns.exec("r", &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    for (n, gw) in [
        ("a", "10.201.1.1"),
        ("b", "10.201.2.1"),
        ("c", "10.201.3.1"),
    ] {
        ns.exec(n, &["ip", "route", "add", "10.201.0.1/32", "via", gw]);
    }
    // A cannot reach B: the test's premise.
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name("a"),
            "ping",
            "-c1",
            "-W1",
            "10.201.2.2",
        ])
        .output();
    if let Ok(out) = ping {
        assert!(!out.status.success(), "A reaches B directly");
    }

    let dirs = tempfile::tempdir().unwrap();
    let (a, b, c, r) = (
        dirs.path().join("a"),
        dirs.path().join("b"),
        dirs.path().join("c"),
        dirs.path().join("r"),
    );
    let a_id = init(&a);
    let b_id = init(&b);
    let c_id = init(&c);
    let (mut relay, url) = start_relay(ns.name("r"), &r, "10.201.0.1:0");
    assert!(url.starts_with("http://10.201.0.1:"), "{url}");
    let port = url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();

    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    json(&a, &["doc", "set", &doc, "site", r#"{"name":"Kisumu"}"#]);
    let node_a = start_node("A", ns.name("a"), &a, "10.201.1.2", &url, Some(TOKEN));
    assert_eq!(node_a.ready["relay"], url.as_str(), "{}", node_a.ready);
    let node_b = start_node("B", ns.name("b"), &b, "10.201.2.2", &url, Some(TOKEN));
    let node_c = start_node("C", ns.name("c"), &c, "10.201.3.2", &url, None);
    let logs = |relay: &NodeProc| {
        format!(
            "relay:\n{}\nA:\n{}\nB:\n{}\nC:\n{}",
            relay.log_text(),
            node_a.log_text(),
            node_b.log_text(),
            node_c.log_text()
        )
    };

    let invite = json(&a, &["invite", &doc])["invite"]
        .as_str()
        .unwrap()
        .to_string();
    json(&b, &["join", &invite]);
    let started = Instant::now();
    wait_until(
        "B reads A's document through the relay",
        || content(&b, &doc).contains("Kisumu"),
        || logs(&relay),
    );
    println!("B joined through the relay in {:?}", started.elapsed());

    json(&a, &["doc", "set", &doc, "site/by_a", "1"]);
    json(&b, &["doc", "set", &doc, "site/by_b", "2"]);
    wait_until(
        "A and B converge through the relay",
        || {
            let ca = content(&a, &doc);
            ca.contains("by_a") && ca.contains("by_b") && ca == content(&b, &doc)
        },
        || logs(&relay),
    );
    let path = path_to(&b, &doc, &a_id).or_else(|| path_to(&a, &doc, &b_id));
    let path = path.unwrap_or_else(|| panic!("no path recorded\n{}", logs(&relay)));
    assert_eq!(path["relayed"], true, "{path}");
    println!("path A-B: {path}");

    // C (no token) is refused by the relay and cannot join.
    let invite_c = json(&a, &["invite", &doc])["invite"]
        .as_str()
        .unwrap()
        .to_string();
    json(&c, &["join", &invite_c]);
    wait_until(
        "the relay refuses C",
        || relay.log_text().contains(&c_id),
        || logs(&relay),
    );
    assert!(
        relay.log_text().contains("no token"),
        "{}",
        relay.log_text()
    );

    // Cut the relay; both edit offline; bring it back on the same address.
    relay.kill();
    json(&a, &["doc", "set", &doc, "site/offline_a", "3"]);
    json(&b, &["doc", "set", &doc, "site/offline_b", "4"]);
    assert!(!content(&b, &doc).contains("offline_a"));
    let (relay2, url2) = start_relay(ns.name("r"), &r, &format!("10.201.0.1:{port}"));
    assert_eq!(url2, url);
    let restored = Instant::now();
    wait_until(
        "A and B converge after the relay came back",
        || {
            let ca = content(&a, &doc);
            ca.contains("offline_a") && ca.contains("offline_b") && ca == content(&b, &doc)
        },
        || logs(&relay2),
    );
    println!(
        "converged {:?} after the relay came back",
        restored.elapsed()
    );
    assert!(
        !content(&c, &doc).contains("Kisumu"),
        "C read the document without the relay's token"
    );
    drop(node_c);
}

/// A behind a NAT (masquerade) on a private network, B and the relay on the routed
/// "public" side: B cannot reach A, A reaches B. They meet through the relay, then the
/// connection moves to a direct path (A's packets open the NAT mapping), which the status
/// shows.
#[test]
fn a_node_behind_a_nat_moves_to_a_direct_path() {
    if let Some(why) = skip_reason(true) {
        println!("SKIPPED: {why}");
        return;
    }
    let ns = Namespaces::new("fsn", &["r", "n", "a", "b"]);
    // R routes between B's and the NAT's networks; it holds the relay's address.
    ns.link(("b", "10.203.2.2/24"), ("r", "10.203.2.1/24"), "b");
    ns.link(("n", "10.203.3.2/24"), ("r", "10.203.3.1/24"), "n");
    ns.link(("a", "192.168.77.2/24"), ("n", "192.168.77.1/24"), "a");
    ns.exec("r", &["ip", "addr", "add", "10.203.0.1/32", "dev", "lo"]);
    ns.exec("r", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    ns.exec("n", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    ns.exec("b", &["ip", "route", "add", "default", "via", "10.203.2.1"]);
    ns.exec("n", &["ip", "route", "add", "default", "via", "10.203.3.1"]);
    ns.exec(
        "a",
        &["ip", "route", "add", "default", "via", "192.168.77.1"],
    );
    let pid = std::process::id() % 100_000;
    ns.exec(
        "n",
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            &format!("f{pid}na"),
            "-j",
            "MASQUERADE",
        ],
    );

    let dirs = tempfile::tempdir().unwrap();
    let (a, b, r) = (
        dirs.path().join("a"),
        dirs.path().join("b"),
        dirs.path().join("r"),
    );
    let a_id = init(&a);
    init(&b);
    let (relay, url) = start_relay(ns.name("r"), &r, "10.203.0.1:0");
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    json(&a, &["doc", "set", &doc, "site", r#"{"name":"Kisumu"}"#]);
    let node_a = start_node("A", ns.name("a"), &a, "192.168.77.2", &url, Some(TOKEN));
    let node_b = start_node("B", ns.name("b"), &b, "10.203.2.2", &url, Some(TOKEN));
    let logs = || {
        format!(
            "relay:\n{}\nA:\n{}\nB:\n{}",
            relay.log_text(),
            node_a.log_text(),
            node_b.log_text()
        )
    };
    let invite = json(&a, &["invite", &doc])["invite"]
        .as_str()
        .unwrap()
        .to_string();
    json(&b, &["join", &invite]);
    wait_until(
        "B reads A's document",
        || content(&b, &doc).contains("Kisumu"),
        logs,
    );
    // Each edit is a sync session; B records the path each one took (the join's first).
    let deadline = Instant::now() + TIMEOUT;
    let mut paths: Vec<Value> = path_to(&b, &doc, &a_id).into_iter().collect();
    let mut i = 0;
    loop {
        i += 1;
        json(&a, &["doc", "set", &doc, "site/n", &i.to_string()]);
        let want = format!("\"n\":{i}");
        wait_until(
            "B receives A's edit",
            || content(&b, &doc).contains(&want),
            logs,
        );
        if let Some(p) = path_to(&b, &doc, &a_id) {
            if paths.last() != Some(&p) {
                paths.push(p.clone());
            }
            if p["relayed"] == false {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no direct path within {TIMEOUT:?}; paths seen: {paths:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("paths B saw to A, in order: {paths:?} (after {i} edits)");
}
