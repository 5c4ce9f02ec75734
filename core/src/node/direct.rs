//! Direct, end-to-end encrypted messages between devices: the facade's methods.

use crate::base::ids::{AuthorId, DocumentId};
use crate::direct::{DirectError, DirectPayload, ReceivedDirect};
use crate::net::NetCommand;
use crate::node::Node;

impl Node {
    /// Sends `payload` to the device `to`, end-to-end encrypted over a ratchet session
    /// (started from `to`'s key bundle, known from an invite or a key bundle announcement).
    /// The message is stored and delivered when the network reaches the peer, in order,
    /// retried until acknowledged; it arrives as [`crate::Event::DirectMessage`].
    /// Returns the message's counter.
    pub fn send_direct(&self, to: AuthorId, payload: &[u8]) -> Result<u64, DirectError> {
        let counter = self
            .replica
            .seal_direct(to, &DirectPayload::App(payload.to_vec()))?;
        self.net.send(NetCommand::FlushDirect(to));
        Ok(counter)
    }

    /// Opens a direct message received by any transport (the network layer calls this for
    /// messages arriving over QUIC). Refusals are typed and change nothing: a replay, a gap,
    /// a flipped bit, a message for another device or re-wrapped by another sender.
    pub fn receive_direct(&self, bytes: &[u8]) -> Result<ReceivedDirect, DirectError> {
        self.replica.receive_direct(bytes)
    }

    /// Sealed envelopes for `peer` that it has not acknowledged yet, oldest first: for apps
    /// that carry direct messages over their own transport.
    pub fn pending_direct(&self, peer: AuthorId) -> Result<Vec<Vec<u8>>, DirectError> {
        Ok(self
            .replica
            .outgoing_direct(&peer)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// Revokes every invite issued for `document`: devices that hold one can no longer join
    /// by request (members already added stay). Returns how many invites were live.
    pub fn revoke_invites(&self, document: DocumentId) -> Result<usize, DirectError> {
        self.replica.revoke_invites(document)
    }

    /// Marks direct messages to `peer` up to `counter` as delivered.
    pub fn acknowledge_direct(&self, peer: AuthorId, counter: u64) -> Result<usize, DirectError> {
        self.replica.acknowledge_direct(&peer, counter, None)
    }
}
