//! Fetching attachments from peers over QUIC, protocol `fieldsync/attachments/1` (see
//! `replica/attachments.rs` for what an attachment is).
//!
//! 1. The fetcher names the document and the attachment (64 bytes). The server answers with
//!    the manifest if the attachment came with that document and the fetcher has a role in
//!    it, else with an empty frame: a device without a role learns nothing.
//! 2. The fetcher checks the manifest against the id it asked for (the id is the
//!    manifest's hash), records it (resuming: the chunks it already holds are kept), and
//!    sends the bitmap of the chunks it still wants.
//! 3. The server sends each wanted chunk it holds as `index (u32) | encrypted chunk`, then
//!    an empty frame. The fetcher checks every chunk against the manifest's hash before it
//!    keeps it: a peer sending a wrong chunk is dropped and the fetch goes on with the next
//!    peer. One chunk is in memory at a time; an interrupted fetch resumes where it
//!    stopped, after a restart too.
//!
//! A request of the document id alone (32 bytes) asks for the **catalog**: the ids of the
//! attachments of that document the server holds whole (at most [`MAX_CATALOG`]), or an
//! empty frame for a device without a role. Relays use it: they carry a document's
//! attachments without being able to read the references in it.

use std::sync::Weak;

use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler};
use p2panda_core::Hash;

use crate::base::ids::{AuthorId, DocumentId};
use crate::net::catchup::{read_frame, write_frame, CatchupError};
use crate::replica::Replica;
use crate::wire::attachment::{Manifest, CHUNK, MAX_CHUNKS, TAG};

/// ALPN of the attachment protocol.
pub const ATTACHMENT_PROTOCOL: &[u8] = b"fieldsync/attachments/1";
/// Largest manifest frame (header and every chunk hash).
const MAX_MANIFEST: usize = 20 + 32 * MAX_CHUNKS as usize;
/// Largest chunk frame.
const MAX_CHUNK_FRAME: usize = 4 + (CHUNK + TAG) as usize;
/// Most attachment ids in a catalog answer.
pub(crate) const MAX_CATALOG: usize = 4096;

/// Serves the node's attachments to peers with a role in their document.
#[derive(Clone)]
pub(crate) struct AttachmentService {
    pub node: Weak<Replica>,
    /// The devices this node talks to (`NetworkConfig::allow`).
    pub filter: super::config::PeerFilter,
}

impl std::fmt::Debug for AttachmentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttachmentService")
    }
}

fn node_of(node: &Weak<Replica>) -> Result<std::sync::Arc<Replica>, CatchupError> {
    node.upgrade().ok_or(CatchupError::Closed)
}

impl AttachmentService {
    async fn respond(&self, conn: Connection) -> Result<(), CatchupError> {
        let peer = AuthorId::from_slice(conn.remote_id().as_bytes())
            .map_err(|_| CatchupError::Protocol("remote id".into()))?;
        let (mut tx, mut rx) = conn
            .accept_bi()
            .await
            .map_err(|e| CatchupError::Transport(e.to_string()))?;
        let ask = read_frame(&mut rx, 64).await?;
        if ask.len() == 32 {
            return self.answer_catalog(tx, &ask, peer).await;
        }
        let (Ok(document), Ok(id)) = (
            DocumentId::from_slice(ask.get(..32).unwrap_or_default()),
            <[u8; 32]>::try_from(ask.get(32..64).unwrap_or_default()),
        ) else {
            return Err(CatchupError::Protocol("attachment request".into()));
        };
        let id = Hash::from_bytes(id);
        let row = if self.filter.admits(&peer) {
            let node = node_of(&self.node)?;
            tokio::task::spawn_blocking(move || node.serve_attachment(document, &id, &peer))
                .await
                .map_err(|e| CatchupError::Transport(e.to_string()))?
                .map_err(|e| CatchupError::Store(e.to_string()))?
        } else {
            None
        };
        let Some(row) = row else {
            write_frame(&mut tx, &[]).await?;
            let _ = tx.finish();
            // Until the fetcher has read the refusal: dropping the connection first loses it.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tx.stopped()).await;
            return Ok(());
        };
        write_frame(&mut tx, &row.manifest.encode()).await?;
        let count = row.manifest.chunks.len();
        let wanted = read_frame(&mut rx, count.div_ceil(8)).await?;
        for index in 0..count as u32 {
            let want = wanted
                .get(index as usize / 8)
                .is_some_and(|b| b & (1 << (index % 8)) != 0);
            if !want || !row.has(index) {
                continue;
            }
            let node = node_of(&self.node)?;
            let manifest = row.manifest.clone();
            let sealed =
                tokio::task::spawn_blocking(move || node.sealed_chunk(&id, &manifest, index))
                    .await
                    .map_err(|e| CatchupError::Transport(e.to_string()))?
                    .map_err(|e| CatchupError::Store(e.to_string()))?;
            let mut frame = Vec::with_capacity(4 + sealed.len());
            frame.extend_from_slice(&index.to_be_bytes());
            frame.extend_from_slice(&sealed);
            write_frame(&mut tx, &frame).await?;
        }
        write_frame(&mut tx, &[]).await?;
        let _ = tx.finish();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tx.stopped()).await;
        Ok(())
    }
}

