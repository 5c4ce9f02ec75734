//! Shared helpers for FieldSync's multi-node, fault and tamper tests.

pub mod edits;
pub mod peer_process;
pub mod udp_proxy;

use std::path::Path;

use fieldsync::{Node, NodeConfig};

/// Opens a node in `dir` with default settings.
pub fn open_node(dir: &Path) -> Node {
    Node::open(NodeConfig::new(dir)).expect("open node")
}

/// `N` nodes with default settings, each in a fresh temporary directory. Bind the directories
/// first, to a name (`let (_dirs, [a, b]) = open_nodes();`; `_` would delete them at once):
/// they are then dropped after the nodes.
pub fn open_nodes<const N: usize>() -> (Vec<tempfile::TempDir>, [Node; N]) {
    open_nodes_with(open_node)
}

/// [`open_nodes`], each node opened by `open` (e.g. [`open_plain_node`]).
pub fn open_nodes_with<const N: usize>(
    open: fn(&Path) -> Node,
) -> (Vec<tempfile::TempDir>, [Node; N]) {
    let dirs: Vec<_> = (0..N)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let nodes = std::array::from_fn(|i| open(dirs[i].path()));
    (dirs, nodes)
}

/// Opens a node in `dir` with encryption off (plain documents), for tests of log mechanics
/// that build unencrypted operations by hand.
pub fn open_plain_node(dir: &Path) -> Node {
    let mut cfg = NodeConfig::new(dir);
    cfg.encrypt = false;
    Node::open(cfg).expect("open node")
}

/// A key store with fixed keys: copies of a database opened with it open with the same keys
/// wherever they are put (corruption tests open damaged copies in fresh directories).
pub struct FixedKeys;

impl fieldsync::DeviceKeyStore for FixedKeys {
    fn load(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(vec![0x11; 32]))
    }
    fn save(&self, _key: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn load_store_key(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(vec![0x22; 32]))
    }
    fn save_store_key(&self, _key: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Makes `joiner` a member of `doc` (owned by `owner`) and delivers the control operations.
pub fn share(owner: &Node, doc: &fieldsync::Document, joiner: &Node) {
    doc.add_member(&joiner.key_bundle().expect("key bundle"))
        .expect("add member");
    exchange(owner, joiner, doc.id());
}

/// Delivers every operation of `doc` held by `from` to `to`, ignoring gaps, duplicates and
/// operations that wait for their authorization (quarantined until the roles that allow
/// them arrive, like a gap).
pub fn exchange(from: &Node, to: &Node, doc: fieldsync::DocumentId) {
    for op in from.operations(doc).expect("operations") {
        match to.ingest(&op) {
            Ok(_)
            | Err(fieldsync::IngestError::SeqGap { .. })
            | Err(fieldsync::IngestError::AwaitingAuthorization { .. }) => {}
            Err(e) => panic!("unexpected ingest error: {e}"),
        }
    }
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; panics with `what` on timeout.
pub async fn wait_until(what: &str, timeout: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// JSON of a document on a node, or an empty string if it is not there yet.
pub fn json_of(node: &Node, doc: fieldsync::DocumentId) -> String {
    node.document(doc)
        .and_then(|d| Ok(d.to_json()?))
        .unwrap_or_default()
}

/// Starts a node's network on 127.0.0.1 with a free port.
pub async fn go_online(node: &Node) -> fieldsync::NetworkInfo {
    node.start_network(fieldsync::NetworkConfig::loopback(0))
        .await
        .expect("start network")
}

/// Installs a `tracing` subscriber for the test process, filtered by `RUST_LOG`.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A hash of a document's JSON that is the same in every process (std's `DefaultHasher`
/// with its fixed keys), for comparing replicas across processes cheaply.
pub fn json_hash(json: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut h);
    h.finish()
}

/// Environment variable naming the one test a re-executed test binary runs (see
/// [`run_in_own_process`]).
const OWN_PROCESS: &str = "FIELDSYNC_TEST_OWN_PROCESS";

/// Runs the test `name` (its full path in the test binary, e.g.
/// `hostile_peer::endless_hostile_catch_up_stream_is_bounded_and_good_peers_keep_syncing`)
/// alone in a child process of the same test binary, for tests that measure the whole
/// process (resident memory): in the one integration binary, other tests run beside it.
///
/// Returns `true` in that child: the caller runs its body. In the parent it waits for the
/// child (at most `timeout`), passes its output on and panics unless it passed, then returns
/// `false`: the caller returns at once.
pub fn run_in_own_process(name: &str, timeout: std::time::Duration) -> bool {
    if std::env::var(OWN_PROCESS).is_ok_and(|n| n == name) {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = std::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(OWN_PROCESS, name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(stdout.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let err = read(stderr.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child test") {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    eprintln!("{}", out.join().unwrap_or_default());
    eprintln!("{}", err.join().unwrap_or_default());
    match status {
        Some(s) if s.success() => false,
        Some(s) => panic!("{name} failed in its own process ({s})"),
        None => panic!("{name} did not finish within {timeout:?} in its own process"),
    }
}
