//! Helpers for driving the `fieldsync` binary: one-shot commands, and long-lived `node`
//! processes that are killed on every path (drop guard). Everything binds 127.0.0.1 with
//! mDNS off.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Upper bound for any one wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fieldsync")
}

/// A `fieldsync` command with a clean environment for `data`.
pub fn cmd(data: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--data")
        .arg(data)
        .env_remove("FIELDSYNC_DATA")
        .env_remove("FIELDSYNC_TOKEN")
        .stdin(Stdio::null());
    c
}

/// Runs `fieldsync --data DATA ARGS...` to completion.
pub fn run(data: &Path, args: &[&str]) -> Output {
    cmd(data).args(args).output().expect("run fieldsync")
}

/// Runs `fieldsync --data DATA --json ARGS...`, requires success and parses stdout.
pub fn json(data: &Path, args: &[&str]) -> Value {
    let out = cmd(data)
        .arg("--json")
        .args(args)
        .output()
        .expect("run fieldsync");
    assert!(
        out.status.success(),
        "fieldsync {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fieldsync {args:?}: stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Like [`json`], but returns the error text instead of panicking on failure.
pub fn try_json(data: &Path, args: &[&str]) -> Result<Value, String> {
    let out = cmd(data)
        .arg("--json")
        .args(args)
        .output()
        .expect("run fieldsync");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// `init` in `data`; returns the node id.
pub fn init(data: &Path) -> String {
    json(data, &["init"])["node"]
        .as_str()
        .expect("node id")
        .to_string()
}

/// A running `fieldsync node` (or `serve`). Killed when dropped.
pub struct NodeProc {
    pub name: &'static str,
    pub data: PathBuf,
    child: Option<Child>,
    /// Everything the process printed, stdout and stderr interleaved by line.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The `ready` event.
    pub ready: Value,
}

impl NodeProc {
    /// Starts `fieldsync --data DATA --json SUBCOMMAND --bind 127.0.0.1 --no-mdns EXTRA...`
    /// and waits for its `ready` event.
    pub fn start(name: &'static str, data: &Path, subcommand: &str, extra: &[&str]) -> NodeProc {
        let mut c = cmd(data);
        c.arg("--json")
            .arg(subcommand)
            .args(["--bind", "127.0.0.1", "--no-mdns"])
            .args(extra);
        NodeProc::spawn(name, data, c, "ready")
    }

    /// Spawns `command` (a `fieldsync --json ...` long-lived command, perhaps wrapped) and
    /// waits for the event named `ready`.
    pub fn spawn(name: &'static str, data: &Path, mut command: Command, ready: &str) -> NodeProc {
        let ready_event = ready.to_string();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fieldsync node");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Value>();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if v["event"] == ready_event.as_str() {
                            let _ = ready_tx.send(v);
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(format!("stderr: {line}"));
                }
            });
        }
        let mut node = NodeProc {
            name,
            data: data.to_path_buf(),
            child: Some(child),
            log,
            ready: Value::Null,
        };
        match ready_rx.recv_timeout(TIMEOUT) {
            Ok(v) => node.ready = v,
            Err(_) => {
                let status = node
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                panic!(
                    "{name}: node did not print its ready event within {:?} (exit: {status:?}); log:\n{}",
                    TIMEOUT,
                    node.log_text()
                );
            }
        }
        node
    }

    /// The GraphQL address from the ready event.
    pub fn graphql(&self) -> String {
        self.ready["graphql"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no graphql address in {}", self.name, self.ready))
            .to_string()
    }

    /// The GraphQL access token: printed in the ready event when it was generated, else read
    /// from the token file the ready event names.
    pub fn graphql_token(&self) -> String {
        if let Some(t) = self.ready["graphql_token"].as_str() {
            return t.to_string();
        }
        let file = self.ready["graphql_token_file"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no token file in {}", self.name, self.ready));
        std::fs::read_to_string(file).unwrap().trim().to_string()
    }

    /// The process's output so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns its success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 100 ms until it returns true; on timeout panics with `what` and the
/// state `describe` reports.
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool, describe: impl Fn() -> String) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        if Instant::now() >= deadline {
            panic!(
                "timed out after {:?} waiting until {what}\n{}",
                TIMEOUT,
                describe()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
