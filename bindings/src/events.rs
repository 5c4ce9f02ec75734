//! Node events as a pull subscription.

use std::sync::Arc;

use fieldsync::{Event, EventStream, Origin};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Who caused a document change.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeOrigin {
    /// An edit made on this device.
    Local,
    /// Operations received from another device.
    Remote {
        /// The remote author id (64 hex characters).
        author: String,
    },
}

/// Something the app may want to react to. Ids are 64-character lowercase hex strings.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum FieldSyncEvent {
    /// A document's content changed; re-read what you display.
    DocumentChanged {
        /// The document id.
        document: String,
        /// Local edit or remote author.
        origin: ChangeOrigin,
    },
    /// A peer connected for a document.
    PeerConnected {
        /// The peer's author id.
        peer: String,
        /// The document the peer shares with us.
        document: String,
    },
    /// A peer's sync session for a document ended.
    PeerDisconnected {
        /// The peer's author id.
        peer: String,
        /// The document.
        document: String,
    },
    /// Catch-up sync with a peer started.
    SyncStarted {
        /// The peer's author id.
        peer: String,
        /// The document.
        document: String,
        /// Operations the peer announced it will send.
        incoming_ops: u64,
    },
    /// Catch-up sync with a peer finished.
    SyncFinished {
        /// The peer's author id.
        peer: String,
        /// The document.
        document: String,
        /// Operations received during the session.
        received_ops: u64,
        /// Operations sent during the session.
        sent_ops: u64,
    },
    /// A sync session with a reached peer failed; it is retried automatically. (Not reaching a
    /// peer at all is expected while devices are apart: no event.)
    SyncFailed {
        /// The peer's author id, if known.
        peer: Option<String>,
        /// The document.
        document: String,
        /// Why it failed.
        reason: String,
    },
    /// Operations from a peer were rejected (forged, malformed, ...). Good ones keep flowing.
    OperationsRejected {
        /// The peer's author id, if known.
        peer: Option<String>,
        /// The document.
        document: String,
        /// Total rejected from this peer for this document so far.
        total: u64,
        /// The last reason.
        reason: String,
    },
    /// An ephemeral message (presence, cursor) arrived.
    Ephemeral {
        /// The document.
        document: String,
        /// The verified sender's author id.
        sender: String,
        /// The app's payload.
        payload: Vec<u8>,
    },
    /// A direct, end-to-end encrypted message from another device (`Node.sendDirect`).
    DirectMessage {
        /// The verified sender's author id.
        from: String,
        /// The app's payload.
        payload: Vec<u8>,
    },
    /// A device that presented one of this node's invites was added to a document.
    MemberJoined {
        /// The document.
        document: String,
        /// The new member's author id.
        member: String,
    },
    /// A join request was refused by the inviter's device: reported there (`inviter` is this
    /// device) and on the requesting device once the refusal reaches it (`requester` is this
    /// device). `SyncStatus.join` keeps the answer.
    JoinRefused {
        /// The document.
        document: String,
        /// The device that asked to join.
        requester: String,
        /// The device that refused.
        inviter: String,
        /// Why.
        reason: crate::join::JoinRefusal,
    },
    /// An attachment being fetched gained a chunk: `bytes` of `total` (encrypted) bytes are
    /// on this device now; `bytes == total` when it is complete.
    AttachmentProgress {
        /// The document it came with.
        document: String,
        /// The attachment's id (hex).
        attachment: String,
        /// Bytes held.
        bytes: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A fetch of an attachment started (asked for, or queued by the attachment policy);
    /// `AttachmentProgress` follows per chunk, then `AttachmentFetchEnded`.
    AttachmentFetchStarted {
        /// The document it came with.
        document: String,
        /// The attachment's id (hex).
        attachment: String,
    },
    /// A fetch of an attachment ended: `complete`, or not with `reason`.
    AttachmentFetchEnded {
        /// The document it came with.
        document: String,
        /// The attachment's id (hex).
        attachment: String,
        /// Every chunk is on this device now.
        complete: bool,
        /// Why not, when not complete.
        reason: Option<String>,
    },
    /// An author signed two different operations for one position of its log in this
    /// document (equivocation: a compromised key, or one identity on two devices). Its log
    /// is frozen at `seq` on every replica that learns of it: both branches from there on
    /// are removed and refused.
    ForkDetected {
        /// The document.
        document: String,
        /// The equivocating author's id.
        author: String,
        /// The position of its log both operations claim.
        seq: u32,
    },
    /// Another device writes with this device's identity (a restored backup, a copied data
    /// directory). Writes with this identity fail with `NotAllowed` from now on: open a new
    /// node in a fresh data directory (a new identity) and join the documents again.
    IdentityCloned {
        /// The document where it showed.
        document: String,
        /// The position of this device's log the foreign operation claims.
        seq: u32,
    },
    /// This subscription was too slow and missed events; re-read the state you display.
    Lagged {
        /// Number of missed events.
        missed: u64,
    },
}

