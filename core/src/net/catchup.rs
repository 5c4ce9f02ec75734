//! Catch-up sync between two nodes for one document, over a QUIC stream of p2panda-net's
//! endpoint (protocol `fieldsync/catchup/1`).
//!
//! Both sides send their log heights (author, log kind, highest seq) and then, concurrently,
//! every operation the other side lacks, in log order. Received operations go to the ingest
//! worker, which validates them like any other input.
//!
//! Why not p2panda-net's `LogSync`: in 0.7.1, two concurrent sessions of one topic (both peers
//! initiate on `NeighbourUp`) deadlock once about 1,000 operations flow in live mode (received
//! operations are forwarded into the other session's undrained live queue), and a finished
//! session closes the QUIC connection under a concurrent one. Catch-ups of 5,000+ operations
//! never completed. This protocol runs one bidirectional exchange per stream instead.

use std::sync::mpsc::Sender;
use std::sync::Weak;
use std::time::Duration;

use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::protocol::{AcceptError, ProtocolHandler};

use crate::base::events::Event;
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::net::sync_store::SyncStore;
use crate::net::worker::{Backlog, IngestItem, PeerBacklogs};
use crate::replica::Replica;
use crate::wire::operation::encode_wire;

/// ALPN of the catch-up protocol.
pub const CATCHUP_PROTOCOL: &[u8] = b"fieldsync/catchup/1";
/// Operations read from the store per batch while sending.
const BATCH: u32 = 1000;
/// Bytes of frames the sender gathers before writing them to the stream at once.
const WRITE_CHUNK: usize = 64 * 1024;
/// Read-ahead buffer of the receiving side of an exchange.
const READ_BUFFER: usize = 64 * 1024;
/// A stalled peer is dropped after this long without progress.
const IDLE: Duration = Duration::from_secs(30);

/// Buffer a frame starts with; it grows as the frame's bytes arrive.
const FRAME_CHUNK: usize = 64 * 1024;
/// Most logs a heights message may list.
const MAX_LOGS: usize = 100_000;
/// Most bytes of one peer's received operations waiting for validation, all its sessions
/// together; a session stops reading from the peer beyond that (see [`Backlog`]). Large
/// enough for full ingest batches (see `MAX_BATCH` in `worker.rs`) in both stages, with
/// room to spare.
const MAX_BACKLOG: usize = 4 << 20;
/// Most bytes of all sessions' received operations waiting for validation together: one
/// peer, however many sessions it runs, can fill at most half, so the node's memory stays
/// bounded whatever the number of peers and one peer leaves at least half to the others.
const MAX_SHARED_BACKLOG: usize = 2 * MAX_BACKLOG;

/// Highest seq per (author, log kind) of a document.
pub type Heights = Vec<(AuthorId, LogKind, u32)>;

/// Why a catch-up session failed.
#[derive(Debug, thiserror::Error)]
pub enum CatchupError {
    /// The peer has no role in the document: nothing of it is served to or taken from it.
    #[error("{peer} has no role in document {document}")]
    NotAllowed {
        /// The peer.
        peer: AuthorId,
        /// The document.
        document: DocumentId,
    },
    /// The QUIC stream failed or timed out.
    #[error("transport: {0}")]
    Transport(String),
    /// The peer refused to sync the document with us: this device has no role in it (in
    /// the peer's view). Heights frames are never empty, so an empty one is this refusal.
    #[error("{peer} refused to sync document {document}: this device has no role in it")]
    Refused {
        /// The peer.
        peer: AuthorId,
        /// The document.
        document: DocumentId,
    },
    /// The peer sent bytes that do not follow the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Reading our store failed.
    #[error("store: {0}")]
    Store(String),
    /// The node is gone.
    #[error("node closed")]
    Closed,
}

fn transport(e: impl std::fmt::Display) -> CatchupError {
    CatchupError::Transport(e.to_string())
}

pub(crate) async fn write_frame(tx: &mut SendStream, bytes: &[u8]) -> Result<(), CatchupError> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    push_frame(&mut out, bytes)?;
    flush_frames(tx, &mut out).await
}

