//! Delivery of direct messages ([`crate::direct`]) over QUIC, protocol `fieldsync/direct/2`.
//!
//! The sender opens a stream and writes its queued envelopes for the peer, oldest first,
//! each as a length-prefixed frame; the receiver answers every frame with 9 bytes: a status
//! (0 accepted, 1 refused, 2 accepted but the join request it carried was refused) and the
//! counter it holds up to; status 2 adds one byte, the reason's code
//! ([`JoinRefusal::code`]). Accepted counters leave the sender's queue; a refusal ends the
//! stream (the envelope is retried later, and the reason is logged on both sides). A replay
//! of a message the receiver already holds is answered "accepted": the sender had merely
//! missed the acknowledgement. (Version 1 answered a refused join "accepted", leaving the
//! joiner waiting without knowing.)

use std::sync::Weak;

use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler};

use crate::base::ids::AuthorId;
use crate::base::join::JoinRefusal;
use crate::direct::{DirectError, Envelope};
use crate::net::budget::ReceiveBudget;
use crate::net::catchup::{read_frame, read_granted_frame, write_frame, CatchupError};
use crate::replica::Replica;

/// ALPN of the direct message protocol.
pub const DIRECT_PROTOCOL: &[u8] = b"fieldsync/direct/2";
/// Most messages one stream may carry before the receiver closes it.
const MAX_PER_STREAM: usize = 1024;
const ACCEPTED: u8 = 0;
const REFUSED: u8 = 1;
const JOIN_REFUSED: u8 = 2;

fn reply(status: u8, counter: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    out.push(status);
    out.extend_from_slice(&counter.to_be_bytes());
    out
}

fn join_refused(counter: u64, reason: JoinRefusal) -> Vec<u8> {
    let mut out = reply(JOIN_REFUSED, counter);
    out.push(reason.code());
    out
}

/// Receives direct messages for the node.
#[derive(Clone)]
pub(crate) struct DirectService {
    pub node: Weak<Replica>,
    /// Bytes of received frames the node holds (shared with catch-up): a frame's bytes are
    /// granted before it is read, since anyone may send direct messages.
    pub budget: ReceiveBudget,
    /// The devices this node talks to (`NetworkConfig::allow`).
    pub filter: super::config::PeerFilter,
}

impl std::fmt::Debug for DirectService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectService")
    }
}

impl DirectService {
    async fn respond(&self, conn: Connection) -> Result<(), CatchupError> {
        let sender = AuthorId::from_slice(conn.remote_id().as_bytes())
            .map_err(|_| CatchupError::Protocol("remote id".into()))?;
        if !self.filter.admits(&sender) {
            return Err(CatchupError::Protocol(format!(
                "{sender} is not allowed (--allow)"
            )));
        }
        let (mut tx, mut rx) = conn
            .accept_bi()
            .await
            .map_err(|e| CatchupError::Transport(e.to_string()))?;
        let max = self
            .node
            .upgrade()
            .ok_or(CatchupError::Closed)?
            .max_operation_bytes();
        let budget = self.budget.connection();
        for _ in 0..MAX_PER_STREAM {
            let Ok((frame, Some(grant))) = read_granted_frame(&mut rx, max, &budget).await else {
                break;
            };
            let node = self.node.clone();
            let result = tokio::task::spawn_blocking(move || {
                node.upgrade().map(|n| match n.receive_direct(&frame) {
                    Ok(r) => Ok((r.counter, None)),
                    // Consumed but refused: acknowledge it so the sender moves on, and tell
                    // a joiner why its request was refused.
                    Err(e) if e.consumed() => {
                        tracing::debug!("direct message refused (consumed): {e}");
                        let refusal = e.join_refusal();
                        Envelope::open(&frame)
                            .map(|env| (env.counter, refusal))
                            .map_err(|_| e)
                    }
                    Err(e) => Err(e),
                })
            })
            .await
            .map_err(|e| CatchupError::Transport(e.to_string()))?
            .ok_or(CatchupError::Closed)?;
            // The frame was processed: its bytes go back to the budget.
            drop(grant);
            match result {
                Ok((counter, None)) => write_frame(&mut tx, &reply(ACCEPTED, counter)).await?,
                Ok((counter, Some(reason))) => {
                    write_frame(&mut tx, &join_refused(counter, reason)).await?
                }
                Err(DirectError::Replayed { last, .. }) => {
                    write_frame(&mut tx, &reply(ACCEPTED, last)).await?
                }
                Err(e) => {
                    tracing::debug!("direct message refused: {e}");
                    write_frame(&mut tx, &reply(REFUSED, 0)).await?;
                    break;
                }
            }
        }
        let _ = tx.finish();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tx.stopped()).await;
        Ok(())
    }
}

impl ProtocolHandler for DirectService {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        if let Err(e) = self.respond(connection).await {
            tracing::debug!("direct messages (receiver) failed: {e}");
        }
        Ok(())
    }
}

/// Sends the queued messages for `peer` on `conn` until the queue is empty or the peer
/// refuses one. Returns how many were acknowledged.
pub(crate) async fn flush(
    node: &Weak<Replica>,
    conn: Connection,
    peer: AuthorId,
) -> Result<usize, CatchupError> {
    let (mut tx, mut rx) = conn
        .open_bi()
        .await
        .map_err(|e| CatchupError::Transport(e.to_string()))?;
    let mut acknowledged = 0;
    loop {
        let queue = node
            .upgrade()
            .ok_or(CatchupError::Closed)?
            .outgoing_direct(&peer)
            .map_err(|e| CatchupError::Store(e.to_string()))?;
        if queue.is_empty() {
            break;
        }
        let before = acknowledged;
        for (_, envelope) in queue.into_iter().take(MAX_PER_STREAM) {
            write_frame(&mut tx, &envelope).await?;
            let answer = read_frame(&mut rx, 10).await?;
            let (status, counter, refused) = match answer.as_slice() {
                [status, counter @ ..] if *status != JOIN_REFUSED && counter.len() == 8 => {
                    (*status, counter, None)
                }
                [JOIN_REFUSED, counter @ .., code] if counter.len() == 8 => {
                    (JOIN_REFUSED, counter, Some(JoinRefusal::from_code(*code)))
                }
                _ => return Err(CatchupError::Protocol("direct reply".into())),
            };
            if status != ACCEPTED && status != JOIN_REFUSED {
                let _ = tx.finish();
                return Err(CatchupError::Protocol(
                    "peer refused a direct message".into(),
                ));
            }
            let counter = u64::from_be_bytes(counter.try_into().unwrap_or_default());
            acknowledged += node
                .upgrade()
                .ok_or(CatchupError::Closed)?
                .acknowledge_direct(&peer, counter, refused)
                .map_err(|e| CatchupError::Store(e.to_string()))?;
        }
        if acknowledged == before || acknowledged >= MAX_PER_STREAM {
            break;
        }
    }
    let _ = tx.finish();
    Ok(acknowledged)
}
