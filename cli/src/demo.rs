//! `fieldsync demo`: Alice and Bob, two embedded nodes on 127.0.0.1, edit one survey document
//! offline and converge over QUIC, twice.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fieldsync::{
    AuthorId, Document, DocumentId, Event, EventStream, NetworkConfig, Node, NodeConfig, Value,
    VersionOrdering,
};

use crate::error::{CliError, Result};
use crate::fmt;

/// Longest wait for a node's network to shut down.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long to wait after convergence for outboxes to empty (informational only).
const OUTBOX_WAIT: Duration = Duration::from_secs(5);

struct Peer {
    name: &'static str,
    node: Node,
    events: EventStream,
}

struct Demo {
    alice: Peer,
    bob: Peer,
    doc: DocumentId,
    timeout: Duration,
}

fn step(n: u32, title: &str) {
    println!();
    println!(
        "── Step {n}: {title} {}",
        "─".repeat(60usize.saturating_sub(title.len()))
    );
}

fn say(who: &str, what: impl std::fmt::Display) {
    println!("  {who:<5} {what}");
}

pub fn run(timeout: Duration) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::Builder::new()
        .prefix("fieldsync-demo-")
        .tempdir()?;
    let result = rt.block_on(async {
        let open = |name: &'static str| -> Result<Peer> {
            let node = Node::open(NodeConfig::new(dir.path().join(name.to_lowercase())))?;
            let events = node.subscribe();
            Ok(Peer { name, node, events })
        };
        println!("FieldSync demo: two devices, one survey document, no server.");
        println!(
            "Data of both nodes lives in {} (removed at the end).",
            dir.path().display()
        );
        let alice = open("Alice")?;
        let bob = open("Bob")?;
        say(
            "Alice",
            format!("node id {}", fmt::short(&alice.node.author())),
        );
        say("Bob", format!("node id {}", fmt::short(&bob.node.author())));
        let doc = alice.node.create_document()?.id();
        let mut demo = Demo {
            alice,
            bob,
            doc,
            timeout,
        };
        demo.story().await
    });
    // Nodes are dropped inside the runtime above; the temp dir goes after them.
    // Bounded: a stuck background task must not hang the demo on exit.
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(dir);
    match &result {
        Ok(()) => {
            println!();
            println!("Demo finished: both devices converged after every offline period ✓");
        }
        Err(e) => {
            println!();
            println!("Demo FAILED ✗: {e}");
        }
    }
    result
}

impl Demo {
    fn doc_of(&self, p: &Peer) -> Result<Document> {
        Ok(p.node.document(self.doc)?)
    }

    fn name_of(&self, a: &AuthorId) -> Option<String> {
        [&self.alice, &self.bob]
            .into_iter()
            .find(|p| p.node.author() == *a)
            .map(|p| p.name.to_string())
    }

