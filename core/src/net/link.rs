//! Sync over a link the app supplies: a BLE L2CAP channel, Wi-Fi Aware, Multipeer, a pipe in
//! a test. The link only has to carry bytes reliably and in order; it may be unauthenticated
//! and readable by anyone. On it FieldSync runs:
//!
//! 1. **A handshake that authenticates both devices and keys the link.** Each side sends
//!    `"FSL1"`, its role (0 initiator, 1 responder) and an ephemeral X25519 key. Both derive
//!    the shared secret and, from it and the transcript (both hellos), one key per
//!    direction (BLAKE3 `derive_key`). Each then sends, encrypted, its node key and an
//!    Ed25519 signature over its role and the transcript: a device proves it holds its node
//!    key for this handshake only, and a man in the middle learns nothing (it cannot sign
//!    for either side). Nothing else is read before the peer's signature verified.
//! 2. **Records**: everything after is ChaCha20-Poly1305 under the direction's key with the
//!    record counter as nonce, in records of at most the link's MTU (a 2-byte length, then
//!    the ciphertext). A changed, dropped, replayed or reordered record ends the session.
//! 3. **The catch-up protocol** of QUIC sessions (`catchup.rs`), per document: the
//!    initiator names its documents one after the other (each answered by the document id,
//!    or an empty frame as refusal, as over QUIC), then an empty frame; then the responder
//!    names its documents not named yet. Every operation received is validated like any
//!    other input; a device without a role in a document is refused as over QUIC.
//!
//! A link that breaks mid-sync ends the session with an error; what arrived is kept, and
//! the next session (on any link or transport) sends only what is still missing.

use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use futures_util::future::BoxFuture;
use p2panda_core::Signature;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

use crate::base::ids::{AuthorId, DocumentId};
use crate::net::catchup::{read_frame, write_frame, CatchupError, Session};
use crate::net::standalone::Standalone;
use crate::net::NetSlot;
use crate::replica::Replica;

/// A reliable, ordered link to one peer, supplied by the app.
///
/// `send` may be given at most [`Link::mtu`] bytes; `receive` may return bytes cut or
/// joined anywhere (a byte stream) or exactly as sent (a message link): both work, as long
/// as nothing is lost, duplicated or reordered while the link is up. Keep the link open until
/// the sync call returned on both devices: the last bytes one side sends may still be on
/// their way when its call returns.
pub trait Link: Send + Sync {
    /// Sends bytes to the peer.
    fn send(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), LinkError>>;
    /// The next bytes from the peer; `Ok(None)` once the link closed.
    fn receive(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, LinkError>>;
    /// Most bytes one `send` carries (at least [`MIN_MTU`]).
    fn mtu(&self) -> usize;
}

/// Which side of a link this device is: one initiates, the other responds. Two
/// initiators (or two responders) refuse each other in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRole {
    /// Names its documents first.
    Initiator,
    /// Answers first, then names its documents.
    Responder,
}

/// Why a sync over a link failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The link closed before the session ended.
    #[error("the link closed before the sync finished")]
    Closed,
    /// The app's link failed.
    #[error("link: {0}")]
    Io(String),
    /// The link's MTU is below [`MIN_MTU`].
    #[error("link MTU {0} is below the minimum of {MIN_MTU} bytes")]
    Mtu(usize),
    /// The peer is not a FieldSync device, is this device, or failed to authenticate.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A record failed to decrypt or the peer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Nothing arrived for too long.
    #[error("the peer sent nothing for {0} s")]
    Timeout(u64),
    /// This node's store failed.
    #[error("store: {0}")]
    Store(String),
}

/// What a sync over a link did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkReport {
    /// The authenticated peer.
    pub peer: AuthorId,
    /// Documents synced.
    pub documents: u32,
    /// Documents one side refused (no role, or not held).
    pub refused: u32,
    /// Operations sent.
    pub sent_ops: u64,
    /// Operations received (each validated before it was applied).
    pub received_ops: u64,
}

/// Smallest MTU a link may have: the handshake's largest record fits.
pub const MIN_MTU: usize = 128;
/// Largest record (the length prefix is 2 bytes).
const MAX_RECORD: usize = u16::MAX as usize;
const TAG: &[u8; 4] = b"FSL1";
const HELLO_BYTES: usize = 4 + 1 + 32;
const AUTH_BYTES: usize = 32 + 64;
const AEAD_TAG: usize = 16;
/// The handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes buffered between the session and the record layer in each direction.
const PIPE_BYTES: usize = 256 * 1024;

