//! Catch-up sync between two nodes for one document, over a QUIC stream of p2panda-net's
//! endpoint (protocol `fieldsync/catchup/4`).
//!
//! 1. The initiator names the document (a 32-byte frame). The responder answers with the
//!    same id if it serves the document to this peer, or with an empty frame (refusal: it
//!    does not hold the document, or the peer has no role in it): before that answer a
//!    device reads 36 bytes of a peer, whoever it is.
//! 2. Both sides send the fork proofs they hold for the document (one frame each, at most
//!    [`MAX_PROOFS`], ended by an empty frame) and read the other's at the same time: a
//!    proof that holds freezes its log on the reader too (see `replica/forks.rs`), one that
//!    does not ends the session. Heights are taken after this, so both sides compare logs
//!    frozen alike.
//! 3. Both sides send their log heights (author, log kind, highest seq, the hash of the
//!    operation there) in pages of at most [`PAGE_LOGS`] logs, ended by an empty page, and
//!    read the other's at the same time. A side keeps only the heights of logs it holds
//!    itself: memory follows its own history, not what the peer lists. Where the peer's
//!    head is not the operation this side holds at that seq, the log forked between them:
//!    this side sends its whole log, and the peer's ingest finds the exact seq where the
//!    branches part (the operations below are duplicates), keeps the proof and freezes the
//!    log; the proof reaches this side at their next catch-up.
//! 4. Concurrently, each sends every operation the other lacks, in log order (a count
//!    frame, the operations, an empty frame). Received operations go to the ingest worker,
//!    which validates them like any other input; each frame's bytes are granted by the
//!    node's [`ReceiveBudget`] before the frame is read (see `budget.rs` for the bound and
//!    the fairness it gives).
//!
//! Why not p2panda-net's `LogSync`: in 0.7.1, two concurrent sessions of one topic (both peers
//! initiate on `NeighbourUp`) deadlock once about 1,000 operations flow in live mode (received
//! operations are forwarded into the other session's undrained live queue), and a finished
//! session closes the QUIC connection under a concurrent one. Catch-ups of 5,000+ operations
//! never completed. This protocol runs one bidirectional exchange per stream instead.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::Weak;
use std::time::Duration;

use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::protocol::{AcceptError, ProtocolHandler};
use p2panda_core::Hash;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::base::events::Event;
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::net::budget::{BudgetError, ConnectionBudget, Grant, ReceiveBudget};
use crate::net::sync_store::SyncStore;
use crate::net::worker::{Held, IngestItem};
use crate::replica::forks::MAX_PROOFS;
use crate::replica::Replica;
use crate::wire::fork::{self, MAX_PROOF_BYTES};
use crate::wire::operation::encode_wire;

/// ALPN of the catch-up protocol.
pub const CATCHUP_PROTOCOL: &[u8] = b"fieldsync/catchup/4";
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
/// Bytes of one height: author, log kind, seq, hash of the operation at seq.
const HEIGHT_BYTES: usize = 32 + 1 + 4 + 32;
/// Most logs one heights page lists.
pub const PAGE_LOGS: usize = 4096;
/// Most logs a peer may list in one session (all pages): beyond that the session ends.
/// Only the logs this side holds are kept, so this bounds the time spent reading, not memory.
const MAX_LISTED_LOGS: usize = 4_000_000;

/// Highest seq per (author, log kind) of a document, with the hash of the operation there.
pub type Heights = Vec<(AuthorId, LogKind, u32, Hash)>;

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
    /// the peer's view), or the peer does not hold it.
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
    /// Received frames waited longer than [`IDLE`] for room in the receive budget.
    #[error("receive budget: no room for {0} bytes in time")]
    Stalled(usize),
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

pub(crate) async fn write_frame(
    tx: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
) -> Result<(), CatchupError> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    push_frame(&mut out, bytes)?;
    flush_frames(tx, &mut out).await
}