impl From<Event> for FieldSyncEvent {
    fn from(e: Event) -> Self {
        match e {
            Event::DocumentChanged { document, origin } => FieldSyncEvent::DocumentChanged {
                document: document.to_string(),
                origin: match origin {
                    Origin::Local => ChangeOrigin::Local,
                    Origin::Remote(a) => ChangeOrigin::Remote {
                        author: a.to_string(),
                    },
                },
            },
            Event::PeerConnected { peer, document } => FieldSyncEvent::PeerConnected {
                peer: peer.to_string(),
                document: document.to_string(),
            },
            Event::PeerDisconnected { peer, document } => FieldSyncEvent::PeerDisconnected {
                peer: peer.to_string(),
                document: document.to_string(),
            },
            Event::SyncStarted {
                peer,
                document,
                incoming_ops,
            } => FieldSyncEvent::SyncStarted {
                peer: peer.to_string(),
                document: document.to_string(),
                incoming_ops,
            },
            Event::SyncFinished {
                peer,
                document,
                received_ops,
                sent_ops,
            } => FieldSyncEvent::SyncFinished {
                peer: peer.to_string(),
                document: document.to_string(),
                received_ops,
                sent_ops,
            },
            Event::SyncFailed {
                peer,
                document,
                reason,
            } => FieldSyncEvent::SyncFailed {
                peer: peer.map(|p| p.to_string()),
                document: document.to_string(),
                reason,
            },
            Event::OperationsRejected {
                peer,
                document,
                total,
                reason,
            } => FieldSyncEvent::OperationsRejected {
                peer: peer.map(|p| p.to_string()),
                document: document.to_string(),
                total,
                reason,
            },
            Event::Ephemeral {
                document,
                sender,
                payload,
            } => FieldSyncEvent::Ephemeral {
                document: document.to_string(),
                sender: sender.to_string(),
                payload,
            },
            Event::DirectMessage { from, payload } => FieldSyncEvent::DirectMessage {
                from: from.to_string(),
                payload,
            },
            Event::MemberJoined { document, member } => FieldSyncEvent::MemberJoined {
                document: document.to_string(),
                member: member.to_string(),
            },
            Event::JoinRefused {
                document,
                requester,
                inviter,
                reason,
            } => FieldSyncEvent::JoinRefused {
                document: document.to_string(),
                requester: requester.to_string(),
                inviter: inviter.to_string(),
                reason: reason.into(),
            },
            Event::ForkDetected {
                document,
                author,
                seq,
            } => FieldSyncEvent::ForkDetected {
                document: document.to_string(),
                author: author.to_string(),
                seq,
            },
            Event::IdentityCloned { document, seq } => FieldSyncEvent::IdentityCloned {
                document: document.to_string(),
                seq,
            },
            Event::AttachmentProgress {
                document,
                attachment,
                bytes,
                total,
            } => FieldSyncEvent::AttachmentProgress {
                document: document.to_string(),
                attachment,
                bytes,
                total,
            },
            Event::AttachmentFetchStarted {
                document,
                attachment,
            } => FieldSyncEvent::AttachmentFetchStarted {
                document: document.to_string(),
                attachment,
            },
            Event::AttachmentFetchEnded {
                document,
                attachment,
                complete,
                reason,
            } => FieldSyncEvent::AttachmentFetchEnded {
                document: document.to_string(),
                attachment,
                complete,
                reason,
            },
            Event::Lagged { missed } => FieldSyncEvent::Lagged { missed },
        }
    }
}

/// A pull subscription to a node's events, from `Node.subscribe()`.
///
/// Call `EventSubscription.next` in a loop; it returns `null`/`nil` once the subscription is
/// cancelled or the node is shut down. `android/` wraps it as `Flow<FieldSyncEvent>`
/// (`node.events()`), `ios/` as an `AsyncSequence` (`node.events()`).
///
/// Events are buffered per subscription (up to 4096); a subscriber that falls further behind
/// receives one `FieldSyncEvent.Lagged` and continues with newer events.
#[derive(uniffi::Object)]
pub struct EventSubscription {
    inner: Arc<Mutex<EventStream>>,
    cancel: CancellationToken,
}

impl EventSubscription {
    pub(crate) fn new(inner: EventStream, cancel: CancellationToken) -> Self {
        EventSubscription {
            inner: Arc::new(Mutex::new(inner)),
            cancel,
        }
    }
}

#[uniffi::export]
impl EventSubscription {
    /// Waits for the next event; `null`/`nil` when the subscription has ended (cancelled, or
    /// the node shut down). Never throws: a caught internal failure also ends the stream.
    ///
    /// Cancel safety: Cancelling the calling coroutine / task drops the wait without losing an event: an event
    /// is only taken from the buffer when it is returned.
    pub async fn next(&self) -> Option<FieldSyncEvent> {
        let inner = self.inner.clone();
        let cancel = self.cancel.clone();
        let res = crate::guard_async(async move {
            let mut stream = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(None),
                s = inner.lock() => s,
            };
            Ok(tokio::select! {
                biased;
                _ = cancel.cancelled() => None,
                e = stream.next() => e.map(FieldSyncEvent::from),
            })
        })
        .await;
        match res {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(target: "fieldsync_ffi", "event subscription ended: {e}");
                self.cancel.cancel();
                None
            }
        }
    }

    /// Ends the subscription: a pending and every later `EventSubscription.next` returns
    /// `null`/`nil`. Idempotent. Dropping (closing) the object cancels it too.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once `EventSubscription.cancel` was called or the node was shut down.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