pub(crate) async fn read_frame(
    rx: &mut (impl tokio::io::AsyncRead + Unpin),
    max: usize,
) -> Result<Vec<u8>, CatchupError> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    tokio::time::timeout(IDLE, rx.read_exact(&mut len))
        .await
        .map_err(transport)?
        .map_err(transport)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(CatchupError::Protocol(format!(
            "frame of {len} bytes exceeds {max}"
        )));
    }
    // Memory grows with the bytes that actually arrive, not with the announced length: a
    // peer announcing a large frame and sending nothing holds a small buffer.
    let mut buf = Vec::with_capacity(len.min(FRAME_CHUNK));
    let read = tokio::time::timeout(IDLE, (&mut *rx).take(len as u64).read_to_end(&mut buf))
        .await
        .map_err(transport)?
        .map_err(transport)?;
    if read != len {
        return Err(CatchupError::Transport(format!(
            "stream ended {} bytes into a frame of {len}",
            read
        )));
    }
    Ok(buf)
}

/// Appends one frame (length prefix and bytes) to `out`, for a single write of many frames.
fn push_frame(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), CatchupError> {
    let len =
        u32::try_from(bytes.len()).map_err(|_| CatchupError::Protocol("frame too large".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Writes frames gathered by [`push_frame`] and empties the buffer.
async fn flush_frames(tx: &mut SendStream, out: &mut Vec<u8>) -> Result<(), CatchupError> {
    if out.is_empty() {
        return Ok(());
    }
    tokio::time::timeout(IDLE, tx.write_all(out))
        .await
        .map_err(transport)?
        .map_err(transport)?;
    out.clear();
    Ok(())
}

fn encode_heights(doc: DocumentId, heights: &Heights) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + heights.len() * 37);
    out.extend_from_slice(doc.as_bytes());
    for (author, kind, seq) in heights {
        out.extend_from_slice(author.as_bytes());
        out.push(kind.code() as u8);
        out.extend_from_slice(&seq.to_be_bytes());
    }
    out
}

pub(crate) fn decode_heights(bytes: &[u8]) -> Result<(DocumentId, Heights), CatchupError> {
    let bad = |m: &str| CatchupError::Protocol(m.to_string());
    if bytes.len() < 32
        || !(bytes.len() - 32).is_multiple_of(37)
        || (bytes.len() - 32) / 37 > MAX_LOGS
    {
        return Err(bad("malformed heights"));
    }
    let doc = DocumentId::from_slice(&bytes[..32]).map_err(|_| bad("document id"))?;
    let mut heights = Vec::new();
    for chunk in bytes[32..].chunks_exact(37) {
        let author = AuthorId::from_slice(&chunk[..32]).map_err(|_| bad("author"))?;
        let kind = LogKind::from_code(i64::from(chunk[32])).ok_or_else(|| bad("log kind"))?;
        let seq = u32::from_be_bytes([chunk[33], chunk[34], chunk[35], chunk[36]]);
        heights.push((author, kind, seq));
    }
    Ok((doc, heights))
}

/// Everything one side needs to run a session.
#[derive(Clone)]
pub(crate) struct Session {
    pub node: Weak<Replica>,
    pub store: SyncStore,
    pub ingest: Sender<IngestItem>,
    pub max_frame: usize,
    /// Bytes all sessions have waiting for validation (see [`MAX_SHARED_BACKLOG`]).
    pub received: Backlog,
    /// Bytes each peer's sessions have waiting for validation (see [`MAX_BACKLOG`]).
    pub peers: PeerBacklogs,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatchupSession")
    }
}