fn from_catchup(e: CatchupError) -> LinkError {
    match e {
        CatchupError::Store(s) => LinkError::Store(s),
        CatchupError::Transport(_) | CatchupError::Closed => LinkError::Closed,
        other => LinkError::Protocol(other.to_string()),
    }
}

/// Reads records (`u16` length, then bytes) from a link's byte stream.
struct RecordReader {
    link: Arc<dyn Link>,
    buf: Vec<u8>,
}

impl RecordReader {
    async fn next(&mut self) -> Result<Option<Vec<u8>>, LinkError> {
        loop {
            if self.buf.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
                if self.buf.len() >= 2 + len {
                    let record = self.buf[2..2 + len].to_vec();
                    self.buf.drain(..2 + len);
                    return Ok(Some(record));
                }
            }
            match self.link.receive().await? {
                Some(bytes) => {
                    // At most one partial record waits besides what just arrived.
                    if self.buf.len() + bytes.len() > 2 * (MAX_RECORD + 2) + bytes.len() {
                        return Err(LinkError::Protocol("record buffer overflow".into()));
                    }
                    self.buf.extend_from_slice(&bytes);
                }
                None if self.buf.is_empty() => return Ok(None),
                None => return Err(LinkError::Closed),
            }
        }
    }
}

async fn send_record(link: &dyn Link, body: &[u8]) -> Result<(), LinkError> {
    let len = u16::try_from(body.len()).map_err(|_| LinkError::Protocol("record".into()))?;
    let mut out = Vec::with_capacity(2 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    link.send(out).await
}

/// One direction's cipher: the key and the next record's counter.
struct Direction {
    cipher: ChaCha20Poly1305,
    counter: u64,
}

impl Direction {
    fn new(key: [u8; 32]) -> Self {
        Direction {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            counter: 0,
        }
    }

    fn nonce(&mut self) -> Result<[u8; 12], LinkError> {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.counter.to_be_bytes());
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| LinkError::Protocol("record counter exhausted".into()))?;
        Ok(nonce)
    }

    fn seal(&mut self, plain: &[u8]) -> Result<Vec<u8>, LinkError> {
        let nonce = self.nonce()?;
        self.cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|_| LinkError::Protocol("encrypt".into()))
    }

    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, LinkError> {
        let nonce = self.nonce()?;
        self.cipher
            .decrypt(Nonce::from_slice(&nonce), sealed)
            .map_err(|_| LinkError::Protocol("a record failed to decrypt".into()))
    }
}

/// An authenticated, keyed link.
struct Secured {
    peer: AuthorId,
    reader: RecordReader,
    inbound: Direction,
    outbound: Direction,
}

fn role_byte(role: LinkRole) -> u8 {
    match role {
        LinkRole::Initiator => 0,
        LinkRole::Responder => 1,
    }
}

/// What a device signs: the protocol, its role and the transcript.
fn auth_message(role: u8, transcript: &[u8; 32]) -> Vec<u8> {
    let mut m = b"fieldsync/link/1 auth".to_vec();
    m.push(role);
    m.extend_from_slice(transcript);
    m
}