impl AttachmentService {
    /// Answers a catalog request (see the module docs).
    async fn answer_catalog(
        &self,
        mut tx: iroh::endpoint::SendStream,
        ask: &[u8],
        peer: AuthorId,
    ) -> Result<(), CatchupError> {
        let document = DocumentId::from_slice(ask)
            .map_err(|_| CatchupError::Protocol("catalog request".into()))?;
        let ids = if self.filter.admits(&peer) {
            let node = node_of(&self.node)?;
            tokio::task::spawn_blocking(move || node.catalog(document, &peer, MAX_CATALOG))
                .await
                .map_err(|e| CatchupError::Transport(e.to_string()))?
                .map_err(|e| CatchupError::Store(e.to_string()))?
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let frame: Vec<u8> = ids.iter().flat_map(|h| *h.as_bytes()).collect();
        write_frame(&mut tx, &frame).await?;
        let _ = tx.finish();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tx.stopped()).await;
        Ok(())
    }
}

/// Asks the peer on `conn` for its catalog of `document` (see the module docs).
pub(crate) async fn catalog(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<Hash>, CatchupError> {
    let (mut tx, mut rx) = conn
        .open_bi()
        .await
        .map_err(|e| CatchupError::Transport(e.to_string()))?;
    write_frame(&mut tx, document.as_bytes()).await?;
    let _ = tx.finish();
    let frame = read_frame(&mut rx, 32 * MAX_CATALOG).await?;
    if frame.len() % 32 != 0 {
        return Err(CatchupError::Protocol("catalog frame".into()));
    }
    Ok(frame
        .chunks_exact(32)
        .map(|c| {
            let mut id = [0u8; 32];
            id.copy_from_slice(c);
            Hash::from_bytes(id)
        })
        .collect())
}

impl ProtocolHandler for AttachmentService {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        if let Err(e) = self.respond(connection).await {
            tracing::debug!("attachments (server) failed: {e}");
        }
        Ok(())
    }
}

/// What fetching an attachment did (`Node::fetch_attachment`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachmentFetch {
    /// Every chunk is on this device now (`Node::read_attachment` returns the content).
    pub complete: bool,
    /// Bytes of chunks received in this fetch (all peers together).
    pub transferred: u64,
    /// Peers that sent a chunk that did not match the manifest (each was dropped and the
    /// fetch went on with the next).
    pub corrupt_peers: Vec<AuthorId>,
    /// Peers that do not hold the attachment or do not serve it to this device.
    pub refused_by: Vec<AuthorId>,
    /// Peers that could not be reached or failed mid-way, with the reason.
    pub failed: Vec<(AuthorId, String)>,
}

impl AttachmentFetch {
    /// Why an incomplete fetch is not complete, in one line.
    pub fn why_not(&self) -> String {
        let mut parts = Vec::new();
        if !self.refused_by.is_empty() {
            parts.push(format!("{} peer(s) do not serve it", self.refused_by.len()));
        }
        if !self.corrupt_peers.is_empty() {
            parts.push(format!(
                "{} corrupt peer(s) dropped",
                self.corrupt_peers.len()
            ));
        }
        for (peer, e) in self.failed.iter().take(3) {
            parts.push(format!("{peer}: {e}"));
        }
        if parts.is_empty() {
            "no peer to fetch it from, or cut short".into()
        } else {
            parts.join("; ")
        }
    }
}

