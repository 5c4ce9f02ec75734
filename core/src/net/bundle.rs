//! Offline bundles (format: `wire/bundle.rs`): a device writes its half of a catch-up
//! exchange into a signed file instead of a stream; the receiver reads it like the other
//! half of a live exchange. With the peer's request (what it holds), only what it lacks is
//! written; without one, everything this device holds (a snapshot stands in for what it
//! covers, as in catch-up).

use std::sync::Arc;

use crate::base::ids::{AuthorId, DocumentId};
use crate::net::catchup::{CatchupError, TheirHeights};
use crate::net::standalone::Standalone;
use crate::net::NetSlot;
use crate::replica::Replica;
use crate::wire::bundle::{self, BundleError};

/// Tag of a bundle request (what a device holds of a document).
const REQUEST_TAG: &[u8; 4] = b"FSR1";

/// What importing a bundle did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleImport {
    /// The device that exported the bundle.
    pub exporter: AuthorId,
    /// The document.
    pub document: DocumentId,
    /// Operations the bundle held (each checked like network ingest: see the node's
    /// events for any refused).
    pub operations: u64,
}

fn from_catchup(e: CatchupError) -> BundleError {
    match e {
        CatchupError::Store(s) => BundleError::Store(s),
        other => BundleError::Malformed(other.to_string()),
    }
}

/// What this device holds of `doc`, for a peer to export only what is missing here.
pub(crate) async fn request(
    node: &Arc<Replica>,
    slot: &NetSlot,
    doc: DocumentId,
) -> Result<Vec<u8>, BundleError> {
    let s = Standalone::new(node, slot).map_err(from_catchup)?;
    let heights = s.session.heights_request(doc).await.map_err(from_catchup);
    s.finish().await;
    let mut out = Vec::new();
    out.extend_from_slice(REQUEST_TAG);
    out.extend_from_slice(doc.as_bytes());
    out.extend_from_slice(&heights?);
    Ok(out)
}

/// A bundle of `doc` for a peer whose request is `request` (everything when `None`).
/// Returns the bundle and how many operations it holds.
pub(crate) async fn export(
    node: &Arc<Replica>,
    slot: &NetSlot,
    doc: DocumentId,
    request: Option<&[u8]>,
) -> Result<(Vec<u8>, u64), BundleError> {
    let s = Standalone::new(node, slot).map_err(from_catchup)?;
    let result = async {
        let theirs = match request {
            None => TheirHeights::new(),
            Some(r) => {
                if r.len() < 36 || &r[..4] != REQUEST_TAG {
                    return Err(BundleError::Malformed("not a bundle request".into()));
                }
                if &r[4..36] != doc.as_bytes() {
                    return Err(BundleError::Malformed(
                        "the request is for another document".into(),
                    ));
                }
                s.session
                    .theirs_from(doc, &r[36..])
                    .await
                    .map_err(from_catchup)?
            }
        };
        let mut out = bundle::header(
            node.author(),
            doc,
            u64::try_from(crate::store::now_millis()).unwrap_or(0),
        );
        let ops = s
            .session
            .write_half(&mut out, doc, &theirs)
            .await
            .map_err(from_catchup)?;
        if out.len() > bundle::MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: out.len(),
                max: bundle::MAX_BUNDLE_BYTES,
            });
        }
        Ok((bundle::seal(out, node.signing_key()), ops))
    }
    .await;
    s.finish().await;
    result
}

/// Imports a bundle: the signature first (one changed byte refuses the whole file and
/// nothing is applied), then fork proofs, heights and operations as in a live exchange.
/// Returns once every operation was validated and stored or refused.
pub(crate) async fn import(
    node: &Arc<Replica>,
    slot: &NetSlot,
    bytes: &[u8],
) -> Result<BundleImport, BundleError> {
    let opened = bundle::open(bytes)?;
    let s = Standalone::new(node, slot).map_err(from_catchup)?;
    let mut rx = opened.exchange;
    let result = s
        .session
        .read_half(&mut rx, opened.document, opened.exporter)
        .await
        .map_err(from_catchup);
    // What was queued is processed before returning, even after a malformed tail.
    s.finish().await;
    let operations = result?;
    if !rx.is_empty() {
        return Err(BundleError::Malformed("bytes after the end frame".into()));
    }
    Ok(BundleImport {
        exporter: opened.exporter,
        document: opened.document,
        operations,
    })
}
