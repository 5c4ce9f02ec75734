//! Reading Loro snapshots from outside: an app's backup, or the state of a snapshot
//! operation another device signed. Loro's decoder is guarded (a panic in it is an error).

use loro::LoroDoc;

use crate::document::DocumentError;

/// A Loro snapshot read into a scratch document, refused above `max_bytes` or when it is
/// not one; `full_only` also refuses shallow snapshots (their history starts at a version
/// other replicas may not share). Loro's decoder is guarded: a panic in it is an invalid
/// argument.
pub(crate) fn read_snapshot(
    bytes: &[u8],
    max_bytes: u64,
    full_only: bool,
) -> Result<LoroDoc, DocumentError> {
    if bytes.len() as u64 > max_bytes {
        return Err(DocumentError::InvalidArgument(format!(
            "snapshot of {} bytes, above the maximum of {max_bytes}",
            bytes.len()
        )));
    }
    let invalid = |e: String| DocumentError::InvalidArgument(format!("not a Loro snapshot: {e}"));
    let meta = std::panic::catch_unwind(|| LoroDoc::decode_import_blob_meta(bytes, false))
        .map_err(|_| invalid("the decoder failed".into()))?
        .map_err(|e| invalid(e.to_string()))?;
    let allowed = match meta.mode {
        loro::EncodedBlobMode::Snapshot => true,
        loro::EncodedBlobMode::ShallowSnapshot => !full_only,
        _ => false,
    };
    if !allowed {
        return Err(invalid(format!("{:?}, not a full snapshot", meta.mode)));
    }
    std::panic::catch_unwind(|| {
        let doc = LoroDoc::new();
        doc.import(bytes).map(|_| doc)
    })
    .map_err(|_| invalid("the decoder failed".into()))?
    .map_err(|e| invalid(e.to_string()))
}