/// How one fetch from one peer ended.
#[derive(Debug)]
pub(crate) enum FetchEnd {
    /// Every chunk is held now.
    Complete,
    /// The peer had no more of the wanted chunks (or was told to stop after `limit`).
    Partial,
    /// The peer does not serve this attachment to this device.
    Refused,
    /// The peer sent a chunk that does not match the manifest (it was dropped).
    Corrupt(String),
}

/// Fetches attachment `id` of `document` from the peer on `conn`. `limit`: stop after this
/// many chunks (tests cut a transfer this way). Returns how it ended and the bytes of chunk
/// frames received.
pub(crate) async fn fetch(
    node: &Weak<Replica>,
    conn: Connection,
    document: DocumentId,
    id: Hash,
    limit: Option<u32>,
) -> Result<(FetchEnd, u64), CatchupError> {
    let (mut tx, mut rx) = conn
        .open_bi()
        .await
        .map_err(|e| CatchupError::Transport(e.to_string()))?;
    let mut ask = Vec::with_capacity(64);
    ask.extend_from_slice(document.as_bytes());
    ask.extend_from_slice(id.as_bytes());
    write_frame(&mut tx, &ask).await?;
    let manifest = read_frame(&mut rx, MAX_MANIFEST).await?;
    if manifest.is_empty() {
        return Ok((FetchEnd::Refused, 0));
    }
    let manifest = Manifest::decode(&manifest)
        .map_err(|e| CatchupError::Protocol(format!("attachment manifest: {e}")))?;
    if manifest.id() != id {
        return Err(CatchupError::Protocol(
            "the manifest is not the attachment's".into(),
        ));
    }
    let replica = node_of(node)?;
    let started = {
        let (replica, manifest) = (replica.clone(), manifest.clone());
        tokio::task::spawn_blocking(move || replica.begin_fetch(document, &manifest))
            .await
            .map_err(|e| CatchupError::Transport(e.to_string()))?
            .map_err(|e| CatchupError::Store(e.to_string()))?
    };
    if started.complete {
        let _ = tx.finish();
        return Ok((FetchEnd::Complete, 0));
    }
    let count = manifest.chunks.len();
    let mut wanted = vec![0u8; count.div_ceil(8)];
    for index in 0..count as u32 {
        if !started.has(index) {
            wanted[index as usize / 8] |= 1 << (index % 8);
        }
    }
    write_frame(&mut tx, &wanted).await?;
    let mut received = 0u64;
    let mut kept = 0u32;
    loop {
        if limit.is_some_and(|l| kept >= l) {
            let _ = tx.finish();
            return Ok((FetchEnd::Partial, received));
        }
        let frame = read_frame(&mut rx, MAX_CHUNK_FRAME).await?;
        if frame.is_empty() {
            return Ok((FetchEnd::Partial, received));
        }
        received += frame.len() as u64;
        let Some((index, sealed)) = frame.split_first_chunk::<4>() else {
            return Err(CatchupError::Protocol("chunk frame".into()));
        };
        let index = u32::from_be_bytes(*index);
        let (replica, manifest, sealed) = (replica.clone(), manifest.clone(), sealed.to_vec());
        let kept_now =
            tokio::task::spawn_blocking(move || replica.keep_chunk(&manifest, index, &sealed))
                .await
                .map_err(|e| CatchupError::Transport(e.to_string()))?;
        match kept_now {
            Ok(true) => {
                let _ = tx.finish();
                return Ok((FetchEnd::Complete, received));
            }
            Ok(false) => kept += 1,
            Err(crate::document::DocumentError::AttachmentUnavailable { reason, .. }) => {
                let _ = tx.finish();
                return Ok((FetchEnd::Corrupt(reason), received));
            }
            Err(e) => return Err(CatchupError::Store(e.to_string())),
        }
    }
}
