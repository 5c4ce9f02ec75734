//! The node side of the control socket: a running `fieldsync node` answers the commands other
//! `fieldsync` invocations forward to it (see [`crate::control`] for the protocol and the
//! calling side).

use std::path::{Path, PathBuf};

use fieldsync::Node;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::control::{socket_path, Request, Response};
use crate::dispatch;
use crate::error::{CliError, Result};

/// Largest request line the node accepts.
/// Room for a request carrying the largest value a command accepts, JSON-escaped.
const MAX_REQUEST: usize = 2 * crate::request::MAX_VALUE + (1 << 20);

/// A bound control socket; the socket file is removed on drop.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlSocket {
    /// Binds the socket in `data`, replacing a stale one left by a killed node (the
    /// caller holds the data directory's lock, so no live node owns it).
    pub fn bind(data: &Path) -> Result<Self> {
        let path = socket_path(data);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| {
            CliError::msg(format!(
                "cannot listen on the control socket {}: {e}",
                path.display()
            ))
        })?;
        // Only this user may send commands to the node.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(ControlSocket { listener, path })
    }

    /// Serves forwarded commands until the task is dropped.
    pub async fn serve(self, node: Node) {
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                continue;
            };
            let node = node.clone();
            tokio::spawn(async move {
                let _ = answer(stream, &node).await;
            });
        }
    }
}

async fn answer(stream: UnixStream, node: &Node) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST as u64))
        .read_line(&mut line)
        .await?;
    let resp = match serde_json::from_str::<Request>(&line) {
        Ok(req) => match dispatch::execute(node, &req.command, req.json, false).await {
            Ok(o) => Response {
                output: Some(o),
                error: None,
                exit: None,
            },
            Err(e) => Response {
                output: None,
                error: Some(e.message),
                exit: Some(e.exit),
            },
        },
        Err(e) => Response {
            output: None,
            error: Some(format!("bad request to the node: {e}")),
            exit: Some(crate::error::Exit::Usage),
        },
    };
    let mut bytes = serde_json::to_vec(&resp).unwrap_or_default();
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}
