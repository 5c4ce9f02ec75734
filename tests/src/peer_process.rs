//! A node in its own process: the `net_peer` helper binary, driven over stdin/stdout (see
//! `src/bin/net_peer.rs` for its commands), for tests that measure one node's own memory.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use fieldsync::{AuthorId, DocumentId};

/// A running `net_peer`; killed on drop.
pub struct PeerProcess {
    /// Name used in messages.
    pub name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Longest wait for an answer.
    answer_within: Duration,
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PeerProcess {
    /// Starts `net_peer` (the binary at `exe`, i.e. `env!("CARGO_BIN_EXE_net_peer")` of the
    /// caller) on `dir` for document `doc`, syncing with `peer` at `addr` (or later, after
    /// [`PeerProcess::connect`]). Waits for it to be ready.
    pub fn start(
        exe: &str,
        name: &'static str,
        dir: &Path,
        peer: AuthorId,
        addr: Option<SocketAddr>,
        doc: DocumentId,
    ) -> PeerProcess {
        let mut command = Command::new(exe);
        command
            .arg(dir)
            .arg(peer.to_string())
            .arg(addr.map_or("-".to_string(), |a| a.to_string()))
            .arg(doc.to_string());
        PeerProcess::spawn(name, command, Duration::from_secs(60))
    }

    /// Runs `command`, a `net_peer` invocation (e.g. inside a network namespace), waits for
    /// it to be ready and answers within `answer_within` afterwards.
    pub fn spawn(name: &'static str, mut command: Command, answer_within: Duration) -> PeerProcess {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn net_peer");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let peer = PeerProcess {
            name,
            child,
            stdin,
            lines,
            answer_within,
        };
        let ready = peer.lines.recv_timeout(Duration::from_secs(60));
        assert_eq!(ready.as_deref(), Ok("ready"), "{name} starts");
        peer
    }

    /// Sends `command` and returns the answer line.
    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("write to net_peer");
        self.stdin.flush().expect("flush");
        self.lines
            .recv_timeout(self.answer_within)
            .unwrap_or_else(|e| panic!("{} did not answer {command:?}: {e}", self.name))
    }

    /// The number after `prefix` in the answer to `command`.
    pub fn number(&mut self, command: &str, prefix: &str) -> u64 {
        let line = self.ask(command);
        line.strip_prefix(prefix)
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}: bad answer {line:?} to {command:?}", self.name))
    }

    /// Length of the text container `key`.
    pub fn text_len(&mut self, key: &str) -> u64 {
        self.number(&format!("textlen {key}"), "textlen ")
    }

    /// Peak resident memory since start or the last [`PeerProcess::reset_peak`], in MiB.
    pub fn peak_mib(&mut self) -> u64 {
        self.number("peak", "peak ") >> 10
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&mut self) -> u64 {
        self.number("rss", "rss ") >> 10
    }

    /// Resets the peak resident memory to the current one.
    pub fn reset_peak(&mut self) {
        assert_eq!(self.ask("reset-peak"), "ok");
    }

    /// Where the node listens.
    pub fn addr(&mut self) -> SocketAddr {
        let line = self.ask("addr");
        line.strip_prefix("addr ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad addr {line:?}", self.name))
    }

    /// Adds the peer at `addr` (it starts syncing with it).
    pub fn connect(&mut self, addr: SocketAddr) {
        assert_eq!(self.ask(&format!("connect {addr}")), "ok");
    }

    /// Hash of the document's JSON (see [`crate::json_hash`]).
    pub fn json_hash(&mut self) -> String {
        let line = self.ask("json");
        line.strip_prefix("json ").expect("json line").to_string()
    }

    /// (height of the peer's delta log, height of its own) on this node.
    pub fn status(&mut self) -> (Option<u32>, Option<u32>) {
        let line = self.ask("status");
        let mut parts = line.split(' ');
        assert_eq!(parts.next(), Some("status"), "{line}");
        let mut h = || parts.next().and_then(|p| p.parse().ok());
        (h(), h())
    }
}