    async fn story(&mut self) -> Result<()> {
        let alice_doc = self.doc_of(&self.alice)?;

        step(1, "Alice creates a survey and goes online");
        alice_doc.text("title")?.insert(0, "Water point survey")?;
        let form = alice_doc.map("form")?;
        form.set("village", Value::from("Kisumu North"))?;
        form.set("status", Value::from("draft"))?;
        say(
            "Alice",
            format!("created document {}", fmt::short(&self.doc)),
        );
        let alice_net = self
            .alice
            .node
            .start_network(NetworkConfig::loopback(0))
            .await?;
        let alice_addr = alice_net.addrs.clone();
        say(
            "Alice",
            format!("online, listening on {}", addrs(&alice_addr)),
        );
        // End-to-end encryption: the invite (a QR code in a real app) carries Alice's key
        // bundle and a join token. Bob's node sends a join request over a direct ratchet
        // session; Alice's node adds his device to the document's group by itself.
        let invite = alice_doc.invite().await?;
        say(
            "Alice",
            format!("invite for Bob: {}…", &invite[..invite.len().min(40)]),
        );

        step(2, "Bob joins with the invite and catches up");
        let bob_net = self
            .bob
            .node
            .start_network(NetworkConfig::loopback(0))
            .await?;
        say(
            "Bob",
            format!("online, listening on {}", addrs(&bob_net.addrs)),
        );
        self.bob.node.join(&invite).await?;
        say(
            "Bob",
            "joined; asking Alice to admit this device, dialling her…",
        );
        self.converge("Bob is admitted and catches up with Alice")
            .await?;
        say(
            "Alice",
            format!(
                "admitted Bob's device {} ({} members)",
                &self.bob.node.author().to_string()[..8],
                alice_doc.members()?.len()
            ),
        );
        self.show()?;

        step(3, "Both go offline and edit the same document concurrently");
        stop(&self.alice).await?;
        stop(&self.bob).await?;
        say("Alice", "offline");
        say("Bob", "offline");
        let bob_doc = self.doc_of(&self.bob)?;
        // Alice: text, map, list.
        let t = alice_doc.text("notes")?;
        // Each note ends with a space: the two are concurrent inserts at the start, merged in
        // either order.
        t.insert(0, "Pump handle loose. ")?;
        alice_doc
            .map("form")?
            .set("status", Value::from("needs repair"))?;
        alice_doc
            .map("form")?
            .set("inspector", Value::from("Alice"))?;
        alice_doc.list("readings")?.push(Value::Int(12))?;
        say(
            "Alice",
            "notes += \"Pump handle loose.\", status = \"needs repair\", readings += 12",
        );
        // Bob: the same containers, at the same time.
        bob_doc
            .text("notes")?
            .insert(0, "Queue of 20 people at 7am. ")?;
        bob_doc.map("form")?.set("status", Value::from("in use"))?;
        bob_doc.map("form")?.set("households", Value::Int(140))?;
        bob_doc.list("readings")?.push(Value::Int(9))?;
        bob_doc.list("readings")?.push(Value::Int(11))?;
        say("Bob", "notes += \"Queue of 20 people at 7am.\", status = \"in use\", households = 140, readings += 9, 11");
        self.show()?;
        self.compare_versions()?;

        step(4, "Both come back online; Bob re-dials Alice by himself");
        // Alice reuses her port, so the address Bob remembers from the invite still works.
        let port = alice_addr.first().map(|a| a.port()).unwrap_or(0);
        let again = self
            .alice
            .node
            .start_network(NetworkConfig::loopback(port))
            .await?;
        say("Alice", format!("online again on {}", addrs(&again.addrs)));
        if again.addrs != alice_addr {
            say(
                "Alice",
                "(her old port was taken; telling Bob her new address)",
            );
            self.bob
                .node
                .add_peer(fieldsync::PeerAddr {
                    node: self.alice.node.author(),
                    addrs: again.addrs.clone(),
                    relay: None,
                })
                .await?;
        }
        let b = self
            .bob
            .node
            .start_network(NetworkConfig::loopback(0))
            .await?;
        say(
            "Bob",
            format!(
                "online again on {} (he remembers Alice from the invite)",
                addrs(&b.addrs)
            ),
        );
        self.converge("offline edits of both meet").await?;
        self.show()?;

        step(5, "Bob goes offline alone, edits, and comes back");
        stop(&self.bob).await?;
        say("Bob", "offline");
        bob_doc
            .text("notes")?
            .push("Fixed the handle with a new bolt.")?;
        bob_doc
            .map("form")?
            .set("status", Value::from("repaired"))?;
        bob_doc.list("readings")?.push(Value::Int(15))?;
        say(
            "Bob",
            "notes += \"Fixed the handle…\", status = \"repaired\", readings += 15",
        );
        say(
            "Bob",
            format!("{} op(s) waiting in his outbox", bob_doc.pending_ops()?),
        );
        self.compare_versions()?;
        let b = self
            .bob
            .node
            .start_network(NetworkConfig::loopback(0))
            .await?;
        say("Bob", format!("online again on {}", addrs(&b.addrs)));
        self.converge("Bob's offline edits reach Alice").await?;
        self.show()?;

        stop(&self.alice).await?;
        stop(&self.bob).await?;
        self.alice.node.flush()?;
        self.bob.node.flush()?;
        Ok(())
    }

    /// Prints each node's document JSON, version vector and op count.
    fn show(&self) -> Result<()> {
        for p in [&self.alice, &self.bob] {
            let d = self.doc_of(p)?;
            println!("  {}'s copy:", p.name);
            println!("{}", fmt::pretty(&d.to_json()?, 4));
            println!(
                "    version: {}",
                fmt::version(&d.version()?, |a| self.name_of(a))
            );
            println!(
                "    ops: {}   not yet delivered: {}",
                d.op_count()?,
                d.pending_ops()?
            );
        }
        Ok(())
    }