impl Session {
    /// Sends every operation the peer lacks, preceded by their count and followed by an
    /// empty frame. Returns how many were sent.
    async fn send_missing(
        &self,
        tx: &mut SendStream,
        doc: DocumentId,
        theirs: &Heights,
    ) -> Result<u64, CatchupError> {
        let ours = self
            .store
            .heights(doc)
            .map_err(|e| CatchupError::Store(e.to_string()))?;
        let mut plan = Vec::new();
        let mut total: u64 = 0;
        for (author, kind, seq) in ours {
            let have = theirs
                .iter()
                .find(|(a, k, _)| *a == author && *k == kind)
                .map(|(_, _, s)| *s);
            let from = match have {
                Some(h) if h >= seq => continue,
                Some(h) => Some(h),
                None => None,
            };
            total += u64::from(seq - from.map_or(0, |h| h + 1)) + 1;
            plan.push((author, kind, from, seq));
        }
        write_frame(tx, &total.to_be_bytes()).await?;
        let mut sent = 0;
        let mut out = Vec::with_capacity(WRITE_CHUNK + 4096);
        for (author, kind, mut after, until) in plan {
            loop {
                let batch = self
                    .store
                    .entries(doc, author, kind, after, until, BATCH)
                    .map_err(|e| CatchupError::Store(e.to_string()))?;
                let Some(last) = batch.last().map(|r| r.seq) else {
                    break;
                };
                // One stream write per WRITE_CHUNK bytes of frames, not two per operation:
                // each write wakes the QUIC connection task.
                for row in &batch {
                    push_frame(&mut out, &encode_wire(&row.header, row.body.as_deref()))?;
                    sent += 1;
                    if out.len() >= WRITE_CHUNK {
                        flush_frames(tx, &mut out).await?;
                    }
                }
                flush_frames(tx, &mut out).await?;
                if last >= until {
                    break;
                }
                after = Some(last);
            }
        }
        write_frame(tx, &[]).await?;
        Ok(sent)
    }

    /// Receives the peer's operations into the ingest queue. Returns how many arrived.
    async fn receive(
        &self,
        rx: &mut RecvStream,
        doc: DocumentId,
        peer: AuthorId,
    ) -> Result<u64, CatchupError> {
        let count = read_frame(rx, 8).await?;
        let count: [u8; 8] = count
            .try_into()
            .map_err(|_| CatchupError::Protocol("count".into()))?;
        let incoming = u64::from_be_bytes(count);
        self.ingest
            .send(IngestItem::Event(Event::SyncStarted {
                peer,
                document: doc,
                incoming_ops: incoming,
            }))
            .map_err(|_| CatchupError::Closed)?;
        let mut received = 0;
        let backlog = self.peers.of(peer);
        // The peer writes nothing after its end frame, so reading ahead loses nothing; it
        // turns two stream reads per operation into one per READ_BUFFER bytes.
        let mut rx = tokio::io::BufReader::with_capacity(READ_BUFFER, rx);
        loop {
            let frame = read_frame(&mut rx, self.max_frame).await?;
            if frame.is_empty() {
                return Ok(received);
            }
            received += 1;
            let budget = (MAX_BACKLOG, &self.received, MAX_SHARED_BACKLOG);
            if !backlog.room_in_both(budget, frame.len(), IDLE).await {
                return Err(CatchupError::Transport("ingest stalled".into()));
            }
            let permit = backlog.acquire_in_both(&self.received, frame.len());
            self.ingest
                .send(IngestItem::Wire {
                    document: doc,
                    peer,
                    bytes: frame,
                    permit,
                })
                .map_err(|_| CatchupError::Closed)?;
        }
    }

    /// Runs the exchange once both heights are known.
    async fn exchange(
        &self,
        mut tx: SendStream,
        mut rx: RecvStream,
        doc: DocumentId,
        peer: AuthorId,
        theirs: Heights,
    ) -> Result<(), CatchupError> {
        let (sent, received) = tokio::join!(
            async {
                let sent = self.send_missing(&mut tx, doc, &theirs).await;
                let _ = tx.finish();
                sent
            },
            self.receive(&mut rx, doc, peer)
        );
        let (sent, received) = (sent?, received?);
        self.ingest
            .send(IngestItem::Event(Event::SyncFinished {
                peer,
                document: doc,
                received_ops: received,
                sent_ops: sent,
            }))
            .map_err(|_| CatchupError::Closed)?;
        // Let the last bytes reach the peer before the stream is dropped.
        let _ = tokio::time::timeout(IDLE, tx.stopped()).await;
        Ok(())
    }

