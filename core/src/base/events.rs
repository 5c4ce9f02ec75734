//! Events the node reports to the app, delivered through [`EventStream`].

use tokio::sync::broadcast;

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::join::JoinRefusal;

/// Who caused a document change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An edit made on this device.
    Local,
    /// Operations received from another device.
    Remote(AuthorId),
}

/// Something the app may want to react to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A document's content changed.
    DocumentChanged {
        /// The document.
        document: DocumentId,
        /// Local edit or remote author.
        origin: Origin,
    },
    /// A peer connected for a document.
    PeerConnected {
        /// The peer's node id (its author key).
        peer: AuthorId,
        /// The document the peer shares with us.
        document: DocumentId,
    },
    /// A peer's sync session for a document ended.
    PeerDisconnected {
        /// The peer.
        peer: AuthorId,
        /// The document.
        document: DocumentId,
    },
    /// Catch-up sync with a peer started.
    SyncStarted {
        /// The peer.
        peer: AuthorId,
        /// The document.
        document: DocumentId,
        /// Operations the peer announced it will send.
        incoming_ops: u64,
    },
    /// Catch-up sync with a peer finished.
    SyncFinished {
        /// The peer.
        peer: AuthorId,
        /// The document.
        document: DocumentId,
        /// Operations received during the session.
        received_ops: u64,
        /// Operations sent during the session.
        sent_ops: u64,
    },
    /// A sync session with a reached peer failed (it is retried automatically). Not reaching
    /// a peer at all is expected while devices are apart and is only logged (debug).
    SyncFailed {
        /// The peer, if known.
        peer: Option<AuthorId>,
        /// The document.
        document: DocumentId,
        /// Why it failed.
        reason: String,
    },
    /// Operations from a peer were rejected (forged, malformed, ...). Good ones keep flowing.
    OperationsRejected {
        /// The peer that sent them.
        peer: Option<AuthorId>,
        /// The document.
        document: DocumentId,
        /// Total rejected from this peer for this document so far.
        total: u64,
        /// The last reason.
        reason: String,
    },
    /// A direct, end-to-end encrypted message from another device arrived
    /// ([`crate::Node::send_direct`]).
    DirectMessage {
        /// The verified sender.
        from: AuthorId,
        /// The app's payload.
        payload: Vec<u8>,
    },
    /// A device that presented one of our invites was added to a document's group.
    MemberJoined {
        /// The document.
        document: DocumentId,
        /// The new member.
        member: AuthorId,
    },
    /// A join request was refused by the inviter's node: reported there (`inviter` is this
    /// device) and, once the refusal reaches it, on the requesting device (`requester` is
    /// this device). `Node::join_state` keeps the answer.
    JoinRefused {
        /// The document the request asked for.
        document: DocumentId,
        /// The device that asked to join.
        requester: AuthorId,
        /// The device that refused.
        inviter: AuthorId,
        /// Why.
        reason: JoinRefusal,
    },
    /// An ephemeral (gossip) message arrived, e.g. presence or a cursor.
    Ephemeral {
        /// The document (topic).
        document: DocumentId,
        /// The verified sender.
        sender: AuthorId,
        /// The app's payload.
        payload: Vec<u8>,
    },
    /// An author signed two different operations for one position of its log in this
    /// document (equivocation: a compromised key, or one identity on two devices). Found
    /// here or proven by a peer. The log is frozen at `seq` on every replica that learns of
    /// it: its operations from `seq` on, of both branches, are removed and refused, and the
    /// document shows what remains. Both headers are kept as evidence (`Node::forks`) and
    /// given to peers. Reported once per log (again if a lower fork seq is proven). If the
    /// author is this device, its writes to the document are refused from now on.
    ForkDetected {
        /// The document.
        document: DocumentId,
        /// The equivocating author.
        author: AuthorId,
        /// The position of its log both operations claim.
        seq: u32,
    },
    /// Another device writes with this device's identity (a restored backup, a copied data
    /// directory): an operation of `document` signed with this device's key arrived that
    /// this device did not write (at `seq` of its log), or its own log forked. Writes with
    /// this identity are refused from now on (`DocumentError::IdentityCloned`); the app
    /// should move to a new identity and be added again. Reported once.
    IdentityCloned {
        /// The document where it showed.
        document: DocumentId,
        /// The position of this device's log the foreign operation claims.
        seq: u32,
    },
    /// An attachment being fetched (`Node::fetch_attachment`) gained a chunk: `bytes` of
    /// `total` encrypted bytes are on this device now (`bytes == total`: complete).
    AttachmentProgress {
        /// The document it came with.
        document: DocumentId,
        /// The attachment's id (BLAKE3 of its manifest, hex).
        attachment: String,
        /// Encrypted bytes held.
        bytes: u64,
        /// Encrypted bytes in all.
        total: u64,
    },
    /// A fetch of an attachment started (asked for, or queued by the attachment policy);
    /// `AttachmentProgress` follows per chunk, then `AttachmentFetchEnded`.
    AttachmentFetchStarted {
        /// The document it came with.
        document: DocumentId,
        /// The attachment's id (hex).
        attachment: String,
    },
    /// A fetch of an attachment ended: complete, or not with the reason (no peer had it,
    /// peers refused or could not be reached, a corrupt peer was dropped and none other
    /// had the rest, or the fetch was cut short).
    AttachmentFetchEnded {
        /// The document it came with.
        document: DocumentId,
        /// The attachment's id (hex).
        attachment: String,
        /// Every chunk is on this device now.
        complete: bool,
        /// Why not, when not complete.
        reason: Option<String>,
    },
    /// The subscriber was too slow and missed events; it should re-read state.
    Lagged {
        /// Number of missed events.
        missed: u64,
    },
}

/// A subscription to node events. Dropping it unsubscribes.
pub struct EventStream {
    rx: broadcast::Receiver<Event>,
}

impl EventStream {
    pub(crate) fn new(rx: broadcast::Receiver<Event>) -> Self {
        EventStream { rx }
    }

    /// Waits for the next event; `None` once the node is gone.
    pub async fn next(&mut self) -> Option<Event> {
        match self.rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(Event::Lagged { missed }),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Returns the next event if one is ready, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => Some(Event::Lagged { missed }),
            Err(_) => None,
        }
    }
}
