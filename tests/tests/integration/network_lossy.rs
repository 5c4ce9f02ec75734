//! Sync through a bad network: node B runs in its own network namespace and reaches node A
//! only through a UDP proxy that drops 30% of the datagrams and delays the rest by 300 ms,
//! then cuts the link (a partition), then heals; a transfer is cut mid-way and resumed.
//! Replicas converge within stated deadlines.
//!
//! Needs root and `ip netns` (the kernel here has no `sch_netem`, so loss and delay come from
//! the proxy). Without them the test prints why and returns.

use std::process::Command;
use std::time::{Duration, Instant};

use fieldsync::{DocumentId, Node, Value};
use fieldsync_tests::peer_process::PeerProcess;
use fieldsync_tests::udp_proxy::{Faults, UdpProxy};
use fieldsync_tests::{go_online, open_node};

/// A network namespace with only `lo` up, deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> Result<Self, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let name = format!("fsync-lossy-{}", std::process::id());
        let run = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .map_err(|e| format!("ip: {e}"))
                .and_then(|s| {
                    s.success()
                        .then_some(())
                        .ok_or(format!("ip {args:?} failed"))
                })
        };
        run(&["netns", "add", &name])?;
        let ns = Netns(name);
        run(&["-n", &ns.0, "link", "set", "lo", "up"])?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn write(node: &Node, id: DocumentId, n: i64) {
    let list = node.document(id).unwrap().list("a").unwrap();
    for i in 0..n {
        list.push(Value::Int(i)).unwrap();
    }
}

fn height(node: &Node, id: DocumentId, author: fieldsync::AuthorId) -> Option<u32> {
    node.document(id).ok()?.version().ok()?.get(&author)
}

/// Polls every 200 ms until A and B hold each other's logs and equal JSON.
async fn converge(
    a: &Node,
    b: &mut PeerProcess,
    id: DocumentId,
    within: Duration,
    what: &str,
) -> Duration {
    let t0 = Instant::now();
    loop {
        let (a_on_b, b_on_b) = b.status();
        let me = a.author();
        if a_on_b == height(a, id, me) {
            let vv = a.document(id).unwrap().version().unwrap();
            let b_on_a = vv.iter().find(|(k, _)| **k != me).map(|(_, s)| *s);
            if b_on_a == b_on_b {
                let json_a = a.document(id).unwrap().to_json().unwrap();
                if fieldsync_tests::json_hash(&json_a).to_string() == b.json_hash() {
                    return t0.elapsed();
                }
            }
        }
        assert!(
            t0.elapsed() < within,
            "{what}: no convergence within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_delay_partition_and_cut_transfer_converge() {
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED: needs root and `ip netns` ({why})");
            return;
        }
    };
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let doc = a.create_document().unwrap();
    let id = doc.id();
    // B's device key exists before it runs, so A can make it a member.
    doc.add_member(&open_node(db.path()).key_bundle().unwrap())
        .unwrap();
    let info_a = go_online(&a).await;
    let proxy = UdpProxy::start_in_netns(info_a.addrs[0], &ns.0)
        .await
        .unwrap();
    let lossy = Faults {
        loss_pct: 30,
        delay: Duration::from_millis(300),
        blackhole: false,
    };
    proxy.set(lossy);
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_net_peer")])
        .arg(db.path())
        .arg(a.author().to_string())
        .arg(proxy.addr.to_string())
        .arg(id.to_string());
    // Node B: the `net_peer` helper in the namespace.
    let mut b = PeerProcess::spawn("B", command, Duration::from_secs(120));

    write(&a, id, 200);
    let t = converge(
        &a,
        &mut b,
        id,
        Duration::from_secs(180),
        "join at 30% loss, 300 ms",
    )
    .await;
    eprintln!("30% loss + 300 ms: B joined and caught up 200 ops in {t:?}; proxy (forwarded, dropped) {:?}", proxy.counts());
    write(&a, id, 100);
    assert_eq!(b.ask("write 100"), "ok");
    let t = converge(
        &a,
        &mut b,
        id,
        Duration::from_secs(180),
        "concurrent edits at 30% loss",
    )
    .await;
    eprintln!(
        "30% loss + 300 ms: 100 + 100 concurrent ops converged in {t:?}; proxy {:?}",
        proxy.counts()
    );
    assert!(
        proxy.counts().1 > 0,
        "the proxy must have dropped datagrams"
    );

    // Partition: nothing gets through, both sides keep writing.
    proxy.set(Faults {
        blackhole: true,
        ..lossy
    });
    let (a_on_b, _) = b.status();
    write(&a, id, 150);
    assert_eq!(b.ask("write 150"), "ok");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        b.status().0,
        a_on_b,
        "partitioned: A's edits must not reach B"
    );
    proxy.set(lossy);
    let t = converge(
        &a,
        &mut b,
        id,
        Duration::from_secs(180),
        "after the partition heals",
    )
    .await;
    eprintln!(
        "5 s partition healed (30% loss, 300 ms): converged in {t:?}; proxy {:?}",
        proxy.counts()
    );

    // A transfer cut mid-way: while B catches up 2,000 ops of 2 KiB each over the lossy link
    // (slow: megabytes at 30% loss and 600 ms round trips take minutes, QUIC's congestion
    // control backs off hard), the link dies silently (no close, datagrams vanish) for 3 s,
    // then comes back clean.
    let before = b.status().0.unwrap_or(0);
    let list = doc.list("a").unwrap();
    for i in 0..2_000 {
        list.push(Value::from(format!("{i:02048}").as_str()))
            .unwrap();
    }
    let target = height(&a, id, a.author()).unwrap();
    let t0 = Instant::now();
    let cut_at = loop {
        let now = b.status().0.unwrap_or(0);
        if now > before {
            proxy.set(Faults {
                blackhole: true,
                ..lossy
            });
            break now - before;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "transfer never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = b.status().0.unwrap_or(0);
    assert!(
        held < target,
        "the cut must land mid-transfer (B holds {held} of {target})"
    );
    proxy.set(Faults::default());
    let t = converge(
        &a,
        &mut b,
        id,
        Duration::from_secs(240),
        "after a cut transfer",
    )
    .await;
    eprintln!(
        "transfer of 2000 x 2 KiB ops at 30% loss + 300 ms cut after {cut_at} ops (B held {} \
         at heal), link back clean after 3 s: converged in {t:?}; proxy {:?}",
        held - before,
        proxy.counts()
    );
    drop(b);
    a.stop_network().await.unwrap();
}