/// Reads a frame's length prefix and checks it against `max` before anything else is read.
async fn read_len(rx: &mut (impl AsyncRead + Unpin), max: usize) -> Result<usize, CatchupError> {
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
    Ok(len)
}

/// Reads the `len` bytes of a frame whose prefix was read. Memory grows with the bytes
/// that actually arrive, not with the announced length: a peer announcing a large frame and
/// sending nothing holds a small buffer.
async fn read_body(rx: &mut (impl AsyncRead + Unpin), len: usize) -> Result<Vec<u8>, CatchupError> {
    let mut buf = Vec::with_capacity(len.min(FRAME_CHUNK));
    let read = tokio::time::timeout(IDLE, (&mut *rx).take(len as u64).read_to_end(&mut buf))
        .await
        .map_err(transport)?
        .map_err(transport)?;
    if read != len {
        return Err(CatchupError::Transport(format!(
            "stream ended {read} bytes into a frame of {len}"
        )));
    }
    Ok(buf)
}

/// Reads one length-prefixed frame of at most `max` bytes.
pub(crate) async fn read_frame(
    rx: &mut (impl AsyncRead + Unpin),
    max: usize,
) -> Result<Vec<u8>, CatchupError> {
    let len = read_len(rx, max).await?;
    read_body(rx, len).await
}

