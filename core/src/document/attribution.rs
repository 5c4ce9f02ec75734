//! The attribution rule: an operation's Loro update may carry only its author's changes.
//!
//! Loro peer ids are derived from author keys ([`crate::base::ids::AuthorId::loro_peer_id`]),
//! so an update that carries changes of another peer would let one device write in another's
//! name. Every replica applies the same rule to the same bytes.

use loro::LoroDoc;

use crate::base::ids::AuthorId;
use crate::document::InvalidUpdate;

/// Rejects Loro updates that carry changes of peers other than the operation's author.
pub(crate) fn check(payload: &[u8], author: &AuthorId) -> Result<(), InvalidUpdate> {
    let meta = LoroDoc::decode_import_blob_meta(payload, true)
        .map_err(|e| InvalidUpdate(e.to_string()))?;
    let own = author.loro_peer_id();
    for (peer, end) in meta.partial_end_vv.iter() {
        let start = meta.partial_start_vv.get(peer).copied().unwrap_or(0);
        if *peer != own && *end > start {
            return Err(InvalidUpdate(format!(
                "update carries changes of peer {peer:x}, not of its author"
            )));
        }
    }
    Ok(())
}
