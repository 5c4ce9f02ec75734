//! Identity cloning: another device writing with this device's identity.
//!
//! A restored backup or a copied data directory gives a second device the same key. Every
//! operation this device writes is in its own log before it leaves, so an operation signed
//! with its key that it does not hold, and that the log and role checks accept, was written
//! elsewhere: proof, signed by the key itself, that the identity is in use twice. (One the
//! checks refuse proves nothing: a write of ours swept after our removal, say.) So is a fork of its own log proven by a peer
//! (`crate::replica::forks`). From then on the replica refuses to write with the identity
//! (`DocumentError::IdentityCloned`), reports `Event::IdentityCloned` once, and remembers it
//! across restarts. The operation itself is ingested like any other (every replica reaches
//! the same verdict on it).

use crate::base::events::Event;
use crate::base::ids::DocumentId;
use crate::replica::{Replica, ReplicaState};
use crate::store::StoreError;

/// Meta key of the (document, seq) where a clone of this identity showed first.
pub(crate) const META_CLONED: &str = "identity_cloned";

/// Encodes where a clone showed: document id and seq.
fn encode(document: DocumentId, seq: u32) -> Vec<u8> {
    let mut out = document.as_bytes().to_vec();
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Decodes [`encode`]; `None` for anything else.
pub(crate) fn decode(bytes: &[u8]) -> Option<(DocumentId, u32)> {
    let (id, seq) = bytes.split_at_checked(32)?;
    Some((
        DocumentId::from_slice(id).ok()?,
        u32::from_be_bytes(seq.try_into().ok()?),
    ))
}

impl Replica {
    /// Records that an operation of `document` at `seq` of this device's log was written by
    /// another device, and reports it the first time.
    pub(crate) fn identity_cloned_at(
        &self,
        st: &mut ReplicaState,
        document: DocumentId,
        seq: u32,
    ) -> Result<(), StoreError> {
        if st.cloned.is_some() {
            return Ok(());
        }
        st.store.meta_set(META_CLONED, &encode(document, seq))?;
        st.cloned = Some((document, seq));
        tracing::warn!(
            %document,
            seq,
            "another device writes with this device's identity: writes with it are refused"
        );
        self.emit(Event::IdentityCloned { document, seq });
        Ok(())
    }

    /// Where another device's use of this identity showed first, if it did.
    pub(crate) fn identity_cloned(&self) -> Option<(DocumentId, u32)> {
        self.lock().cloned
    }
}
