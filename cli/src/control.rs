//! One process at a time owns a data directory; others forward their commands to it.
//!
//! A node keeps documents and encryption state in memory, and two processes editing one data
//! directory would each write operations under the same device key without seeing the
//! other's, so the directory has a lock file (`node.lock`, an OS file lock released when the
//! process exits, even when killed). A one-shot command holds it while it runs;
//! `fieldsync node` holds it for its whole life and listens on a Unix socket (`node.sock`)
//! in the same directory. A command that finds the lock taken sends itself over the socket
//! (one JSON line: the [`NodeCommand`] and `--json`) and prints the [`Output`] it gets back,
//! so `fieldsync doc edit` works the same with and without a running node, and the node
//! publishes the edit at once.
//!
//! This file holds the calling side (the lock, [`acquire`], [`forward`]) and the wire types
//! ([`Request`], [`Response`]); the node side that answers is [`crate::control_server`].

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};
use crate::request::{NodeCommand, Output};

/// Lock file inside the data directory.
pub const LOCK_FILE: &str = "node.lock";
/// Control socket of a running node inside the data directory.
pub const SOCKET_FILE: &str = "node.sock";

/// How long a command waits for a busy data directory (another one-shot command, or a node
/// starting up) before giving up.
const BUSY_WAIT: Duration = Duration::from_secs(15);
/// Longest time a forwarded command may take inside the node.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(120);

/// A command forwarded to a running node.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// `--json` of the calling command.
    pub json: bool,
    /// The command.
    pub command: NodeCommand,
}

/// The node's answer: the command's output or its error.
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    /// Output when the command succeeded.
    pub output: Option<Output>,
    /// The error message when it failed.
    pub error: Option<String>,
    /// The error's exit status (older nodes send none: 1).
    #[serde(default)]
    pub exit: Option<crate::error::Exit>,
}

/// How this process may use a data directory.
pub enum Access {
    /// This process holds the lock: open the node here. The lock is released on drop.
    Local(File),
    /// A node runs there: forward over this connection.
    #[cfg(unix)]
    Remote(std::os::unix::net::UnixStream),
}

/// Path of the control socket of the node in `data`.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET_FILE)
}

fn try_lock(data: &Path) -> Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(data.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(CliError::msg(format!(
            "cannot lock {}: {e}",
            data.join(LOCK_FILE).display()
        ))),
    }
}

/// Takes the data directory's lock, or connects to the node that holds it. Waits up to
/// [`BUSY_WAIT`] while another short command holds the lock.
pub fn acquire(data: &Path) -> Result<Access> {
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        if let Some(lock) = try_lock(data)? {
            return Ok(Access::Local(lock));
        }
        #[cfg(unix)]
        if let Ok(conn) = std::os::unix::net::UnixStream::connect(socket_path(data)) {
            return Ok(Access::Remote(conn));
        }
        if Instant::now() >= deadline {
            return Err(CliError::msg(format!(
                "data directory {} is busy: another fieldsync process holds {} and no node \
                 answers on {}",
                data.display(),
                LOCK_FILE,
                SOCKET_FILE
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Takes the lock for a long-lived node. Fails if a node already runs on `data`.
pub fn lock_for_node(data: &Path) -> Result<File> {
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        if let Some(lock) = try_lock(data)? {
            return Ok(lock);
        }
        #[cfg(unix)]
        if std::os::unix::net::UnixStream::connect(socket_path(data)).is_ok() {
            return Err(CliError::msg(format!(
                "a fieldsync node already runs on {} (its commands are forwarded to it; stop \
                 it first to start another)",
                data.display()
            )));
        }
        if Instant::now() >= deadline {
            return Err(CliError::msg(format!(
                "data directory {} is busy: another fieldsync process holds {}",
                data.display(),
                LOCK_FILE
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `cmd` to the node behind `conn` and returns its output.
#[cfg(unix)]
pub fn forward(
    conn: std::os::unix::net::UnixStream,
    json: bool,
    cmd: &NodeCommand,
) -> Result<Output> {
    use std::io::{BufRead, BufReader, Write};
    conn.set_read_timeout(Some(FORWARD_TIMEOUT))?;
    let mut line = serde_json::to_vec(&Request {
        json,
        command: cmd.clone(),
    })?;
    line.push(b'\n');
    (&conn).write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(&conn)
        .read_line(&mut answer)
        .map_err(|e| CliError::msg(format!("the running node did not answer: {e}")))?;
    if answer.is_empty() {
        return Err(CliError::msg(
            "the running node closed the connection without answering (did it stop?)",
        ));
    }
    let resp: Response = serde_json::from_str(&answer)
        .map_err(|e| CliError::msg(format!("unreadable answer from the running node: {e}")))?;
    match (resp.output, resp.error) {
        (_, Some(e)) => Err(CliError {
            message: e,
            exit: resp.exit.unwrap_or(crate::error::Exit::Failure),
        }),
        (Some(o), None) => Ok(o),
        (None, None) => Err(CliError::msg("empty answer from the running node")),
    }
}