async fn handshake(
    node: &Replica,
    link: Arc<dyn Link>,
    role: LinkRole,
) -> Result<Secured, LinkError> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let ephemeral = MontgomeryPoint::mul_base_clamped(secret);
    let mut hello = TAG.to_vec();
    hello.push(role_byte(role));
    hello.extend_from_slice(ephemeral.as_bytes());
    send_record(link.as_ref(), &hello).await?;
    let mut reader = RecordReader {
        link: link.clone(),
        buf: Vec::new(),
    };
    let theirs = reader.next().await?.ok_or(LinkError::Closed)?;
    let bad = |m: &str| LinkError::Handshake(m.to_string());
    if theirs.len() != HELLO_BYTES || &theirs[..4] != TAG {
        return Err(bad("the peer is not a FieldSync device (no link hello)"));
    }
    let their_role = theirs[4];
    if their_role == role_byte(role) || their_role > 1 {
        return Err(bad("both sides took the same role"));
    }
    let their_key: [u8; 32] = theirs[5..].try_into().map_err(|_| bad("key"))?;
    let shared = MontgomeryPoint(their_key).mul_clamped(secret);
    if shared.as_bytes() == &[0u8; 32] {
        return Err(bad("a low-order key"));
    }
    let (first, second) = match role {
        LinkRole::Initiator => (&hello, &theirs),
        LinkRole::Responder => (&theirs, &hello),
    };
    let mut transcript = blake3::Hasher::new_derive_key("fieldsync link 1 transcript");
    transcript.update(first);
    transcript.update(second);
    let transcript: [u8; 32] = *transcript.finalize().as_bytes();
    let mut material = shared.as_bytes().to_vec();
    material.extend_from_slice(&transcript);
    let initiator_key = blake3::derive_key("fieldsync link 1 initiator to responder", &material);
    let responder_key = blake3::derive_key("fieldsync link 1 responder to initiator", &material);
    let (mut outbound, mut inbound) = match role {
        LinkRole::Initiator => (Direction::new(initiator_key), Direction::new(responder_key)),
        LinkRole::Responder => (Direction::new(responder_key), Direction::new(initiator_key)),
    };
    let signature = node
        .signing_key()
        .sign(&auth_message(role_byte(role), &transcript));
    let mut auth = node.author().as_bytes().to_vec();
    auth.extend_from_slice(&signature.to_bytes());
    send_record(link.as_ref(), &outbound.seal(&auth)?).await?;
    let sealed = reader.next().await?.ok_or(LinkError::Closed)?;
    let auth = inbound
        .open(&sealed)
        .map_err(|_| bad("the peer's authentication did not decrypt"))?;
    if auth.len() != AUTH_BYTES {
        return Err(bad("authentication"));
    }
    let peer = AuthorId::from_slice(&auth[..32]).map_err(|_| bad("node key"))?;
    let signature: [u8; 64] = auth[32..].try_into().map_err(|_| bad("signature"))?;
    if !peer.verifying_key().verify(
        &auth_message(their_role, &transcript),
        &Signature::from_bytes(&signature),
    ) {
        return Err(bad("the peer's signature does not verify"));
    }
    if peer == node.author() {
        return Err(bad("the peer is this device"));
    }
    Ok(Secured {
        peer,
        reader,
        inbound,
        outbound,
    })
}