    fn compare_versions(&self) -> Result<()> {
        let a = self.doc_of(&self.alice)?.version()?;
        let b = self.doc_of(&self.bob)?.version()?;
        let how = match a.compare(&b) {
            VersionOrdering::Equal => "Equal: same edits on both",
            VersionOrdering::Ahead => "Alice is ahead of Bob",
            VersionOrdering::Behind => "Alice is behind Bob",
            VersionOrdering::Concurrent => "Concurrent: each has edits the other lacks",
        };
        println!("  versions compared: {how}");
        Ok(())
    }

    /// Polls until both JSONs and version vectors are equal, or the deadline passes.
    async fn converge(&mut self, what: &str) -> Result<()> {
        let t0 = Instant::now();
        let deadline = t0 + self.timeout;
        let mut seen = HashSet::new();
        loop {
            self.print_events(&mut seen);
            let a = self.doc_of(&self.alice)?;
            let b = self.doc_of(&self.bob)?;
            let (ja, jb) = (a.to_json()?, b.to_json()?);
            let same_version = a.version()?.compare(&b.version()?) == VersionOrdering::Equal;
            if ja == jb && same_version {
                println!(
                    "  CONVERGED ✓  {what}: identical JSON and versions after {:.2} s",
                    t0.elapsed().as_secs_f64()
                );
                self.outboxes(&mut seen).await?;
                return Ok(());
            }
            if Instant::now() >= deadline {
                println!(
                    "  NOT CONVERGED ✗  {what}: still different after {} s",
                    self.timeout.as_secs()
                );
                self.show()?;
                return Err(CliError::msg(format!(
                    "Alice and Bob did not converge within {} s ({what})",
                    self.timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits briefly for both outboxes to empty (peers acknowledge what they hold) and says
    /// how it went. Informational: convergence is what the demo checks.
    async fn outboxes(&mut self, seen: &mut HashSet<String>) -> Result<()> {
        let deadline = Instant::now() + OUTBOX_WAIT;
        loop {
            self.print_events(seen);
            let a = self.doc_of(&self.alice)?.pending_ops()?;
            let b = self.doc_of(&self.bob)?.pending_ops()?;
            if a + b == 0 {
                println!("  outboxes empty ✓  every edit is acknowledged by the other device");
                return Ok(());
            }
            if Instant::now() >= deadline {
                println!(
                    "  outboxes: Alice {a}, Bob {b} op(s) not yet acknowledged \
                     (delivered, acknowledgement pending)"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Prints the network events both nodes reported since the last call, each distinct
    /// line once per step.
    fn print_events(&mut self, seen: &mut HashSet<String>) {
        let names: Vec<(AuthorId, &'static str)> = vec![
            (self.alice.node.author(), self.alice.name),
            (self.bob.node.author(), self.bob.name),
        ];
        let name = |a: &AuthorId| {
            names
                .iter()
                .find(|(id, _)| id == a)
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| fmt::short(a))
        };
        for p in [&mut self.alice, &mut self.bob] {
            while let Some(e) = p.events.try_next() {
                let line = match e {
                    Event::PeerConnected { peer, .. } => format!("connected to {}", name(&peer)),
                    Event::SyncFinished {
                        peer,
                        received_ops,
                        sent_ops,
                        ..
                    } if received_ops + sent_ops > 0 => format!(
                        "synced with {}: received {received_ops} op(s), sent {sent_ops}",
                        name(&peer)
                    ),
                    Event::OperationsRejected { .. } => format!("rejected operations: {e:?}"),
                    _ => continue,
                };
                if seen.insert(format!("{}{line}", p.name)) {
                    say(p.name, format!("· {line}"));
                }
            }
        }
    }
}

/// Stops a node's network, bounded in time so a stuck shutdown fails the demo instead of
/// hanging it.
async fn stop(p: &Peer) -> Result<()> {
    match tokio::time::timeout(STOP_TIMEOUT, p.node.stop_network()).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(CliError::msg(format!(
            "{}'s network did not stop within {} s",
            p.name,
            STOP_TIMEOUT.as_secs()
        ))),
    }
}

fn addrs(a: &[std::net::SocketAddr]) -> String {
    a.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