    /// Initiates a catch-up with `peer` on an open connection.
    pub(crate) async fn initiate(
        &self,
        conn: Connection,
        doc: DocumentId,
        peer: AuthorId,
    ) -> Result<(), CatchupError> {
        // Our operations go only to peers the document's roles name.
        if let Some(node) = self.node.upgrade() {
            if !node.may_sync(doc, &peer) {
                return Err(CatchupError::NotAllowed {
                    peer,
                    document: doc,
                });
            }
        }
        let (mut tx, mut rx) = tokio::time::timeout(IDLE, conn.open_bi())
            .await
            .map_err(transport)?
            .map_err(transport)?;
        let ours = self
            .store
            .heights(doc)
            .map_err(|e| CatchupError::Store(e.to_string()))?;
        write_frame(&mut tx, &encode_heights(doc, &ours)).await?;
        let answer = read_frame(&mut rx, 32 + MAX_LOGS * 37).await?;
        if answer.is_empty() {
            return Err(CatchupError::Refused {
                peer,
                document: doc,
            });
        }
        let (their_doc, theirs) = decode_heights(&answer)?;
        if their_doc != doc {
            return Err(CatchupError::Protocol(
                "peer answered for another document".into(),
            ));
        }
        self.exchange(tx, rx, doc, peer, theirs).await
    }

    async fn respond(&self, conn: Connection) -> Result<(), CatchupError> {
        let peer = AuthorId::from_slice(conn.remote_id().as_bytes())
            .map_err(|_| CatchupError::Protocol("remote id".into()))?;
        let (mut tx, mut rx) = tokio::time::timeout(IDLE, conn.accept_bi())
            .await
            .map_err(transport)?
            .map_err(transport)?;
        let (doc, theirs) = decode_heights(&read_frame(&mut rx, 32 + MAX_LOGS * 37).await?)?;
        let node = self.node.upgrade().ok_or(CatchupError::Closed)?;
        if !node.serves(doc) {
            return Err(CatchupError::Protocol(format!(
                "document {doc} is not shared here"
            )));
        }
        if !node.may_sync(doc, &peer) {
            drop(node);
            // An empty frame where the heights would be: the typed refusal (see
            // `CatchupError::Refused`). Nothing of the document is sent or read.
            let _ = write_frame(&mut tx, &[]).await;
            let _ = tx.finish();
            let _ = tokio::time::timeout(Duration::from_secs(1), tx.stopped()).await;
            return Err(CatchupError::NotAllowed {
                peer,
                document: doc,
            });
        }
        drop(node);
        let ours = self
            .store
            .heights(doc)
            .map_err(|e| CatchupError::Store(e.to_string()))?;
        write_frame(&mut tx, &encode_heights(doc, &ours)).await?;
        self.exchange(tx, rx, doc, peer, theirs).await
    }
}

impl ProtocolHandler for Session {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        if let Err(e) = self.respond(connection).await {
            tracing::debug!("catch-up (responder) failed: {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2panda_core::SigningKey;

    /// Frames are read as their bytes arrive: a frame cut short is a transport error, an
    /// announced length above the limit is refused before anything is read, and a whole
    /// frame of several buffer chunks is read intact.
    #[tokio::test]
    async fn frames_are_read_incrementally_within_their_limit() {
        let frame = |len: u32, body: &[u8]| {
            let mut out = len.to_be_bytes().to_vec();
            out.extend_from_slice(body);
            out
        };
        let mut cut: &[u8] = &frame(16 << 20, &[7; 10]);
        assert!(matches!(
            read_frame(&mut cut, 17 << 20).await,
            Err(CatchupError::Transport(_))
        ));
        let mut over: &[u8] = &frame(1000, &[7; 1000]);
        assert!(matches!(
            read_frame(&mut over, 999).await,
            Err(CatchupError::Protocol(_))
        ));
        let body: Vec<u8> = (0..(3 * FRAME_CHUNK + 5)).map(|i| i as u8).collect();
        let mut whole: &[u8] = &frame(body.len() as u32, &body);
        assert_eq!(read_frame(&mut whole, 1 << 20).await.unwrap(), body);
    }

    #[test]
    fn heights_round_trip_and_reject_garbage() {
        let doc = DocumentId::random();
        let a = AuthorId::from(SigningKey::generate().verifying_key());
        let h = vec![(a, LogKind::Delta, 7), (a, LogKind::Control, 0)];
        assert_eq!(decode_heights(&encode_heights(doc, &h)).unwrap(), (doc, h));
        assert!(decode_heights(&[0u8; 40]).is_err());
        assert!(decode_heights(&[]).is_err());
    }
}