/// Moves session bytes to the link as sealed records until the session closes its side.
async fn pump_out(
    link: Arc<dyn Link>,
    mut from_session: ReadHalf<DuplexStream>,
    mut outbound: Direction,
) -> Result<(), LinkError> {
    let plain_max = (link.mtu().min(MAX_RECORD + 2) - 2 - AEAD_TAG).max(1);
    let mut buf = vec![0u8; plain_max];
    loop {
        let n = from_session
            .read(&mut buf)
            .await
            .map_err(|e| LinkError::Io(e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        send_record(link.as_ref(), &outbound.seal(&buf[..n])?).await?;
    }
}

/// Moves opened records from the link to the session until the link closes.
async fn pump_in(
    mut reader: RecordReader,
    mut to_session: WriteHalf<DuplexStream>,
    mut inbound: Direction,
) -> Result<(), LinkError> {
    while let Some(sealed) = reader.next().await? {
        let plain = inbound.open(&sealed)?;
        to_session
            .write_all(&plain)
            .await
            .map_err(|_| LinkError::Closed)?;
    }
    Ok(())
}

/// Counts of one side's part of a session.
#[derive(Default)]
struct Tally {
    documents: u32,
    refused: u32,
    sent: u64,
    received: u64,
    named: Vec<DocumentId>,
}

/// Names `docs` one after the other and runs an exchange for each the peer accepts, then
/// the empty frame that ends the list.
async fn name(
    session: &Session,
    node: &Replica,
    w: &mut WriteHalf<DuplexStream>,
    r: &mut tokio::io::BufReader<ReadHalf<DuplexStream>>,
    peer: AuthorId,
    docs: &[DocumentId],
    tally: &mut Tally,
) -> Result<(), CatchupError> {
    for &doc in docs {
        if !node.may_sync(doc, &peer) {
            tally.refused += 1;
            continue;
        }
        write_frame(w, doc.as_bytes()).await?;
        let answer = read_frame(r, 32).await?;
        if answer.is_empty() {
            tally.refused += 1;
            continue;
        }
        if answer != doc.as_bytes() {
            return Err(CatchupError::Protocol(
                "peer answered for another document".into(),
            ));
        }
        let (sent, received) = session.exchange(w, r, doc, peer).await?;
        tally.documents += 1;
        tally.sent += sent;
        tally.received += received;
    }
    write_frame(w, &[]).await
}

/// Answers the peer's documents until its empty frame.
async fn answer(
    session: &Session,
    node: &Replica,
    w: &mut WriteHalf<DuplexStream>,
    r: &mut tokio::io::BufReader<ReadHalf<DuplexStream>>,
    peer: AuthorId,
    tally: &mut Tally,
) -> Result<(), CatchupError> {
    loop {
        let named = read_frame(r, 32).await?;
        if named.is_empty() {
            return Ok(());
        }
        let doc = DocumentId::from_slice(&named)
            .map_err(|_| CatchupError::Protocol("document id".into()))?;
        if !node.serves(doc) || !node.may_sync(doc, &peer) {
            tally.refused += 1;
            write_frame(w, &[]).await?;
            continue;
        }
        // Only documents held here are remembered (bounded by this device's documents,
        // whatever the peer names).
        if !tally.named.contains(&doc) {
            tally.named.push(doc);
        }
        write_frame(w, doc.as_bytes()).await?;
        let (sent, received) = session.exchange(w, r, doc, peer).await?;
        tally.documents += 1;
        tally.sent += sent;
        tally.received += received;
    }
}

/// Syncs every document both sides may sync over `link`. Returns once the session ended
/// and everything received was validated and stored.
pub(crate) async fn sync(
    node: &Arc<Replica>,
    slot: &NetSlot,
    link: Arc<dyn Link>,
    role: LinkRole,
) -> Result<LinkReport, LinkError> {
    if link.mtu() < MIN_MTU {
        return Err(LinkError::Mtu(link.mtu()));
    }
    let secured = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(node, link.clone(), role))
        .await
        .map_err(|_| LinkError::Timeout(HANDSHAKE_TIMEOUT.as_secs()))??;
    let peer = secured.peer;
    let docs = node
        .documents()
        .map_err(|e| LinkError::Store(e.to_string()))?;
    let standalone = Standalone::new(node, slot).map_err(from_catchup)?;
    let (session_side, link_side) = tokio::io::duplex(PIPE_BYTES);
    let (session_r, mut session_w) = tokio::io::split(session_side);
    let (link_r, link_w) = tokio::io::split(link_side);
    let mut session_r = tokio::io::BufReader::with_capacity(64 * 1024, session_r);
    let outgoing = tokio::spawn(pump_out(link.clone(), link_r, secured.outbound));
    let incoming = tokio::spawn(pump_in(secured.reader, link_w, secured.inbound));
    let session = &standalone.session;
    let mut tally = Tally::default();
    let run = async {
        match role {
            LinkRole::Initiator => {
                name(
                    session,
                    node,
                    &mut session_w,
                    &mut session_r,
                    peer,
                    &docs,
                    &mut tally,
                )
                .await?;
                answer(
                    session,
                    node,
                    &mut session_w,
                    &mut session_r,
                    peer,
                    &mut tally,
                )
                .await
            }
            LinkRole::Responder => {
                answer(
                    session,
                    node,
                    &mut session_w,
                    &mut session_r,
                    peer,
                    &mut tally,
                )
                .await?;
                let rest: Vec<DocumentId> = docs
                    .iter()
                    .copied()
                    .filter(|d| !tally.named.contains(d))
                    .collect();
                name(
                    session,
                    node,
                    &mut session_w,
                    &mut session_r,
                    peer,
                    &rest,
                    &mut tally,
                )
                .await
            }
        }
    }
    .await;
    // The last frames leave before the session ends: close our side, let the pump drain.
    let _ = session_w.shutdown().await;
    drop(session_w);
    let drained = tokio::time::timeout(Duration::from_secs(30), outgoing).await;
    // A record that failed to open says more than the session's "stream ended".
    let link_failure = if incoming.is_finished() {
        match incoming.await {
            Ok(Err(e)) => Some(e),
            _ => None,
        }
    } else {
        incoming.abort();
        None
    };
    standalone.finish().await;
    if let Err(e) = run {
        return Err(link_failure.unwrap_or_else(|| from_catchup(e)));
    }
    match drained {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(_)) => return Err(LinkError::Closed),
        Err(_) => return Err(LinkError::Timeout(30)),
    }
    Ok(LinkReport {
        peer,
        documents: tally.documents,
        refused: tally.refused,
        sent_ops: tally.sent,
        received_ops: tally.received,
    })
}