/// Reads one frame of at most `max` bytes whose bytes are first granted by `budget` (so the
/// node's memory for received frames stays within the budget; see `budget.rs`).
pub(crate) async fn read_granted_frame(
    rx: &mut (impl AsyncRead + Unpin),
    max: usize,
    budget: &ConnectionBudget,
) -> Result<(Vec<u8>, Option<Grant>), CatchupError> {
    let len = read_len(rx, max).await?;
    if len == 0 {
        return Ok((Vec::new(), None));
    }
    let grant = budget
        .acquire(len, tokio::time::Instant::now() + IDLE)
        .await
        .map_err(|e| match e {
            BudgetError::TooLarge => {
                CatchupError::Protocol(format!("frame of {len} bytes exceeds the budget"))
            }
            BudgetError::TimedOut => CatchupError::Stalled(len),
        })?;
    Ok((read_body(rx, len).await?, Some(grant)))
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
async fn flush_frames(
    tx: &mut (impl AsyncWrite + Unpin),
    out: &mut Vec<u8>,
) -> Result<(), CatchupError> {
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

/// One heights page: the logs' (author, kind, seq, hash), [`HEIGHT_BYTES`] each.
fn encode_page(heights: &[(AuthorId, LogKind, u32, Hash)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(heights.len() * HEIGHT_BYTES);
    for (author, kind, seq, hash) in heights {
        out.extend_from_slice(author.as_bytes());
        out.push(kind.code() as u8);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(hash.as_bytes());
    }
    out
}

/// Decodes one heights page (at most [`PAGE_LOGS`] logs), calling `each` per log.
pub(crate) fn decode_page(
    bytes: &[u8],
    mut each: impl FnMut(AuthorId, LogKind, u32, Hash),
) -> Result<usize, CatchupError> {
    let bad = |m: &str| CatchupError::Protocol(m.to_string());
    if !bytes.len().is_multiple_of(HEIGHT_BYTES) || bytes.len() / HEIGHT_BYTES > PAGE_LOGS {
        return Err(bad("malformed heights page"));
    }
    for chunk in bytes.chunks_exact(HEIGHT_BYTES) {
        let author = AuthorId::from_slice(&chunk[..32]).map_err(|_| bad("author"))?;
        let kind = LogKind::from_code(i64::from(chunk[32])).ok_or_else(|| bad("log kind"))?;
        let seq = u32::from_be_bytes([chunk[33], chunk[34], chunk[35], chunk[36]]);
        let hash: [u8; 32] = chunk[37..].try_into().map_err(|_| bad("hash"))?;
        each(author, kind, seq, Hash::from_bytes(hash));
    }
    Ok(bytes.len() / HEIGHT_BYTES)
}

/// Sends `ours` as heights pages and the empty page that ends them.
async fn send_heights(
    tx: &mut (impl AsyncWrite + Unpin),
    ours: &Heights,
) -> Result<(), CatchupError> {
    let mut out = Vec::new();
    for page in ours.chunks(PAGE_LOGS) {
        push_frame(&mut out, &encode_page(page))?;
        if out.len() >= WRITE_CHUNK {
            flush_frames(tx, &mut out).await?;
        }
    }
    push_frame(&mut out, &[])?;
    flush_frames(tx, &mut out).await
}

/// Sends our fork proofs of the document and the empty frame that ends them.
async fn send_proofs(
    tx: &mut (impl AsyncWrite + Unpin),
    proofs: &[Vec<u8>],
) -> Result<(), CatchupError> {
    let mut out = Vec::new();
    for proof in proofs.iter().take(MAX_PROOFS) {
        push_frame(&mut out, proof)?;
        if out.len() >= WRITE_CHUNK {
            flush_frames(tx, &mut out).await?;
        }
    }
    push_frame(&mut out, &[])?;
    flush_frames(tx, &mut out).await
}

/// Reads the peer's fork proofs up to the empty frame, handing each to `accept` as it
/// arrives (one frame in memory at a time). Returns how many were read.
async fn receive_proofs(
    rx: &mut (impl AsyncRead + Unpin),
    mut accept: impl FnMut(&[u8]) -> Result<(), CatchupError>,
) -> Result<usize, CatchupError> {
    let mut read = 0;
    loop {
        let proof = read_frame(rx, MAX_PROOF_BYTES).await?;
        if proof.is_empty() {
            return Ok(read);
        }
        read += 1;
        if read > MAX_PROOFS {
            return Err(CatchupError::Protocol(format!(
                "more than {MAX_PROOFS} fork proofs"
            )));
        }
        accept(&proof)?;
    }
}

/// Our heights by log, for looking up the peer's listed logs.
fn index_of(ours: &Heights) -> HashMap<(AuthorId, LogKind), u32> {
    ours.iter().map(|&(a, k, s, _)| ((a, k), s)).collect()
}

/// What the peer holds of each of our logs: its height and head hash, kept only for logs
/// in `ours`.
pub(crate) type TheirHeights = HashMap<(AuthorId, LogKind), (u32, Hash)>;

/// Reads the peer's heights pages up to the empty one, keeping the logs of `ours`.
async fn receive_heights(
    rx: &mut (impl AsyncRead + Unpin),
    ours: &HashMap<(AuthorId, LogKind), u32>,
) -> Result<TheirHeights, CatchupError> {
    let mut theirs = TheirHeights::new();
    let mut listed = 0usize;
    loop {
        let page = read_frame(rx, PAGE_LOGS * HEIGHT_BYTES).await?;
        if page.is_empty() {
            return Ok(theirs);
        }
        listed += decode_page(&page, |author, kind, seq, hash| {
            if ours.contains_key(&(author, kind)) {
                // Listed twice: the higher entry counts.
                let have = theirs.entry((author, kind)).or_insert((seq, hash));
                if seq > have.0 {
                    *have = (seq, hash);
                }
            }
        })?;
        if listed > MAX_LISTED_LOGS {
            return Err(CatchupError::Protocol(format!(
                "more than {MAX_LISTED_LOGS} logs listed"
            )));
        }
    }
}

/// Parses `bytes` as the stream a catch-up peer sends after the document was agreed on,
/// the way [`Session::exchange`] reads it (fork proofs up to the empty frame, each decoded
/// and verified; heights pages up to the empty one, keeping logs of `ours`; the operation
/// count; operation frames of at most `max_frame` bytes, each granted by a receive budget,
/// up to the empty frame). Returns (logs kept, operations read). For fuzzing the frame
/// reader without a network.
pub(crate) async fn parse_stream(
    mut bytes: &[u8],
    ours: &Heights,
    max_frame: usize,
) -> Result<(usize, u64), CatchupError> {
    receive_proofs(&mut bytes, |proof| {
        let (a, b) = fork::decode(proof).map_err(|e| CatchupError::Protocol(e.to_string()))?;
        fork::verify(a, b).map_err(|e| CatchupError::Protocol(e.to_string()))?;
        Ok(())
    })
    .await?;
    let index = index_of(ours);
    let theirs = receive_heights(&mut bytes, &index).await?;
    let count = read_frame(&mut bytes, 8).await?;
    if count.len() != 8 {
        return Err(CatchupError::Protocol("count".into()));
    }
    let budget = ReceiveBudget::new(2 * max_frame, max_frame).connection();
    let mut ops = 0;
    loop {
        let (frame, grant) = read_granted_frame(&mut bytes, max_frame, &budget).await?;
        if grant.is_none() {
            return Ok((theirs.len(), ops));
        }
        debug_assert!(!frame.is_empty());
        ops += 1;
    }
}

/// Everything one side needs to run a session.
#[derive(Clone)]
pub(crate) struct Session {
    pub node: Weak<Replica>,
    pub store: SyncStore,
    pub ingest: Sender<IngestItem>,
    pub max_frame: usize,
    /// Bytes of received frames the node holds, all connections together.
    pub budget: ReceiveBudget,
    /// The devices this node syncs with (`NetworkConfig::allow`).
    pub filter: super::config::PeerFilter,
    /// Where members that dialled in can be dialled back (QUIC sessions only).
    pub addresses: Option<std::sync::Arc<crate::net::addresses::LearnedAddresses>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatchupSession")
    }
}

/// A log to send: author, kind, the peer's height if any, ours.
type LogToSend = (AuthorId, LogKind, Option<u32>, u32);

/// The logs to send (each log of ours the peer lacks something of) and how many operations
/// that is. Linear in our logs; `hash_at(author, kind, seq)` gives the hash of our
/// operation at `seq` of a log (a lookup for each log where the peer is behind). A log
/// whose head on the peer's side is not the operation we hold there forked: all of it is
/// sent (see the module docs).
///
/// `floors`: per log, the seq after which sending starts at the earliest (see
/// [`Session::floors`]: operations a snapshot the peer gets covers, or this side no longer
/// holds).
fn plan(
    ours: &Heights,
    theirs: &TheirHeights,
    floors: &HashMap<(AuthorId, LogKind), u32>,
    mut hash_at: impl FnMut(AuthorId, LogKind, u32) -> Result<Option<Hash>, CatchupError>,
) -> Result<(Vec<LogToSend>, u64), CatchupError> {
    let mut plan = Vec::new();
    let mut total: u64 = 0;
    for &(author, kind, seq, hash) in ours {
        let floor = floors.get(&(author, kind)).copied();
        if floor.is_some_and(|f| f >= seq) {
            continue;
        }
        let from = match theirs.get(&(author, kind)) {
            Some(&(h, _)) if floor.is_some_and(|f| h <= f) => floor,
            Some(&(h, _)) if h > seq => continue,
            Some(&(h, their_hash)) if h == seq => {
                if their_hash == hash {
                    continue;
                }
                None
            }
            Some(&(h, their_hash)) => {
                if hash_at(author, kind, h)? == Some(their_hash) {
                    Some(h)
                } else {
                    None
                }
            }
            None => floor,
        };
        total += u64::from(seq - from.map_or(0, |h| h + 1)) + 1;
        plan.push((author, kind, from, seq));
    }
    Ok((plan, total))
}

impl Session {
    fn our_heights(&self, doc: DocumentId) -> Result<Heights, CatchupError> {
        self.store
            .heights(doc)
            .map_err(|e| CatchupError::Store(e.to_string()))
    }

    /// Where sending starts at the earliest, per log (see `replica/snapshot.rs`):
    /// - of a snapshot log whose latest snapshot the peer lacks: that snapshot only (the
    ///   author's earlier ones are superseded);
    /// - of an update log: after what the snapshots the peer gets cover (they are sent
    ///   first: heights list snapshot logs before update logs), and after this side's base
    ///   (operations it no longer holds).
    fn floors(
        &self,
        doc: DocumentId,
        ours: &Heights,
        theirs: &TheirHeights,
    ) -> Result<HashMap<(AuthorId, LogKind), u32>, CatchupError> {
        let store = |e: crate::store::StoreError| CatchupError::Store(e.to_string());
        let mut floors = HashMap::new();
        let raise = |floors: &mut HashMap<(AuthorId, LogKind), u32>, key, seq: u32| {
            let f = floors.entry(key).or_insert(seq);
            *f = (*f).max(seq);
        };
        let node = self.node.upgrade().ok_or(CatchupError::Closed)?;
        for &(author, kind, seq, _) in ours {
            if kind != LogKind::Snapshot
                || theirs.get(&(author, kind)).is_some_and(|&(h, _)| h >= seq)
            {
                continue;
            }
            // A snapshot the peer would refuse (its author may not publish one now, e.g.
            // a removed writer's) stands in for nothing: the operations go as they are.
            if !node.snapshot_servable(doc, &author) {
                continue;
            }
            if let Some(before) = seq.checked_sub(1) {
                raise(&mut floors, (author, kind), before);
            }
            for (covered, at) in self
                .store
                .snapshot_covers(doc, author, seq)
                .map_err(store)?
                .unwrap_or_default()
            {
                raise(&mut floors, (covered, LogKind::Delta), at);
            }
        }
        for (author, base) in self.store.bases(doc).map_err(store)? {
            raise(&mut floors, (author, LogKind::Delta), base);
        }
        Ok(floors)
    }

    fn proofs(&self, doc: DocumentId) -> Result<Vec<Vec<u8>>, CatchupError> {
        self.node
            .upgrade()
            .ok_or(CatchupError::Closed)?
            .fork_proofs(doc)
            .map_err(|e| CatchupError::Store(e.to_string()))
    }

    /// Verifies a peer's fork proof: one that holds freezes its log here too.
    fn accept_proof(&self, doc: DocumentId, proof: &[u8]) -> Result<(), CatchupError> {
        let node = self.node.upgrade().ok_or(CatchupError::Closed)?;
        match node.accept_fork_proof(doc, proof) {
            Ok(_) => Ok(()),
            Err(crate::replica::IngestError::Store(e)) => Err(CatchupError::Store(e.to_string())),
            Err(e) => Err(CatchupError::Protocol(format!("fork proof: {e}"))),
        }
    }

    /// The peer's heights come from its store: what it lists of our own logs it holds
    /// (committed), so those operations leave the outbox now.
    fn acknowledge(&self, doc: DocumentId, theirs: &TheirHeights) {
        if let Some(node) = self.node.upgrade() {
            let me = node.author();
            for ((author, kind), (seq, _)) in theirs {
                if *author == me {
                    let _ = node.acknowledge_up_to(doc, *kind, *seq);
                }
            }
        }
    }

    /// What this device holds of `doc`, as a peer reads it with [`Session::theirs_from`]:
    /// the heights pages of an exchange. For asking a peer for a bundle of only what is
    /// missing here.
    pub(crate) async fn heights_request(&self, doc: DocumentId) -> Result<Vec<u8>, CatchupError> {
        let mut out = Vec::new();
        send_heights(&mut out, &self.our_heights(doc)?).await?;
        Ok(out)
    }

    /// Reads heights written by [`Session::heights_request`], keeping the logs this side
    /// holds of `doc`.
    pub(crate) async fn theirs_from(
        &self,
        doc: DocumentId,
        mut request: &[u8],
    ) -> Result<TheirHeights, CatchupError> {
        let index = index_of(&self.our_heights(doc)?);
        let theirs = receive_heights(&mut request, &index).await?;
        if !request.is_empty() {
            return Err(CatchupError::Protocol("bytes after the heights".into()));
        }
        Ok(theirs)
    }

    /// This side's half of an exchange with a peer that holds `theirs`, written to `tx` as
    /// the peer reads it with [`Session::read_half`] (for bundles: no reply is read).
    /// Returns how many operations were written.
    pub(crate) async fn write_half(
        &self,
        tx: &mut (impl AsyncWrite + Unpin),
        doc: DocumentId,
        theirs: &TheirHeights,
    ) -> Result<u64, CatchupError> {
        send_proofs(tx, &self.proofs(doc)?).await?;
        let ours = self.our_heights(doc)?;
        send_heights(tx, &ours).await?;
        self.send_missing(tx, doc, &ours, theirs).await
    }

    /// Reads a half written by [`Session::write_half`] on `peer`'s side: its fork proofs
    /// (verified), its heights (acknowledging our operations it holds), its operations (to
    /// the ingest worker, each validated like any other input). Returns how many
    /// operations arrived.
    pub(crate) async fn read_half(
        &self,
        rx: &mut (impl AsyncRead + Unpin),
        doc: DocumentId,
        peer: AuthorId,
    ) -> Result<u64, CatchupError> {
        receive_proofs(rx, |proof| self.accept_proof(doc, proof)).await?;
        let index = index_of(&self.our_heights(doc)?);
        let theirs = receive_heights(rx, &index).await?;
        drop(index);
        // Anyone can sign a bundle: only a device with a role in the document acknowledges
        // our operations (as only such a peer passes a live session's gate).
        if self.node.upgrade().is_some_and(|n| n.may_sync(doc, &peer)) {
            self.acknowledge(doc, &theirs);
        }
        let received = self.receive(rx, doc, peer).await?;
        self.ingest
            .send(IngestItem::Event(Event::SyncFinished {
                peer,
                document: doc,
                received_ops: received,
                sent_ops: 0,
            }))
            .map_err(|_| CatchupError::Closed)?;
        Ok(received)
    }

    /// Sends every operation the peer lacks, preceded by their count and followed by an
    /// empty frame. Returns how many were sent.
    async fn send_missing(
        &self,
        tx: &mut (impl AsyncWrite + Unpin),
        doc: DocumentId,
        ours: &Heights,
        theirs: &TheirHeights,
    ) -> Result<u64, CatchupError> {
        let floors = self.floors(doc, ours, theirs)?;
        let (plan, total) = plan(ours, theirs, &floors, |author, kind, seq| {
            self.store
                .hash_at(doc, author, kind, seq)
                .map_err(|e| CatchupError::Store(e.to_string()))
        })?;
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
        rx: &mut (impl AsyncRead + Unpin),
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
        let budget = self.budget.connection();
        loop {
            let (frame, grant) = read_granted_frame(rx, self.max_frame, &budget).await?;
            let Some(grant) = grant else {
                return Ok(received);
            };
            received += 1;
            self.ingest
                .send(IngestItem::Wire {
                    document: doc,
                    peer,
                    bytes: frame,
                    held: Held::Budget(grant),
                })
                .map_err(|_| CatchupError::Closed)?;
        }
    }

    /// Exchanges fork proofs, heights pages, then operations, once both sides agreed on
    /// the document.
    ///
    /// Runs over any reliable, ordered byte stream: a QUIC stream, or a link an app supplies
    /// (`link.rs`). `rx` should be buffered by the caller (the peer writes nothing after
    /// its end frame on a QUIC stream; on a link the buffer is kept for the next document).
    /// The sending half is not closed here.
    pub(crate) async fn exchange(
        &self,
        tx: &mut (impl AsyncWrite + Unpin),
        rx: &mut (impl AsyncRead + Unpin),
        doc: DocumentId,
        peer: AuthorId,
    ) -> Result<(u64, u64), CatchupError> {
        let mut tx = tx;
        let mut rx = rx;
        let proofs = self.proofs(doc)?;
        let (sent_proofs, received_proofs) = tokio::join!(
            send_proofs(&mut tx, &proofs),
            receive_proofs(&mut rx, |proof| self.accept_proof(doc, proof))
        );
        sent_proofs?;
        received_proofs?;
        let ours = self.our_heights(doc)?;
        let index = index_of(&ours);
        let (sent_heights, theirs) = tokio::join!(
            send_heights(&mut tx, &ours),
            receive_heights(&mut rx, &index)
        );
        sent_heights?;
        let theirs = theirs?;
        drop(index);
        self.acknowledge(doc, &theirs);
        let (sent, received) = tokio::join!(
            async {
                let sent = self.send_missing(&mut tx, doc, &ours, &theirs).await;
                let _ = tx.flush().await;
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
        Ok((sent, received))
    }

    /// Runs [`Session::exchange`] on a QUIC stream pair, then closes the sending half and
    /// lets its last bytes reach the peer.
    async fn exchange_quic(
        &self,
        mut tx: SendStream,
        rx: RecvStream,
        doc: DocumentId,
        peer: AuthorId,
    ) -> Result<(), CatchupError> {
        // The peer writes nothing after its end frame, so reading ahead loses nothing; it
        // turns two stream reads per operation into one per READ_BUFFER bytes.
        let mut rx = tokio::io::BufReader::with_capacity(READ_BUFFER, rx);
        let done = self.exchange(&mut tx, &mut rx, doc, peer).await;
        let _ = tx.finish();
        let _ = tokio::time::timeout(IDLE, tx.stopped()).await;
        done.map(|_| ())
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
        write_frame(&mut tx, doc.as_bytes()).await?;
        let answer = read_frame(&mut rx, 32).await?;
        if answer.is_empty() {
            return Err(CatchupError::Refused {
                peer,
                document: doc,
            });
        }
        if answer != doc.as_bytes() {
            return Err(CatchupError::Protocol(
                "peer answered for another document".into(),
            ));
        }
        let done = self.exchange_quic(tx, rx, doc, peer).await;
        if let Some(addresses) = &self.addresses {
            addresses.record_path(&conn, peer);
        }
        // A session's connection serves that session only: once both sides have each
        // other's end frame (see `exchange`), it is closed rather than kept alive by
        // keep-alive packets (radio wake-ups on phones) until it times out.
        conn.close(0u32.into(), b"done");
        done
    }

    async fn respond(&self, conn: Connection) -> Result<(), CatchupError> {
        let peer = AuthorId::from_slice(conn.remote_id().as_bytes())
            .map_err(|_| CatchupError::Protocol("remote id".into()))?;
        let (mut tx, mut rx) = tokio::time::timeout(IDLE, conn.accept_bi())
            .await
            .map_err(transport)?
            .map_err(transport)?;
        let named = read_frame(&mut rx, 32).await?;
        let doc = DocumentId::from_slice(&named)
            .map_err(|_| CatchupError::Protocol("document id".into()))?;
        let node = self.node.upgrade().ok_or(CatchupError::Closed)?;
        if !self.filter.admits(&peer) || !node.serves(doc) || !node.may_sync(doc, &peer) {
            drop(node);
            // An empty frame where the document id would be: the typed refusal (see
            // `CatchupError::Refused`), the same whether the document is unknown here or
            // the peer has no role in it. Nothing of the document is sent or read.
            let _ = write_frame(&mut tx, &[]).await;
            let _ = tx.finish();
            let _ = tokio::time::timeout(Duration::from_secs(1), tx.stopped()).await;
            return Err(CatchupError::NotAllowed {
                peer,
                document: doc,
            });
        }
        drop(node);
        if let Some(addresses) = &self.addresses {
            addresses.learn(&conn, peer).await;
        }
        write_frame(&mut tx, doc.as_bytes()).await?;
        let done = self.exchange_quic(tx, rx, doc, peer).await;
        if let Some(addresses) = &self.addresses {
            addresses.record_path(&conn, peer);
        }
        done
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
    fn heights_pages_round_trip_and_reject_garbage() {
        let a = AuthorId::from(SigningKey::generate().verifying_key());
        let h = vec![
            (a, LogKind::Delta, 7, Hash::digest(b"7")),
            (a, LogKind::Control, 0, Hash::digest(b"0")),
        ];
        let mut back = Vec::new();
        let n = decode_page(&encode_page(&h), |a, k, s, x| back.push((a, k, s, x))).unwrap();
        assert_eq!((n, back), (2, h));
        assert!(decode_page(&[0u8; 40], |_, _, _, _| {}).is_err());
        assert_eq!(decode_page(&[], |_, _, _, _| {}).unwrap(), 0);
        // A page longer than PAGE_LOGS is refused, whatever its content.
        let long = encode_page(&vec![
            (a, LogKind::Delta, 1, Hash::digest(b"1"));
            PAGE_LOGS + 1
        ]);
        assert!(decode_page(&long, |_, _, _, _| {}).is_err());
    }

    /// Only the logs this side holds are kept from the peer's pages, and the plan sends
    /// exactly what the peer lacks: the rest of a log it holds a prefix of, all of a log it
    /// lacks or whose branch parted from ours.
    #[tokio::test]
    async fn received_heights_keep_our_logs_and_the_plan_is_what_the_peer_lacks() {
        let key = || AuthorId::from(SigningKey::generate().verifying_key());
        let (a, b, c, d, e) = (key(), key(), key(), key(), key());
        // Our operation at seq n of any log hashes to h(n); the peer's other branch to x(n).
        let h = |n: u32| Hash::digest(n.to_be_bytes());
        let x = |n: u32| Hash::digest([n.to_be_bytes(), *b"fork"].concat());
        let ours: Heights = vec![
            (a, LogKind::Delta, 9, h(9)),
            (b, LogKind::Delta, 3, h(3)),
            (c, LogKind::Control, 0, h(0)),
            (d, LogKind::Delta, 5, h(5)),
            (e, LogKind::Delta, 2, h(2)),
        ];
        let index = index_of(&ours);
        // The peer lists a's log at 4, b's at 3, d's at 5 but another branch, e's at 1 on
        // another branch, and many logs we do not hold.
        let mut listed: Heights = vec![
            (a, LogKind::Delta, 4, h(4)),
            (b, LogKind::Delta, 3, h(3)),
            (d, LogKind::Delta, 5, x(5)),
            (e, LogKind::Delta, 1, x(1)),
        ];
        listed.extend((0..2 * PAGE_LOGS).map(|_| (key(), LogKind::Delta, 1, h(1))));
        let mut wire = Vec::new();
        for page in listed.chunks(PAGE_LOGS) {
            push_frame(&mut wire, &encode_page(page)).unwrap();
        }
        push_frame(&mut wire, &[]).unwrap();
        let theirs = receive_heights(&mut wire.as_slice(), &index).await.unwrap();
        assert_eq!(theirs.len(), 4);
        let (plan, total) =
            plan(&ours, &theirs, &HashMap::new(), |_, _, n| Ok(Some(h(n)))).unwrap();
        assert_eq!(
            plan,
            vec![
                (a, LogKind::Delta, Some(4), 9),
                (c, LogKind::Control, None, 0),
                (d, LogKind::Delta, None, 5),
                (e, LogKind::Delta, None, 2),
            ]
        );
        assert_eq!(total, 5 + 1 + 6 + 3);
    }
}
